#pragma once

/// `eddy::Runtime`: N workers, each running an EventLoop, sharing Tasks by work stealing
/// (Tokio's multi-thread runtime with asyncio's API).
///
/// ```cpp
/// eddy::Runtime rt{eddy::Config{.workers = 4}};
/// int answer = rt.run(main());     // runs main on a worker, cancels leftovers, returns
/// rt.spawn(background());          // from any thread
/// rt.shutdown();                   // also done by the destructor
/// ```
///
/// Inside a Task, `get_running_loop()` is the loop of the worker running it right now: a
/// Task that is not pinned may continue on another worker after any suspension.
///
/// Thread safety: every member may be called from any thread, except that `run` and
/// `shutdown` must not be called from one of the runtime's own workers.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include <eddy/future/coro.hpp>
#include <eddy/future/task.hpp>
#include <eddy/scheduler/config.hpp>
#include <eddy/scheduler/detail/runtime_core.hpp>
#include <eddy/scheduler/event_loop.hpp>

namespace eddy {

/// One worker's counters (since the runtime started).
struct WorkerMetrics {
    std::uint64_t tasks_run = 0;
    std::uint64_t steals = 0;         ///< successful steals
    std::uint64_t stolen_tasks = 0;   ///< Tasks taken by those steals
    std::uint64_t steal_attempts = 0; ///< victims tried
    std::uint64_t parks = 0;          ///< times it blocked (or polled) with nothing to do
    std::uint64_t wakeups_sent = 0;   ///< idle workers it woke
    std::uint64_t wakeups_received = 0;
    std::uint64_t timers_fired = 0;
    std::uint64_t busy_ns = 0; ///< time spent running Tasks
    std::size_t local_queue_depth = 0;
};

/// A pool's figures.
struct PoolMetrics {
    std::uint64_t jobs_run = 0;
    std::size_t queue_depth = 0;
    std::size_t threads_alive = 0;
};

/// `rt.metrics()`.
struct RuntimeMetrics {
    std::vector<WorkerMetrics> workers;
    std::size_t inject_queue_depth = 0;
    PoolMetrics cpu;
    PoolMetrics blocking;
};

class Runtime {
public:
    explicit Runtime(Config config = {});
    ~Runtime();
    Runtime(const Runtime&) = delete;
    Runtime& operator=(const Runtime&) = delete;

    /// Runs `main` on a worker and blocks the calling thread until it is done; then cancels
    /// the Tasks left over and waits for them (as `asyncio.run`), and returns main's value or
    /// rethrows its exception. The runtime stays up for further `run` / `spawn` calls.
    template <class T>
    T run(Coro<T> main) {
        check_can_block("Runtime::run");
        Task<T> task = spawn(std::move(main));
        task.wait();
        cancel_leftovers();
        return detail::take_result(task);
    }

    /// Starts `coro` as a Task on the runtime; from any thread (asyncio's `create_task`, and
    /// Tokio's `spawn`). On a worker it starts there; elsewhere, on the workers in turn.
    template <class T>
    Task<T> spawn(Coro<T> coro, const TaskOptions& options = {}) {
        detail::LoopCore* home = core_->spawn_loop();
        return detail::spawn_task(home, std::move(coro), options.name, options.pinned);
    }

    /// The loop of worker `i` (0 <= i < workers()).
    EventLoop& loop(std::size_t i);
    [[nodiscard]] std::size_t workers() const noexcept { return core_->size(); }
    [[nodiscard]] const Config& config() const noexcept { return core_->config_; }

    /// Cancels the pending Tasks and waits for them, stops and joins every worker, shuts the
    /// pools down (waiting for running jobs), and closes the loops. Idempotent.
    void shutdown();

    /// Counters per worker and for the pools; cheap (no locks on the workers' paths).
    [[nodiscard]] RuntimeMetrics metrics() const;

    /// Sets the exception handler of every worker's loop.
    void set_exception_handler(const ExceptionHandler& handler);

    /// Cancels every pending Task and waits until they are done; reports those that failed
    /// instead of ending cancelled (asyncio.run's clean-up).
    void cancel_leftovers();

    /// Internal.
    [[nodiscard]] detail::RuntimeCore& core() noexcept { return *core_; }

private:
    static void check_can_block(const char* what);

    std::unique_ptr<detail::RuntimeCore> core_;
    bool shut_down_ = false;
};

} // namespace eddy
