#include <eddy/scheduler/event_loop.hpp>

#include <memory>
#include <optional>

namespace eddy {

namespace {
/// The handle `get_running_loop()` returns a reference to, while a loop runs on this thread.
thread_local std::optional<EventLoop> running_handle;
/// This thread's current loop (`set_event_loop`, or created by `get_event_loop`).
thread_local std::optional<EventLoop> thread_handle;
} // namespace

EventLoop::EventLoop() : EventLoop(new detail::LoopCore()) {
    core_->release(); // the constructor's reference; the handle group now holds one
}

EventLoop::EventLoop(detail::LoopCore* core) noexcept : slow_callback_duration(core), core_(core) {
    core_->add_user_ref();
}

EventLoop::EventLoop(const EventLoop& other) noexcept : EventLoop(other.core_) {}

EventLoop::EventLoop(EventLoop&& other) noexcept : EventLoop(other.core_) {}

EventLoop& EventLoop::operator=(EventLoop other) noexcept {
    std::swap(core_, other.core_);
    slow_callback_duration = SlowCallbackDuration(core_);
    return *this;
}

EventLoop::~EventLoop() {
    core_->release_user_ref();
}

std::vector<Task<>> EventLoop::all_tasks() const {
    std::vector<Task<>> out;
    for (detail::TaskBase* t : core_->pending_tasks()) {
        out.push_back(Task<>::adopt(t));
    }
    return out;
}

void EventLoop::run_forever() {
    core_->check_can_run();
    running_handle.emplace(*this);
    struct Clear {
        ~Clear() { running_handle.reset(); }
    } clear;
    core_->run_forever(*running_handle);
}

namespace {
/// The done-list node `run_until_complete` adds: when the future completes (on any loop or
/// thread), it schedules `stop()` on the loop being run, as asyncio's done callback
/// `call_soon(loop.stop)` does. Two references: the future's list (dropped by fire or drop)
/// and `run_until_done` (dropped when it returns).
class StopWhenDone final : public detail::CallbackNode {
public:
    explicit StopWhenDone(detail::LoopCore* core) noexcept : core_(core) { core_->add_ref(); }
    void fire(detail::FutureStateBase& /*state*/) noexcept override {
        core_->stop_soon();
        release();
    }
    void drop() noexcept override { release(); }
    void release() noexcept {
        // acq_rel: the last owner deletes; see FutureStateBase::release.
        if (refs_.fetch_sub(1, std::memory_order_acq_rel) == 1) {
            core_->release();
            delete this;
        }
    }

private:
    ~StopWhenDone() = default;
    detail::LoopCore* core_;
    std::atomic<int> refs_{2};
};
} // namespace

void EventLoop::run_until_done(detail::FutureStateBase* state) {
    core_->check_can_run();
    auto* stopper = new StopWhenDone(core_);
    state->add_callback(stopper);
    struct Cleanup {
        detail::FutureStateBase* state;
        StopWhenDone* stopper;
        ~Cleanup() {
            if (state->remove_node(stopper)) {
                stopper->drop(); // never fired: the list's reference is ours to drop
            }
            stopper->release();
        }
    } cleanup{state, stopper};
    run_forever();
    if (!state->done()) {
        throw RuntimeError("Event loop stopped before Future completed.");
    }
}

void EventLoop::close() {
    core_->close();
}

void EventLoop::set_exception_handler(ExceptionHandler handler) {
    core_->set_exception_handler(std::move(handler));
}

ExceptionHandler EventLoop::get_exception_handler() const {
    return core_->exception_handler();
}

void EventLoop::default_exception_handler(const ExceptionContext& ctx) const noexcept {
    detail::LoopCore::default_exception_handler(ctx);
}

void EventLoop::call_exception_handler(const ExceptionContext& ctx) const noexcept {
    core_->call_exception_handler(ctx);
}

EventLoop new_event_loop() {
    return {};
}

EventLoop& get_running_loop() {
    if (!running_handle) {
        throw RuntimeError("no running event loop");
    }
    return *running_handle;
}

EventLoop& get_event_loop() {
    if (running_handle) {
        return *running_handle;
    }
    if (!thread_handle) {
        set_event_loop(new_event_loop());
    }
    return *thread_handle;
}

void set_event_loop(const EventLoop& loop) {
    thread_handle.emplace(loop);
    detail::thread_scheduler = loop.core();
}

void set_event_loop(std::nullptr_t) {
    detail::thread_scheduler = nullptr;
    thread_handle.reset();
}

std::vector<Task<>> all_tasks() {
    return get_running_loop().all_tasks();
}

} // namespace eddy
