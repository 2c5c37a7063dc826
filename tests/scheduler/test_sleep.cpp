#include <doctest/doctest.h>

#include <eddy/eddy.hpp>

#include <chrono>
#include <string>
#include <vector>

using namespace std::chrono_literals;

TEST_SUITE("scheduler/sleep") {
    TEST_CASE("sleep suspends the task for at least its duration") {
        auto loop = eddy::new_event_loop();
        const double start = loop.time();
        loop.run_until_complete(eddy::sleep(15ms));
        CHECK(loop.time() - start >= 0.015);
        loop.run_until_complete(eddy::sleep(0.005));
        CHECK(loop.time() - start >= 0.020);
    }

    TEST_CASE("sleep with a result returns it") {
        auto loop = eddy::new_event_loop();
        CHECK(loop.run_until_complete(eddy::sleep(1ms, std::string("done"))) == "done");
    }

    TEST_CASE("sleep(0) and yield_now let the other ready tasks run once") {
        auto loop = eddy::new_event_loop();
        std::vector<std::string> log;
        auto worker = [](std::vector<std::string>& l, std::string name,
                         bool use_sleep) -> eddy::Coro<void> {
            for (int i = 0; i < 3; ++i) {
                l.push_back(name + std::to_string(i));
                if (use_sleep) {
                    co_await eddy::sleep(0s);
                } else {
                    co_await eddy::yield_now();
                }
            }
        };
        auto a = loop.create_task(worker(log, "a", true));
        auto b = loop.create_task(worker(log, "b", false));
        loop.run_until_complete(a);
        loop.run_until_complete(b);
        CHECK(log == std::vector<std::string>{"a0", "b0", "a1", "b1", "a2", "b2"});
    }

    TEST_CASE("tasks sleeping different times wake in deadline order") {
        auto loop = eddy::new_event_loop();
        std::vector<int> order;
        auto sleeper = [](std::vector<int>& o, int ms) -> eddy::Coro<void> {
            co_await eddy::sleep(std::chrono::milliseconds(ms));
            o.push_back(ms);
        };
        auto t3 = loop.create_task(sleeper(order, 9));
        auto t1 = loop.create_task(sleeper(order, 1));
        auto t2 = loop.create_task(sleeper(order, 5));
        loop.run_until_complete(t3);
        CHECK(order == std::vector<int>{1, 5, 9});
        CHECK(t1.done());
        CHECK(t2.done());
    }

    TEST_CASE("a cancelled sleep cancels its timer") {
        auto loop = eddy::new_event_loop();
        auto t = loop.create_task(eddy::sleep(10s));
        loop.run_until_complete(eddy::sleep(1ms));
        t.cancel();
        CHECK_THROWS_AS(loop.run_until_complete(t), eddy::CancelledError);
        // The 10 s timer is gone: an empty loop with nothing scheduled would otherwise
        // block; stopping right away proves nothing is left to wait for.
        const double start = loop.time();
        loop.call_soon([&] { loop.stop(); });
        loop.run_forever();
        CHECK(loop.time() - start < 1.0);
    }
}
