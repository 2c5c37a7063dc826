#include <doctest/doctest.h>

#include <eddy/eddy.hpp>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "support/helpers.hpp"

using namespace std::chrono_literals;

namespace {

eddy::Coro<int> add_after_yield(int a, int b) {
    co_await eddy::yield_now();
    co_return a + b;
}

/// Busy-waits about `us` microseconds (a CPU-bound step that does not block the thread).
void spin_for(std::chrono::microseconds us) {
    const auto until = std::chrono::steady_clock::now() + us;
    while (std::chrono::steady_clock::now() < until) {
    }
}

} // namespace

TEST_SUITE("scheduler/runtime") {
    TEST_CASE("run returns main's value and rethrows its exception, on 1, 2 and 8 workers") {
        for (unsigned workers : {1U, 2U, 8U}) {
            CAPTURE(workers);
            eddy::Runtime rt{eddy::Config{.workers = workers}};
            CHECK(rt.workers() == workers);
            CHECK(rt.run(add_after_yield(2, 3)) == 5);
            auto failing = []() -> eddy::Coro<void> {
                co_await eddy::sleep(1ms);
                throw std::runtime_error("main failed");
            };
            CHECK_THROWS_WITH_AS(rt.run(failing()), "main failed", std::runtime_error);
            CHECK(rt.run(add_after_yield(1, 1)) == 2); // still usable
        }
    }

    TEST_CASE("spawn from a plain thread and from a worker; every Task runs once") {
        eddy::Runtime rt{eddy::Config{.workers = 2}};
        std::atomic<int> ran{0};
        auto bump = [](std::atomic<int>& r) -> eddy::Coro<int> {
            co_await eddy::yield_now();
            co_return r.fetch_add(1) + 1;
        };
        std::vector<eddy::Task<int>> outside;
        for (int i = 0; i < 100; ++i) {
            outside.push_back(rt.spawn(bump(ran)));
        }
        auto spawner = [&]() -> eddy::Coro<int> {
            std::vector<eddy::Task<int>> inner;
            for (int i = 0; i < 100; ++i) {
                inner.push_back(eddy::create_task(bump(ran)));
            }
            for (auto& t : inner) {
                co_await t;
            }
            co_return 0;
        };
        rt.run(spawner());
        for (auto& t : outside) {
            t.wait();
        }
        CHECK(ran.load() == 200);
    }

    TEST_CASE("get_running_loop inside a Task is the loop of the worker running it") {
        eddy::Runtime rt{eddy::Config{.workers = 2}};
        auto probe = [&rt]() -> eddy::Coro<bool> {
            auto& loop = eddy::get_running_loop();
            co_return loop == rt.loop(0) || loop == rt.loop(1);
        };
        CHECK(rt.run(probe()));
        CHECK_FALSE(rt.loop(0) == rt.loop(1));
        CHECK_THROWS_AS(rt.loop(2), eddy::Error);
    }

    TEST_CASE("idle workers steal: a Task spawning CPU-bound steps gets help") {
        eddy::Runtime rt{eddy::Config{.workers = 2}};
        constexpr int steps = 10'000;
        // Each step holds its worker for ~30 us: 10 us of spinning, 20 us blocked, so the
        // thief gets a core even when the machine is busy with other tests.
        auto step = []() -> eddy::Coro<void> {
            spin_for(std::chrono::microseconds(10));
            std::this_thread::sleep_for(std::chrono::microseconds(20));
            co_return;
        };
        auto spawner = [&]() -> eddy::Coro<void> {
            std::vector<eddy::Task<>> all;
            all.reserve(steps);
            for (int i = 0; i < steps; ++i) {
                all.push_back(eddy::create_task(step()));
            }
            for (auto& t : all) {
                co_await t;
            }
        };
        rt.run(spawner());
        // The counters are bumped just after the Tasks they count: give them a moment.
        auto ran = [&rt] {
            const auto m = rt.metrics();
            return m.workers[0].tasks_run + m.workers[1].tasks_run;
        };
        CHECK(eddy::test::eventually([&] { return ran() >= steps; }));
        const auto m = rt.metrics();
        REQUIRE(m.workers.size() == 2);
        const auto total = m.workers[0].tasks_run + m.workers[1].tasks_run;
        // The helper gets its share by stealing from the spawner's ring, or from the inject
        // queue where a full ring overflows: either way it must have run a real part.
        INFO("runs " << m.workers[0].tasks_run << "/" << m.workers[1].tasks_run << ", stolen "
                     << m.workers[0].stolen_tasks << "/" << m.workers[1].stolen_tasks);
        // Each worker ran a real share (not necessarily half: the machine is shared).
        CHECK(m.workers[0].tasks_run * 10 >= total);
        CHECK(m.workers[1].tasks_run * 10 >= total);
    }

    TEST_CASE("Tasks that fit in the spawner's ring reach the idle worker by stealing") {
        eddy::Runtime rt{eddy::Config{.workers = 2}};
        constexpr int steps = 200; // fewer than the ring holds: no overflow to the inject queue
        auto step = []() -> eddy::Coro<void> {
            std::this_thread::sleep_for(std::chrono::microseconds(300)); // holds its worker
            co_return;
        };
        auto spawner = [&]() -> eddy::Coro<void> {
            std::vector<eddy::Task<>> all;
            for (int i = 0; i < steps; ++i) {
                all.push_back(eddy::create_task(step()));
            }
            for (auto& t : all) {
                co_await t;
            }
        };
        rt.run(spawner());
        CHECK(eddy::test::eventually([&rt] {
            const auto m = rt.metrics();
            return m.workers[0].tasks_run + m.workers[1].tasks_run >= steps;
        }));
        const auto m = rt.metrics();
        INFO("runs " << m.workers[0].tasks_run << "/" << m.workers[1].tasks_run << ", stolen "
                     << m.workers[0].stolen_tasks << "/" << m.workers[1].stolen_tasks);
        CHECK(m.workers[0].stolen_tasks + m.workers[1].stolen_tasks > 0);
        CHECK(m.workers[0].steals + m.workers[1].steals > 0);
    }

    TEST_CASE("a pinned Task stays on the loop that created it") {
        eddy::Runtime rt{eddy::Config{.workers = 4}};
        auto pinned = []() -> eddy::Coro<bool> {
            eddy::EventLoop home = eddy::get_running_loop();
            for (int i = 0; i < 200; ++i) {
                co_await eddy::yield_now();
                if (i % 20 == 0) {
                    co_await eddy::sleep(100us);
                }
                if (!(eddy::get_running_loop() == home)) {
                    co_return false;
                }
            }
            co_return true;
        };
        auto noise = []() -> eddy::Coro<void> {
            for (int i = 0; i < 200; ++i) {
                co_await eddy::yield_now();
            }
        };
        auto main_coro = [&]() -> eddy::Coro<bool> {
            std::vector<eddy::Task<>> others;
            for (int i = 0; i < 16; ++i) {
                others.push_back(eddy::create_task(noise()));
            }
            auto t = eddy::get_running_loop().create_task(pinned(), {.pinned = true});
            const bool stayed = co_await t;
            for (auto& o : others) {
                co_await o;
            }
            co_return stayed;
        };
        CHECK(rt.run(main_coro()));
    }

    TEST_CASE("call_soon_threadsafe on a worker's loop runs on that worker") {
        eddy::Runtime rt{eddy::Config{.workers = 2}};
        auto fut = eddy::Future<bool>(); // bound to no loop: usable from this thread
        rt.loop(1).call_soon_threadsafe(
            [&rt, fut]() mutable { fut.set_result(eddy::get_running_loop() == rt.loop(1)); });
        CHECK(fut.wait_for(10s) == std::future_status::ready);
        CHECK(fut.result());
    }

    TEST_CASE("shutdown cancels the Tasks left over and frees them") {
        eddy::test::Counted::alive = 0;
        std::atomic<int> cancelled{0};
        {
            eddy::Runtime rt{eddy::Config{.workers = 2}};
            auto sleeper = [](eddy::test::Counted c, std::atomic<int>& n) -> eddy::Coro<int> {
                try {
                    co_await eddy::sleep(60s);
                } catch (const eddy::CancelledError&) {
                    n.fetch_add(1);
                    throw;
                }
                co_return c.value;
            };
            for (int i = 0; i < 50; ++i) {
                rt.spawn(sleeper(eddy::test::Counted(i), cancelled));
            }
            std::this_thread::sleep_for(20ms);
            rt.shutdown();
            CHECK(cancelled.load() == 50);
            rt.shutdown(); // idempotent
        }
        CHECK(eddy::test::Counted::alive == 0);
    }

    TEST_CASE("run and shutdown refuse to block a running loop") {
        eddy::Runtime rt{eddy::Config{.workers = 1}};
        auto nested = [&rt]() -> eddy::Coro<int> {
            int errors = 0;
            try {
                rt.run(add_after_yield(1, 2));
            } catch (const eddy::RuntimeError&) {
                ++errors;
            }
            try {
                eddy::run(add_after_yield(1, 2));
            } catch (const eddy::RuntimeError&) {
                ++errors;
            }
            co_return errors;
        };
        CHECK(rt.run(nested()) == 2);
    }

    TEST_CASE("EDDY_WORKERS sets the default worker count; a bad value is a clear error") {
        const char* outer = std::getenv("EDDY_WORKERS"); // the _w1/_w8 runs set it
        const std::string saved = outer != nullptr ? outer : "";
        ::setenv("EDDY_WORKERS", "3", 1);
        CHECK(eddy::Config{}.resolved().workers == 3);
        CHECK(eddy::Config{.workers = 2}.resolved().workers == 2);
        ::setenv("EDDY_WORKERS", "lots", 1);
        CHECK_THROWS_AS((void)eddy::Config{}.resolved(), eddy::Error);
        ::unsetenv("EDDY_WORKERS");
        CHECK(eddy::Config{}.resolved().workers >= 1);
        if (!saved.empty()) {
            ::setenv("EDDY_WORKERS", saved.c_str(), 1);
        }
    }

    TEST_CASE("run_coroutine_threadsafe hands a coroutine to a loop in another thread") {
        eddy::Runtime rt{eddy::Config{.workers = 2}};
        auto fut = eddy::run_coroutine_threadsafe(add_after_yield(20, 22), rt.loop(0));
        CHECK(fut.get() == 42);

        // A standalone loop running in its own thread.
        auto loop = eddy::new_event_loop();
        std::thread runner([&loop] { loop.run_forever(); });
        while (!loop.is_running()) {
            std::this_thread::yield();
        }
        auto slow = []() -> eddy::Coro<int> {
            co_await eddy::sleep(10s);
            co_return 1;
        };
        auto pending = eddy::run_coroutine_threadsafe(slow(), loop);
        CHECK(pending.wait_for(5ms) == std::future_status::timeout);
        CHECK(pending.cancel());
        CHECK_THROWS_AS(pending.get(), eddy::CancelledError);
        auto quick = eddy::run_coroutine_threadsafe(add_after_yield(1, 2), loop);
        CHECK(quick.get() == 3);
        loop.stop();
        runner.join();
    }

    TEST_CASE("a blocking get() on a loop's own thread is refused instead of deadlocking") {
        eddy::Runtime rt{eddy::Config{.workers = 1}};
        auto main_coro = []() -> eddy::Coro<bool> {
            eddy::Future<int> never = eddy::get_running_loop().create_future<int>();
            try {
                (void)never.get();
            } catch (const eddy::RuntimeError&) {
                co_return true;
            }
            co_return false;
        };
        CHECK(rt.run(main_coro()));
    }

    TEST_CASE("metrics count Tasks run, parks and timers per worker") {
        eddy::Runtime rt{eddy::Config{.workers = 2}};
        auto main_coro = []() -> eddy::Coro<void> {
            for (int i = 0; i < 10; ++i) {
                co_await eddy::sleep(1ms);
            }
        };
        rt.run(main_coro());
        CHECK(eddy::test::eventually([&rt] {
            std::uint64_t n = 0;
            for (const auto& w : rt.metrics().workers) {
                n += w.tasks_run;
            }
            return n >= 11;
        }));
        const auto m = rt.metrics();
        std::uint64_t tasks = 0;
        std::uint64_t timers = 0;
        std::uint64_t parks = 0;
        for (const auto& w : m.workers) {
            tasks += w.tasks_run;
            timers += w.timers_fired;
            parks += w.parks;
        }
        CHECK(tasks >= 11);
        CHECK(timers >= 10);
        CHECK(parks >= 1);
        CHECK(m.inject_queue_depth == 0);
    }
}
