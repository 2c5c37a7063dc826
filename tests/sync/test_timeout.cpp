// Timeout scopes (timeout.hpp): eddy::timeout / timeout_at, Timeout::run / reschedule /
// expired / when. Expiries use deadlines of about 20ms against bodies that would take 10s;
// scopes that must not expire get deadlines of 10s or more, so the outcome never depends on
// how fast the machine is. The last cases run many scopes on runtimes of 2 and 8 workers,
// where Tasks move between workers in the middle of a scope.

#include <doctest/doctest.h>

#include <eddy/eddy.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <exception>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "support/helpers.hpp"

using namespace std::chrono_literals;
using eddy::Coro;
using eddy::Future;
using eddy::Task;

namespace {

/// What awaiting `aw` ended with: null for a value, else the exception.
template <class A>
Coro<std::exception_ptr> error_of(A aw) {
    std::exception_ptr e;
    try {
        if constexpr (eddy::detail::is_coro_v<A>) {
            (void)(co_await std::move(aw));
        } else {
            (void)(co_await aw);
        }
    } catch (...) {
        e = std::current_exception();
    }
    co_return e;
}

template <class E>
bool is(const std::exception_ptr& e) {
    if (!e) {
        return false;
    }
    try {
        std::rethrow_exception(e);
    } catch (const E&) {
        return true;
    } catch (...) {
        return false;
    }
}

struct Probe {
    Future<void> started;
    std::atomic<bool> cancelled{false};
    std::atomic<bool> cleaned{false};
};

Coro<int> value_after(int v, std::chrono::milliseconds d) {
    co_await eddy::sleep(d);
    co_return v;
}
Coro<int> value_when(Future<void> gate, int v) {
    co_await gate;
    co_return v;
}
Coro<void> set_after(Future<void> f, std::chrono::milliseconds d) {
    co_await eddy::sleep(d);
    f.set_result();
}

/// Sleeps 10s; when cancelled, cleans up for a while (another sleep), then re-raises.
Coro<int> slow_cleanup(std::shared_ptr<Probe> p) {
    p->started.set_result();
    bool cancelled = false;
    try {
        co_await eddy::sleep(10s);
    } catch (const eddy::CancelledError&) {
        cancelled = true;
    }
    if (cancelled) {
        p->cancelled = true;
        co_await eddy::sleep(20ms);
        p->cleaned = true;
        throw eddy::CancelledError();
    }
    co_return 1;
}

/// In a scope of 10s: signals `entered`, then sleeps 10s (so it is cancelled from outside).
Coro<void> scoped_sleeper(Future<void> entered) {
    // A named lambda, moved in: passed as a prvalue straight into the co_await, its by-value
    // captures are released twice under g++ 12 (TSan: heap-use-after-free when the Task is
    // cancelled), apparently a compiler bug with temporaries that live across a co_await.
    auto body = [entered]() mutable -> Coro<void> {
        entered.set_result();
        co_await eddy::sleep(10s);
    };
    co_await eddy::timeout(10s, std::move(body));
}

/// A scope that catches the first cancellation, signals `caught`, and sleeps again, to be
/// interrupted by a second request. `expire_first`: the scope's expiry is the first request
/// (the test cancels the Task after `caught`); otherwise the test cancels first and the body
/// then moves the deadline to 20ms from now, so the expiry is the second.
Coro<void> scope_cancelled_twice(Future<void> entered, Future<void> caught, bool expire_first) {
    auto body = [entered, caught, expire_first](eddy::Timeout& cm) mutable -> Coro<void> {
        entered.set_result();
        bool got = false;
        try {
            co_await eddy::sleep(10s);
        } catch (const eddy::CancelledError&) {
            got = true;
        }
        if (got) {
            if (!expire_first) {
                cm.reschedule(eddy::get_running_loop().time() + 0.02);
            }
            caught.set_result();
            co_await eddy::sleep(10s); // the second request interrupts this one
        }
    };
    if (expire_first) {
        co_await eddy::timeout(20ms, std::move(body));
    } else {
        co_await eddy::timeout(3600s, std::move(body));
    }
}

/// Moves around: yields (so another worker may take the Task) between awaits.
Coro<void> hop(int times) {
    for (int i = 0; i < times; ++i) {
        co_await eddy::yield_now();
    }
}

struct StressCounts {
    std::atomic<int> timeouts{0};
    std::atomic<int> values{0};
    std::atomic<int> wrong{0};
};

/// One scope of the stress case; `kind` picks what it does.
Coro<void> stress_one(int kind, StressCounts& c) {
    std::exception_ptr e;
    int value = 0;
    try {
        switch (kind % 4) {
        case 0: // expires while moving around
            co_await eddy::timeout(20ms, [](eddy::Timeout& /*cm*/) -> Coro<void> {
                co_await hop(10);
                co_await eddy::sleep(10s);
            });
            break;
        case 1: // completes after moving around
            value = co_await eddy::timeout(10s, []() -> Coro<int> {
                co_await hop(10);
                co_return 1;
            });
            break;
        case 2: // re-armed after moving (on whichever worker runs it now), then completes
            value = co_await eddy::timeout(3600s, [](eddy::Timeout& cm) -> Coro<int> {
                co_await hop(5);
                cm.reschedule(eddy::get_running_loop().time() + 3600.0);
                co_await hop(5);
                co_await eddy::sleep(1ms);
                co_return 1;
            });
            break;
        default: // shortened after moving
            co_await eddy::timeout(std::nullopt, [](eddy::Timeout& cm) -> Coro<void> {
                co_await hop(5);
                cm.reschedule(eddy::get_running_loop().time() + 0.02);
                co_await hop(5);
                co_await eddy::sleep(10s);
            });
            break;
        }
    } catch (...) {
        e = std::current_exception();
    }
    const bool expect_timeout = kind % 4 == 0 || kind % 4 == 3;
    if (expect_timeout ? is<eddy::TimeoutError>(e) : (!e && value == 1)) {
        (expect_timeout ? c.timeouts : c.values).fetch_add(1);
    } else {
        c.wrong.fetch_add(1);
    }
    if (eddy::current_task().cancelling() != 0) {
        c.wrong.fetch_add(1);
    }
    co_await eddy::yield_now(); // not left cancelled
}

Coro<void> stress_main(int n, StressCounts& c) {
    std::vector<Task<void>> tasks;
    tasks.reserve(static_cast<std::size_t>(n));
    for (int i = 0; i < n; ++i) {
        tasks.push_back(eddy::create_task(stress_one(i, c)));
    }
    for (auto& t : tasks) {
        co_await t;
    }
}

} // namespace

TEST_SUITE("sync/timeout") {
    TEST_CASE("an expired scope raises TimeoutError and cancels what it awaited") {
        eddy::run([]() -> Coro<void> {
            // A Coro body runs in this Task: its clean-up is over before TimeoutError comes.
            auto p = std::make_shared<Probe>();
            eddy::Timeout cm = eddy::timeout(20ms);
            CHECK(!cm.expired());
            std::exception_ptr e = co_await error_of(cm.run(slow_cleanup(p)));
            CHECK(is<eddy::TimeoutError>(e));
            CHECK(cm.expired());
            CHECK(p->cancelled);
            CHECK(p->cleaned);
            CHECK(eddy::current_task().cancelling() == 0);

            // A Task body is cancelled (the awaiting Task's cancellation reaches it).
            auto p2 = std::make_shared<Probe>();
            Task<int> t = eddy::create_task(slow_cleanup(p2));
            CHECK(is<eddy::TimeoutError>(co_await error_of(eddy::timeout(20ms, t))));
            CHECK(t.cancelled());
            CHECK(p2->cleaned);

            // So is a Future body.
            Future<int> f;
            CHECK(is<eddy::TimeoutError>(co_await error_of(eddy::timeout(20ms, f))));
            CHECK(f.cancelled());
            co_await eddy::yield_now(); // this Task is not left cancelled
        }());
    }

    TEST_CASE("a scope that does not expire returns the body's value") {
        eddy::run([]() -> Coro<void> {
            eddy::Timeout cm = eddy::timeout(10s);
            CHECK((co_await cm.run(value_after(3, 1ms))) == 3);
            CHECK(!cm.expired());

            CHECK((co_await eddy::timeout(10s, value_after(4, 1ms))) == 4);
            CHECK((co_await eddy::timeout(10s, []() { return value_after(5, 1ms); })) == 5);
            CHECK((co_await eddy::timeout(10s, [](eddy::Timeout& scope) -> Coro<int> {
                      co_await eddy::sleep(1ms);
                      co_return scope.expired() ? -1 : 6;
                  })) == 6);
            Task<int> t = eddy::create_task(value_after(7, 1ms));
            CHECK((co_await eddy::timeout(10s, t)) == 7);
            co_await eddy::timeout(10s, eddy::sleep(1ms)); // void
            // An error of the body passes through unchanged.
            std::exception_ptr e = co_await error_of(eddy::timeout(10s, []() -> Coro<void> {
                co_await eddy::yield_now();
                throw std::runtime_error("body");
            }));
            CHECK(eddy::test::what(e) == "body");
            CHECK(eddy::current_task().cancelling() == 0);
        }());
    }

    TEST_CASE("timeout(nullopt) never expires") {
        eddy::run([]() -> Coro<void> {
            eddy::Timeout cm = eddy::timeout(std::nullopt);
            CHECK(!cm.when().has_value());
            Future<void> gate;
            auto setter = eddy::create_task(set_after(gate, 50ms));
            CHECK((co_await cm.run(value_when(gate, 8))) == 8);
            CHECK(!cm.expired());
            co_await setter;
            eddy::Timeout at = eddy::timeout_at(std::nullopt);
            CHECK(!at.when().has_value());
            CHECK((co_await at.run(value_after(9, 20ms))) == 9);
            CHECK(!at.expired());
        }());
    }

    TEST_CASE("reschedule inside the scope can extend the deadline") {
        eddy::run([]() -> Coro<void> {
            int v = co_await eddy::timeout(30ms, [](eddy::Timeout& cm) -> Coro<int> {
                REQUIRE(cm.when().has_value());
                cm.reschedule(*cm.when() + 3600.0);
                co_await eddy::sleep(300ms); // ten times the first deadline
                co_return 1;
            });
            CHECK(v == 1);
            eddy::Timeout cm = eddy::timeout(30ms);
            int w = co_await cm.run([](eddy::Timeout scope) -> Coro<int> {
                scope.reschedule(std::nullopt); // no deadline at all
                co_await eddy::sleep(300ms);
                co_return 2;
            }(cm));
            CHECK(w == 2);
            CHECK(!cm.expired());
            CHECK(!cm.when().has_value());
        }());
    }

    TEST_CASE("reschedule inside the scope can shorten the deadline") {
        eddy::run([]() -> Coro<void> {
            eddy::Timeout cm = eddy::timeout(3600s);
            std::exception_ptr e = co_await error_of(cm.run([](eddy::Timeout scope) -> Coro<void> {
                scope.reschedule(eddy::get_running_loop().time() + 0.02);
                co_await eddy::sleep(10s);
            }(cm)));
            CHECK(is<eddy::TimeoutError>(e));
            CHECK(cm.expired());

            // A deadline in the past expires at the next turn of the loop.
            e = co_await error_of(
                eddy::timeout(std::nullopt, [](eddy::Timeout& scope) -> Coro<void> {
                    scope.reschedule(eddy::get_running_loop().time() - 1.0);
                    co_await eddy::sleep(10s);
                }));
            CHECK(is<eddy::TimeoutError>(e));
            CHECK(eddy::current_task().cancelling() == 0);
        }());
    }

    TEST_CASE("reschedule outside the running scope throws RuntimeError") {
        eddy::run([]() -> Coro<void> {
            eddy::Timeout cm = eddy::timeout(10s);
            CHECK_THROWS_AS(cm.reschedule(std::nullopt), eddy::RuntimeError); // not entered
            CHECK((co_await cm.run(value_after(1, 1ms))) == 1);
            CHECK_THROWS_AS(cm.reschedule(std::nullopt), eddy::RuntimeError); // exited
            // A scope runs once.
            CHECK(is<eddy::RuntimeError>(co_await error_of(cm.run(value_after(1, 1ms)))));

            // While expiring (the body caught the cancellation) and after expiry.
            bool refused = false;
            eddy::Timeout ex = eddy::timeout(20ms);
            std::exception_ptr e =
                co_await error_of(ex.run([](eddy::Timeout scope, bool& out) -> Coro<void> {
                    bool caught = false;
                    try {
                        co_await eddy::sleep(10s);
                    } catch (const eddy::CancelledError&) {
                        caught = true;
                    }
                    if (caught) {
                        try {
                            scope.reschedule(std::nullopt);
                        } catch (const eddy::RuntimeError&) {
                            out = true;
                        }
                        throw eddy::CancelledError();
                    }
                }(ex, refused)));
            CHECK(is<eddy::TimeoutError>(e));
            CHECK(refused);
            CHECK_THROWS_AS(ex.reschedule(std::nullopt), eddy::RuntimeError);
            CHECK(ex.expired());
        }());
    }

    TEST_CASE("timeout_at takes a loop time") {
        eddy::run([]() -> Coro<void> {
            const double now = eddy::get_running_loop().time();
            eddy::Timeout cm = eddy::timeout_at(now + 0.02);
            REQUIRE(cm.when().has_value());
            CHECK(*cm.when() == now + 0.02);
            CHECK(is<eddy::TimeoutError>(co_await error_of(cm.run(eddy::sleep(10s)))));
            CHECK(cm.expired());

            CHECK((co_await eddy::timeout_at(eddy::get_running_loop().time() + 3600.0,
                                             value_after(2, 1ms))) == 2);
            const auto tp = eddy::get_running_loop().now() + 20ms;
            CHECK(
                is<eddy::TimeoutError>(co_await error_of(eddy::timeout_at(tp, eddy::sleep(10s)))));
            CHECK((co_await eddy::timeout_at(eddy::get_running_loop().now() + 3600s,
                                             value_after(3, 1ms))) == 3);
        }());
    }

    TEST_CASE("nested scopes: the inner one expires, the outer one does not") {
        eddy::run([]() -> Coro<void> {
            eddy::Timeout outer = eddy::timeout(3600s);
            eddy::Timeout inner = eddy::timeout(20ms);
            std::exception_ptr inner_error;
            std::exception_ptr outer_error = co_await error_of(
                outer.run([](eddy::Timeout in, std::exception_ptr& out) -> Coro<void> {
                    out = co_await error_of(in.run(eddy::sleep(10s)));
                    co_await eddy::sleep(1ms); // the outer scope's Task is not cancelled
                }(inner, inner_error)));
            CHECK(is<eddy::TimeoutError>(inner_error));
            CHECK(inner.expired());
            CHECK(!outer_error);
            CHECK(!outer.expired());
            CHECK(eddy::current_task().cancelling() == 0);
        }());
    }

    TEST_CASE("nested scopes: the outer one expires while the inner one waits") {
        eddy::run([]() -> Coro<void> {
            eddy::Timeout outer = eddy::timeout(20ms);
            eddy::Timeout inner = eddy::timeout(3600s);
            bool inner_saw_cancel = false;
            std::exception_ptr outer_error =
                co_await error_of(outer.run([](eddy::Timeout in, bool& saw) -> Coro<void> {
                    try {
                        co_await in.run(eddy::sleep(10s));
                    } catch (const eddy::CancelledError&) {
                        saw = true; // the inner scope passed the CancelledError up
                        throw;
                    }
                }(inner, inner_saw_cancel)));
            CHECK(is<eddy::TimeoutError>(outer_error));
            CHECK(outer.expired());
            CHECK(inner_saw_cancel);
            CHECK(!inner.expired());
            CHECK(eddy::current_task().cancelling() == 0);
        }());
    }

    TEST_CASE("a cancellation from outside stays CancelledError inside a scope") {
        eddy::run([]() -> Coro<void> {
            Future<void> entered;
            Task<void> t = eddy::create_task(scoped_sleeper(entered));
            co_await entered;
            CHECK(t.cancel());
            std::exception_ptr e = co_await error_of(t);
            CHECK(is<eddy::CancelledError>(e));
            CHECK(!is<eddy::TimeoutError>(e));
            CHECK(t.cancelled());

            // Cancelled from outside and expired too, in either order: the scope's request is
            // not the only one, so CancelledError.
            for (bool expire_first : {true, false}) {
                // (No CAPTURE here: doctest's context stack is thread-local, and this
                // coroutine may resume on another worker.)
                Future<void> entered2;
                Future<void> caught;
                Task<void> t2 =
                    eddy::create_task(scope_cancelled_twice(entered2, caught, expire_first));
                co_await entered2;
                if (!expire_first) {
                    CHECK(t2.cancel());
                }
                co_await caught;
                if (expire_first) {
                    CHECK(t2.cancel());
                }
                std::exception_ptr e2 = co_await error_of(t2);
                CHECK_MESSAGE(is<eddy::CancelledError>(e2),
                              (expire_first ? "expiry first" : "cancel first"));
                CHECK(!is<eddy::TimeoutError>(e2));
                CHECK(t2.cancelled());
            }
        }());
    }

    TEST_CASE("cancelling() is restored after a scope expires") {
        eddy::run([]() -> Coro<void> {
            Task<> self = eddy::current_task();
            CHECK(self.cancelling() == 0);
            CHECK(is<eddy::TimeoutError>(co_await error_of(eddy::timeout(20ms, eddy::sleep(10s)))));
            CHECK(self.cancelling() == 0);
            co_await eddy::sleep(1ms);

            // A Task that swallowed an earlier cancellation (cancelling() == 1) still gets
            // TimeoutError from a scope that expires, and keeps its count.
            self.cancel();
            CHECK(is<eddy::CancelledError>(co_await error_of(eddy::sleep(10s))));
            CHECK(self.cancelling() == 1);
            CHECK(is<eddy::TimeoutError>(co_await error_of(eddy::timeout(20ms, eddy::sleep(10s)))));
            CHECK(self.cancelling() == 1);
            CHECK(self.uncancel() == 0);
            co_await eddy::sleep(1ms);

            // A body that turns the expiry into another error: that error, count restored.
            std::exception_ptr e = co_await error_of(eddy::timeout(20ms, []() -> Coro<void> {
                bool caught = false;
                try {
                    co_await eddy::sleep(10s);
                } catch (const eddy::CancelledError&) {
                    caught = true;
                }
                if (caught) {
                    throw eddy::ValueError("converted");
                }
            }));
            CHECK(is<eddy::ValueError>(e));
            CHECK(self.cancelling() == 0);
        }());
    }

    TEST_CASE("scopes stay correct when their Tasks move between workers (2 and 8 workers)") {
        for (unsigned workers : {2U, 8U}) {
            CAPTURE(workers);
            eddy::Runtime rt{eddy::Config{.workers = workers}};
            StressCounts c;
            constexpr int n = 400;
            rt.run(stress_main(n, c));
            CHECK(c.wrong.load() == 0);
            CHECK(c.timeouts.load() == n / 2);
            CHECK(c.values.load() == n / 2);
        }
    }
}
