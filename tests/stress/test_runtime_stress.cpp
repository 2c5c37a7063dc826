// Stress tests for the multi-worker Runtime: many Tasks spawned from workers and plain threads,
// random yields and sleeps, futures completed across workers and threads, storms of
// call_soon_threadsafe, cancellation racing completion, and shutdown with all of it in flight.
// Sizes shrink under the sanitizers (EDDY_NO_POOL is defined there), so the suite stays
// bounded in time; the ctest TIMEOUT turns a hang (a lost wake-up) into a failure.
#include <doctest/doctest.h>

#include <eddy/eddy.hpp>

#include <atomic>
#include <chrono>
#include <memory>
#include <random>
#include <thread>
#include <vector>

#include "support/helpers.hpp"

using namespace std::chrono_literals;

namespace {

#ifdef EDDY_NO_POOL
constexpr int scale = 10; // sanitizer builds: a tenth of the work
#else
constexpr int scale = 1;
#endif

eddy::Coro<void> mark(std::vector<std::atomic<std::uint8_t>>& seen, std::size_t i, unsigned salt) {
    if (salt % 7 == 0) {
        co_await eddy::yield_now();
    }
    if (salt % 997 == 0) {
        co_await eddy::sleep(std::chrono::microseconds(salt % 300));
    }
    seen[i].fetch_add(1, std::memory_order_relaxed);
}

} // namespace

TEST_SUITE("stress/runtime") {
    TEST_CASE("a million Tasks spawned from workers and plain threads each run exactly once") {
        const int total = 1'000'000 / scale;
        for (unsigned workers : {2U, 8U}) {
            CAPTURE(workers);
            std::vector<std::atomic<std::uint8_t>> seen(static_cast<std::size_t>(total));
            eddy::Runtime rt{eddy::Config{.workers = workers}};
            const int from_threads = total / 2;
            const int threads = 3;
            std::vector<std::thread> spawners;
            std::atomic<int> next{0};
            for (int t = 0; t < threads; ++t) {
                spawners.emplace_back([&, t] {
                    std::mt19937 rng(static_cast<unsigned>(t) + 1);
                    for (int i = next.fetch_add(1); i < from_threads; i = next.fetch_add(1)) {
                        rt.spawn(
                            mark(seen, static_cast<std::size_t>(i), static_cast<unsigned>(rng())));
                    }
                });
            }
            auto from_workers = [&]() -> eddy::Coro<void> {
                // A few spawner Tasks, spread over the workers, spawn the other half.
                auto spawner = [&](int begin, int end) -> eddy::Coro<void> {
                    std::mt19937 rng(static_cast<unsigned>(begin));
                    for (int i = begin; i < end; ++i) {
                        eddy::create_task(
                            mark(seen, static_cast<std::size_t>(i), static_cast<unsigned>(rng())));
                        if (i % 1000 == 0) {
                            co_await eddy::yield_now();
                        }
                    }
                };
                std::vector<eddy::Task<>> parts;
                const int chunk = (total - from_threads) / 4;
                for (int p = 0; p < 4; ++p) {
                    const int begin = from_threads + p * chunk;
                    const int end = p == 3 ? total : begin + chunk;
                    parts.push_back(eddy::create_task(spawner(begin, end)));
                }
                for (auto& p : parts) {
                    co_await p;
                }
            };
            // Not rt.run: it would cancel the Tasks still pending when main returns (asyncio's
            // rule), and here every one must run.
            rt.spawn(from_workers()).wait();
            for (auto& s : spawners) {
                s.join();
            }
            // Wait for the stragglers (a sleeping few), bounded.
            const auto deadline = std::chrono::steady_clock::now() + 60s;
            auto all_seen = [&] {
                for (auto& s : seen) {
                    if (s.load(std::memory_order_relaxed) == 0) {
                        return false;
                    }
                }
                return true;
            };
            while (!all_seen() && std::chrono::steady_clock::now() < deadline) {
                std::this_thread::sleep_for(1ms);
            }
            rt.shutdown();
            int missing = 0;
            int twice = 0;
            for (auto& s : seen) {
                const auto v = s.load(std::memory_order_relaxed);
                missing += v == 0 ? 1 : 0;
                twice += v > 1 ? 1 : 0;
            }
            CHECK(missing == 0);
            CHECK(twice == 0);
        }
    }

    TEST_CASE("futures completed on other workers and threads wake their awaiting Tasks") {
        constexpr int pairs = 20'000 / scale;
        eddy::Runtime rt{eddy::Config{.workers = 8}};
        std::atomic<int> ok{0};
        auto main_coro = [&]() -> eddy::Coro<void> {
            auto& loop = eddy::get_running_loop();
            std::vector<eddy::Future<int>> futures;
            std::vector<eddy::Task<>> waiters;
            for (int i = 0; i < pairs; ++i) {
                futures.push_back(loop.create_future<int>());
            }
            for (int i = 0; i < pairs; ++i) {
                waiters.push_back(eddy::create_task([](eddy::Future<int> f, int expect,
                                                       std::atomic<int>& good) -> eddy::Coro<void> {
                    if (co_await f == expect) {
                        good.fetch_add(1);
                    }
                }(futures[static_cast<std::size_t>(i)], i, ok)));
            }
            // Half are completed by Tasks (on whatever worker), half by a plain thread.
            std::thread setter([&] {
                for (int i = 1; i < pairs; i += 2) {
                    futures[static_cast<std::size_t>(i)].set_result(i);
                }
            });
            for (int i = 0; i < pairs; i += 2) {
                eddy::create_task([](eddy::Future<int> f, int v) -> eddy::Coro<void> {
                    co_await eddy::yield_now();
                    f.set_result(v);
                }(futures[static_cast<std::size_t>(i)], i));
            }
            for (auto& w : waiters) {
                co_await w;
            }
            setter.join();
        };
        rt.run(main_coro());
        CHECK(ok.load() == pairs);
    }

    TEST_CASE("storms of call_soon_threadsafe into every worker's loop all arrive") {
        const int per_thread = 50'000 / scale;
        const int threads = 4;
        eddy::Runtime rt{eddy::Config{.workers = 4}};
        std::atomic<int> arrived{0};
        std::vector<std::thread> posters;
        for (int t = 0; t < threads; ++t) {
            posters.emplace_back([&, t] {
                for (int i = 0; i < per_thread; ++i) {
                    rt.loop(static_cast<std::size_t>(i + t) % rt.workers())
                        .call_soon_threadsafe(
                            [&arrived] { arrived.fetch_add(1, std::memory_order_relaxed); });
                }
            });
        }
        for (auto& p : posters) {
            p.join();
        }
        const auto deadline = std::chrono::steady_clock::now() + 60s;
        while (arrived.load() < threads * per_thread &&
               std::chrono::steady_clock::now() < deadline) {
            std::this_thread::sleep_for(1ms);
        }
        CHECK(arrived.load() == threads * per_thread);
    }

    TEST_CASE("cancellation racing with completion settles every Task exactly once") {
        const int rounds = 5'000 / scale;
        eddy::Runtime rt{eddy::Config{.workers = 4}};
        std::atomic<int> finished{0};
        std::atomic<int> cancelled{0};
        auto main_coro = [&]() -> eddy::Coro<void> {
            auto& loop = eddy::get_running_loop();
            std::vector<eddy::Task<int>> tasks;
            std::vector<eddy::Future<int>> futures;
            for (int i = 0; i < rounds; ++i) {
                futures.push_back(loop.create_future<int>());
                tasks.push_back(eddy::create_task([](eddy::Future<int> f) -> eddy::Coro<int> {
                    co_return co_await f;
                }(futures.back())));
            }
            co_await eddy::yield_now();
            std::thread completer([&futures] {
                for (auto& f : futures) {
                    try {
                        f.set_result(1);
                    } catch (const eddy::InvalidStateError&) { // NOLINT(bugprone-empty-catch)
                    }
                }
            });
            for (std::size_t i = 0; i < tasks.size(); i += 2) {
                tasks[i].cancel();
            }
            completer.join();
            for (auto& t : tasks) {
                try {
                    co_await t;
                    finished.fetch_add(1);
                } catch (const eddy::CancelledError&) {
                    cancelled.fetch_add(1);
                }
            }
        };
        rt.run(main_coro());
        // Which side wins each race depends on timing (other workers may finish a Task before
        // its cancel lands); what must hold is that each Task ended exactly one way.
        CHECK(finished.load() + cancelled.load() == rounds);
    }

    TEST_CASE("shutdown with Tasks, timers, posts and jobs in flight leaks nothing") {
        eddy::test::Counted::alive = 0;
        for (int round = 0; round < 10; ++round) {
            eddy::Runtime rt{
                eddy::Config{.workers = 4, .cpu_threads = 2, .blocking_threads_max = 4}};
            std::atomic<bool> stop{false};
            std::thread poster([&] {
                while (!stop.load()) {
                    try {
                        rt.loop(0).call_soon_threadsafe([c = eddy::test::Counted(1)] {});
                    } catch (const eddy::RuntimeError&) {
                        return; // closed under us: expected at shutdown
                    }
                    std::this_thread::yield();
                }
            });
            auto busy = [](eddy::test::Counted c) -> eddy::Coro<int> {
                for (int i = 0;; ++i) {
                    if (i % 3 == 0) {
                        co_await eddy::sleep(100us);
                    } else if (i % 3 == 1) {
                        co_await eddy::to_thread([] { return 1; });
                    } else {
                        co_await eddy::run_cpu([] { return 2; });
                    }
                }
                co_return c.value;
            };
            for (int i = 0; i < 40; ++i) {
                rt.spawn(busy(eddy::test::Counted(i)));
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(2 + round));
            rt.shutdown();
            stop = true;
            poster.join();
        }
        CHECK(eddy::test::Counted::alive == 0);
    }
}

TEST_SUITE("stress/runtime") {
    TEST_CASE("a cancel racing with the completion of one wait still cancels the next wait") {
        // Regression: cancel() saw the Task waiting on f1, f1 completed, the Task moved on to
        // wait on f2 (which never completes), and the cancellation was left pending forever.
        const int rounds = 2'000 / scale;
        eddy::Runtime rt{eddy::Config{.workers = 2}};
        int hung = 0;
        for (int r = 0; r < rounds; ++r) {
            eddy::Future<int> f1;
            eddy::Future<int> f2; // never completed
            auto task = rt.spawn([](eddy::Future<int> a, eddy::Future<int> b) -> eddy::Coro<int> {
                const int x = co_await a;
                co_return x + co_await b;
            }(f1, f2));
            std::this_thread::sleep_for(std::chrono::microseconds(r % 20));
            eddy::test::StartBarrier go(2);
            std::thread completer([&] {
                go.arrive_and_wait();
                try {
                    f1.set_result(1);
                } catch (const eddy::InvalidStateError&) { // NOLINT(bugprone-empty-catch)
                    // the cancel got to f1 first
                }
            });
            go.arrive_and_wait();
            task.cancel();
            completer.join();
            if (task.wait_for(2s) != std::future_status::ready) {
                ++hung;
                f2.set_result(0); // unblock it so the runtime can shut down
            }
            CHECK(task.done());
        }
        CHECK(hung == 0);
    }

    TEST_CASE("cancel_leftovers while Tasks finish on the workers touches no freed Task") {
        for (int round = 0; round < 20; ++round) {
            eddy::Runtime rt{eddy::Config{.workers = 2}};
            for (int i = 0; i < 2'000 / scale; ++i) {
                rt.spawn([](int n) -> eddy::Coro<void> {
                    for (int k = 0; k < n % 4; ++k) {
                        co_await eddy::yield_now();
                    }
                }(i));
            }
            rt.cancel_leftovers(); // races with Tasks finishing and being freed
            rt.shutdown();
        }
        CHECK(true); // the assertions are ASan's and TSan's: no use after free, no race
    }

    TEST_CASE("closing a loop while another thread completes what its Tasks await is safe") {
        for (int round = 0; round < 50; ++round) {
            auto loop = eddy::new_event_loop();
            loop.set_exception_handler([](eddy::EventLoop&, const eddy::ExceptionContext&) {});
            std::vector<eddy::Future<int>> futures;
            for (int i = 0; i < 100; ++i) {
                futures.push_back(loop.create_future<int>());
                loop.create_task([](eddy::Future<int> f) -> eddy::Coro<int> {
                    co_return co_await f;
                }(futures.back()));
            }
            loop.run_until_complete(eddy::sleep(0s)); // every Task now waits
            eddy::test::StartBarrier go(2);
            std::thread completer([&] {
                go.arrive_and_wait();
                for (auto& f : futures) {
                    f.set_result(1);
                }
            });
            go.arrive_and_wait();
            loop.close(); // orphans the Tasks while their futures complete
            completer.join();
            CHECK(loop.is_closed());
        }
    }
}
