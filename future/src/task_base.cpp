#include <eddy/future/detail/task_base.hpp>

#include <atomic>
#include <mutex>

namespace eddy::detail {

namespace {
/// asyncio numbers unnamed tasks "Task-1", "Task-2", ... process-wide. Each thread takes a
/// block of numbers at a time, so spawning touches no shared cache line: names are unique, and
/// in creation order among the Tasks one thread creates. Relaxed: only uniqueness matters.
std::atomic<std::uint64_t> next_task_block{0};
constexpr std::uint64_t task_id_block = 1024;

std::uint64_t next_task_id() noexcept {
    thread_local std::uint64_t next = 0;
    thread_local std::uint64_t limit = 0;
    if (next == limit) {
        next = next_task_block.fetch_add(task_id_block, std::memory_order_relaxed);
        limit = next + task_id_block;
    }
    return ++next;
}
} // namespace

TaskBase::TaskBase() noexcept : FutureStateBase(nullptr, true), id_(next_task_id()) {}

TaskBase::~TaskBase() = default;

void TaskBase::leave_registry() noexcept {
    // A Task leaves its loop's registry when it is destroyed, not when it completes: the
    // thread that destroys it is usually the one that created it (the holder of its handle),
    // so registering and leaving touch one worker's registry lock, not two workers' caches.
    // `all_tasks()` skips the done Tasks still listed.
    if (loop_ != nullptr) {
        loop_->unregister_task(this);
    }
}

void TaskBase::start(Scheduler* loop, const std::string& name, bool pinned) {
    pinned_ = pinned;
    if (!name.empty()) {
        name_ = std::make_unique<std::string>(name);
    }
    bind_loop(loop);
    loop->register_task(this);
    resume_point_ = frame_;
    // Relaxed: nobody else knows the Task yet; schedule() publishes it to the loop.
    run_state_.store(st_scheduled, std::memory_order_relaxed);
    if (!loop->schedule_task(this, TaskWake::spawn)) {
        loop->unregister_task(this);
        // A close() that ran meanwhile may have orphaned the Task already: whoever moves the
        // state to done drops the alive reference, exactly once. The caller's handle still
        // holds the frame either way.
        if (run_state_.exchange(st_done, std::memory_order_acq_rel) != st_done) {
            release();
        }
        throw RuntimeError("Event loop is closed");
    }
}

void TaskBase::run() {
    // Acquire: pairs with the release half of the CAS in wake()/after_step() that queued us,
    // so this step sees everything the previous step and the waker wrote.
    std::uint32_t expected = st_scheduled;
    if (!run_state_.compare_exchange_strong(expected, st_running, std::memory_order_acquire,
                                            std::memory_order_relaxed)) {
        return; // orphaned (st_done) while queued
    }
    TaskBase* const outer = current_task;
    current_task = this;
    std::coroutine_handle<> h = std::exchange(resume_point_, nullptr);
    while (h) {
        h.resume(); // sets next_ when it transfers to another coroutine of this Task
        h = std::exchange(next_, nullptr);
    }
    current_task = outer;
    after_step();
}

void TaskBase::after_step() noexcept {
    if (completed_) {
        run_state_.store(st_done, std::memory_order_release);
        release(); // the alive reference: may destroy the frame (suspended at its end)
        return;
    }
    // Release: publishes this step's writes (the frame, resume_point_) to whoever runs the
    // next step. Failing means a wake arrived during the step (st_notified): queue again.
    std::uint32_t expected = st_running;
    if (run_state_.compare_exchange_strong(expected, st_idle, std::memory_order_acq_rel,
                                           std::memory_order_acquire)) {
        return; // from here on a waker may run us on another thread: touch nothing
    }
    run_state_.store(st_scheduled, std::memory_order_release);
    // If the loop is closed, scheduling fails and the Task stays "scheduled": the loop's
    // close() orphans every registered Task (state to done, alive reference dropped), so it
    // is not touched here again.
    (void)loop_->schedule_task(this, TaskWake::yield);
}

void TaskBase::wake() noexcept {
    std::uint32_t s = run_state_.load(std::memory_order_acquire);
    for (;;) {
        if (s == st_idle) {
            // acq_rel: the release half publishes what the waker wrote (a future's result)
            // to the step that runs next; exactly one waker wins st_idle -> scheduled.
            if (run_state_.compare_exchange_weak(s, st_scheduled, std::memory_order_acq_rel,
                                                 std::memory_order_acquire)) {
                // A closed loop refuses it; close() orphans the Task (see after_step). The
                // frame cannot go away under us meanwhile: the only wakers from other threads
                // are awaiter nodes inside the frame, whose destruction waits for fire() to end.
                (void)loop_->schedule_task(this, TaskWake::wake);
                return;
            }
        } else if (s == st_running) {
            // The runner will see st_notified when the step ends and queue the Task again.
            if (run_state_.compare_exchange_weak(s, st_notified, std::memory_order_acq_rel,
                                                 std::memory_order_acquire)) {
                return;
            }
        } else {
            return; // st_scheduled or st_notified: a run is coming; st_done: nothing to do
        }
    }
}

void TaskBase::orphan() noexcept {
    // acq_rel exchange: from now on wake() sees st_done and never queues the Task again.
    const std::uint32_t prev = run_state_.exchange(st_done, std::memory_order_acq_rel);
    if (prev == st_done) {
        return;
    }
    ExceptionContext ctx{"Task was destroyed but it is pending!", nullptr, get_name(), {}};
    loop_->report(ctx);
    release(); // the alive reference
}

bool TaskBase::cancel(std::string msg) {
    FutureStateBase* waiting = nullptr;
    std::uint32_t seen_wait = 0;
    {
        std::lock_guard guard(lock_);
        if (status_.load(std::memory_order_relaxed) != FutureStatus::pending) {
            return false;
        }
        ++num_cancels_requested_;
        waiting = waiting_on_;
        seen_wait = wait_seq_;
        if (waiting != nullptr) {
            waiting->add_ref();
        }
    }
    for (;;) {
        if (waiting != nullptr) {
            const bool cancelled = waiting->cancel(msg);
            waiting->release();
            if (cancelled) {
                return true; // the awaited future's cancellation wakes us with CancelledError
            }
        }
        std::lock_guard guard(lock_);
        // The future we tried was already done. If the Task has meanwhile moved on to wait on
        // another one (a newer wait_seq_), that one must be cancelled instead: begin_wait
        // looked for a pending cancellation before we could set it. Otherwise leave the
        // cancellation pending for the Task's next suspension point.
        if (waiting_on_ != nullptr && wait_seq_ != seen_wait) {
            waiting = waiting_on_;
            seen_wait = wait_seq_;
            waiting->add_ref();
            continue;
        }
        cancel_msg_ = std::make_unique<std::string>(std::move(msg));
        must_cancel_.store(true, std::memory_order_relaxed); // guarded; see the declaration
        return true;
    }
}

std::uint32_t TaskBase::cancelling() const {
    std::lock_guard guard(lock_);
    return num_cancels_requested_;
}

std::uint32_t TaskBase::uncancel() {
    std::lock_guard guard(lock_);
    if (num_cancels_requested_ > 0) {
        --num_cancels_requested_;
        if (num_cancels_requested_ == 0) {
            must_cancel_.store(false, std::memory_order_relaxed);
        }
    }
    return num_cancels_requested_;
}

std::string TaskBase::get_name() const {
    std::lock_guard guard(lock_);
    if (name_) {
        return *name_;
    }
    return "Task-" + std::to_string(id_);
}

void TaskBase::set_name(std::string name) {
    std::lock_guard guard(lock_);
    name_ = std::make_unique<std::string>(std::move(name));
}

void TaskBase::begin_wait(FutureStateBase* fut, std::coroutine_handle<> h) {
    resume_point_ = h;
    std::unique_ptr<std::string> msg;
    {
        std::lock_guard guard(lock_);
        waiting_on_ = fut;
        ++wait_seq_;
        if (!must_cancel_.load(std::memory_order_relaxed)) {
            return;
        }
        msg = std::move(cancel_msg_);
    }
    // asyncio's __step: a Task with a pending cancellation cancels the future it yields on.
    if (fut->cancel(msg ? *msg : std::string{})) {
        std::lock_guard guard(lock_);
        must_cancel_.store(false, std::memory_order_relaxed);
    } else {
        std::lock_guard guard(lock_);
        cancel_msg_ = std::move(msg);
    }
}

void TaskBase::end_wait() {
    std::unique_ptr<std::string> msg;
    {
        std::lock_guard guard(lock_);
        waiting_on_ = nullptr;
        if (!must_cancel_.load(std::memory_order_relaxed)) {
            return;
        }
        must_cancel_.store(false, std::memory_order_relaxed);
        msg = std::move(cancel_msg_);
    }
    throw CancelledError(msg ? std::move(*msg) : std::string{});
}

void TaskBase::deliver_cancellation_slow() {
    std::unique_ptr<std::string> msg;
    {
        std::lock_guard guard(lock_);
        if (!must_cancel_.load(std::memory_order_relaxed)) {
            return;
        }
        must_cancel_.store(false, std::memory_order_relaxed);
        msg = std::move(cancel_msg_);
    }
    throw CancelledError(msg ? std::move(*msg) : std::string{});
}

void TaskBase::yield_from(std::coroutine_handle<> h) noexcept {
    resume_point_ = h;
    wake(); // st_running -> st_notified: queued again behind what is ready now
}

void TaskBase::complete() noexcept {
    completed_ = true;
    FutureStatus status = FutureStatus::finished;
    if (exc_) {
        try {
            std::rethrow_exception(exc_);
        } catch (const CancelledError&) {
            status = FutureStatus::cancelled;
        } catch (...) { // NOLINT(bugprone-empty-catch): any other exception is a failure
        }
    }
    CallbackNode* list = nullptr;
    {
        std::lock_guard guard(lock_);
        if (status == FutureStatus::finished && exc_) {
            exception_unretrieved_.store(true, std::memory_order_relaxed);
        }
        list = finish_locked(status);
    }
    fire_all(list);
}

} // namespace eddy::detail
