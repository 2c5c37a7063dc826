#pragma once

/// The implementation of an EventLoop (one per loop; `EventLoop` is a handle to it).
///
/// Design
/// ------
/// * Threads. One thread runs the loop at a time (`run_forever` records it). `call_soon`,
///   `call_later`, `call_at`, `create_task` and `close` are for that thread (or any thread while
///   the loop is not running), as in asyncio; debug mode checks it. `schedule()` (the
///   `call_soon_threadsafe` path, and how Tasks and futures completed elsewhere wake it) may
///   be called from any thread.
/// * Queues. `ready_` (loop thread only) is the FIFO of Runnables ready now: callbacks and
///   Task steps together, in asyncio's order. `remote_` is the FIFO other threads append to,
///   under `remote_mu_`; each turn moves it to the end of `ready_`.
/// * Timers. A TimerQueue ordered by (deadline, sequence): a FIFO for deadlines that arrive in
///   order plus a heap for the rest. Cancelling is O(1): the entry is flagged and dropped when
///   it reaches the top, or all at once when more than half are cancelled, as asyncio does.
/// * Parking (the wake-up protocol). Before blocking in the poller the loop takes
///   `remote_mu_`, and parks only if `remote_` is empty, setting `parked_` under the lock. A
///   thread that posts appends under the same lock and reads `parked_` there; if it is set (and
///   no wake is pending yet) it writes the eventfd after unlocking. The lock orders every post
///   either before the loop's check (the loop sees the entry and does not block) or after it
///   (the poster sees `parked_` and wakes the poller; an eventfd write made before `epoll_wait`
///   starts still makes it return). So no post is left waiting while the loop sleeps, and the
///   hot path (loop running) makes no system call.
/// * Turn. When something is ready (or the loop is stopping): take `remote_` if its flag says
///   it has entries, and poll IO without blocking only every `poll_interval` turns, so a busy
///   loop makes no system call per turn. Otherwise park: block in the poller until the first
///   timer (or a wake-up), then take `remote_`. Then move due timers to `ready_` (the clock is
///   read only when timers exist) and run exactly the entries that are in `ready_` now (new
///   ones wait for the next turn, so a callback that re-schedules itself cannot starve timers
///   or IO).
/// * Workers. A loop that is a runtime's worker (`worker_`) also runs Tasks from the worker's
///   queues after its callbacks, looks for work (inject queue, stealing) before parking, and
///   honours an unpark token set by the runtime under `remote_mu_` (see runtime_core.hpp).
/// * Shutdown. `close()` refuses new posts, discards queued callbacks and timers, and orphans
///   pending Tasks (reported as "Task was destroyed but it is pending!").

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include <eddy/future/detail/scheduler.hpp>
#include <eddy/future/detail/task_base.hpp>
#include <eddy/scheduler/detail/poller.hpp>
#include <eddy/scheduler/detail/timer_queue.hpp>
#include <eddy/scheduler/handle.hpp>

namespace eddy {
class EventLoop;
namespace detail {

/// An intrusive FIFO of Runnables, for one thread.
class RunQueue {
public:
    [[nodiscard]] bool empty() const noexcept { return head_ == nullptr; }
    [[nodiscard]] std::size_t size() const noexcept { return size_; }
    void push(Runnable* r) noexcept {
        r->next_runnable_ = nullptr;
        (tail_ != nullptr ? tail_->next_runnable_ : head_) = r;
        tail_ = r;
        ++size_;
    }
    Runnable* pop() noexcept {
        Runnable* r = head_;
        head_ = r->next_runnable_;
        if (head_ == nullptr) {
            tail_ = nullptr;
        }
        r->next_runnable_ = nullptr;
        --size_;
        return r;
    }
    /// Moves every entry of `other` to the end of this queue.
    void splice(RunQueue& other) noexcept {
        if (other.head_ == nullptr) {
            return;
        }
        (tail_ != nullptr ? tail_->next_runnable_ : head_) = other.head_;
        tail_ = other.tail_;
        size_ += other.size_;
        other.head_ = other.tail_ = nullptr;
        other.size_ = 0;
    }

private:
    Runnable* head_ = nullptr;
    Runnable* tail_ = nullptr;
    std::size_t size_ = 0;
};

using ExceptionHandlerFn = std::function<void(EventLoop&, const ExceptionContext&)>;

class Worker;

/// State another layer keeps per loop (io/'s watched descriptors). Loop thread only; told
/// when the loop closes, destroyed with the loop.
class LoopExtension {
public:
    LoopExtension() = default;
    LoopExtension(const LoopExtension&) = delete;
    LoopExtension& operator=(const LoopExtension&) = delete;
    virtual ~LoopExtension() = default;
    virtual void on_close() noexcept = 0;
};

class LoopCore final : public Scheduler {
public:
    using clock = std::chrono::steady_clock;

    LoopCore();
    ~LoopCore();

    // Scheduler
    void add_ref() noexcept override { refs_.fetch_add(1, std::memory_order_relaxed); }
    void release() noexcept override;
    bool schedule(Runnable* r) noexcept override;
    /// A standalone loop (or a pinned Task): the ready queue, as `schedule`. A runtime's
    /// loop: the runtime's scheduler (the current worker's queues, or the inject queue).
    bool schedule_task(TaskBase* t, TaskWake why) noexcept override;
    void register_task(TaskBase* t) noexcept override;
    void unregister_task(TaskBase* t) noexcept override;
    void report(const ExceptionContext& ctx) noexcept override;
    [[nodiscard]] bool debug() const noexcept override {
        return debug_.load(std::memory_order_relaxed);
    }

    // User handles (EventLoop objects). The last one going closes the loop.
    void add_user_ref() noexcept;
    void release_user_ref() noexcept;

    /// `call_soon`: appends `h` (adopting one reference). Throws if closed.
    void call_soon(HandleBase* h);
    /// `call_soon_threadsafe`: any thread. Throws if closed.
    void call_soon_threadsafe(HandleBase* h);
    /// `call_at`: inserts `t` (adopting one reference) into the heap. Throws if closed.
    void call_at(TimerBase* t);
    /// A timer of this loop was cancelled on the loop's thread (see TimerBase::cancel).
    void timer_cancelled() noexcept { ++cancelled_timers_; }

    void run_forever(EventLoop& self);
    void stop() noexcept;
    /// Schedules `stop()` to run as a callback (asyncio's `call_soon(loop.stop)`), from any
    /// thread; a no-op on a closed loop.
    void stop_soon() noexcept;
    void close();
    [[nodiscard]] bool is_running() const noexcept {
        return running_.load(std::memory_order_acquire);
    }
    [[nodiscard]] bool is_closed() const noexcept {
        return closed_.load(std::memory_order_acquire);
    }
    void check_open() const;
    /// Throws RuntimeError unless the loop can start running on this thread.
    void check_can_run() const;

    /// The pending Tasks, each with a reference taken under the registry lock (a Task may be
    /// finishing on another worker): the caller adopts them (or releases them).
    [[nodiscard]] std::vector<TaskBase*> pending_tasks() const;

    void set_exception_handler(ExceptionHandlerFn fn) {
        std::lock_guard guard(handler_mu_);
        handler_ = std::move(fn);
    }
    [[nodiscard]] ExceptionHandlerFn exception_handler() const {
        std::lock_guard guard(handler_mu_);
        return handler_;
    }
    void call_exception_handler(const ExceptionContext& ctx) noexcept;
    static void default_exception_handler(const ExceptionContext& ctx) noexcept;

    void set_debug(bool on) noexcept { debug_.store(on, std::memory_order_relaxed); }

    /// Makes this loop one of a runtime's workers (before it runs).
    void set_worker(Worker* w) noexcept { worker_ = w; }
    [[nodiscard]] Worker* worker() const noexcept { return worker_; }
    /// Makes the next (or current) park return at once. Any thread. See the design block.
    void unpark() noexcept;
    /// Seconds; relaxed: a setting read by the loop's thread in debug mode, set from anywhere.
    std::atomic<double> slow_callback_duration{0.1};

    [[nodiscard]] std::size_t ready_count() const noexcept { return ready_.size(); }
    [[nodiscard]] std::size_t timer_count() const noexcept { return timers_.size(); }
    Poller& poller() noexcept { return poller_; }
    /// io/'s per-loop state (null until io/ makes it). Loop thread only.
    [[nodiscard]] LoopExtension* io_extension() const noexcept { return io_.get(); }
    void set_io_extension(std::unique_ptr<LoopExtension> ext) noexcept { io_ = std::move(ext); }

private:
    void run_once();
    void insert_timer(TimerBase* t);
    bool spin_for_work() noexcept;
    /// How many times an idle worker looks for work (yielding in between) before parking.
    static constexpr unsigned spin_rounds = 16;
    void drain_remote();
    void take_remote_locked() noexcept;
    void unregister_locked(TaskBase* t) noexcept;
    void run_ready();
    void pop_cancelled_timers();

public:
    /// Debug mode: throws RuntimeError when called off the loop's thread while it runs.
    void check_thread() const;

private:
    // Relaxed counts; see FutureStateBase::release for the decrement's acq_rel.
    std::atomic<std::uint32_t> refs_{1};      // futures, tasks, handles; user refs hold one too
    std::atomic<std::uint32_t> user_refs_{0}; // EventLoop objects

    RunQueue ready_; // loop thread only

    std::mutex remote_mu_;
    RunQueue remote_;            // guarded by remote_mu_
    bool parked_ = false;        // guarded: the loop is (about to be) blocked in the poller
    bool wake_pending_ = false;  // guarded: an eventfd write is on its way
    bool remote_closed_ = false; // guarded
    bool unpark_token_ = false;  // guarded: do not block in the next park (a runtime woke us)
    /// True while `remote_` may hold entries: set by posters (under the lock), cleared by the
    /// loop (under the lock), read by the loop without the lock to skip it on busy turns.
    std::atomic<bool> remote_nonempty_{false};

    /// While work is ready the loop polls IO without blocking once every this many turns.
    static constexpr unsigned poll_interval = 61;
    unsigned turns_since_poll_ = 0; // loop thread only

    TimerQueue timers_; // loop thread only
    std::uint64_t timer_seq_ = 0;
    // Cancelled timers still queued, as counted by cancels on the loop's thread (others are
    // not counted): a heuristic for when to compact. Loop thread only.
    std::size_t cancelled_timers_ = 0;
    void uncount_cancelled() noexcept {
        if (cancelled_timers_ > 0) {
            --cancelled_timers_;
        }
    }

    Poller poller_;
    std::unique_ptr<LoopExtension> io_; // loop thread only; see io_extension()

    std::atomic<bool> running_{false}; // release on start/stop: is_running() from any thread
    /// Set once by close() (acq_rel exchange); read with acquire by is_closed() from any thread,
    /// so who sees it closed also sees the queues' final state. Posts from other threads are
    /// refused under remote_mu_ (remote_closed_), not by this flag.
    std::atomic<bool> closed_{false};
    std::atomic<bool> stopping_{
        false};                // relaxed: stop() from the loop or another thread is a request
    std::thread::id thread_{}; // the thread running the loop, valid while running_

    // Tasks whose home is this loop, until they are destroyed. Guarded by registry_lock_: a
    // Task may be destroyed on any thread.
    mutable SpinLock registry_lock_;
    TaskBase* tasks_ = nullptr;
    std::size_t task_count_ = 0;
    Worker* worker_ = nullptr; // set when this loop is a runtime's worker

    mutable std::mutex handler_mu_;  // reports may come from any thread (a runtime's workers)
    ExceptionHandlerFn handler_;     // guarded by handler_mu_
    std::atomic<bool> debug_{false}; // relaxed: a setting, read per turn; no data hangs on it
    EventLoop* self_ = nullptr;      // the handle passed to exception handlers while running
};

} // namespace detail
} // namespace eddy
