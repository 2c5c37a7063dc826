// Stress tests for the thread-safe paths of the standalone loop: call_soon_threadsafe storms,
// the park/wake protocol, futures completed and Tasks cancelled from other threads. Each is
// bounded: a watchdog timer on the loop fails the test instead of hanging on a lost wake-up.
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

/// Stops `loop` and records a failure if it is still running after `limit`.
eddy::TimerHandle watchdog(eddy::EventLoop& loop, bool& fired, std::chrono::seconds limit = 60s) {
    return loop.call_later(limit, [&loop, &fired] {
        fired = true;
        loop.stop();
    });
}

void random_pause(std::mt19937& rng) {
    switch (rng() % 64) {
    case 0:
        std::this_thread::sleep_for(std::chrono::microseconds(rng() % 200));
        break;
    case 1:
    case 2:
        std::this_thread::yield();
        break;
    default:
        break;
    }
}

} // namespace

TEST_SUITE("stress/threadsafe") {
    TEST_CASE("every call_soon_threadsafe from several threads runs exactly once") {
        constexpr int threads = 4;
        constexpr int per_thread = 20000;
        auto loop = eddy::new_event_loop();
        std::vector<int> seen(threads, 0); // loop thread only
        int total = 0;
        bool timed_out = false;
        auto dog = watchdog(loop, timed_out);
        eddy::test::StartBarrier start(threads);
        std::vector<std::thread> posters;
        for (int t = 0; t < threads; ++t) {
            posters.emplace_back([&, t] {
                std::mt19937 rng(static_cast<unsigned>(t) + 1);
                start.arrive_and_wait();
                for (int i = 0; i < per_thread; ++i) {
                    loop.call_soon_threadsafe([&, t, i] {
                        CHECK(seen[static_cast<std::size_t>(t)] == i); // FIFO per poster
                        ++seen[static_cast<std::size_t>(t)];
                        if (++total == threads * per_thread) {
                            loop.stop();
                        }
                    });
                    random_pause(rng);
                }
            });
        }
        loop.run_forever();
        for (auto& p : posters) {
            p.join();
        }
        CHECK_FALSE(timed_out);
        CHECK(total == threads * per_thread);
    }

    TEST_CASE("a parked loop is woken by every post: thousands of ping-pongs lose no wake-up") {
        constexpr int rounds = 5000;
        auto loop = eddy::new_event_loop();
        bool timed_out = false;
        auto dog = watchdog(loop, timed_out);
        std::atomic<int> acked{0};
        int handled = 0;
        std::thread client([&] {
            std::mt19937 rng(99);
            for (int i = 0; i < rounds; ++i) {
                loop.call_soon_threadsafe([&] {
                    ++handled;
                    // Release: pairs with the client's acquire load, which then posts again.
                    acked.fetch_add(1, std::memory_order_release);
                });
                while (acked.load(std::memory_order_acquire) <= i) {
                    if (timed_out) {
                        return;
                    }
                    std::this_thread::yield();
                }
                if (rng() % 8 == 0) {
                    std::this_thread::sleep_for(
                        std::chrono::microseconds(rng() % 100)); // let it park
                }
            }
            loop.call_soon_threadsafe([&] { loop.stop(); });
        });
        loop.run_forever();
        client.join();
        CHECK_FALSE(timed_out);
        CHECK(handled == rounds);
    }

    TEST_CASE("futures completed from other threads wake every awaiting task once") {
        constexpr int tasks = 2000;
        constexpr int threads = 3;
        auto loop = eddy::new_event_loop();
        std::vector<eddy::Future<int>> futures;
        futures.reserve(tasks);
        for (int i = 0; i < tasks; ++i) {
            futures.push_back(loop.create_future<int>());
        }
        auto waiter = [](eddy::Future<int> f, int expect) -> eddy::Coro<int> {
            const int v = co_await f;
            co_await eddy::yield_now();
            co_return v == expect ? 1 : 0;
        };
        std::vector<eddy::Task<int>> running;
        for (int i = 0; i < tasks; ++i) {
            running.push_back(loop.create_task(waiter(futures[static_cast<std::size_t>(i)], i)));
        }
        std::vector<std::thread> setters;
        for (int t = 0; t < threads; ++t) {
            setters.emplace_back([&, t] {
                std::mt19937 rng(static_cast<unsigned>(t) + 10);
                for (int i = t; i < tasks; i += threads) {
                    futures[static_cast<std::size_t>(i)].set_result(i);
                    random_pause(rng);
                }
            });
        }
        auto collect = [](std::vector<eddy::Task<int>>& ts) -> eddy::Coro<int> {
            int ok = 0;
            for (auto& t : ts) {
                ok += co_await t;
            }
            co_return ok;
        };
        bool timed_out = false;
        auto dog = watchdog(loop, timed_out);
        const int ok = loop.run_until_complete(collect(running));
        for (auto& s : setters) {
            s.join();
        }
        CHECK_FALSE(timed_out);
        CHECK(ok == tasks);
    }

    TEST_CASE("cancellation racing with completion from other threads settles each task once") {
        constexpr int rounds = 1000;
        auto loop = eddy::new_event_loop();
        int cancelled = 0;
        int finished = 0;
        bool timed_out = false;
        auto dog = watchdog(loop, timed_out);
        for (int r = 0; r < rounds; ++r) {
            auto fut = loop.create_future<int>();
            auto task = loop.create_task(
                [](eddy::Future<int> f) -> eddy::Coro<int> { co_return co_await f; }(fut));
            loop.run_until_complete(eddy::sleep(0s)); // the task now waits on fut
            eddy::test::StartBarrier go(2);
            std::thread setter([&] {
                go.arrive_and_wait();
                try {
                    fut.set_result(r);
                } catch (const eddy::InvalidStateError&) {
                    // the cancel won: the future was cancelled first
                }
            });
            std::thread canceller([&] {
                go.arrive_and_wait();
                task.cancel();
            });
            setter.join();
            canceller.join();
            try {
                const int v = loop.run_until_complete(task);
                CHECK(v == r);
                ++finished;
            } catch (const eddy::CancelledError&) {
                ++cancelled;
            }
            CHECK(task.done());
        }
        CHECK_FALSE(timed_out);
        CHECK(cancelled + finished == rounds);
    }

    TEST_CASE("a task cancelled from another thread while it yields stops at a suspension point") {
        constexpr int rounds = 200;
        auto loop = eddy::new_event_loop();
        for (int r = 0; r < rounds; ++r) {
            auto spinner = []() -> eddy::Coro<int> {
                int n = 0;
                for (;;) {
                    co_await eddy::yield_now();
                    ++n;
                }
                co_return n;
            };
            auto task = loop.create_task(spinner());
            std::thread canceller([task, r]() mutable {
                std::this_thread::sleep_for(std::chrono::microseconds(r % 50));
                task.cancel("from afar");
            });
            CHECK_THROWS_WITH_AS(loop.run_until_complete(task), "from afar", eddy::CancelledError);
            canceller.join();
        }
    }
}
