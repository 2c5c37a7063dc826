#pragma once

/// Executors: where blocking and CPU-heavy work goes, off the event loops.
///
/// * `BlockingPool`: elastic threads (a maximum, an idle timeout) for work that blocks in the
///   kernel: files, `getaddrinfo`, a blocking library. asyncio's default executor:
///   `eddy::to_thread(fn)`, `loop.run_in_executor(nullptr, fn)`.
/// * `CpuPool`: a oneTBB `task_arena` for CPU-heavy work: `eddy::run_cpu(fn)`. oneTBB's
///   parallel algorithms work inside `fn`. Its threads must never block.
///
/// Each returns a Future: `co_await` it for the value or the exception. Cancelling the
/// awaiting Task (or the Future) does not interrupt a job that has started: it finishes and
/// its result is dropped; a job not yet started is skipped. Shutting a pool down waits for the
/// jobs already submitted.
///
/// Thread safety: `submit` and every function here may be called from any thread.

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <type_traits>
#include <utility>

#include <eddy/future/detail/unique_function.hpp>
#include <eddy/future/error.hpp>
#include <eddy/future/future.hpp>
#include <eddy/scheduler/event_loop.hpp>

namespace eddy {

struct PoolMetrics;

/// Anything `run_in_executor` can send work to.
class Executor {
public:
    Executor() = default;
    Executor(const Executor&) = delete;
    Executor& operator=(const Executor&) = delete;
    virtual ~Executor() = default;
    /// Runs `job` on one of this executor's threads. Throws RuntimeError once shut down.
    virtual void submit(detail::UniqueFunction<void()> job) = 0;
};

class BlockingPool final : public Executor {
public:
    explicit BlockingPool(unsigned max_threads = 64,
                          std::chrono::milliseconds idle_timeout = std::chrono::seconds(10));
    ~BlockingPool() override;
    void submit(detail::UniqueFunction<void()> job) override;
    /// Refuses new jobs, waits for the queued and running ones, and for every thread to exit.
    void shutdown();
    [[nodiscard]] PoolMetrics metrics() const;

private:
    void thread_main();

    mutable std::mutex mu_;
    std::condition_variable work_cv_;
    std::condition_variable exit_cv_;
    std::deque<detail::UniqueFunction<void()>> jobs_; // guarded by mu_
    unsigned max_threads_;
    std::chrono::milliseconds idle_timeout_;
    unsigned threads_ = 0;       // guarded: alive
    unsigned idle_ = 0;          // guarded: waiting for work
    bool stopping_ = false;      // guarded
    std::uint64_t jobs_run_ = 0; // guarded
};

class CpuPool final : public Executor {
public:
    explicit CpuPool(unsigned threads);
    ~CpuPool() override;
    void submit(detail::UniqueFunction<void()> job) override;
    /// Refuses new jobs and waits for the submitted ones.
    void shutdown();
    [[nodiscard]] PoolMetrics metrics() const;
    [[nodiscard]] unsigned threads() const noexcept { return threads_; }

private:
    struct Impl;
    void enqueue(detail::UniqueFunction<void()>* owned);
    std::unique_ptr<Impl> impl_;
    unsigned threads_;
};

namespace detail {
/// The blocking pool / CPU pool of the runtime running this thread, else the process-wide
/// defaults (created on first use).
Executor& current_blocking_pool();
Executor& current_cpu_pool();

template <class F>
using job_result_t = std::invoke_result_t<std::decay_t<F>&>;

/// Submits `fn` to `ex`; `fut` completes with its value or exception.
template <class F, class R = job_result_t<F>>
Future<R> submit_job(Executor& ex, F&& fn, Future<R> fut = Future<R>()) {
    ex.submit([fut, fn = std::decay_t<F>(std::forward<F>(fn))]() mutable {
        if (fut.done()) {
            return; // cancelled before it started: skip it
        }
        try {
            if constexpr (std::is_void_v<R>) {
                fn();
                fut.set_result();
            } else {
                fut.set_result(fn());
            }
        } catch (const InvalidStateError&) {
            // cancelled while running: the result is dropped
        } catch (...) {
            try {
                fut.set_exception(std::current_exception());
            } catch (const InvalidStateError&) { // NOLINT(bugprone-empty-catch): cancelled
            }
        }
    });
    return fut;
}
} // namespace detail

/// asyncio's `to_thread(fn)`: runs `fn()` on the blocking pool; `co_await` the result.
template <class F>
auto to_thread(F&& fn) {
    return detail::submit_job(detail::current_blocking_pool(), std::forward<F>(fn));
}

/// Runs `fn()` on the CPU pool (a oneTBB arena); `co_await` the result. IO workers never run
/// CPU jobs.
template <class F>
auto run_cpu(F&& fn) {
    return detail::submit_job(detail::current_cpu_pool(), std::forward<F>(fn));
}

template <class F>
auto EventLoop::run_in_executor(Executor* executor, F&& fn) {
    using R = detail::job_result_t<F>;
    return detail::submit_job(executor != nullptr ? *executor : detail::current_blocking_pool(),
                              std::forward<F>(fn), create_future<R>());
}

} // namespace eddy
