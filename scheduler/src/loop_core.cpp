#include <eddy/scheduler/detail/loop_core.hpp>

#include <cxxabi.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>

#include <eddy/scheduler/detail/runtime_core.hpp>
#include <eddy/scheduler/event_loop.hpp>

namespace eddy::detail {

namespace {

bool env_debug() noexcept {
    const char* v = std::getenv("EDDY_DEBUG"); // NOLINT(concurrency-mt-unsafe): read once per loop
    return v != nullptr && v[0] != '\0' && std::strcmp(v, "0") != 0;
}

std::string demangle(const char* name) {
    int status = 0;
    std::unique_ptr<char, void (*)(void*)> out(abi::__cxa_demangle(name, nullptr, nullptr, &status),
                                               std::free);
    return status == 0 && out ? std::string(out.get()) : std::string(name);
}

} // namespace

// --- HandleBase / TimerBase --------------------------------------------------------------

void HandleBase::run() {
    struct Release {
        HandleBase* self;
        ~Release() { self->release(); } // the queue's reference
    } release{this};
    if (cancelled()) {
        return;
    }
    try {
        invoke();
    } catch (...) {
        // asyncio: "Exception in callback ..." goes to the loop's exception handler and the
        // loop keeps running. Handles only run on their loop's thread.
        const std::string what = describe();
        if (running_scheduler != nullptr) {
            running_scheduler->report({"Exception in " + what, std::current_exception(), {}, what});
        }
    }
}

std::string HandleBase::describe() const {
    return "callback " + demangle(type_name());
}

void TimerBase::bind(LoopCore* loop) noexcept {
    loop_ = loop;
}

TimerBase::~TimerBase() = default;

bool TimerBase::cancel() noexcept {
    if (!HandleBase::cancel()) {
        return false;
    }
    // The loop's count of cancelled timers only decides when to compact the heap. It is kept
    // by cancels made on the loop's own thread while it runs (the usual case: a timeout
    // cancelled when the work finished first). The pointer is compared, never followed,
    // otherwise: a TimerHandle may outlive its loop, and holding a reference on the loop for
    // every timer would cost two atomic operations each. An uncounted cancelled timer is still
    // never run, and is dropped when it reaches the top or at the next compaction.
    if (loop_ != nullptr && running_scheduler == loop_) {
        loop_->timer_cancelled();
    }
    return true;
}

// --- LoopCore ------------------------------------------------------------------------------

LoopCore::LoopCore() {
    debug_.store(env_debug(), std::memory_order_relaxed);
}

LoopCore::~LoopCore() = default;

void LoopCore::release() noexcept {
    if (refs_.fetch_sub(1, std::memory_order_acq_rel) == 1) {
        delete this;
    }
}

void LoopCore::add_user_ref() noexcept {
    // The EventLoop handles together hold one reference to the core. Relaxed increment on
    // the counts: a new handle is made from an existing reference.
    if (user_refs_.fetch_add(1, std::memory_order_relaxed) == 0) {
        add_ref();
    }
}

void LoopCore::release_user_ref() noexcept {
    if (user_refs_.fetch_sub(1, std::memory_order_acq_rel) == 1) {
        // The last EventLoop handle: nobody can run this loop again. Close it (which breaks
        // the loop -> queue -> Task -> loop reference cycles) and drop the handles' reference.
        if (!is_running()) {
            try {
                close();
            } catch (...) { // NOLINT(bugprone-empty-catch): close() only throws while running
            }
        }
        release();
    }
}

void LoopCore::check_open() const {
    if (is_closed()) {
        throw RuntimeError("Event loop is closed");
    }
}

void LoopCore::check_can_run() const {
    check_open();
    if (is_running()) {
        throw RuntimeError("This event loop is already running");
    }
    if (running_scheduler != nullptr) {
        throw RuntimeError("Cannot run the event loop while another loop is running");
    }
}

void LoopCore::check_thread() const {
    if (debug() && is_running() && std::this_thread::get_id() != thread_) {
        throw RuntimeError(
            "Non-thread-safe operation invoked on an event loop other than the current one");
    }
}

void LoopCore::call_soon(HandleBase* h) {
    if (is_closed()) {
        h->release(); // the queue's reference; the caller's Handle drops its own
        throw RuntimeError("Event loop is closed");
    }
    try {
        check_thread();
    } catch (...) {
        h->release(); // the queue's reference; the caller's Handle drops its own
        throw;
    }
    // On the running loop's thread: straight to the ready queue. Otherwise (before the loop
    // runs, or from another thread) through the remote queue, the same path Tasks and futures
    // completed elsewhere take, so everything queued before a run keeps its FIFO order.
    (void)schedule(h);
}

void LoopCore::call_soon_threadsafe(HandleBase* h) {
    if (!schedule(h)) {
        h->release(); // the queue's reference; the caller's Handle drops its own
        throw RuntimeError("Event loop is closed");
    }
}

bool LoopCore::schedule(Runnable* r) noexcept {
    if (running_scheduler == this) {
        ready_.push(r); // on the loop's own thread: no lock, no wake-up
        return true;
    }
    bool wake = false;
    {
        std::lock_guard guard(remote_mu_);
        if (remote_closed_) {
            return false;
        }
        remote_.push(r);
        // Release: pairs with the loop's acquire load in run_once. The entry itself is
        // published by the mutex; the flag only tells the loop to come and take it.
        remote_nonempty_.store(true, std::memory_order_release);
        // See the design block: the loop sets parked_ under this lock only after finding
        // remote_ empty, so reading it here cannot miss a loop that is about to block.
        if (parked_ && !wake_pending_) {
            wake_pending_ = true;
            wake = true;
            // Once the lock is released the loop may run what we queued, and that may drop
            // the last reference to this loop before we write its eventfd: hold one.
            add_ref();
        }
    }
    if (wake) {
        poller_.wake();
        release();
    }
    return true;
}

void LoopCore::call_at(TimerBase* t) {
    if (is_closed()) {
        t->release(); // the heap's reference; the caller's TimerHandle drops its own
        throw RuntimeError("Event loop is closed");
    }
    try {
        check_thread();
    } catch (...) {
        t->release(); // the heap's reference; the caller's TimerHandle drops its own
        throw;
    }
    if (is_running() && running_scheduler != this) {
        // From another thread while the loop runs (not thread-safe in asyncio; debug mode
        // refuses it above): hand the insertion to the loop's thread instead of racing on
        // the heap.
        auto insert = [this, t] { insert_timer(t); };
        auto* h = new CallbackImpl<HandleBase, decltype(insert)>(std::move(insert));
        if (!schedule(h)) {
            h->release();
            t->release();
        }
        return;
    }
    insert_timer(t);
}

void LoopCore::insert_timer(TimerBase* t) {
    t->seq_ = timer_seq_++;
    timers_.push(TimerQueue::Entry{t->when_, t->seq_, t});
}

void LoopCore::stop() noexcept {
    stopping_.store(true, std::memory_order_relaxed);
    if (running_scheduler == this) {
        return; // the loop's own thread: it checks the flag at the end of this turn
    }
    // Another thread: the loop may be parked with nothing else to wake it. Same protocol as
    // schedule(): parked_ is read under the lock the loop sets it under.
    bool wake = false;
    {
        std::lock_guard guard(remote_mu_);
        if (parked_ && !wake_pending_) {
            wake_pending_ = true;
            wake = true;
        }
    }
    if (wake) {
        poller_.wake();
    }
}

void LoopCore::stop_soon() noexcept {
    auto fn = [this] { stop(); };
    HandleBase* h = nullptr;
    try {
        h = new CallbackImpl<HandleBase, decltype(fn)>(std::move(fn));
    } catch (const std::bad_alloc&) {
        stop(); // no memory for the callback: stop at the end of the current turn instead
        return;
    }
    if (!schedule(h)) {
        h->release();
    }
}

bool LoopCore::schedule_task(TaskBase* t, TaskWake why) noexcept {
    if (worker_ == nullptr || t->pinned()) {
        return schedule(t);
    }
    if (is_closed()) {
        return false;
    }
    worker_->runtime().schedule_task(t, why);
    return true;
}

void LoopCore::unpark() noexcept {
    bool wake = false;
    {
        std::lock_guard guard(remote_mu_);
        unpark_token_ = true;
        if (parked_ && !wake_pending_) {
            wake_pending_ = true;
            wake = true;
        }
    }
    if (wake) {
        poller_.wake();
    }
}

void LoopCore::register_task(TaskBase* t) noexcept {
    std::lock_guard guard(registry_lock_);
    t->registry_prev_ = nullptr;
    t->registry_next_ = tasks_;
    if (tasks_ != nullptr) {
        tasks_->registry_prev_ = t;
    }
    tasks_ = t;
    ++task_count_;
}

void LoopCore::unregister_task(TaskBase* t) noexcept {
    std::lock_guard guard(registry_lock_);
    unregister_locked(t);
}

void LoopCore::unregister_locked(TaskBase* t) noexcept {
    if (t->registry_prev_ != nullptr) {
        t->registry_prev_->registry_next_ = t->registry_next_;
    } else if (tasks_ == t) {
        tasks_ = t->registry_next_;
    } else {
        return; // not registered (already removed by close())
    }
    if (t->registry_next_ != nullptr) {
        t->registry_next_->registry_prev_ = t->registry_prev_;
    }
    t->registry_prev_ = t->registry_next_ = nullptr;
    --task_count_;
}

std::vector<TaskBase*> LoopCore::pending_tasks() const {
    std::lock_guard guard(registry_lock_);
    std::vector<TaskBase*> out;
    out.reserve(task_count_);
    for (TaskBase* t = tasks_; t != nullptr; t = t->registry_next_) {
        // A listed Task whose count reached zero is being destroyed (its destructor waits for
        // this lock to unlink it): skip it.
        if (!t->done() && t->try_add_ref()) {
            out.push_back(t);
        }
    }
    std::reverse(out.begin(), out.end()); // creation order
    return out;
}

void LoopCore::run_forever(EventLoop& self) {
    check_can_run();
    thread_ = std::this_thread::get_id();
    // Release: a thread that sees running_ (is_running()) also sees thread_.
    running_.store(true, std::memory_order_release);
    running_scheduler = this;
    self_ = &self;
    struct Restore {
        LoopCore* core;
        ~Restore() {
            core->self_ = nullptr;
            running_scheduler = nullptr;
            core->stopping_.store(false, std::memory_order_relaxed);
            core->running_.store(false, std::memory_order_release);
        }
    } restore{this};
    for (;;) {
        run_once();
        if (stopping_.load(std::memory_order_relaxed)) {
            break;
        }
    }
}

bool LoopCore::spin_for_work() noexcept {
    // A worker with nothing to do spins briefly before parking: work that arrives within a
    // few microseconds (the next message of a conversation, a burst of spawns) then costs no
    // park and no wake-up system call. Yielding between checks leaves the core to a thread
    // that has work when the machine is oversubscribed.
    for (unsigned i = 0; i < spin_rounds; ++i) {
        if (remote_nonempty_.load(std::memory_order_acquire) || worker_->has_tasks() ||
            worker_->find_work()) {
            return true;
        }
        std::this_thread::yield();
    }
    return false;
}

void LoopCore::drain_remote() {
    std::lock_guard guard(remote_mu_);
    take_remote_locked();
}

void LoopCore::take_remote_locked() noexcept {
    ready_.splice(remote_);
    // Relaxed: written and read under remote_mu_ here; the lock-free read in run_once only
    // decides whether to take the lock (a post it misses is taken on the next turn).
    remote_nonempty_.store(false, std::memory_order_relaxed);
}

void LoopCore::pop_cancelled_timers() {
    if (timers_.size() > 64 && cancelled_timers_ * 2 > timers_.size()) {
        // More than half are cancelled: drop them all at once (asyncio's rule).
        const std::size_t removed = timers_.remove_if([](const TimerQueue::Entry& e) {
            if (e.timer->cancelled()) {
                e.timer->release();
                return true;
            }
            return false;
        });
        (void)removed;
        cancelled_timers_ = 0;
        return;
    }
    while (!timers_.empty() && timers_.top().timer->cancelled()) {
        timers_.pop().timer->release();
        uncount_cancelled();
    }
}

void LoopCore::run_once() {
    if (!timers_.empty()) {
        pop_cancelled_timers();
    }

    bool busy = !ready_.empty() || stopping_.load(std::memory_order_relaxed) ||
                (worker_ != nullptr && worker_->has_tasks());
    if (!busy && worker_ != nullptr) {
        busy = worker_->find_work() || spin_for_work() || !worker_->prepare_park();
    }

    if (busy) {
        // Work is ready: no parking and, most turns, no system call. Take what other threads
        // posted (the flag spares the lock when there is nothing), and poll without blocking
        // only every poll_interval turns, for IO readiness. (The wake-up eventfd needs no
        // draining here: it is written only while the loop is parked.)
        if (remote_nonempty_.load(std::memory_order_acquire)) {
            drain_remote();
        }
        if (++turns_since_poll_ >= poll_interval) {
            turns_since_poll_ = 0;
            poller_.wait(std::chrono::nanoseconds{0});
        }
    } else {
        std::chrono::nanoseconds timeout{-1};
        if (!timers_.empty()) {
            timeout = std::max(std::chrono::nanoseconds{0},
                               std::chrono::duration_cast<std::chrono::nanoseconds>(
                                   timers_.top().when - clock::now()));
        }
        if (timeout.count() != 0) {
            std::lock_guard guard(remote_mu_);
            // stopping_ and the unpark token are checked again here: stop() and unpark() set
            // them before (stop) or under (unpark) this lock, so either we see them now or they
            // see parked_ and wake us.
            if (!remote_.empty() || stopping_.load(std::memory_order_relaxed) || unpark_token_) {
                timeout = std::chrono::nanoseconds{0};
            } else {
                parked_ = true;
            }
        }
        if (worker_ != nullptr) {
            WorkerCounters::bump(worker_->counters_.parks);
        }
        poller_.wait(timeout);
        turns_since_poll_ = 0;
        {
            std::lock_guard guard(remote_mu_);
            parked_ = false;
            wake_pending_ = false;
            unpark_token_ = false;
            take_remote_locked();
        }
        if (worker_ != nullptr) {
            worker_->after_park();
        }
    }

    // Due timers join the ready queue in deadline order.
    if (!timers_.empty()) {
        const auto now = clock::now();
        while (!timers_.empty() && timers_.top().when <= now) {
            TimerBase* t = timers_.pop().timer;
            if (t->cancelled()) {
                uncount_cancelled();
                t->release();
            } else {
                ready_.push(t); // the heap's reference moves to the queue
                if (worker_ != nullptr) {
                    WorkerCounters::bump(worker_->counters_.timers_fired);
                }
            }
        }
    }

    run_ready();
    if (worker_ != nullptr) {
        worker_->run_tasks();
    }
}

void LoopCore::run_ready() {
    // Only what is ready now: anything scheduled by these callbacks waits for the next turn.
    std::size_t n = ready_.size();
    const bool timed = debug();
    while (n-- > 0 && !ready_.empty()) {
        Runnable* r = ready_.pop();
        const auto start = timed ? clock::now() : clock::time_point{};
        std::string what;
        if (timed) {
            what = r->describe();
        }
        try {
            r->run(); // Runnables report their own exceptions; this is a safety net
        } catch (...) {
            call_exception_handler(
                {"Exception in the event loop", std::current_exception(), {}, {}});
        }
        if (timed) {
            const double took = std::chrono::duration<double>(clock::now() - start).count();
            if (took >= slow_callback_duration.load(std::memory_order_relaxed)) {
                char buf[64];
                std::snprintf(buf, sizeof buf, " took %.3f seconds", took);
                call_exception_handler({"Executing " + what + buf, nullptr, {}, what});
            }
        }
    }
}

void LoopCore::close() {
    if (is_running()) {
        throw RuntimeError("Cannot close a running event loop");
    }
    if (closed_.exchange(true, std::memory_order_acq_rel)) {
        return;
    }
    {
        std::lock_guard guard(remote_mu_);
        remote_closed_ = true;
        take_remote_locked();
    }
    while (!ready_.empty()) {
        ready_.pop()->discard();
    }
    if (io_) {
        io_->on_close();
    }
    timers_.for_each([](const TimerQueue::Entry& e) { e.timer->release(); });
    timers_.clear();
    // Orphan the Tasks still pending. Unlink them all first: orphaning may destroy a Task.
    std::vector<TaskBase*> orphans;
    {
        std::lock_guard guard(registry_lock_);
        while (tasks_ != nullptr) {
            TaskBase* t = tasks_;
            unregister_locked(t);
            orphans.push_back(t);
        }
    }
    for (TaskBase* t : orphans) {
        t->orphan();
    }
}

void LoopCore::report(const ExceptionContext& ctx) noexcept {
    call_exception_handler(ctx);
}

void LoopCore::call_exception_handler(const ExceptionContext& ctx) noexcept {
    ExceptionHandlerFn handler;
    try {
        handler = exception_handler();
    } catch (...) { // NOLINT(bugprone-empty-catch): copying the handler failed: use the default
    }
    if (!handler) {
        default_exception_handler(ctx);
        return;
    }
    try {
        if (self_ != nullptr && running_scheduler == this) {
            handler(*self_, ctx);
        } else {
            EventLoop self(this);
            handler(self, ctx);
        }
    } catch (...) {
        default_exception_handler({"Unhandled error in exception handler", std::current_exception(),
                                   ctx.task, ctx.handle});
        default_exception_handler(ctx);
    }
}

void LoopCore::default_exception_handler(const ExceptionContext& ctx) noexcept {
    std::string line = "eddy: " + ctx.message;
    if (!ctx.task.empty()) {
        line += " [task " + ctx.task + "]";
    }
    if (ctx.exception) {
        try {
            std::rethrow_exception(ctx.exception);
        } catch (const std::exception& e) {
            line += "\n  exception: ";
            line += demangle(typeid(e).name());
            line += ": ";
            line += e.what();
        } catch (...) {
            line += "\n  exception: (not a std::exception)";
        }
    }
    line += '\n';
    std::fputs(line.c_str(), stderr);
}

} // namespace eddy::detail
