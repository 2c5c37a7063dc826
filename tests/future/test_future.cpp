#include <doctest/doctest.h>

#include <eddy/eddy.hpp>

#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "support/helpers.hpp"

using eddy::test::what;

TEST_SUITE("future/future") {
    TEST_CASE("a new future is pending and has no result yet") {
        auto loop = eddy::new_event_loop();
        auto fut = loop.create_future<int>();
        CHECK_FALSE(fut.done());
        CHECK_FALSE(fut.cancelled());
        CHECK_THROWS_AS(fut.result(), eddy::InvalidStateError);
        CHECK_THROWS_AS((void)fut.exception(), eddy::InvalidStateError);
    }

    TEST_CASE("set_result completes the future once; a second set throws InvalidStateError") {
        auto loop = eddy::new_event_loop();
        auto fut = loop.create_future<int>();
        fut.set_result(5);
        CHECK(fut.done());
        CHECK(fut.result() == 5);
        CHECK(fut.exception() == nullptr);
        CHECK_THROWS_AS(fut.set_result(6), eddy::InvalidStateError);
        CHECK_THROWS_AS(fut.set_exception(std::make_exception_ptr(std::runtime_error("x"))),
                        eddy::InvalidStateError);
        CHECK_FALSE(fut.cancel());
        CHECK(fut.result() == 5);
    }

    TEST_CASE("set_exception makes result() rethrow and exception() return it") {
        auto loop = eddy::new_event_loop();
        auto fut = loop.create_future<int>();
        fut.set_exception(std::make_exception_ptr(std::runtime_error("bad")));
        CHECK(fut.done());
        CHECK_FALSE(fut.cancelled());
        CHECK_THROWS_WITH_AS(fut.result(), "bad", std::runtime_error);
        CHECK(what(fut.exception()) == "bad");
        CHECK_THROWS_AS(fut.set_exception(nullptr), eddy::Error);
    }

    TEST_CASE("cancel marks the future cancelled and result() throws CancelledError") {
        auto loop = eddy::new_event_loop();
        auto fut = loop.create_future<int>();
        CHECK(fut.cancel("no longer needed"));
        CHECK(fut.cancelled());
        CHECK(fut.done());
        CHECK_FALSE(fut.cancel());
        CHECK_THROWS_WITH_AS(fut.result(), "no longer needed", eddy::CancelledError);
        CHECK_THROWS_AS((void)fut.exception(), eddy::CancelledError);
        CHECK_THROWS_AS(fut.set_result(1), eddy::InvalidStateError);
    }

    TEST_CASE("copies of a future share one state") {
        auto loop = eddy::new_event_loop();
        auto a = loop.create_future<std::string>();
        eddy::Future<std::string> b = a;
        CHECK(a == b);
        b.set_result("shared");
        CHECK(a.done());
        CHECK(a.result() == "shared");
    }

    TEST_CASE("done callbacks run on the loop, in the order they were added, after completion") {
        auto loop = eddy::new_event_loop();
        auto fut = loop.create_future<int>();
        std::vector<int> log; // first callback logs 10 + result, second 20 + result
        fut.add_done_callback([&](eddy::Future<int>& f) { log.push_back(10 + f.result()); });
        fut.add_done_callback([&](eddy::Future<int>& f) { log.push_back(20 + f.result()); });
        fut.set_result(1);
        CHECK(log.empty()); // scheduled with call_soon, as asyncio does
        loop.run_until_complete(fut);
        loop.run_until_complete(eddy::sleep(std::chrono::milliseconds(0)));
        CHECK(log == std::vector<int>{11, 21});
    }

    TEST_CASE("a callback added to a done future is scheduled at once") {
        auto loop = eddy::new_event_loop();
        auto fut = loop.create_future<void>();
        fut.set_result();
        int calls = 0;
        fut.add_done_callback([&](auto&) { ++calls; });
        CHECK(calls == 0);
        loop.run_until_complete(eddy::sleep(std::chrono::milliseconds(0)));
        CHECK(calls == 1);
    }

    TEST_CASE("remove_done_callback removes by id and reports how many it removed") {
        auto loop = eddy::new_event_loop();
        auto fut = loop.create_future<int>();
        int a = 0;
        int b = 0;
        auto id_a = fut.add_done_callback([&](auto&) { ++a; });
        fut.add_done_callback([&](auto&) { ++b; });
        CHECK(fut.remove_done_callback(id_a) == 1);
        CHECK(fut.remove_done_callback(id_a) == 0);
        fut.set_result(3);
        loop.run_until_complete(fut);
        loop.run_until_complete(eddy::sleep(std::chrono::milliseconds(0)));
        CHECK(a == 0);
        CHECK(b == 1);
    }

    TEST_CASE("a future bound to no loop runs its callbacks inline when completed") {
        eddy::Future<int> fut; // no running loop, no thread loop in this test thread
        int seen = 0;
        fut.add_done_callback([&](eddy::Future<int>& f) { seen = f.result(); });
        fut.set_result(9);
        CHECK(seen == 9);
    }

    TEST_CASE("awaiting a future suspends the task until another callback sets it") {
        auto loop = eddy::new_event_loop();
        auto fut = loop.create_future<int>();
        auto waiter = [](eddy::Future<int> f) -> eddy::Coro<int> { co_return co_await f + 1; };
        loop.call_soon([fut]() mutable { fut.set_result(41); });
        CHECK(loop.run_until_complete(waiter(fut)) == 42);
    }

    TEST_CASE("awaiting a failed or cancelled future throws in the task") {
        auto loop = eddy::new_event_loop();
        auto failed = loop.create_future<int>();
        auto cancelled = loop.create_future<int>();
        failed.set_exception(std::make_exception_ptr(std::runtime_error("broken")));
        cancelled.cancel("gone");
        auto check = [](eddy::Future<int> f1, eddy::Future<int> f2) -> eddy::Coro<std::string> {
            std::string out;
            try {
                co_await f1;
            } catch (const std::runtime_error& e) {
                out += e.what();
            }
            try {
                co_await f2;
            } catch (const eddy::CancelledError& e) {
                out += std::string("/") + e.what();
            }
            co_return out;
        };
        CHECK(loop.run_until_complete(check(failed, cancelled)) == "broken/gone");
    }

    TEST_CASE("a future completed from another thread wakes the awaiting task") {
        auto loop = eddy::new_event_loop();
        auto fut = loop.create_future<int>();
        std::thread setter([fut]() mutable {
            std::this_thread::sleep_for(std::chrono::milliseconds(5));
            fut.set_result(77);
        });
        auto waiter = [](eddy::Future<int> f) -> eddy::Coro<int> { co_return co_await f; };
        CHECK(loop.run_until_complete(waiter(fut)) == 77);
        setter.join();
    }

    TEST_CASE("awaiting a temporary future of a move-only type moves the value out") {
        auto loop = eddy::new_event_loop();
        auto fut = loop.create_future<std::unique_ptr<int>>();
        fut.set_result(std::make_unique<int>(3));
        auto take = [](eddy::Future<std::unique_ptr<int>> f) -> eddy::Coro<int> {
            auto p = co_await std::move(f);
            co_return *p;
        };
        CHECK(loop.run_until_complete(take(fut)) == 3);
    }

    TEST_CASE("an exception nobody retrieved is reported when the future dies") {
        auto loop = eddy::new_event_loop();
        eddy::test::ReportLog log(loop);
        {
            auto fut = loop.create_future<int>();
            fut.set_exception(std::make_exception_ptr(std::runtime_error("lost")));
        }
        REQUIRE(log.reports.size() == 1);
        CHECK(log.reports[0].message == "Future exception was never retrieved");
        CHECK(what(log.reports[0].exception) == "lost");
        {
            auto fut = loop.create_future<int>();
            fut.set_exception(std::make_exception_ptr(std::runtime_error("seen")));
            CHECK(fut.exception() != nullptr);
        }
        CHECK(log.reports.size() == 1); // retrieved: nothing more to report
    }

    TEST_CASE("a future keeps its loop alive and its values are destroyed with it") {
        eddy::test::Counted::alive = 0;
        eddy::Future<eddy::test::Counted> fut;
        {
            auto loop = eddy::new_event_loop();
            fut = loop.create_future<eddy::test::Counted>();
        } // the loop closes with its last handle; the future stays usable
        fut.set_result(eddy::test::Counted(4));
        CHECK(fut.result().value == 4);
        fut = eddy::Future<eddy::test::Counted>();
        CHECK(eddy::test::Counted::alive == 0);
    }
}
