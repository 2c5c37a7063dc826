#include <doctest/doctest.h>

#include <eddy/eddy.hpp>

#include <chrono>
#include <stdexcept>
#include <string>
#include <vector>

#include "support/helpers.hpp"

using namespace std::chrono_literals;
using eddy::test::what;

namespace {
eddy::Coro<int> value_after(std::chrono::milliseconds d, int v) {
    co_await eddy::sleep(d);
    co_return v;
}
} // namespace

TEST_SUITE("future/task") {
    TEST_CASE("a task runs its coroutine and holds its result") {
        auto loop = eddy::new_event_loop();
        auto task = loop.create_task(value_after(1ms, 8));
        CHECK_FALSE(task.done());
        CHECK(loop.run_until_complete(task) == 8);
        CHECK(task.done());
        CHECK(task.result() == 8);
    }

    TEST_CASE("a task starts only when the loop runs") {
        auto loop = eddy::new_event_loop();
        bool started = false;
        auto task = loop.create_task([](bool& s) -> eddy::Coro<void> {
            s = true;
            co_return;
        }(started));
        CHECK_FALSE(started);
        loop.run_until_complete(task);
        CHECK(started);
    }

    TEST_CASE("tasks are named Task-N unless given a name, and can be renamed") {
        auto loop = eddy::new_event_loop();
        auto a = loop.create_task(value_after(0ms, 1));
        auto b = loop.create_task(value_after(0ms, 2), {.name = "fetcher"});
        CHECK(a.get_name().rfind("Task-", 0) == 0);
        CHECK(b.get_name() == "fetcher");
        a.set_name("renamed");
        CHECK(a.get_name() == "renamed");
        loop.run_until_complete(b);
        loop.run_until_complete(a);
    }

    TEST_CASE("a task is a Future: it can be awaited and watched like one") {
        auto loop = eddy::new_event_loop();
        auto task = loop.create_task(value_after(1ms, 5));
        eddy::Future<int> as_future = task;
        std::string seen;
        task.add_done_callback(
            [&](eddy::Task<int>& t) { seen = t.get_name() + "=" + std::to_string(t.result()); });
        auto awaiter = [](eddy::Future<int> f) -> eddy::Coro<int> { co_return co_await f * 2; };
        CHECK(loop.run_until_complete(awaiter(as_future)) == 10);
        loop.run_until_complete(value_after(0ms, 0));
        CHECK(seen == task.get_name() + "=5");
        CHECK_THROWS_AS(as_future.set_result(1), eddy::RuntimeError);
    }

    TEST_CASE("a task cancelled before it starts never runs its body") {
        auto loop = eddy::new_event_loop();
        bool ran = false;
        auto task = loop.create_task([](bool& r) -> eddy::Coro<int> {
            r = true;
            co_return 1;
        }(ran));
        CHECK(task.cancel("early"));
        CHECK_THROWS_WITH_AS(loop.run_until_complete(task), "early", eddy::CancelledError);
        CHECK_FALSE(ran);
        CHECK(task.cancelled());
        CHECK_THROWS_AS(task.result(), eddy::CancelledError);
    }

    TEST_CASE("cancelling a sleeping task raises CancelledError at its await") {
        auto loop = eddy::new_event_loop();
        std::vector<std::string> log;
        auto sleeper = [](std::vector<std::string>& l) -> eddy::Coro<void> {
            try {
                co_await eddy::sleep(10s);
                l.push_back("woke");
            } catch (const eddy::CancelledError& e) {
                l.push_back(std::string("cancelled: ") + e.what());
                throw;
            }
        };
        auto task = loop.create_task(sleeper(log));
        loop.call_later(5ms, [task]() mutable { task.cancel("stop sleeping"); });
        const double start = loop.time();
        CHECK_THROWS_AS(loop.run_until_complete(task), eddy::CancelledError);
        CHECK(loop.time() - start < 5.0);
        CHECK(log == std::vector<std::string>{"cancelled: stop sleeping"});
        CHECK(task.cancelled());
    }

    TEST_CASE("a task may catch its cancellation and finish normally") {
        auto loop = eddy::new_event_loop();
        auto stubborn = []() -> eddy::Coro<int> {
            try {
                co_await eddy::sleep(10s);
            } catch (const eddy::CancelledError&) {
                co_return 99;
            }
            co_return 0;
        };
        auto task = loop.create_task(stubborn());
        loop.call_soon([task]() mutable { task.cancel(); });
        CHECK(loop.run_until_complete(task) == 99);
        CHECK_FALSE(task.cancelled());
        CHECK(task.cancelling() == 1);
    }

    TEST_CASE("cancelling() counts requests and uncancel() takes one back") {
        auto loop = eddy::new_event_loop();
        auto task = loop.create_task(value_after(10s, 1));
        CHECK(task.cancelling() == 0);
        CHECK(task.cancel());
        CHECK(task.cancel());
        CHECK(task.cancelling() == 2);
        CHECK(task.uncancel() == 1);
        CHECK_THROWS_AS(loop.run_until_complete(task), eddy::CancelledError);
        CHECK_FALSE(task.cancel()); // done now
    }

    TEST_CASE("uncancel to zero withdraws a cancellation not yet delivered") {
        auto loop = eddy::new_event_loop();
        auto self_cancel = []() -> eddy::Coro<int> {
            auto me = eddy::current_task();
            me.cancel();   // not waiting on anything: delivered at the next suspension
            me.uncancel(); // ...unless withdrawn first
            co_await eddy::yield_now();
            co_return 3;
        };
        CHECK(loop.run_until_complete(self_cancel()) == 3);
    }

    TEST_CASE("a task that cancels itself gets CancelledError at its next suspension") {
        auto loop = eddy::new_event_loop();
        bool after = false;
        auto self_cancel = [](bool& a) -> eddy::Coro<void> {
            eddy::current_task().cancel("self");
            co_await eddy::sleep(10s);
            a = true;
        };
        auto task = loop.create_task(self_cancel(after));
        CHECK_THROWS_WITH_AS(loop.run_until_complete(task), "self", eddy::CancelledError);
        CHECK_FALSE(after);
    }

    TEST_CASE("cancelling a task cancels the task it awaits") {
        auto loop = eddy::new_event_loop();
        eddy::Task<int> inner;
        auto outer = [&loop, &inner]() -> eddy::Coro<int> {
            inner = loop.create_task(value_after(10s, 1));
            co_return co_await inner;
        };
        auto task = loop.create_task(outer());
        loop.call_later(2ms, [task]() mutable { task.cancel(); });
        CHECK_THROWS_AS(loop.run_until_complete(task), eddy::CancelledError);
        CHECK(inner.cancelled());
        CHECK(task.cancelled());
    }

    TEST_CASE("an exception in a task is its result and reaches the awaiter") {
        auto loop = eddy::new_event_loop();
        auto failing = []() -> eddy::Coro<int> {
            co_await eddy::yield_now();
            throw std::invalid_argument("nope");
        };
        auto task = loop.create_task(failing());
        auto awaiter = [](eddy::Task<int> t) -> eddy::Coro<std::string> {
            try {
                co_await t;
            } catch (const std::invalid_argument& e) {
                co_return e.what();
            }
            co_return "";
        };
        CHECK(loop.run_until_complete(awaiter(task)) == "nope");
        CHECK(what(task.exception()) == "nope");
        CHECK_FALSE(task.cancelled());
    }

    TEST_CASE("current_task() is the running task, and empty outside any task") {
        auto loop = eddy::new_event_loop();
        CHECK_FALSE(eddy::current_task());
        eddy::Task<> seen;
        auto t = loop.create_task([](eddy::Task<>& s) -> eddy::Coro<void> {
            s = eddy::current_task();
            co_return;
        }(seen));
        loop.run_until_complete(t);
        CHECK(seen == t);
        CHECK_FALSE(eddy::current_task());
    }

    TEST_CASE("all_tasks() lists the pending tasks of the running loop") {
        auto loop = eddy::new_event_loop();
        auto sleeper = loop.create_task(value_after(10s, 0), {.name = "sleeper"});
        auto probe = [](eddy::Task<int> other) -> eddy::Coro<std::size_t> {
            co_await eddy::yield_now();
            auto tasks = eddy::all_tasks();
            bool found_other = false;
            bool found_self = false;
            for (auto& t : tasks) {
                found_other = found_other || t == other;
                found_self = found_self || t == eddy::current_task();
            }
            co_return (found_other && found_self) ? tasks.size() : 0;
        };
        CHECK(loop.run_until_complete(probe(sleeper)) == 2);
        sleeper.cancel();
        CHECK_THROWS_AS(loop.run_until_complete(sleeper), eddy::CancelledError);
        CHECK(loop.all_tasks().empty());
        CHECK_THROWS_AS(eddy::all_tasks(), eddy::RuntimeError); // no running loop
    }

    TEST_CASE("a task's exception nobody retrieved is reported when the task dies") {
        auto loop = eddy::new_event_loop();
        eddy::test::ReportLog log(loop);
        auto failing = []() -> eddy::Coro<void> {
            throw std::runtime_error("unseen");
            co_return;
        };
        {
            auto t = loop.create_task(failing(), {.name = "doomed"});
            loop.run_until_complete(eddy::sleep(1ms));
            CHECK(t.done());
        }
        REQUIRE(log.reports.size() == 1);
        CHECK(log.reports[0].message == "Task exception was never retrieved");
        CHECK(log.reports[0].task == "doomed");
        CHECK(what(log.reports[0].exception) == "unseen");
    }

    TEST_CASE("a pending task left on a closed loop is reported and its frame freed") {
        eddy::test::Counted::alive = 0;
        auto loop = eddy::new_event_loop();
        eddy::test::ReportLog log(loop);
        auto holder = [](eddy::test::Counted c) -> eddy::Coro<int> {
            co_await eddy::sleep(10s);
            co_return c.value;
        };
        loop.create_task(holder(eddy::test::Counted(1)));
        loop.run_until_complete(eddy::sleep(1ms));
        CHECK(eddy::test::Counted::alive == 1);
        loop.close();
        CHECK(eddy::test::Counted::alive == 0);
        CHECK(log.any_message_contains("Task was destroyed but it is pending!"));
    }

    TEST_CASE("a task's frame, result and handles are released after it finishes") {
        eddy::test::Counted::alive = 0;
        {
            auto loop = eddy::new_event_loop();
            auto make = []() -> eddy::Coro<eddy::test::Counted> {
                co_return eddy::test::Counted(2);
            };
            auto t = loop.create_task(make());
            CHECK(loop.run_until_complete(t).value == 2);
        }
        CHECK(eddy::test::Counted::alive == 0);
    }
}
