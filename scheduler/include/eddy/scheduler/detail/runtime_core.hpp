#pragma once

/// The machinery of a multi-worker Runtime: workers, their queues, stealing and parking.
///
/// Design
/// ------
/// * Roles. Each Worker is one thread running one EventLoop (LoopCore) whose `worker_` points
///   back here. A Worker owns a LIFO slot and a LocalQueue of Tasks; the runtime owns one
///   InjectQueue. Callbacks (call_soon, timers) stay on their loop's ready queue; only Tasks
///   move between workers (pinned Tasks excepted: they use their loop's ready queue).
/// * Where a Task goes when it becomes ready (`RuntimeCore::schedule_task`):
///     - from a worker of this runtime: that worker (woken by what it awaited: the LIFO slot,
///       for message-passing locality; spawned or yielding: the back of the local queue);
///     - from anywhere else (a plain thread, another runtime): the inject queue, and one idle
///       worker is woken.
/// * A worker's turn (LoopCore::run_once): callbacks ready at the start of the turn, then up
///   to `task_budget` Tasks: the LIFO slot first (at most `lifo_limit` times in a row, so two
///   Tasks bouncing a message cannot starve the queue), then the local queue, with the inject
///   queue looked at first every 61st Task (fairness for outside work). With nothing to do, it
///   takes from the inject queue, then steals half of another worker's queue (at most half
///   of the workers search at once), then parks.
/// * Parking and waking (why no wake-up is lost):
///     1. A worker about to park registers as idle (under `idle_mu_`, incrementing
///        `num_idle_` with seq_cst), then checks the inject queue under its lock, then parks
///        in its loop's poller unless an unpark token is set (LoopCore's park protocol).
///     2. Who queues on the inject queue does so under its lock, then reads `num_idle_`
///        (seq_cst) and, if non-zero, takes an idle worker under `idle_mu_` and unparks it
///        (sets its token and writes its eventfd if it is parked).
///     The inject lock orders the two: if the worker's check came first, its registration
///     happened before it and the queuer sees `num_idle_` > 0; if the queuer's push came
///     first, the worker sees the Task and does not park. A token set before the worker
///     blocks makes it not block.
///     Tasks a worker queues on its own local queue need no such guarantee: the worker is
///     running and will run them itself. Waking an idle worker for them (when one is idle and
///     none is searching) only adds parallelism; a notification missed by a stale read is
///     made up at the worker's next notification check.
/// * Shutdown: the runtime cancels pending Tasks and waits for them, then sets `shutdown_`,
///   stops every loop (which wakes them), joins the threads, and closes the loops.

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include <eddy/future/detail/scheduler.hpp>
#include <eddy/future/detail/task_base.hpp>
#include <eddy/scheduler/config.hpp>
#include <eddy/scheduler/detail/work_queue.hpp>

namespace eddy {
class EventLoop;
class BlockingPool;
class CpuPool;
namespace detail {

class LoopCore;
class RuntimeCore;

/// A worker's counters. Written only by the worker (a relaxed load and store, no
/// read-modify-write), read by `metrics()` from any thread (relaxed: a statistic).
struct alignas(64) WorkerCounters {
    std::atomic<std::uint64_t> tasks_run{0};
    std::atomic<std::uint64_t> steals{0};
    std::atomic<std::uint64_t> stolen_tasks{0};
    std::atomic<std::uint64_t> steal_attempts{0};
    std::atomic<std::uint64_t> parks{0};
    std::atomic<std::uint64_t> wakeups_sent{0};
    std::atomic<std::uint64_t> wakeups_received{0};
    std::atomic<std::uint64_t> timers_fired{0};
    std::atomic<std::uint64_t> busy_ns{0};

    static void bump(std::atomic<std::uint64_t>& c, std::uint64_t by = 1) noexcept {
        c.store(c.load(std::memory_order_relaxed) + by, std::memory_order_relaxed);
    }
};

class Worker {
public:
    Worker(RuntimeCore& rt, unsigned index) noexcept;

    // --- on this worker's thread --------------------------------------------------------------
    [[nodiscard]] bool has_tasks() const noexcept;
    /// Queues `t` here (see the design block for where).
    void push(TaskBase* t, TaskWake why) noexcept;
    /// Nothing local: take from the inject queue, else steal. True when it found Tasks.
    bool find_work() noexcept;
    /// Registers as idle and checks once more; false when work appeared (do not park).
    bool prepare_park() noexcept;
    /// After parking: no longer idle.
    void after_park() noexcept;
    /// Runs up to `task_budget` Tasks.
    void run_tasks();

    [[nodiscard]] unsigned index() const noexcept { return index_; }
    [[nodiscard]] RuntimeCore& runtime() const noexcept { return rt_; }
    [[nodiscard]] std::size_t local_depth() const noexcept {
        return queue_.size() + (lifo_.load(std::memory_order_relaxed) != nullptr ? 1 : 0);
    }

    static constexpr unsigned task_budget = 128;
    static constexpr unsigned lifo_limit = 3;
    static constexpr unsigned inject_interval = 61;

    LoopCore* core_ = nullptr; // this worker's loop (owned by RuntimeCore::loops_)
    WorkerCounters counters_;
    bool idle_ = false; // guarded by RuntimeCore::idle_mu_

private:
    TaskBase* next_task() noexcept;
    void push_back(TaskBase* t) noexcept;
    bool take_from_inject() noexcept;
    bool steal() noexcept;

    RuntimeCore& rt_;
    unsigned index_;
    LocalQueue queue_;
    /// The Task woken last by this worker; only the owner reads or writes it (atomic only so
    /// `local_depth()` may peek from other threads).
    std::atomic<TaskBase*> lifo_{nullptr};
    unsigned lifo_runs_ = 0;
    std::uint32_t tick_ = 0;
    std::uint64_t rng_;
};

/// The worker whose thread this is (null on other threads).
inline thread_local Worker* current_worker = nullptr;

class RuntimeCore {
public:
    explicit RuntimeCore(const Config& config);
    ~RuntimeCore();
    RuntimeCore(const RuntimeCore&) = delete;
    RuntimeCore& operator=(const RuntimeCore&) = delete;

    /// Starts the worker threads.
    void start();
    /// See the design block. Any thread.
    void schedule_task(TaskBase* t, TaskWake why) noexcept;
    /// Wakes one idle worker, if there is one. Any thread.
    void notify_one() noexcept;
    /// Wakes one idle worker when one is idle and none is searching (a hint; see design).
    void notify_if_helpful() noexcept;
    /// The loop a Task spawned from this thread starts on: the current worker's, else the
    /// next in turn.
    [[nodiscard]] LoopCore* spawn_loop() noexcept;
    /// Pending Tasks of every loop, each with a reference the caller adopts.
    [[nodiscard]] std::vector<TaskBase*> pending_tasks() const;
    /// Stops and joins the workers, closes the loops. Idempotent.
    void stop_workers();

    [[nodiscard]] std::size_t size() const noexcept { return workers_.size(); }
    [[nodiscard]] bool is_shutdown() const noexcept {
        return shutdown_.load(std::memory_order_acquire);
    }

    Config config_;
    std::vector<std::unique_ptr<Worker>> workers_;
    std::vector<std::unique_ptr<EventLoop>> loops_;
    InjectQueue inject_;
    std::unique_ptr<BlockingPool> blocking_pool_;
    std::unique_ptr<CpuPool> cpu_pool_;

    std::mutex idle_mu_;
    std::vector<Worker*> idle_;                     // guarded by idle_mu_
    alignas(64) std::atomic<unsigned> num_idle_{0}; // seq_cst: see the design block
    /// Workers stealing right now. acq_rel increments/decrements by the searcher; relaxed reads
    /// elsewhere: it only limits searchers and decides whether a wake-up hint is worth it.
    alignas(64) std::atomic<unsigned> num_searching_{0};

private:
    void worker_main(Worker& w);

    std::vector<std::thread> threads_;
    /// Set once (release) before the loops are stopped; workers read it (acquire) to leave
    /// their run loop, and schedule_task to stop queueing locally.
    std::atomic<bool> shutdown_{false};
    std::atomic<unsigned> next_spawn_{0}; // round-robin home loop for outside spawns
    std::mutex stop_mu_;                  // serialises stop_workers
    bool stopped_ = false;                // guarded by stop_mu_
};

} // namespace detail
} // namespace eddy
