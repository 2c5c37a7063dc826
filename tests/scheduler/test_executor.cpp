#include <doctest/doctest.h>

#include <eddy/eddy.hpp>

#include <oneapi/tbb/blocked_range.h>
#include <oneapi/tbb/parallel_reduce.h>

#include <atomic>
#include <chrono>
#include <numeric>
#include <stdexcept>
#include <thread>
#include <vector>

#include "support/helpers.hpp"

using namespace std::chrono_literals;

TEST_SUITE("scheduler/executor") {
    TEST_CASE("run_cpu runs off the IO workers and returns the value") {
        eddy::Runtime rt{eddy::Config{.workers = 2, .cpu_threads = 2}};
        auto main_coro = []() -> eddy::Coro<bool> {
            const auto worker_thread = std::this_thread::get_id();
            auto [value, on_worker, loop_visible] = co_await eddy::run_cpu([worker_thread] {
                bool visible = true;
                try {
                    (void)eddy::get_running_loop();
                } catch (const eddy::RuntimeError&) {
                    visible = false;
                }
                return std::tuple{6 * 7, std::this_thread::get_id() == worker_thread, visible};
            });
            co_return value == 42 && !on_worker && !loop_visible;
        };
        CHECK(rt.run(main_coro()));
        CHECK(eddy::test::eventually([&] { return rt.metrics().cpu.jobs_run == 1; }));
    }

    TEST_CASE("oneTBB's parallel algorithms work inside run_cpu") {
        eddy::Runtime rt{eddy::Config{.workers = 1, .cpu_threads = 2}};
        auto main_coro = []() -> eddy::Coro<long> {
            co_return co_await eddy::run_cpu([] {
                std::vector<long> v(100'000);
                std::iota(v.begin(), v.end(), 1L);
                return tbb::parallel_reduce(
                    tbb::blocked_range<std::size_t>(0, v.size()), 0L,
                    [&v](const tbb::blocked_range<std::size_t>& r, long acc) {
                        for (std::size_t i = r.begin(); i != r.end(); ++i) {
                            acc += v[i];
                        }
                        return acc;
                    },
                    std::plus<long>());
            });
        };
        CHECK(rt.run(main_coro()) == 100'000L * 100'001L / 2);
    }

    TEST_CASE("an exception thrown by a job reaches the awaiting Task") {
        auto main_coro = []() -> eddy::Coro<int> {
            int caught = 0;
            try {
                co_await eddy::run_cpu([]() -> int { throw std::range_error("cpu job failed"); });
            } catch (const std::range_error&) {
                ++caught;
            }
            try {
                co_await eddy::to_thread([] { throw std::range_error("blocking job failed"); });
            } catch (const std::range_error&) {
                ++caught;
            }
            co_return caught;
        };
        CHECK(eddy::run(main_coro(), eddy::Config{.workers = 2}) == 2);
    }

    TEST_CASE("to_thread and run_in_executor(nullptr) run on the blocking pool") {
        eddy::Runtime rt{eddy::Config{.workers = 2, .blocking_threads_max = 4}};
        auto main_coro = []() -> eddy::Coro<int> {
            const auto me = std::this_thread::get_id();
            const bool other_thread =
                co_await eddy::to_thread([me] { return std::this_thread::get_id() != me; });
            auto& loop = eddy::get_running_loop();
            const int v = co_await loop.run_in_executor(nullptr, [] {
                std::this_thread::sleep_for(1ms); // blocking is fine here
                return 5;
            });
            co_return other_thread ? v : -1;
        };
        CHECK(rt.run(main_coro()) == 5);
        CHECK(eddy::test::eventually([&] { return rt.metrics().blocking.jobs_run == 2; }));
    }

    TEST_CASE("run_in_executor sends work to the executor given") {
        eddy::BlockingPool pool(1);
        std::thread::id pool_thread;
        auto loop = eddy::new_event_loop();
        auto main_coro = [&]() -> eddy::Coro<int> {
            co_return co_await eddy::get_running_loop().run_in_executor(&pool, [&] {
                pool_thread = std::this_thread::get_id();
                return 9;
            });
        };
        CHECK(loop.run_until_complete(main_coro()) == 9);
        CHECK(pool_thread != std::this_thread::get_id());
        CHECK(eddy::test::eventually([&] { return pool.metrics().jobs_run == 1; }));
        pool.shutdown();
        CHECK_THROWS_AS(pool.submit([] {}), eddy::RuntimeError);
    }

    TEST_CASE("the blocking pool starts at most its maximum of threads, and idle ones exit") {
        eddy::BlockingPool pool(2, 20ms);
        std::atomic<int> running{0};
        std::atomic<int> most{0};
        std::atomic<int> done{0};
        for (int i = 0; i < 8; ++i) {
            pool.submit([&] {
                const int now = running.fetch_add(1) + 1;
                int prev = most.load();
                while (now > prev && !most.compare_exchange_weak(prev, now)) {
                }
                std::this_thread::sleep_for(5ms);
                running.fetch_sub(1);
                done.fetch_add(1);
            });
        }
        while (done.load() < 8) {
            std::this_thread::sleep_for(1ms);
        }
        CHECK(most.load() <= 2);
        CHECK(most.load() >= 1);
        const auto deadline = std::chrono::steady_clock::now() + 5s;
        while (pool.metrics().threads_alive > 0 && std::chrono::steady_clock::now() < deadline) {
            std::this_thread::sleep_for(5ms);
        }
        CHECK(pool.metrics().threads_alive == 0);
        CHECK(eddy::test::eventually([&] { return pool.metrics().jobs_run == 8; }));
    }

    TEST_CASE("cancelling a Task that awaits a job drops the result; the job still finishes") {
        eddy::Runtime rt{eddy::Config{.workers = 2}};
        std::atomic<bool> job_finished{false};
        auto waiter = [&]() -> eddy::Coro<int> {
            co_return co_await eddy::to_thread([&] {
                std::this_thread::sleep_for(30ms);
                job_finished = true;
                return 1;
            });
        };
        auto main_coro = [&]() -> eddy::Coro<bool> {
            auto t = eddy::create_task(waiter());
            co_await eddy::sleep(5ms);
            t.cancel();
            bool cancelled = false;
            try {
                co_await t;
            } catch (const eddy::CancelledError&) {
                cancelled = true;
            }
            co_return cancelled;
        };
        CHECK(rt.run(main_coro()));
        rt.shutdown(); // waits for the running job
        CHECK(job_finished.load());
    }

    TEST_CASE("to_thread works from a standalone loop (the process-wide pool)") {
        auto loop = eddy::new_event_loop();
        auto main_coro = []() -> eddy::Coro<int> {
            co_return co_await eddy::to_thread([] { return 3; });
        };
        CHECK(loop.run_until_complete(main_coro()) == 3);
        auto cpu = []() -> eddy::Coro<int> { co_return co_await eddy::run_cpu([] { return 4; }); };
        CHECK(loop.run_until_complete(cpu()) == 4);
    }
}
