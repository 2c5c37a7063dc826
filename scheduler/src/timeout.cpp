#include <eddy/scheduler/timeout.hpp>

namespace eddy {

void Timeout::enter() {
    Task<> task = current_task();
    if (!task) {
        throw RuntimeError("Timeout should be used inside a task");
    }
    std::lock_guard guard(state_->mu);
    if (state_->phase != Phase::created) {
        throw RuntimeError("Timeout has already been entered");
    }
    state_->phase = Phase::entered;
    state_->cancelling = task.cancelling();
    state_->task = std::move(task);
    state_->loop.emplace(get_running_loop());
    arm_locked(state_);
}

void Timeout::arm_locked(const std::shared_ptr<State>& state) {
    state->handle.cancel();
    state->handle = TimerHandle();
    if (!state->when) {
        return;
    }
    // The callback holds the state weakly: a scope that ended frees it even if the loop
    // keeps the cancelled timer for a while.
    std::weak_ptr<State> weak = state;
    auto on_timeout = [weak] {
        std::shared_ptr<State> s = weak.lock();
        if (!s) {
            return;
        }
        std::lock_guard guard(s->mu);
        if (s->phase == Phase::entered) {
            // Under the scope's mutex: exit() cannot run between the state change and the
            // cancellation, so it always uncancels exactly what we cancelled.
            s->task.cancel();
            s->phase = Phase::expiring;
        }
    };
    // asyncio arms the timer on the running loop: a Task stolen since entry reschedules on
    // the worker it runs on now.
    if (detail::running_scheduler != nullptr) {
        state->loop.emplace(get_running_loop());
    }
    EventLoop& loop = *state->loop;
    const double when = *state->when;
    if (when <= loop.time()) {
        state->handle = loop.call_at(loop.now(), std::move(on_timeout));
    } else {
        state->handle = loop.call_at(when, std::move(on_timeout));
    }
}

void Timeout::reschedule(time_point when) {
    std::lock_guard guard(state_->mu);
    switch (state_->phase) {
    case Phase::created:
        throw RuntimeError("Timeout has not been entered");
    case Phase::expiring:
        throw RuntimeError("Cannot change state of expiring Timeout");
    case Phase::expired:
        throw RuntimeError("Cannot change state of expired Timeout");
    case Phase::exited:
        throw RuntimeError("Cannot change state of finished Timeout");
    case Phase::entered:
        break;
    }
    state_->when = when;
    arm_locked(state_);
}

void Timeout::exit(const std::exception_ptr& error) {
    bool to_timeout = false;
    {
        std::lock_guard guard(state_->mu);
        state_->handle.cancel();
        state_->handle = TimerHandle();
        if (state_->phase == Phase::expiring) {
            state_->phase = Phase::expired;
            bool cancelled = false;
            if (error) {
                try {
                    std::rethrow_exception(error);
                } catch (const CancelledError&) {
                    cancelled = true;
                } catch (...) { // NOLINT(bugprone-empty-catch): other errors pass through
                }
            }
            // Ours was the last cancellation request: it is ours to convert.
            if (state_->task.uncancel() <= state_->cancelling && cancelled) {
                to_timeout = true;
            }
        } else if (state_->phase == Phase::entered) {
            state_->phase = Phase::exited;
        }
        state_->task = Task<>();
        state_->loop.reset();
    }
    if (to_timeout) {
        throw TimeoutError();
    }
    if (error) {
        std::rethrow_exception(error);
    }
}

} // namespace eddy
