#include <eddy/scheduler/task_group.hpp>

#include <optional>

#include <eddy/scheduler/detail/wait_list.hpp>

namespace eddy {

namespace {
bool is_cancel(const std::exception_ptr& e) noexcept {
    if (!e) {
        return false;
    }
    try {
        std::rethrow_exception(e);
    } catch (const CancelledError&) {
        return true;
    } catch (...) {
        return false;
    }
}
} // namespace

struct TaskGroup::State {
    std::mutex mu;
    // All guarded by mu. Children complete on any worker; their callbacks take mu.
    std::unordered_map<detail::TaskBase*, Task<>> children;
    std::vector<std::exception_ptr> errors;
    bool aborting = false;
    bool exiting = false;  // join() has begun
    bool finished = false; // join() has returned (or the group is gone)
    bool destroyed = false;
    bool parent_cancel_requested = false;
    // Fix: a child's callback decides to cancel the parent under mu but calls
    // parent.cancel() after releasing it. join() used to return as soon as the children were
    // gone, so on another worker it could uncancel() before that cancel() arrived: the
    // request then landed after the group had finished and the parent's next await raised
    // CancelledError. join() now also waits until the decided cancel() has been made.
    bool parent_cancel_in_flight = false;
    std::optional<Future<void>> on_completed; // join() waits on it while children remain
    Task<> parent;                            // fixed at construction
    bool scoped = false;                      // fixed at construction

    /// Cancels every child still running (asyncio's _abort). Call without mu: cancelling
    /// may complete futures whose callbacks run inline.
    static void cancel_all(const std::vector<Task<>>& tasks) {
        for (const Task<>& t : tasks) {
            Task<> copy = t;
            copy.cancel();
        }
    }
    /// Under mu: marks the group aborting and returns the children to cancel.
    std::vector<Task<>> abort_locked() {
        aborting = true;
        std::vector<Task<>> out;
        out.reserve(children.size());
        for (auto& [base, task] : children) {
            if (!task.done()) {
                out.push_back(task);
            }
        }
        return out;
    }
};

TaskGroup::TaskGroup(bool scoped) : s_(std::make_shared<State>()) {
    s_->parent = current_task();
    if (!s_->parent) {
        throw RuntimeError("TaskGroup must be created inside a Task");
    }
    s_->scoped = scoped;
}

TaskGroup::~TaskGroup() {
    std::vector<Task<>> to_cancel;
    std::vector<std::exception_ptr> uncollected;
    {
        std::lock_guard guard(s_->mu);
        s_->destroyed = true;
        if (!s_->finished) {
            to_cancel = s_->abort_locked();
            uncollected = std::move(s_->errors);
            s_->errors.clear();
        }
        s_->finished = true;
    }
    State::cancel_all(to_cancel);
    detail::Scheduler* loop = s_->parent.base()->loop();
    for (auto& e : uncollected) {
        loop->report({"TaskGroup destroyed without join(): unhandled error in a child",
                      e,
                      s_->parent.get_name(),
                      {}});
    }
}

void TaskGroup::check_open() {
    std::lock_guard guard(s_->mu);
    if (s_->finished || (s_->exiting && s_->children.empty())) {
        throw RuntimeError("TaskGroup is finished");
    }
    if (s_->aborting) {
        throw RuntimeError("TaskGroup is shutting down");
    }
}

void TaskGroup::adopt(const Task<>& child) {
    detail::TaskBase* base = child.base();
    {
        std::lock_guard guard(s_->mu);
        s_->children.emplace(base, child);
    }
    // The callback runs inline on the thread that completes the child (or here, at once,
    // if it is done already); it holds the state, which may outlive the TaskGroup object.
    detail::add_inline_callback(base, [s = s_](detail::FutureStateBase& fs) {
        auto* t = static_cast<detail::TaskBase*>(&fs);
        std::exception_ptr exc;
        if (!fs.cancelled()) {
            exc = fs.exception(); // retrieved here: the group reports it
        }
        std::optional<Future<void>> wake;
        std::vector<Task<>> to_cancel;
        bool cancel_parent = false;
        bool report = false;
        Task<> removed;
        {
            std::lock_guard guard(s->mu);
            auto it = s->children.find(t);
            if (it != s->children.end()) {
                removed = std::move(it->second); // dropped after the lock
                s->children.erase(it);
            }
            if (s->children.empty() && s->on_completed) {
                wake = s->on_completed;
            }
            if (exc) {
                if (s->destroyed) {
                    report = true;
                } else {
                    s->errors.push_back(exc);
                    if (!s->aborting && !s->parent_cancel_requested) {
                        to_cancel = s->abort_locked();
                        if (s->scoped && !s->exiting) {
                            // asyncio interrupts the body too; join() un-cancels the parent.
                            s->parent_cancel_requested = true;
                            s->parent_cancel_in_flight = true;
                            cancel_parent = true;
                        }
                    }
                }
            }
        }
        State::cancel_all(to_cancel);
        if (cancel_parent) {
            s->parent.cancel();
            std::lock_guard guard(s->mu);
            s->parent_cancel_in_flight = false;
            if (s->children.empty() && s->on_completed) {
                wake = s->on_completed; // join() may be waiting for this cancel() alone
            }
        }
        if (wake) {
            (void)detail::FutureAccess<void>::state(*wake)->try_finish([] {});
        }
        if (report) {
            s->parent.base()->loop()->report(
                {"TaskGroup child failed after the group was destroyed", exc, t->get_name(), {}});
        }
    });
}

Coro<void> TaskGroup::join(std::exception_ptr body_error) {
    std::shared_ptr<State> s = s_;
    std::exception_ptr propagate_cancel = is_cancel(body_error) ? body_error : nullptr;
    std::vector<Task<>> to_cancel;
    {
        std::lock_guard guard(s->mu);
        if (s->finished) {
            throw RuntimeError("TaskGroup is finished");
        }
        s->exiting = true;
        if (body_error && !s->aborting) {
            to_cancel = s->abort_locked();
        }
    }
    State::cancel_all(to_cancel);
    for (;;) {
        Future<void> waiter = detail::detached_future<void>();
        {
            std::lock_guard guard(s->mu);
            if (s->children.empty() && !s->parent_cancel_in_flight) {
                s->on_completed.reset();
                break;
            }
            s->on_completed = waiter;
        }
        std::exception_ptr cancelled;
        try {
            co_await waiter;
        } catch (const CancelledError&) {
            cancelled = std::current_exception();
        }
        if (cancelled) {
            // The parent is being cancelled while it waits: cancel the children and keep
            // waiting for them. When the group is aborting already, the cancellation is part
            // of that (asyncio ignores it here).
            std::lock_guard guard(s->mu);
            if (!s->aborting) {
                propagate_cancel = cancelled;
                to_cancel = s->abort_locked();
            }
        }
        State::cancel_all(to_cancel);
        to_cancel.clear();
    }
    std::vector<std::exception_ptr> errors;
    bool uncancel = false;
    {
        std::lock_guard guard(s->mu);
        s->finished = true;
        errors = std::move(s->errors);
        s->errors.clear();
        uncancel = s->parent_cancel_requested;
    }
    if (uncancel && s->parent.uncancel() == 0) {
        propagate_cancel = nullptr; // the only cancellation was ours
    }
    if (propagate_cancel && errors.empty()) {
        std::rethrow_exception(propagate_cancel);
    }
    if (body_error && !is_cancel(body_error)) {
        errors.push_back(body_error);
    }
    if (!errors.empty()) {
        throw ExceptionGroup("unhandled errors in a TaskGroup", std::move(errors));
    }
}

} // namespace eddy
