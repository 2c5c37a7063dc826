#include <doctest/doctest.h>

#include <eddy/eddy.hpp>

#include <chrono>
#include <random>
#include <vector>

using namespace std::chrono_literals;

TEST_SUITE("scheduler/handle") {
    TEST_CASE("call_later fires after its delay, relative to loop.time()") {
        auto loop = eddy::new_event_loop();
        const double start = loop.time();
        double fired_at = 0;
        auto h = loop.call_later(0.02, [&] {
            fired_at = loop.time();
            loop.stop();
        });
        CHECK(h.when() >= start + 0.02);
        CHECK(h.when() < start + 1.0);
        loop.run_forever();
        CHECK(fired_at >= start + 0.02);
        CHECK(fired_at >= h.when());
    }

    TEST_CASE("call_at fires at a loop time and accepts a time_point") {
        auto loop = eddy::new_event_loop();
        std::vector<int> order;
        const double now = loop.time();
        loop.call_at(now + 0.010, [&] { order.push_back(2); });
        loop.call_at(loop.now() + 5ms, [&] { order.push_back(1); });
        loop.call_at(now + 0.015, [&] {
            order.push_back(3);
            loop.stop();
        });
        loop.run_forever();
        CHECK(order == std::vector<int>{1, 2, 3});
    }

    TEST_CASE("timers with the same deadline fire in the order they were scheduled") {
        auto loop = eddy::new_event_loop();
        std::vector<int> order;
        const auto when = loop.now() + 2ms;
        for (int i = 0; i < 10; ++i) {
            loop.call_at(when, [&order, i] { order.push_back(i); });
        }
        loop.call_at(when + 1ms, [&] { loop.stop(); });
        loop.run_forever();
        CHECK(order == std::vector<int>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9});
    }

    TEST_CASE("a cancelled timer never runs") {
        auto loop = eddy::new_event_loop();
        int calls = 0;
        auto h = loop.call_later(1ms, [&] { ++calls; });
        h.cancel();
        CHECK(h.cancelled());
        loop.call_later(5ms, [&] { loop.stop(); });
        loop.run_forever();
        CHECK(calls == 0);
    }

    TEST_CASE("many cancelled timers are dropped and the rest fire in deadline order") {
        auto loop = eddy::new_event_loop();
        std::mt19937 rng(7);
        std::vector<eddy::TimerHandle> handles;
        std::vector<double> fired;
        int expected = 0;
        for (int i = 0; i < 20000; ++i) {
            const double delay = static_cast<double>(rng() % 1000) / 100000.0; // 0..10 ms
            handles.push_back(
                loop.call_later(delay, [&fired, &loop] { fired.push_back(loop.time()); }));
        }
        for (std::size_t i = 0; i < handles.size(); ++i) {
            if (i % 4 != 0) {
                handles[i].cancel();
            } else {
                ++expected;
            }
        }
        loop.call_later(20ms, [&] { loop.stop(); });
        loop.run_forever();
        CHECK(static_cast<int>(fired.size()) == expected);
        CHECK(std::is_sorted(fired.begin(), fired.end()));
    }

    TEST_CASE("a timer due now runs after the callbacks already ready") {
        auto loop = eddy::new_event_loop();
        std::vector<int> order;
        loop.call_later(0.0, [&] { order.push_back(2); });
        loop.call_soon([&] { order.push_back(1); });
        loop.call_later(1ms, [&] { loop.stop(); });
        loop.run_forever();
        CHECK(order == std::vector<int>{1, 2});
    }

    TEST_CASE("cancelling a timer from its own loop's callback works before it is due") {
        auto loop = eddy::new_event_loop();
        int calls = 0;
        eddy::TimerHandle later = loop.call_later(5ms, [&] { ++calls; });
        loop.call_soon([&] { later.cancel(); });
        loop.call_later(10ms, [&] { loop.stop(); });
        loop.run_forever();
        CHECK(calls == 0);
    }
}
