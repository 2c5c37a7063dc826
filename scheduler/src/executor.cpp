#include <eddy/scheduler/executor.hpp>

#include <oneapi/tbb/task_arena.h>

#include <atomic>
#include <cstdio>
#include <thread>

#include <eddy/scheduler/detail/loop_core.hpp>
#include <eddy/scheduler/detail/runtime_core.hpp>
#include <eddy/scheduler/runtime.hpp>

namespace eddy {

// --- BlockingPool ----------------------------------------------------------------------------

BlockingPool::BlockingPool(unsigned max_threads, std::chrono::milliseconds idle_timeout)
    : max_threads_(max_threads == 0 ? 1 : max_threads), idle_timeout_(idle_timeout) {}

BlockingPool::~BlockingPool() {
    shutdown();
}

void BlockingPool::submit(detail::UniqueFunction<void()> job) {
    bool spawn = false;
    {
        std::lock_guard guard(mu_);
        if (stopping_) {
            throw RuntimeError("the blocking pool is shut down");
        }
        jobs_.push_back(std::move(job));
        if (idle_ > 0) {
            work_cv_.notify_one();
        } else if (threads_ < max_threads_) {
            ++threads_;
            spawn = true;
        }
    }
    if (spawn) {
        try {
            std::thread([this] { thread_main(); }).detach();
        } catch (...) {
            std::lock_guard guard(mu_);
            --threads_;
            exit_cv_.notify_all();
            if (threads_ == 0) {
                // No thread to run it: take the job back (it is the newest) and report.
                jobs_.pop_back();
                throw;
            }
            // Otherwise the job stays queued for the threads there are.
        }
    }
}

void BlockingPool::thread_main() {
    std::unique_lock lock(mu_);
    for (;;) {
        if (jobs_.empty()) {
            if (stopping_) {
                break;
            }
            ++idle_;
            const bool woken = work_cv_.wait_for(lock, idle_timeout_,
                                                 [this] { return !jobs_.empty() || stopping_; });
            --idle_;
            if (!woken) {
                break; // idle too long: this thread goes
            }
            continue;
        }
        detail::UniqueFunction<void()> job = std::move(jobs_.front());
        jobs_.pop_front();
        lock.unlock();
        try {
            job();
        } catch (...) { // NOLINT(bugprone-empty-catch): submit_job's wrapper stores exceptions
        }
        job.reset(); // destroy what the job captured before taking the lock again
        lock.lock();
        ++jobs_run_;
    }
    --threads_;
    exit_cv_.notify_all(); // under the lock: the pool may be destroyed right after we unlock
}

void BlockingPool::shutdown() {
    std::unique_lock lock(mu_);
    stopping_ = true;
    work_cv_.notify_all();
    exit_cv_.wait(lock, [this] { return threads_ == 0; });
}

PoolMetrics BlockingPool::metrics() const {
    std::lock_guard guard(mu_);
    return PoolMetrics{jobs_run_, jobs_.size(), threads_};
}

// --- CpuPool ---------------------------------------------------------------------------------

struct CpuPool::Impl {
    explicit Impl(unsigned threads) : arena(static_cast<int>(threads)) {}
    tbb::task_arena arena;
    std::mutex mu;
    std::condition_variable idle_cv;
    std::size_t in_flight = 0;              // guarded by mu
    bool stopping = false;                  // guarded by mu
    std::atomic<std::uint64_t> jobs_run{0}; // relaxed: a statistic
};

CpuPool::CpuPool(unsigned threads)
    : impl_(std::make_unique<Impl>(threads == 0 ? 1 : threads)),
      threads_(threads == 0 ? 1 : threads) {}

CpuPool::~CpuPool() {
    shutdown();
}

void CpuPool::submit(detail::UniqueFunction<void()> job) {
    {
        std::lock_guard guard(impl_->mu);
        if (impl_->stopping) {
            throw RuntimeError("the CPU pool is shut down");
        }
        ++impl_->in_flight;
    }
    // The job travels as a pointer; our own mutex (above and in finish) orders its creation
    // before its run for the sanitizers, which do not see oneTBB's internal synchronisation.
    Impl* impl = impl_.get();
    detail::UniqueFunction<void()>* owned = nullptr;
    auto undo = [impl] {
        std::lock_guard guard(impl->mu);
        if (--impl->in_flight == 0) {
            impl->idle_cv.notify_all();
        }
    };
    try {
        owned = new detail::UniqueFunction<void()>(std::move(job));
    } catch (...) {
        undo();
        throw;
    }
    try {
        enqueue(owned);
    } catch (...) {
        delete owned;
        undo();
        throw;
    }
}

void CpuPool::enqueue(detail::UniqueFunction<void()>* owned) {
    Impl* impl = impl_.get();
    impl->arena.enqueue([impl, owned] {
        {
            std::lock_guard guard(impl->mu); // pairs with submit's critical section
        }
        try {
            (*owned)();
        } catch (...) { // NOLINT(bugprone-empty-catch): submit_job's wrapper stores exceptions
        }
        delete owned;
        impl->jobs_run.fetch_add(1, std::memory_order_relaxed);
        std::lock_guard guard(impl->mu);
        if (--impl->in_flight == 0) {
            impl->idle_cv.notify_all();
        }
    });
}

void CpuPool::shutdown() {
    std::unique_lock lock(impl_->mu);
    impl_->stopping = true;
    impl_->idle_cv.wait(lock, [this] { return impl_->in_flight == 0; });
}

PoolMetrics CpuPool::metrics() const {
    std::lock_guard guard(impl_->mu);
    return PoolMetrics{impl_->jobs_run.load(std::memory_order_relaxed), impl_->in_flight, threads_};
}

namespace detail {

Executor& current_blocking_pool() {
    if (Worker* w = current_worker; w != nullptr) {
        return *w->runtime().blocking_pool_;
    }
    static BlockingPool pool(Config{}.resolved().blocking_threads_max);
    return pool;
}

Executor& current_cpu_pool() {
    if (Worker* w = current_worker; w != nullptr) {
        return *w->runtime().cpu_pool_;
    }
    static CpuPool pool(Config{}.resolved().cpu_threads);
    return pool;
}

} // namespace detail
} // namespace eddy
