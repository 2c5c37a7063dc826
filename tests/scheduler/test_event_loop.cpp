#include <doctest/doctest.h>

#include <eddy/eddy.hpp>

#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "support/helpers.hpp"

using namespace std::chrono_literals;

TEST_SUITE("scheduler/event_loop") {
    TEST_CASE("call_soon runs callbacks in FIFO order, with their arguments") {
        auto loop = eddy::new_event_loop();
        std::vector<int> order;
        auto push = [&order](int v) { order.push_back(v); };
        for (int i = 0; i < 5; ++i) {
            loop.call_soon(push, i);
        }
        loop.call_soon([&] { loop.stop(); });
        loop.run_forever();
        CHECK(order == std::vector<int>{0, 1, 2, 3, 4});
    }

    TEST_CASE("a cancelled call_soon handle never runs") {
        auto loop = eddy::new_event_loop();
        int calls = 0;
        auto h = loop.call_soon([&] { ++calls; });
        CHECK_FALSE(h.cancelled());
        h.cancel();
        CHECK(h.cancelled());
        loop.call_soon([&] { loop.stop(); });
        loop.run_forever();
        CHECK(calls == 0);
    }

    TEST_CASE(
        "stop from a callback lets the current batch finish; new callbacks wait for the next run") {
        auto loop = eddy::new_event_loop();
        std::vector<std::string> log;
        loop.call_soon([&] {
            log.push_back("first");
            loop.stop();
            loop.call_soon([&] { log.push_back("scheduled during the batch"); });
        });
        loop.call_soon([&] { log.push_back("second, same batch"); });
        loop.run_forever();
        CHECK(log == std::vector<std::string>{"first", "second, same batch"});
        CHECK_FALSE(loop.is_running());
        loop.call_soon([&] { loop.stop(); });
        loop.run_forever();
        CHECK(log.back() == "scheduled during the batch");
    }

    TEST_CASE("stop before run_forever runs one turn and returns") {
        auto loop = eddy::new_event_loop();
        int calls = 0;
        loop.call_soon([&] { ++calls; });
        loop.stop();
        loop.run_forever();
        CHECK(calls == 1);
    }

    TEST_CASE("is_running is true only inside run_forever") {
        auto loop = eddy::new_event_loop();
        bool inside = false;
        loop.call_soon([&] {
            inside = loop.is_running();
            loop.stop();
        });
        CHECK_FALSE(loop.is_running());
        loop.run_forever();
        CHECK(inside);
        CHECK_FALSE(loop.is_running());
    }

    TEST_CASE("running a loop that is already running is an error") {
        auto loop = eddy::new_event_loop();
        std::string error;
        loop.call_soon([&] {
            try {
                loop.run_forever();
            } catch (const eddy::RuntimeError& e) {
                error = e.what();
            }
            loop.stop();
        });
        loop.run_forever();
        CHECK(error == "This event loop is already running");
    }

    TEST_CASE("running a second loop inside a running one is an error") {
        auto outer = eddy::new_event_loop();
        auto inner = eddy::new_event_loop();
        bool threw = false;
        outer.call_soon([&] {
            try {
                inner.run_until_complete(eddy::sleep(0ms));
            } catch (const eddy::RuntimeError&) {
                threw = true;
            }
            outer.stop();
        });
        outer.run_forever();
        CHECK(threw);
    }

    TEST_CASE("a closed loop refuses to run or to schedule, with a clear error") {
        auto loop = eddy::new_event_loop();
        CHECK_FALSE(loop.is_closed());
        loop.run_until_complete(eddy::sleep(0ms));
        loop.close();
        CHECK(loop.is_closed());
        loop.close(); // closing twice is harmless
        CHECK_THROWS_WITH_AS(loop.run_forever(), "Event loop is closed", eddy::RuntimeError);
        CHECK_THROWS_AS(loop.run_until_complete(eddy::sleep(0ms)), eddy::RuntimeError);
        CHECK_THROWS_AS(loop.call_soon([] {}), eddy::RuntimeError);
        CHECK_THROWS_AS(loop.call_later(1ms, [] {}), eddy::RuntimeError);
        CHECK_THROWS_AS(loop.call_soon_threadsafe([] {}), eddy::RuntimeError);
        CHECK_THROWS_AS(loop.create_future<int>(), eddy::RuntimeError);
    }

    TEST_CASE("closing a running loop is an error") {
        auto loop = eddy::new_event_loop();
        bool threw = false;
        loop.call_soon([&] {
            try {
                loop.close();
            } catch (const eddy::RuntimeError&) {
                threw = true;
            }
            loop.stop();
        });
        loop.run_forever();
        CHECK(threw);
        CHECK_FALSE(loop.is_closed());
    }

    TEST_CASE("close discards queued callbacks and timers without running them") {
        eddy::test::Counted::alive = 0;
        auto loop = eddy::new_event_loop();
        int calls = 0;
        loop.call_soon([&calls, c = eddy::test::Counted(1)] { ++calls; });
        loop.call_later(1ms, [&calls, c = eddy::test::Counted(2)] { ++calls; });
        CHECK(eddy::test::Counted::alive == 2);
        loop.close();
        CHECK(calls == 0);
        CHECK(eddy::test::Counted::alive == 0);
    }

    TEST_CASE("run_until_complete returns the value and can be called again") {
        auto loop = eddy::new_event_loop();
        auto twice = [](int x) -> eddy::Coro<int> {
            co_await eddy::yield_now();
            co_return 2 * x;
        };
        CHECK(loop.run_until_complete(twice(1)) == 2);
        CHECK(loop.run_until_complete(twice(2)) == 4);
    }

    TEST_CASE("run_until_complete stopped before the future is done is an error") {
        auto loop = eddy::new_event_loop();
        auto fut = loop.create_future<int>();
        loop.call_soon([&] { loop.stop(); });
        CHECK_THROWS_WITH_AS(loop.run_until_complete(fut),
                             "Event loop stopped before Future completed.", eddy::RuntimeError);
    }

    TEST_CASE("get_running_loop answers the loop inside it and throws outside") {
        auto loop = eddy::new_event_loop();
        CHECK_THROWS_WITH_AS(eddy::get_running_loop(), "no running event loop", eddy::RuntimeError);
        bool same = false;
        loop.call_soon([&] {
            same = eddy::get_running_loop() == loop;
            loop.stop();
        });
        loop.run_forever();
        CHECK(same);
    }

    TEST_CASE("get_event_loop creates the thread's loop once; set_event_loop replaces it") {
        std::thread([] {
            auto& a = eddy::get_event_loop();
            auto& b = eddy::get_event_loop();
            CHECK(a == b);
            auto other = eddy::new_event_loop();
            CHECK_FALSE(other == a);
            eddy::set_event_loop(other);
            CHECK(eddy::get_event_loop() == other);
            eddy::set_event_loop(nullptr);
            CHECK_FALSE(eddy::get_event_loop() == other);
        }).join();
    }

    TEST_CASE("a loop handle works with both . and ->") {
        auto loop = eddy::new_event_loop();
        int calls = 0;
        loop->call_soon([&] { ++calls; });
        loop.call_soon([&] { loop->stop(); });
        loop->run_forever();
        CHECK(calls == 1);
    }

    TEST_CASE("the last handle going closes the loop") {
        eddy::test::Counted::alive = 0;
        {
            auto loop = eddy::new_event_loop();
            loop.call_soon([c = eddy::test::Counted(1)] {});
            CHECK(eddy::test::Counted::alive == 1);
        }
        CHECK(eddy::test::Counted::alive == 0);
    }

    TEST_CASE("call_soon_threadsafe from a plain thread wakes a parked loop") {
        auto loop = eddy::new_event_loop();
        std::thread poster;
        int got = 0;
        loop.call_soon([&] {
            poster = std::thread([&loop, &got] {
                std::this_thread::sleep_for(20ms); // long enough for the loop to park
                loop.call_soon_threadsafe(
                    [&loop, &got](int v) {
                        got = v;
                        loop.stop();
                    },
                    5);
            });
        });
        loop.run_forever();
        poster.join();
        CHECK(got == 5);
    }

    TEST_CASE("time() is monotonic seconds and matches now()") {
        auto loop = eddy::new_event_loop();
        const double a = loop.time();
        const double b = loop.time();
        CHECK(b >= a);
        const double from_tp = std::chrono::duration<double>(loop.now().time_since_epoch()).count();
        CHECK(from_tp >= b);
        CHECK(from_tp - b < 1.0);
    }

    TEST_CASE("run_until_complete returns for a future that another loop completes") {
        auto a = eddy::new_event_loop();
        auto b = eddy::new_event_loop(); // never runs: the future's callbacks would wait forever
        auto fut = b.create_future<int>();
        bool timed_out = false;
        auto dog = a.call_later(10s, [&] {
            timed_out = true;
            a.stop();
        });
        a.call_soon([fut]() mutable { fut.set_result(1); });
        CHECK(a.run_until_complete(fut) == 1);
        CHECK_FALSE(timed_out);
    }

    TEST_CASE("call_later from another thread while the loop runs is handed to the loop") {
        auto loop = eddy::new_event_loop();
        int fired = 0;
        std::thread other;
        loop.call_soon([&] {
            other = std::thread([&] {
                for (int i = 0; i < 100; ++i) {
                    loop.call_later(1ms, [&fired] { ++fired; });
                }
                loop.call_later(20ms, [&] { loop.stop(); });
            });
        });
        loop.run_forever();
        other.join();
        CHECK(fired == 100);
    }
}
