#include <doctest/doctest.h>

#include <eddy/eddy.hpp>

#include <chrono>
#include <stdexcept>
#include <string>

#include "support/helpers.hpp"

using namespace std::chrono_literals;

TEST_SUITE("scheduler/run") {
    TEST_CASE("run returns main's value") {
        auto main_coro = []() -> eddy::Coro<int> {
            co_await eddy::sleep(1ms);
            co_return 42;
        };
        CHECK(eddy::run(main_coro()) == 42);
    }

    TEST_CASE("run rethrows main's exception") {
        auto main_coro = []() -> eddy::Coro<void> {
            co_await eddy::yield_now();
            throw std::domain_error("main failed");
        };
        CHECK_THROWS_WITH_AS(eddy::run(main_coro()), "main failed", std::domain_error);
    }

    TEST_CASE("run cancels the tasks left over and waits for them to finish") {
        bool cleaned_up = false;
        eddy::Task<void> leftover;
        auto main_coro = [&]() -> eddy::Coro<int> {
            leftover = eddy::create_task([](bool& c) -> eddy::Coro<void> {
                std::exception_ptr cancelled;
                try {
                    co_await eddy::sleep(10s);
                } catch (const eddy::CancelledError&) {
                    cancelled = std::current_exception(); // C++: no co_await inside a handler
                }
                co_await eddy::yield_now(); // cleanup may still await
                c = true;
                std::rethrow_exception(cancelled);
            }(cleaned_up));
            co_await eddy::yield_now();
            co_return 1;
        };
        CHECK(eddy::run(main_coro()) == 1);
        CHECK(cleaned_up);
        CHECK(leftover.cancelled());
    }

    TEST_CASE("run makes the loop current during main and clears it after") {
        eddy::EventLoop* seen = nullptr;
        bool same = false;
        auto main_coro = [&]() -> eddy::Coro<void> {
            seen = &eddy::get_running_loop();
            same = eddy::get_event_loop() == *seen;
            co_return;
        };
        eddy::run(main_coro());
        CHECK(seen != nullptr);
        CHECK(same);
        CHECK_THROWS_AS(eddy::get_running_loop(), eddy::RuntimeError);
    }

    TEST_CASE("run cannot be called from a running loop") {
        auto inner = []() -> eddy::Coro<int> { co_return 1; };
        auto main_coro = [&]() -> eddy::Coro<std::string> {
            try {
                eddy::run(inner());
            } catch (const eddy::RuntimeError& e) {
                co_return e.what();
            }
            co_return "no error";
        };
        CHECK(eddy::run(main_coro()) == "eddy::run() cannot be called from a running event loop");
    }

    TEST_CASE("a leftover task failing during shutdown is reported") {
        std::string reported;
        auto main_coro = [&]() -> eddy::Coro<void> {
            eddy::get_running_loop().set_exception_handler(
                [&](eddy::EventLoop&, const eddy::ExceptionContext& ctx) {
                    reported = ctx.message;
                });
            // Wait until the leftover has started: on several workers main could otherwise end
            // (and the shutdown cancel it) before its first step, when it never runs at all.
            eddy::Event started;
            eddy::create_task([](eddy::Event& ev) -> eddy::Coro<void> {
                ev.set();
                try {
                    co_await eddy::sleep(10s);
                } catch (const eddy::CancelledError&) {
                    throw std::runtime_error("failed while cancelling");
                }
            }(started));
            co_await started.wait();
        };
        eddy::run(main_coro());
        CHECK(reported == "unhandled exception during eddy::run() shutdown");
    }

    TEST_CASE("create_task outside a running loop is an error") {
        auto c = []() -> eddy::Coro<void> { co_return; };
        CHECK_THROWS_AS(eddy::create_task(c()), eddy::RuntimeError);
    }

    TEST_CASE("ensure_future turns a Coro into a Task and keeps a Future as it is") {
        auto loop = eddy::new_event_loop();
        eddy::set_event_loop(loop);
        auto c = []() -> eddy::Coro<int> { co_return 3; };
        eddy::Task<int> t = eddy::ensure_future(c());
        auto fut = loop.create_future<int>();
        CHECK(eddy::ensure_future(fut) == fut);
        CHECK(eddy::ensure_future(t) == t);
        CHECK(loop.run_until_complete(t) == 3);
        eddy::set_event_loop(nullptr);
    }

    TEST_CASE("run with Config{.debug = true} runs the loop in debug mode") {
        auto main_coro = []() -> eddy::Coro<bool> {
            co_return eddy::get_running_loop().get_debug();
        };
        CHECK(eddy::run(main_coro(), eddy::Config{.debug = true}));
    }
}
