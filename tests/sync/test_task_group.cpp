// TaskGroup (task_group.hpp): the plain form (create_task + join) and the task_group(body)
// form. Children run on every worker (ctest runs this binary with EDDY_WORKERS=1 and 8).
// Orderings come from futures; "never" is a 10s sleep that a correct group cancels at once.

#include <doctest/doctest.h>

#include <eddy/eddy.hpp>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <memory>
#include <mutex>
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

/// The messages of an ExceptionGroup's errors, in order; {"not a group: <what>"} otherwise.
std::vector<std::string> group_messages(const std::exception_ptr& e) {
    try {
        if (e) {
            std::rethrow_exception(e);
        }
    } catch (const eddy::ExceptionGroup& g) {
        std::vector<std::string> out;
        for (const auto& x : g.exceptions()) {
            out.push_back(eddy::test::what(x));
        }
        return out;
    } catch (...) {
        return {"not a group: " + eddy::test::what(e)};
    }
    return {"no error"};
}

struct Probe {
    Future<void> started;
    std::atomic<bool> ran{false};
    std::atomic<bool> cancelled{false};
    std::atomic<bool> cleaned{false};
};
std::shared_ptr<Probe> probe() {
    return std::make_shared<Probe>();
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
Coro<int> open_gate_then(Future<void> gate, int v) {
    for (int i = 0; i < 5; ++i) {
        co_await eddy::yield_now();
    }
    gate.set_result();
    co_return v;
}
Coro<int> mark_ran(std::shared_ptr<Probe> p) {
    p->ran = true;
    co_return 0;
}

/// Sleeps 10s; when cancelled, cleans up for a while (another sleep), then re-raises.
Coro<int> slow_cleanup(std::shared_ptr<Probe> p) {
    p->ran = true;
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

/// Sleeps 10s; when cancelled, fails with `msg` instead.
Coro<int> fail_when_cancelled(std::shared_ptr<Probe> p, std::string msg) {
    p->started.set_result();
    bool cancelled = false;
    try {
        co_await eddy::sleep(10s);
    } catch (const eddy::CancelledError&) {
        cancelled = true;
    }
    p->cancelled = cancelled;
    if (cancelled) {
        throw std::runtime_error(msg);
    }
    co_return 0;
}

/// Sleeps 10s; when cancelled, tries to add a child to the group (which is aborting).
Coro<int> spawn_when_cancelled(eddy::TaskGroup& tg, std::shared_ptr<Probe> p,
                               std::shared_ptr<Probe> would_be_child, std::atomic<int>& refused) {
    p->started.set_result();
    bool cancelled = false;
    try {
        co_await eddy::sleep(10s);
    } catch (const eddy::CancelledError&) {
        cancelled = true;
    }
    if (cancelled) {
        try {
            tg.create_task(mark_ran(would_be_child));
        } catch (const eddy::RuntimeError&) {
            refused.fetch_add(1);
        }
        throw eddy::CancelledError();
    }
    co_return 0;
}

/// A child that adds `fanout` children of its own, `depth` levels down; counts every Task.
Coro<int> spawner(eddy::TaskGroup& tg, int depth, int fanout, std::atomic<int>& count) {
    count.fetch_add(1);
    co_await eddy::yield_now();
    if (depth > 0) {
        for (int i = 0; i < fanout; ++i) {
            tg.create_task(spawner(tg, depth - 1, fanout, count));
        }
    }
    co_return depth;
}

/// A parent whose two children clean up slowly when cancelled; waits in join().
Coro<void> parent_in_join(std::shared_ptr<Probe> p1, std::shared_ptr<Probe> p2,
                          Future<void> entered) {
    eddy::TaskGroup tg;
    tg.create_task(slow_cleanup(p1));
    tg.create_task(slow_cleanup(p2));
    entered.set_result();
    co_await tg.join();
}

/// A parent in task_group(body) whose body and child both wait; cancelled from outside.
Coro<void> parent_in_body(std::shared_ptr<Probe> child, Future<void> entered) {
    // A named lambda, moved in: passed as a prvalue straight into the co_await, its by-value
    // captures are released twice under g++ 12 (TSan: heap-use-after-free when the Task is
    // cancelled), apparently a compiler bug with temporaries that live across a co_await.
    auto body = [child, entered](eddy::TaskGroup& tg) mutable -> Coro<void> {
        tg.create_task(slow_cleanup(child));
        entered.set_result();
        co_await eddy::sleep(10s);
    };
    co_await eddy::task_group(std::move(body));
}

struct RaceCounts {
    std::atomic<int> good{0};
    std::atomic<int> bad{0};
    std::mutex mu;
    std::string first_bad; // guarded by mu
};

/// task_group(body) whose child fails while the body finishes: the group's cancellation of
/// the parent and the parent's exit race. Whatever the interleaving, the parent must come out
/// with the ExceptionGroup and not be cancelled afterwards.
Coro<void> race_body_end(int iterations, int yields, RaceCounts& c) {
    for (int i = 0; i < iterations; ++i) {
        std::exception_ptr e =
            co_await error_of(eddy::task_group([yields](eddy::TaskGroup& tg) -> Coro<void> {
                tg.create_task(fail_after_yield("child"));
                for (int k = 0; k < yields; ++k) {
                    co_await eddy::yield_now();
                }
            }));
        std::exception_ptr after = co_await error_of(eddy::yield_now());
        const bool ok = group_messages(e) == std::vector<std::string>{"child"} && !after &&
                        eddy::current_task().cancelling() == 0;
        (ok ? c.good : c.bad).fetch_add(1);
        if (!ok) {
            std::lock_guard guard(c.mu);
            if (c.first_bad.empty()) {
                c.first_bad = "iteration " + std::to_string(i) + ": group " +
                              group_messages(e).front() + ", after: " + eddy::test::what(after) +
                              ", cancelling " + std::to_string(eddy::current_task().cancelling());
            }
        }
        if (!ok) {
            // Do not let a stray cancellation leak into the next iteration.
            while (eddy::current_task().uncancel() > 0) {
            }
        }
    }
}

Coro<void> race_main(RaceCounts& c) {
    std::vector<Task<void>> tasks;
    for (int k = 0; k < 8; ++k) {
        tasks.push_back(eddy::create_task(race_body_end(400, k % 4, c)));
    }
    for (auto& t : tasks) {
        co_await error_of(t);
    }
}

} // namespace

TEST_SUITE("sync/task_group") {
    TEST_CASE("join waits for every child; results come through the Task handles") {
        eddy::run([]() -> Coro<void> {
            Future<void> gate;
            eddy::TaskGroup tg;
            Task<int> a = tg.create_task(value_after(1, 5ms));
            Task<int> b = tg.create_task(value_when(gate, 2)); // waits for c
            Task<int> c = tg.create_task(open_gate_then(gate, 3));
            co_await tg.join();
            CHECK(a.done());
            CHECK(b.done());
            CHECK(c.done());
            CHECK(a.result() + b.result() + c.result() == 6);

            Task<int> d;
            co_await eddy::task_group([&d](eddy::TaskGroup& g) -> Coro<void> {
                d = g.create_task(value_after(4, 5ms));
                co_return;
            });
            CHECK(d.done());
            CHECK(d.result() == 4);
        }());
    }

    TEST_CASE("the first failure cancels the siblings; join raises an ExceptionGroup") {
        eddy::run([]() -> Coro<void> {
            auto p1 = probe();
            auto p2 = probe();
            eddy::TaskGroup tg;
            Task<int> s1 = tg.create_task(slow_cleanup(p1));
            Task<int> s2 = tg.create_task(slow_cleanup(p2));
            co_await p1->started;
            co_await p2->started;
            tg.create_task(fail_after_yield("boom"));
            std::exception_ptr e = co_await error_of(tg.join());
            CHECK(group_messages(e) == std::vector<std::string>{"boom"});
            CHECK(is<eddy::ExceptionGroup>(e));
            CHECK(eddy::test::what(e) == "unhandled errors in a TaskGroup (1 sub-exception)");
            // Every sibling saw CancelledError and had finished cleaning up before join ended.
            CHECK(p1->cancelled);
            CHECK(p2->cancelled);
            CHECK(p1->cleaned);
            CHECK(p2->cleaned);
            CHECK(s1.cancelled());
            CHECK(s2.cancelled());
            CHECK(eddy::current_task().cancelling() == 0);
        }());
    }

    TEST_CASE("every failure is in the ExceptionGroup, in the order they happened") {
        eddy::run([]() -> Coro<void> {
            auto p = probe();
            Future<void> gate;
            eddy::TaskGroup tg;
            // Created first, fails second: it fails because the first failure cancelled it.
            Task<int> second = tg.create_task(fail_when_cancelled(p, "second"));
            Task<int> first = tg.create_task(fail_when(gate, "first"));
            co_await p->started;
            gate.set_result();
            std::exception_ptr e = co_await error_of(tg.join());
            CHECK(group_messages(e) == std::vector<std::string>{"first", "second"});
            CHECK(eddy::test::what(e) == "unhandled errors in a TaskGroup (2 sub-exceptions)");
            CHECK(p->cancelled);
            CHECK(!second.cancelled());
            CHECK(!first.cancelled());
        }());
    }

    TEST_CASE("a cancelled child adds nothing and does not stop the others") {
        eddy::run([]() -> Coro<void> {
            auto p = probe();
            Future<void> gate;
            eddy::TaskGroup tg;
            Task<int> victim = tg.create_task(slow_cleanup(p));
            Task<int> other = tg.create_task(value_when(gate, 5));
            co_await p->started;
            victim.cancel();
            co_await error_of(victim);
            CHECK(victim.cancelled());
            gate.set_result();
            std::exception_ptr e = co_await error_of(tg.join());
            CHECK(!e);
            CHECK(other.result() == 5);
        }());
    }

    TEST_CASE("create_task after join raises RuntimeError and does not run the Coro") {
        eddy::run([]() -> Coro<void> {
            eddy::TaskGroup tg;
            tg.create_task(yield_then(1));
            co_await tg.join();
            auto p = probe();
            CHECK_THROWS_AS(tg.create_task(mark_ran(p)), eddy::RuntimeError);
            co_await eddy::sleep(1ms);
            CHECK(!p->ran);
            CHECK(is<eddy::RuntimeError>(co_await error_of(tg.join()))); // joined once

            eddy::TaskGroup empty;
            co_await empty.join(); // nothing to wait for
            CHECK_THROWS_AS(empty.create_task(mark_ran(p)), eddy::RuntimeError);
        }());
    }

    TEST_CASE("create_task while the group is aborting raises RuntimeError") {
        eddy::run([]() -> Coro<void> {
            auto p = probe();
            auto never_child = probe();
            auto late = probe();
            std::atomic<int> refused{0};
            eddy::TaskGroup tg;
            tg.create_task(spawn_when_cancelled(tg, p, never_child, refused));
            co_await p->started;
            Task<int> f = tg.create_task(fail_after_yield("boom"));
            std::vector<Task<int>> fv{f};
            co_await eddy::wait(fv); // the parent of a plain group is not cancelled
            CHECK_THROWS_AS(tg.create_task(mark_ran(late)), eddy::RuntimeError);
            std::exception_ptr e = co_await error_of(tg.join());
            CHECK(group_messages(e) == std::vector<std::string>{"boom"});
            CHECK(refused.load() == 1); // the sibling tried from its cancellation handler
            CHECK(!never_child->ran);
            CHECK(!late->ran);
        }());
    }

    TEST_CASE("cancelling the parent in join cancels the children, waits, and re-raises") {
        eddy::run([]() -> Coro<void> {
            auto p1 = probe();
            auto p2 = probe();
            Future<void> entered;
            Task<void> parent = eddy::create_task(parent_in_join(p1, p2, entered));
            co_await entered;
            co_await p1->started;
            co_await p2->started;
            CHECK(parent.cancel());
            std::exception_ptr e = co_await error_of(parent);
            CHECK(is<eddy::CancelledError>(e));
            CHECK(parent.cancelled());
            CHECK(p1->cleaned); // the parent ended only after its children had
            CHECK(p2->cleaned);
        }());
    }

    TEST_CASE("cancelling the parent of task_group(body) cancels body and children") {
        eddy::run([]() -> Coro<void> {
            auto child = probe();
            Future<void> entered;
            Task<void> parent = eddy::create_task(parent_in_body(child, entered));
            co_await entered;
            co_await child->started;
            CHECK(parent.cancel());
            std::exception_ptr e = co_await error_of(parent);
            CHECK(is<eddy::CancelledError>(e));
            CHECK(parent.cancelled());
            CHECK(child->cleaned);
        }());
    }

    TEST_CASE("children can add children to the group; join waits for all of them") {
        eddy::run([]() -> Coro<void> {
            std::atomic<int> count{0};
            eddy::TaskGroup tg;
            tg.create_task(spawner(tg, 3, 4, count)); // 1 + 4 + 16 + 64
            tg.create_task(spawner(tg, 2, 3, count)); // 1 + 3 + 9
            co_await tg.join();
            CHECK(count.load() == 85 + 13);
        }());
    }

    TEST_CASE(
        "task_group(body): a child failure interrupts the body, which is not left cancelled") {
        eddy::run([]() -> Coro<void> {
            auto sibling = probe();
            bool body_cancelled = false;
            std::exception_ptr e =
                co_await error_of(eddy::task_group([&](eddy::TaskGroup& tg) -> Coro<void> {
                    tg.create_task(slow_cleanup(sibling));
                    tg.create_task(fail_after_yield("child"));
                    try {
                        co_await eddy::sleep(10s);
                    } catch (const eddy::CancelledError&) {
                        body_cancelled = true;
                        throw;
                    }
                }));
            CHECK(group_messages(e) == std::vector<std::string>{"child"});
            CHECK(body_cancelled);
            CHECK(sibling->cleaned);
            CHECK(eddy::current_task().cancelling() == 0);
            CHECK(!(co_await error_of(eddy::sleep(1ms)))); // the parent keeps awaiting
            CHECK((co_await value_after(7, 1ms)) == 7);
        }());
    }

    TEST_CASE("task_group(body): the body's exception is in the ExceptionGroup") {
        eddy::run([]() -> Coro<void> {
            // The body fails by itself: its error, and the children are cancelled.
            auto child = probe();
            std::exception_ptr e =
                co_await error_of(eddy::task_group([&](eddy::TaskGroup& tg) -> Coro<void> {
                    tg.create_task(slow_cleanup(child));
                    co_await child->started;
                    throw eddy::ValueError("body");
                }));
            CHECK(group_messages(e) == std::vector<std::string>{"body"});
            CHECK(child->cancelled);
            CHECK(child->cleaned);

            // A child fails first; the body turns its cancellation into an error: both, the
            // body's last.
            e = co_await error_of(eddy::task_group([&](eddy::TaskGroup& tg) -> Coro<void> {
                tg.create_task(fail_after_yield("child"));
                bool cancelled = false;
                try {
                    co_await eddy::sleep(10s);
                } catch (const eddy::CancelledError&) {
                    cancelled = true;
                }
                if (cancelled) {
                    throw eddy::ValueError("body");
                }
            }));
            CHECK(group_messages(e) == std::vector<std::string>{"child", "body"});
            CHECK(eddy::current_task().cancelling() == 0);
            co_await eddy::sleep(1ms);
        }());
    }

    TEST_CASE("a plain TaskGroup does not cancel its parent when a child fails") {
        eddy::run([]() -> Coro<void> {
            auto p = probe();
            eddy::TaskGroup tg;
            tg.create_task(slow_cleanup(p));
            Task<int> f = tg.create_task(fail_after_yield("x"));
            std::vector<Task<int>> fv{f};
            auto [done, pending] = co_await eddy::wait(fv);
            CHECK(done.size() == 1);
            CHECK(eddy::current_task().cancelling() == 0);
            co_await eddy::sleep(1ms);
            std::exception_ptr e = co_await error_of(tg.join());
            CHECK(group_messages(e) == std::vector<std::string>{"x"});
            CHECK(p->cleaned);
        }());
    }

    TEST_CASE("destroying a TaskGroup without join cancels its children") {
        eddy::run([]() -> Coro<void> {
            auto p = probe();
            Task<int> child;
            {
                eddy::TaskGroup tg;
                child = tg.create_task(slow_cleanup(p));
                co_await p->started;
            }
            CHECK(is<eddy::CancelledError>(co_await error_of(child)));
            CHECK(p->cleaned);
        }());
    }

    TEST_CASE("a TaskGroup of 10,000 children across the workers") {
        eddy::run([]() -> Coro<void> {
            constexpr int n = 10'000;
            std::vector<Task<int>> children;
            children.reserve(n);
            co_await eddy::task_group([&children](eddy::TaskGroup& tg) -> Coro<void> {
                for (int i = 0; i < n; ++i) {
                    children.push_back(tg.create_task(yield_then(i)));
                }
                co_return;
            });
            std::int64_t sum = 0;
            bool all_done = true;
            for (auto& t : children) {
                all_done = all_done && t.done();
                sum += t.result();
            }
            CHECK(all_done);
            CHECK(sum == std::int64_t{n} * (n - 1) / 2);
        }());
    }

    TEST_CASE("a child failing as the body ends never leaves the parent cancelled (8 workers)") {
        eddy::Runtime rt{eddy::Config{.workers = 8}};
        RaceCounts c;
        rt.run(race_main(c));
        INFO(c.first_bad);
        CHECK(c.bad.load() == 0);
        CHECK(c.good.load() == 8 * 400);
    }
}
