// gather, wait, wait_for, as_completed and shield (compose.hpp), under eddy::run: ctest runs
// this binary again with EDDY_WORKERS=1 and 8, so the children really complete on several
// workers. Orderings come from futures the test sets itself; sleeps only let time pass where a
// timeout has to fire, with wide margins (20ms against 10s).

#include <doctest/doctest.h>

#include <eddy/eddy.hpp>

#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <exception>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>
#include <variant>
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
            (void)(co_await aw); // a Future / Task: read it, leave the value for others
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

/// What a cancellable child reports: that it started, whether it saw CancelledError, and
/// that it has ended (however). Shared, so a child outliving a failed check is harmless.
struct Probe {
    Future<void> started;
    Future<void> finished;
    std::atomic<bool> cancelled{false};
    std::atomic<bool> cleaned{false};
};
std::shared_ptr<Probe> probe() {
    return std::make_shared<Probe>();
}

/// Waits (at most 10s, so a bug cannot hang the suite) for `f`; true if it finished.
Coro<bool> finishes(Future<void> f) {
    std::vector<Future<void>> one{std::move(f)};
    auto r = co_await eddy::wait(one, {.timeout = 10s});
    co_return !r.done.empty();
}

Coro<int> value_after(int v, std::chrono::milliseconds d) {
    co_await eddy::sleep(d);
    co_return v;
}
Coro<int> value_when(Future<void> gate, int v) {
    co_await gate;
    co_return v;
}
Coro<int> yield_then(int v) {
    co_await eddy::yield_now();
    co_return v;
}
Coro<int> fail_when(Future<void> gate, std::string msg) {
    co_await gate;
    throw std::runtime_error(msg);
}
Coro<int> fail_after_yield(std::string msg) {
    co_await eddy::yield_now();
    throw std::runtime_error(msg);
}
Coro<void> nothing() {
    co_return;
}
Coro<void> set_after(Future<int> f, std::chrono::milliseconds d, int v) {
    co_await eddy::sleep(d);
    f.set_result(v);
}

Coro<void> set_string_soon(Future<std::string> f, std::string v) {
    co_await eddy::yield_now();
    f.set_result(std::move(v));
}
Coro<void> put_after(eddy::Queue<int>& q, std::chrono::milliseconds d, int v) {
    co_await eddy::sleep(d);
    q.put_nowait(v);
}

/// Waits for `gate`, reporting through `p`; sets `p->finished` when it ends either way.
Coro<int> probed(Future<void> gate, int v, std::shared_ptr<Probe> p) {
    p->started.set_result();
    bool cancelled = false;
    try {
        co_await gate;
    } catch (const eddy::CancelledError&) {
        cancelled = true;
    }
    p->cancelled = cancelled;
    p->finished.set_result();
    if (cancelled) {
        throw eddy::CancelledError();
    }
    co_return v;
}

/// Sleeps 10s; when cancelled, takes a while to clean up (sleeps again), then re-raises.
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
        p->finished.set_result();
        throw eddy::CancelledError();
    }
    p->finished.set_result();
    co_return 1;
}

Coro<std::exception_ptr> await_gather_of_two(std::shared_ptr<Probe> a, std::shared_ptr<Probe> b,
                                             Future<void> never) {
    (void)co_await eddy::gather(probed(never, 1, a), probed(never, 2, b));
    co_return nullptr;
}

Coro<int> wait_for_inside(Future<void> entered, Task<int> inner) {
    entered.set_result();
    co_return co_await eddy::wait_for(inner, 10s);
}

Coro<int> await_shielded(Future<void> entered, Task<int> inner) {
    entered.set_result();
    co_return co_await eddy::shield(inner);
}

Coro<eddy::WaitResult<Task<int>>> wait_inside(Future<void> entered, std::vector<Task<int>> ts,
                                              eddy::ReturnWhen when) {
    entered.set_result();
    co_return co_await eddy::wait(std::move(ts), {.return_when = when});
}

struct RaceCounts {
    std::atomic<int> raised{0};
    std::atomic<int> wrong{0};
};

/// gather with outcomes but without return_exceptions, a value and a failure completing at
/// the same moment on different workers: the failure must be raised every time.
Coro<void> outcome_race(int iterations, RaceCounts& c) {
    for (int i = 0; i < iterations; ++i) {
        std::exception_ptr e = co_await error_of(
            eddy::gather(eddy::GatherOptions{}, yield_then(3), fail_after_yield("raised")));
        (eddy::test::what(e) == "raised" ? c.raised : c.wrong).fetch_add(1);
    }
}
Coro<void> outcome_race_main(RaceCounts& c) {
    std::vector<Task<void>> tasks;
    for (int k = 0; k < 8; ++k) {
        tasks.push_back(eddy::create_task(outcome_race(250, c)));
    }
    for (auto& t : tasks) {
        co_await t;
    }
}

/// Lets the loops turn a few times (not a synchronisation: only to give a wrong
/// implementation the chance to act too early).
Coro<void> settle() {
    for (int i = 0; i < 20; ++i) {
        co_await eddy::yield_now();
    }
    co_await eddy::sleep(2ms);
}

} // namespace

TEST_SUITE("sync/gather") {
    TEST_CASE("gather returns results in argument order whatever the completion order") {
        eddy::run([]() -> Coro<void> {
            std::array<Future<void>, 3> gates;
            std::array<std::shared_ptr<Probe>, 3> probes{probe(), probe(), probe()};
            auto g = eddy::gather(probed(gates[0], 10, probes[0]), probed(gates[1], 20, probes[1]),
                                  probed(gates[2], 30, probes[2]));
            for (std::size_t i : {2U, 0U, 1U}) { // completes the last first
                gates[i].set_result();
                co_await probes[i]->finished;
            }
            auto r = co_await g;
            CHECK(r == std::tuple{10, 20, 30});

            // The range form: the later a child's index, the sooner it completes.
            std::vector<Coro<int>> coros;
            for (int i = 0; i < 8; ++i) {
                coros.push_back(value_after(i, std::chrono::milliseconds(8 - i)));
            }
            std::vector<int> v = co_await eddy::gather(coros);
            CHECK(v == std::vector<int>{0, 1, 2, 3, 4, 5, 6, 7});
        }());
    }

    TEST_CASE("gather takes Coros, Tasks and Futures together; void results are monostate") {
        eddy::run([]() -> Coro<void> {
            Task<int> t = eddy::create_task(value_after(2, 1ms));
            Future<std::string> f;
            Future<void> fv;
            auto g = eddy::gather(value_after(1, 2ms), t, f, fv, nothing());
            static_assert(
                std::is_same_v<
                    decltype(g),
                    Future<std::tuple<int, int, std::string, std::monostate, std::monostate>>>);
            CHECK(!g.done());
            f.set_result(std::string("a string long enough to be allocated on the heap"));
            fv.set_result();
            auto [a, b, c, d, e] = co_await g;
            CHECK(a == 1);
            CHECK(b == 2);
            CHECK(c == "a string long enough to be allocated on the heap");
            (void)d;
            (void)e;
            // Futures the caller passed in are copied from, not moved from.
            CHECK(f.result() == "a string long enough to be allocated on the heap");
            CHECK(t.result() == 2);
        }());
    }

    TEST_CASE("gather of a range of Tasks, of Futures, and with outcomes") {
        eddy::run([]() -> Coro<void> {
            std::vector<Task<int>> tasks;
            for (int i = 0; i < 5; ++i) {
                tasks.push_back(eddy::create_task(yield_then(i * 10)));
            }
            std::vector<int> v = co_await eddy::gather(tasks);
            CHECK(v == std::vector<int>{0, 10, 20, 30, 40});

            std::vector<Future<int>> futs(3);
            auto g = eddy::gather(futs);
            futs[2].set_result(2);
            futs[0].set_result(0);
            CHECK(!g.done());
            futs[1].set_result(1);
            std::vector<int> from_futures = co_await g;
            CHECK(from_futures == std::vector<int>{0, 1, 2});

            std::vector<Coro<int>> coros;
            coros.push_back(yield_then(5));
            coros.push_back(fail_after_yield("bad"));
            auto outs =
                co_await eddy::gather(coros, eddy::GatherOptions{.return_exceptions = true});
            REQUIRE(outs.size() == 2);
            CHECK(outs[0].has_value());
            CHECK(*outs[0] == 5);
            CHECK(outs[1].has_exception());
            CHECK(!outs[1].cancelled());
            CHECK(eddy::test::what(outs[1].exception()) == "bad");
        }());
    }

    TEST_CASE("gather of nothing is done at once") {
        eddy::run([]() -> Coro<void> {
            auto g0 = eddy::gather();
            CHECK(g0.done());
            std::tuple<> t0 = co_await g0;
            (void)t0;

            std::vector<Task<int>> none;
            auto g1 = eddy::gather(none);
            CHECK(g1.done());
            CHECK((co_await g1).empty());

            auto g2 = eddy::gather(none, eddy::GatherOptions{.return_exceptions = true});
            CHECK(g2.done());
            CHECK((co_await g2).empty());
        }());
    }

    TEST_CASE("the first exception is gather's; the other children keep running") {
        eddy::run([]() -> Coro<void> {
            Future<void> fail_gate;
            Future<void> slow_gate;
            auto p = probe();
            Task<int> slow_task = eddy::create_task(value_when(slow_gate, 7));
            auto g = eddy::gather(fail_when(fail_gate, "boom"), slow_task, probed(slow_gate, 8, p),
                                  fail_when(slow_gate, "later"));
            co_await p->started;
            fail_gate.set_result();
            std::exception_ptr e = co_await error_of(g);
            CHECK(is<std::runtime_error>(e));
            CHECK(eddy::test::what(e) == "boom");
            CHECK(eddy::current_task().cancelling() == 0);
            // Nothing was cancelled: the others finish when they can.
            CHECK(!slow_task.done());
            CHECK(!p->finished.done());
            slow_gate.set_result();
            CHECK((co_await slow_task) == 7);
            CHECK(co_await finishes(p->finished));
            CHECK(!p->cancelled);
            // A later failure does not replace the first one.
            co_await settle();
            CHECK(eddy::test::what(co_await error_of(g)) == "boom");
        }());
    }

    TEST_CASE("a cancelled child makes gather raise CancelledError; the others are untouched") {
        eddy::run([]() -> Coro<void> {
            Future<void> gate;
            auto p = probe();
            Task<void> victim = eddy::create_task(eddy::sleep(10s));
            Task<int> other = eddy::create_task(probed(gate, 5, p));
            auto g = eddy::gather(victim, other);
            co_await p->started;
            CHECK(victim.cancel("stop"));
            std::exception_ptr e = co_await error_of(g);
            CHECK(is<eddy::CancelledError>(e));
            CHECK(eddy::current_task().cancelling() == 0); // the awaiting Task was not cancelled
            CHECK(victim.cancelled());
            CHECK(!other.done());
            gate.set_result();
            CHECK((co_await other) == 5);
            CHECK(!p->cancelled);
        }());
    }

    TEST_CASE("return_exceptions returns every outcome, CancelledError included") {
        eddy::run([]() -> Coro<void> {
            Task<void> cancelled_task = eddy::create_task(eddy::sleep(10s));
            cancelled_task.cancel();
            auto [a, b, c, d] = co_await eddy::gather(
                eddy::GatherOptions{.return_exceptions = true}, value_after(1, 1ms),
                fail_after_yield("boom"), cancelled_task, nothing());
            CHECK(a.has_value());
            CHECK(a.value() == 1);
            CHECK(!a.cancelled());
            CHECK(b.has_exception());
            CHECK(!b.cancelled());
            CHECK(is<std::runtime_error>(b.exception()));
            CHECK_THROWS_AS(b.value(), std::runtime_error);
            CHECK(c.has_exception());
            CHECK(c.cancelled());
            CHECK(is<eddy::CancelledError>(c.exception()));
            static_assert(std::is_same_v<decltype(d), eddy::Outcome<void>>);
            CHECK(d.has_value());
            CHECK(!d.has_exception());

            // Outcomes without return_exceptions: the values, and the first error is raised.
            auto [x, y] =
                co_await eddy::gather(eddy::GatherOptions{}, yield_then(3), yield_then(4));
            CHECK(*x == 3);
            CHECK(*y == 4);
            auto e = co_await error_of(
                eddy::gather(eddy::GatherOptions{}, yield_then(3), fail_after_yield("raised")));
            CHECK(eddy::test::what(e) == "raised");
        }());
    }

    TEST_CASE(
        "with outcomes but without return_exceptions a failure is always raised (8 workers)") {
        eddy::Runtime rt{eddy::Config{.workers = 8}};
        RaceCounts c;
        rt.run(outcome_race_main(c));
        CHECK(c.wrong.load() == 0);
        CHECK(c.raised.load() == 8 * 250);
    }

    TEST_CASE("cancelling the gather future cancels every child") {
        eddy::run([]() -> Coro<void> {
            Future<void> never;
            auto p1 = probe();
            auto p2 = probe();
            auto g = eddy::gather(probed(never, 1, p1), probed(never, 2, p2));
            co_await p1->started;
            co_await p2->started;
            CHECK(g.cancel());
            CHECK(is<eddy::CancelledError>(co_await error_of(g)));
            CHECK(co_await finishes(p1->finished));
            CHECK(co_await finishes(p2->finished));
            CHECK(p1->cancelled);
            CHECK(p2->cancelled);
            CHECK(!g.cancel()); // done already
        }());
    }

    TEST_CASE("cancelling a gather with return_exceptions still raises CancelledError") {
        eddy::run([]() -> Coro<void> {
            // With Tasks (they finish cancelling later)...
            Future<void> never;
            auto p1 = probe();
            std::vector<Task<int>> tasks;
            tasks.push_back(eddy::create_task(probed(never, 1, p1)));
            auto g1 = eddy::gather(tasks, eddy::GatherOptions{.return_exceptions = true});
            co_await p1->started;
            CHECK(g1.cancel());
            CHECK(is<eddy::CancelledError>(co_await error_of(g1)));
            CHECK(tasks[0].cancelled());

            // ... and with a plain Future, whose cancellation completes it at once.
            Future<int> f;
            auto g2 = eddy::gather(eddy::GatherOptions{.return_exceptions = true}, f);
            CHECK(g2.cancel());
            CHECK(f.cancelled());
            CHECK(is<eddy::CancelledError>(co_await error_of(g2)));
        }());
    }

    TEST_CASE("cancelling the Task that awaits gather cancels the children") {
        eddy::run([]() -> Coro<void> {
            Future<void> never;
            auto p1 = probe();
            auto p2 = probe();
            Task<std::exception_ptr> w = eddy::create_task(await_gather_of_two(p1, p2, never));
            co_await p1->started;
            co_await p2->started;
            CHECK(w.cancel());
            CHECK(is<eddy::CancelledError>(co_await error_of(w)));
            CHECK(w.cancelled());
            CHECK(co_await finishes(p1->finished));
            CHECK(co_await finishes(p2->finished));
            CHECK(p1->cancelled);
            CHECK(p2->cancelled);
        }());
    }

    TEST_CASE("gather of 10,000 Tasks and of 10,000 Coros across the workers") {
        eddy::run([]() -> Coro<void> {
            constexpr int n = 10'000;
            std::vector<Task<int>> tasks;
            tasks.reserve(n);
            for (int i = 0; i < n; ++i) {
                tasks.push_back(eddy::create_task(yield_then(i)));
            }
            std::vector<int> v = co_await eddy::gather(tasks);
            REQUIRE(v.size() == static_cast<std::size_t>(n));
            bool in_order = true;
            for (int i = 0; i < n; ++i) {
                in_order = in_order && v[static_cast<std::size_t>(i)] == i;
            }
            CHECK(in_order);

            std::vector<Coro<int>> coros;
            coros.reserve(n);
            for (int i = 0; i < n; ++i) {
                coros.push_back(yield_then(i));
            }
            auto outs =
                co_await eddy::gather(coros, eddy::GatherOptions{.return_exceptions = true});
            REQUIRE(outs.size() == static_cast<std::size_t>(n));
            bool all_values = true;
            for (int i = 0; i < n; ++i) {
                const auto& o = outs[static_cast<std::size_t>(i)];
                all_values = all_values && o.has_value() && o.value() == i;
            }
            CHECK(all_values);
        }());
    }
}

TEST_SUITE("sync/wait") {
    TEST_CASE("wait ALL_COMPLETED returns when every input is done") {
        eddy::run([]() -> Coro<void> {
            std::array<Future<void>, 3> gates;
            std::vector<Task<int>> tasks;
            for (int i = 0; i < 3; ++i) {
                tasks.push_back(
                    eddy::create_task(value_when(gates[static_cast<std::size_t>(i)], i)));
            }
            Future<void> entered;
            auto w = eddy::create_task(wait_inside(entered, tasks, eddy::ALL_COMPLETED));
            co_await entered;
            gates[0].set_result();
            gates[2].set_result();
            co_await tasks[0];
            co_await tasks[2];
            co_await settle();
            CHECK(!w.done());
            gates[1].set_result();
            auto [done, pending] = co_await w;
            CHECK(done.size() == 3);
            CHECK(pending.empty());
            CHECK(done == tasks); // input order
        }());
    }

    TEST_CASE("wait FIRST_COMPLETED returns at the first completion") {
        eddy::run([]() -> Coro<void> {
            std::array<Future<void>, 3> gates;
            std::vector<Task<int>> tasks;
            for (std::size_t i = 0; i < 3; ++i) {
                tasks.push_back(eddy::create_task(value_when(gates[i], static_cast<int>(i))));
            }
            gates[1].set_result();
            auto [done, pending] =
                co_await eddy::wait(tasks, {.return_when = eddy::FIRST_COMPLETED});
            REQUIRE(done.size() == 1);
            CHECK(done[0] == tasks[1]);
            CHECK(done[0].result() == 1);
            REQUIRE(pending.size() == 2);
            CHECK(pending[0] == tasks[0]);
            CHECK(pending[1] == tasks[2]);
            CHECK(!tasks[0].cancelled());
            gates[0].set_result();
            gates[2].set_result();
            CHECK((co_await tasks[0]) == 0);
            CHECK((co_await tasks[2]) == 2);
        }());
    }

    TEST_CASE("wait FIRST_EXCEPTION returns at the first error; done and pending in input order") {
        eddy::run([]() -> Coro<void> {
            std::array<Future<void>, 5> gates;
            std::vector<Task<int>> tasks;
            for (std::size_t i = 0; i < 5; ++i) {
                tasks.push_back(eddy::create_task(i == 3
                                                      ? fail_when(gates[i], "three")
                                                      : value_when(gates[i], static_cast<int>(i))));
            }
            Future<void> entered;
            auto w = eddy::create_task(wait_inside(entered, tasks, eddy::FIRST_EXCEPTION));
            co_await entered;
            gates[4].set_result();
            co_await tasks[4];
            gates[1].set_result();
            co_await tasks[1];
            co_await settle();
            CHECK(!w.done());
            gates[3].set_result();
            auto [done, pending] = co_await w;
            REQUIRE(done.size() == 3);
            CHECK(done[0] == tasks[1]);
            CHECK(done[1] == tasks[3]);
            CHECK(done[2] == tasks[4]);
            REQUIRE(pending.size() == 2);
            CHECK(pending[0] == tasks[0]);
            CHECK(pending[1] == tasks[2]);
            CHECK(eddy::test::what(tasks[3].exception()) == "three");
            gates[0].set_result();
            gates[2].set_result();
            co_await tasks[0];
            co_await tasks[2];
        }());
    }

    TEST_CASE("wait FIRST_EXCEPTION ignores cancellations and without errors waits for all") {
        eddy::run([]() -> Coro<void> {
            std::array<Future<void>, 3> gates;
            std::vector<Task<int>> tasks;
            for (std::size_t i = 0; i < 3; ++i) {
                tasks.push_back(eddy::create_task(value_when(gates[i], static_cast<int>(i))));
            }
            Future<void> entered;
            auto w = eddy::create_task(wait_inside(entered, tasks, eddy::FIRST_EXCEPTION));
            co_await entered;
            tasks[0].cancel();
            gates[1].set_result();
            co_await error_of(tasks[0]);
            co_await tasks[1];
            co_await settle();
            CHECK(!w.done());
            gates[2].set_result();
            auto [done, pending] = co_await w;
            CHECK(done.size() == 3);
            CHECK(pending.empty());
            CHECK(done[0].cancelled());
        }());
    }

    TEST_CASE("wait with a timeout returns the pending inputs without cancelling them") {
        eddy::run([]() -> Coro<void> {
            std::array<Future<void>, 3> gates;
            std::vector<Task<int>> tasks;
            for (std::size_t i = 0; i < 3; ++i) {
                tasks.push_back(eddy::create_task(value_when(gates[i], static_cast<int>(i))));
            }
            gates[2].set_result();
            co_await tasks[2];
            auto [done, pending] = co_await eddy::wait(tasks, {.timeout = 20ms});
            REQUIRE(done.size() == 1);
            CHECK(done[0] == tasks[2]);
            REQUIRE(pending.size() == 2);
            CHECK(pending[0] == tasks[0]);
            CHECK(pending[1] == tasks[1]);
            CHECK(!tasks[0].done());
            CHECK(!tasks[1].done());
            CHECK(eddy::current_task().cancelling() == 0);
            gates[0].set_result();
            gates[1].set_result();
            CHECK((co_await tasks[0]) == 0);
            CHECK((co_await tasks[1]) == 1);
        }());
    }

    TEST_CASE("wait with a zero timeout partitions what is done now") {
        eddy::run([]() -> Coro<void> {
            Future<int> ready;
            ready.set_result(1);
            Future<int> not_ready;
            std::vector<Future<int>> fs{not_ready, ready};
            auto [done, pending] = co_await eddy::wait(fs, {.timeout = 0s});
            REQUIRE(done.size() == 1);
            CHECK(done[0] == ready);
            REQUIRE(pending.size() == 1);
            CHECK(pending[0] == not_ready);
            CHECK(!not_ready.done());
            not_ready.set_result(2); // still usable: nothing cancelled it
        }());
    }

    TEST_CASE("wait on nothing throws ValueError") {
        eddy::run([]() -> Coro<void> {
            std::vector<Task<int>> none;
            CHECK(is<eddy::ValueError>(co_await error_of(eddy::wait(none))));
            CHECK(is<eddy::ValueError>(
                co_await error_of(eddy::wait(std::vector<Future<void>>{}, {.timeout = 1s}))));
        }());
    }

    TEST_CASE("wait on inputs that are all done returns them at once") {
        eddy::run([]() -> Coro<void> {
            std::vector<Task<int>> tasks;
            for (int i = 0; i < 3; ++i) {
                tasks.push_back(eddy::create_task(yield_then(i)));
            }
            for (auto& t : tasks) {
                co_await t;
            }
            for (auto when : {eddy::ALL_COMPLETED, eddy::FIRST_COMPLETED, eddy::FIRST_EXCEPTION}) {
                auto [done, pending] = co_await eddy::wait(tasks, {.return_when = when});
                CHECK(done == tasks);
                CHECK(pending.empty());
            }
        }());
    }

    TEST_CASE("cancelling the Task in wait does not cancel the inputs") {
        eddy::run([]() -> Coro<void> {
            std::array<Future<void>, 2> gates;
            std::vector<Task<int>> tasks;
            for (std::size_t i = 0; i < 2; ++i) {
                tasks.push_back(eddy::create_task(value_when(gates[i], static_cast<int>(i))));
            }
            Future<void> entered;
            auto w = eddy::create_task(wait_inside(entered, tasks, eddy::ALL_COMPLETED));
            co_await entered;
            CHECK(w.cancel());
            CHECK(is<eddy::CancelledError>(co_await error_of(w)));
            CHECK(w.cancelled());
            CHECK(!tasks[0].done());
            CHECK(!tasks[1].done());
            gates[0].set_result();
            gates[1].set_result();
            CHECK((co_await tasks[0]) == 0);
            CHECK((co_await tasks[1]) == 1);
        }());
    }
}

TEST_SUITE("sync/wait_for") {
    TEST_CASE("wait_for returns the value of a Coro, a Task or a Future") {
        eddy::run([]() -> Coro<void> {
            CHECK((co_await eddy::wait_for(value_after(5, 1ms), 10s)) == 5);
            Task<int> t = eddy::create_task(yield_then(6));
            CHECK((co_await eddy::wait_for(t, 10s)) == 6);
            Future<std::string> f;
            auto setter = eddy::create_task(set_string_soon(f, "seven"));
            CHECK((co_await eddy::wait_for(f, std::optional<double>(10.0))) == "seven");
            CHECK(f.result() == "seven"); // copied, not moved out
            co_await setter;
        }());
    }

    TEST_CASE("on timeout wait_for cancels the inner Coro, waits for it, then raises") {
        eddy::run([]() -> Coro<void> {
            auto p = probe();
            std::exception_ptr e = co_await error_of(eddy::wait_for(slow_cleanup(p), 20ms));
            CHECK(is<eddy::TimeoutError>(e));
            CHECK(p->cancelled);
            CHECK(p->cleaned); // its clean-up was over before TimeoutError arrived
            CHECK(eddy::current_task().cancelling() == 0);
            co_await eddy::yield_now(); // and this Task is not left cancelled
        }());
    }

    TEST_CASE("on timeout wait_for cancels the inner Task and waits until it has finished") {
        eddy::run([]() -> Coro<void> {
            auto p = probe();
            Task<int> inner = eddy::create_task(slow_cleanup(p));
            std::exception_ptr e = co_await error_of(eddy::wait_for(inner, 20ms));
            CHECK(is<eddy::TimeoutError>(e));
            CHECK(p->cleaned);
            CHECK(inner.done());
            CHECK(inner.cancelled());
            CHECK(eddy::current_task().cancelling() == 0);
        }());
    }

    TEST_CASE("wait_for with a zero timeout: a done future's result, else TimeoutError") {
        eddy::run([]() -> Coro<void> {
            Future<int> ready;
            ready.set_result(4);
            CHECK((co_await eddy::wait_for(ready, 0s)) == 4);
            CHECK((co_await eddy::wait_for(ready, std::optional<double>(0.0))) == 4);
            CHECK(ready.result() == 4);
            Task<int> done_task = eddy::create_task(yield_then(3));
            co_await done_task;
            CHECK((co_await eddy::wait_for(done_task, 0s)) == 3);

            Future<void> failed;
            failed.set_exception(std::make_exception_ptr(std::runtime_error("failed")));
            CHECK(eddy::test::what(co_await error_of(eddy::wait_for(failed, 0s))) == "failed");

            // Pending: cancelled, awaited until it has finished cancelling, TimeoutError.
            auto p = probe();
            Task<int> inner = eddy::create_task(slow_cleanup(p));
            co_await p->started;
            CHECK(is<eddy::TimeoutError>(co_await error_of(eddy::wait_for(inner, 0s))));
            CHECK(inner.cancelled());
            CHECK(p->cleaned);

            Future<int> pending;
            CHECK(is<eddy::TimeoutError>(
                co_await error_of(eddy::wait_for(pending, std::optional<double>(-1.0)))));
            CHECK(pending.cancelled());
            CHECK(eddy::current_task().cancelling() == 0);
        }());
    }

    TEST_CASE("wait_for with std::nullopt waits as long as it takes") {
        eddy::run([]() -> Coro<void> {
            Future<int> f;
            auto setter = eddy::create_task(set_after(f, 50ms, 6));
            CHECK((co_await eddy::wait_for(f, std::nullopt)) == 6);
            co_await setter;
        }());
    }

    TEST_CASE("wait_for passes the inner exception through") {
        eddy::run([]() -> Coro<void> {
            std::exception_ptr e =
                co_await error_of(eddy::wait_for(fail_after_yield("inner"), 10s));
            CHECK(is<std::runtime_error>(e));
            CHECK(!is<eddy::TimeoutError>(e));
            CHECK(eddy::test::what(e) == "inner");
        }());
    }

    TEST_CASE("cancelling the Task in wait_for raises CancelledError, not TimeoutError") {
        eddy::run([]() -> Coro<void> {
            auto p = probe();
            Task<int> inner = eddy::create_task(slow_cleanup(p));
            Future<void> entered;
            Task<int> outer = eddy::create_task(wait_for_inside(entered, inner));
            co_await entered;
            co_await p->started;
            CHECK(outer.cancel());
            std::exception_ptr e = co_await error_of(outer);
            CHECK(is<eddy::CancelledError>(e));
            CHECK(!is<eddy::TimeoutError>(e));
            CHECK(outer.cancelled());
            CHECK(inner.cancelled()); // the cancellation went through to the awaited Task
            CHECK(p->cleaned);
        }());
    }

    TEST_CASE("wait_for on queue.get() and event.wait()") {
        eddy::run([]() -> Coro<void> {
            eddy::Queue<int> q;
            CHECK(is<eddy::TimeoutError>(co_await error_of(eddy::wait_for(q.get(), 20ms))));
            q.put_nowait(1); // the cancelled get took nothing
            CHECK(q.qsize() == 1);
            CHECK((co_await eddy::wait_for(q.get(), 10s)) == 1);
            auto putter = eddy::create_task(put_after(q, 5ms, 2));
            CHECK((co_await eddy::wait_for(q.get(), 10s)) == 2);
            co_await putter;

            eddy::Event ev;
            CHECK(is<eddy::TimeoutError>(co_await error_of(eddy::wait_for(ev.wait(), 20ms))));
            ev.set();
            CHECK((co_await eddy::wait_for(ev.wait(), 10s)) == true);
            CHECK(eddy::current_task().cancelling() == 0);
        }());
    }
}

TEST_SUITE("sync/as_completed") {
    TEST_CASE("as_completed yields results in completion order") {
        eddy::run([]() -> Coro<void> {
            std::array<Future<void>, 3> gates;
            std::vector<Task<int>> tasks;
            for (std::size_t i = 0; i < 3; ++i) {
                tasks.push_back(eddy::create_task(value_when(gates[i], static_cast<int>(i) * 10)));
            }
            const std::array<std::size_t, 3> order{2, 0, 1};
            std::vector<int> got;
            std::size_t k = 0;
            auto ac = eddy::as_completed(tasks);
            CHECK(ac.size() == 3);
            for (auto next : ac) {
                gates[order[k++]].set_result();
                got.push_back(co_await next);
            }
            CHECK(got == std::vector<int>{20, 0, 10});

            // Coros: made Tasks; a failure is delivered by the element that completed with it.
            std::array<Future<void>, 2> g2;
            std::vector<Coro<int>> coros;
            coros.push_back(value_when(g2[0], 1));
            coros.push_back(fail_when(g2[1], "second"));
            std::vector<std::string> seen;
            std::size_t j = 0;
            for (auto next : eddy::as_completed(coros)) {
                g2[1 - j++].set_result(); // the failing one first
                std::exception_ptr e = co_await error_of(std::move(next));
                seen.push_back(e ? eddy::test::what(e) : "value");
            }
            CHECK(seen == std::vector<std::string>{"second", "value"});
        }());
    }

    TEST_CASE("as_completed with a timeout raises TimeoutError for what is left") {
        eddy::run([]() -> Coro<void> {
            Future<void> never;
            std::vector<Task<int>> tasks;
            tasks.push_back(eddy::create_task(value_when(never, 1)));
            tasks.push_back(eddy::create_task(yield_then(2)));
            tasks.push_back(eddy::create_task(value_when(never, 3)));
            co_await tasks[1];
            std::vector<std::string> seen;
            for (auto next : eddy::as_completed(tasks, {.timeout = 20ms})) {
                std::exception_ptr e = co_await error_of(std::move(next));
                if (!e) {
                    seen.emplace_back("value");
                } else if (is<eddy::TimeoutError>(e)) {
                    seen.emplace_back("timeout");
                } else {
                    seen.push_back(eddy::test::what(e));
                }
            }
            CHECK(seen == std::vector<std::string>{"value", "timeout", "timeout"});
            CHECK(!tasks[0].done()); // as_completed does not cancel
            CHECK(!tasks[2].done());
            CHECK(eddy::current_task().cancelling() == 0);
            tasks[0].cancel();
            tasks[2].cancel();
            co_await error_of(tasks[0]);
            co_await error_of(tasks[2]);
        }());
    }
}

TEST_SUITE("sync/shield") {
    TEST_CASE("cancelling the Task awaiting shield does not cancel the inner Task") {
        eddy::run([]() -> Coro<void> {
            Future<void> gate;
            Task<int> inner = eddy::create_task(value_when(gate, 5));
            Future<void> entered;
            Task<int> outer = eddy::create_task(await_shielded(entered, inner));
            co_await entered;
            CHECK(outer.cancel());
            CHECK(is<eddy::CancelledError>(co_await error_of(outer)));
            CHECK(outer.cancelled());
            CHECK(!inner.done());
            gate.set_result();
            CHECK((co_await inner) == 5);
            CHECK(inner.result() == 5);
        }());
    }

    TEST_CASE("cancelling the shield future leaves the inner running") {
        eddy::run([]() -> Coro<void> {
            Future<void> gate;
            auto p = probe();
            auto s = eddy::shield(probed(gate, 8, p)); // a Coro: shield makes it a Task
            co_await p->started;
            CHECK(s.cancel());
            CHECK(is<eddy::CancelledError>(co_await error_of(s)));
            gate.set_result();
            CHECK(co_await finishes(p->finished));
            CHECK(!p->cancelled);
        }());
    }

    TEST_CASE("a cancelled inner cancels the shield; results and errors pass through") {
        eddy::run([]() -> Coro<void> {
            Task<void> inner = eddy::create_task(eddy::sleep(10s));
            auto s = eddy::shield(inner);
            inner.cancel();
            CHECK(is<eddy::CancelledError>(co_await error_of(s)));
            CHECK(s.cancelled());
            CHECK(eddy::current_task().cancelling() == 0);

            CHECK((co_await eddy::shield(value_after(9, 1ms))) == 9);
            CHECK(eddy::test::what(co_await error_of(eddy::shield(fail_after_yield("x")))) == "x");
            Task<int> done = eddy::create_task(yield_then(3));
            co_await done;
            CHECK((co_await eddy::shield(done)) == 3);
        }());
    }
}
