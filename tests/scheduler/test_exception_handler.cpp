#include <doctest/doctest.h>

#include <eddy/eddy.hpp>

#include <chrono>
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <thread>

#include "support/helpers.hpp"

using namespace std::chrono_literals;
using eddy::test::what;

TEST_SUITE("scheduler/exception_handler") {
    TEST_CASE("an exception thrown by a callback is reported and the loop keeps running") {
        auto loop = eddy::new_event_loop();
        eddy::test::ReportLog log(loop);
        bool after = false;
        loop.call_soon([] { throw std::runtime_error("callback failed"); });
        loop.call_soon([&] {
            after = true;
            loop.stop();
        });
        loop.run_forever();
        CHECK(after);
        REQUIRE(log.reports.size() == 1);
        CHECK(log.reports[0].message.rfind("Exception in callback", 0) == 0);
        CHECK(what(log.reports[0].exception) == "callback failed");
    }

    TEST_CASE("a done callback that throws is reported too") {
        auto loop = eddy::new_event_loop();
        eddy::test::ReportLog log(loop);
        auto fut = loop.create_future<int>();
        fut.add_done_callback([](auto&) { throw std::runtime_error("in done callback"); });
        fut.set_result(1);
        loop.run_until_complete(fut);
        loop.run_until_complete(eddy::sleep(0ms));
        REQUIRE(log.reports.size() == 1);
        CHECK(what(log.reports[0].exception) == "in done callback");
    }

    TEST_CASE("the handler receives the loop; an empty handler restores the default") {
        auto loop = eddy::new_event_loop();
        bool got_loop = false;
        loop.set_exception_handler(
            [&](eddy::EventLoop& l, const eddy::ExceptionContext&) { got_loop = l == loop; });
        CHECK(static_cast<bool>(loop.get_exception_handler()));
        loop.call_exception_handler({"custom report", nullptr, {}, {}});
        CHECK(got_loop);
        loop.set_exception_handler(nullptr);
        CHECK_FALSE(static_cast<bool>(loop.get_exception_handler()));
        loop.default_exception_handler({"printed by the default handler", nullptr, {}, {}});
    }

    TEST_CASE("a handler that throws does not stop the loop") {
        auto loop = eddy::new_event_loop();
        loop.set_exception_handler([](eddy::EventLoop&, const eddy::ExceptionContext&) {
            throw std::runtime_error("handler broke");
        });
        bool after = false;
        loop.call_soon([] { throw std::runtime_error("first"); });
        loop.call_soon([&] {
            after = true;
            loop.stop();
        });
        loop.run_forever();
        CHECK(after);
    }

    TEST_CASE("debug mode reports a callback slower than slow_callback_duration, with its name") {
        auto loop = eddy::new_event_loop();
        eddy::test::ReportLog log(loop);
        CHECK_FALSE(loop.get_debug());
        loop.set_debug(true);
        CHECK(loop.get_debug());
        CHECK(static_cast<double>(loop.slow_callback_duration) == doctest::Approx(0.1));
        loop.slow_callback_duration = 0.01;
        CHECK(static_cast<double>(loop.slow_callback_duration) == doctest::Approx(0.01));
        loop.call_soon([] { std::this_thread::sleep_for(20ms); });
        loop.call_soon([&] { loop.stop(); });
        loop.run_forever();
        REQUIRE(log.reports.size() == 1);
        CHECK(log.reports[0].message.rfind("Executing callback", 0) == 0);
        CHECK(log.reports[0].message.find("took") != std::string::npos);
    }

    TEST_CASE("debug mode reports a slow task step with the task's name") {
        auto loop = eddy::new_event_loop();
        eddy::test::ReportLog log(loop);
        loop.set_debug(true);
        loop.slow_callback_duration = 10ms;
        auto slow = []() -> eddy::Coro<void> {
            std::this_thread::sleep_for(20ms);
            co_return;
        };
        loop.run_until_complete(loop.create_task(slow(), {.name = "slowpoke"}));
        CHECK(log.any_message_contains("Executing slowpoke took"));
    }

    TEST_CASE("without debug mode slow callbacks are not reported") {
        auto loop = eddy::new_event_loop();
        eddy::test::ReportLog log(loop);
        loop.slow_callback_duration = 0.001;
        loop.call_soon([] { std::this_thread::sleep_for(5ms); });
        loop.call_soon([&] { loop.stop(); });
        loop.run_forever();
        CHECK(log.reports.empty());
    }

    TEST_CASE("EDDY_DEBUG=1 turns debug mode on for new loops") {
        ::setenv("EDDY_DEBUG", "1", 1);
        auto loop = eddy::new_event_loop();
        ::unsetenv("EDDY_DEBUG");
        auto other = eddy::new_event_loop();
        CHECK(loop.get_debug());
        CHECK_FALSE(other.get_debug());
    }

    TEST_CASE("debug mode rejects call_soon from a thread other than the loop's") {
        auto loop = eddy::new_event_loop();
        loop.set_debug(true);
        bool threw = false;
        loop.call_soon([&] {
            std::thread([&] {
                try {
                    loop.call_soon([] {});
                } catch (const eddy::RuntimeError&) {
                    threw = true;
                }
            }).join();
            loop.stop();
        });
        loop.run_forever();
        CHECK(threw);
    }
}
