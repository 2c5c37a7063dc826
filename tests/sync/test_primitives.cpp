// asyncio's synchronisation primitives, case by case: Lock, Event, Condition, Semaphore,
// BoundedSemaphore, Barrier.
//
// Ordering tests (FIFO wake-ups, "does not suspend") run on a standalone loop, where the order
// in which Tasks run is defined; the others also run under eddy::run, with Tasks spread over
// the workers (EDDY_WORKERS). Tasks only record what they saw (atomics, or vectors read once
// every Task is done); the checks are made by the test's own thread or by its main Task.

#include <doctest/doctest.h>

#include <eddy/eddy.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <mutex>
#include <numeric>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

using namespace std::chrono_literals;

namespace {

/// Lets every ready Task on a standalone loop run until it suspends again (each yield is one
/// turn of the loop; a hand-over chain needs one turn per hop).
eddy::Coro<void> settle(int turns = 8) {
    for (int i = 0; i < turns; ++i) {
        co_await eddy::yield_now();
    }
}

/// Awaits `t` and swallows its outcome (inspect the Task afterwards).
template <class T>
eddy::Coro<void> finish(eddy::Task<T> t) {
    try {
        co_await t;
    } catch (...) {
    }
}

/// Aborts the process if the scope it guards lasts longer than `limit`: a hang (a lost
/// wake-up) then fails the test at once (doctest reports the crashed test case by name)
/// instead of blocking the whole run until ctest's timeout.
class Watchdog {
public:
    explicit Watchdog(std::chrono::seconds limit = std::chrono::seconds(60))
        : thread_([this, limit] {
              std::unique_lock lock(mu_);
              if (!cv_.wait_for(lock, limit, [this] { return done_; })) {
                  std::fputs("watchdog: the test is hung\n", stderr);
                  std::abort();
              }
          }) {}
    Watchdog(const Watchdog&) = delete;
    Watchdog& operator=(const Watchdog&) = delete;
    ~Watchdog() {
        {
            std::lock_guard lock(mu_);
            done_ = true;
        }
        cv_.notify_one();
        thread_.join();
    }

private:
    std::mutex mu_;
    std::condition_variable cv_;
    bool done_ = false;
    std::thread thread_;
};

/// Runs `make()` on a new standalone loop to completion.
template <class F>
auto on_loop(F make) {
    const Watchdog watchdog;
    auto loop = eddy::new_event_loop();
    return loop.run_until_complete(make());
}

/// eddy::run (EDDY_WORKERS workers), under a watchdog.
template <class T>
T run_guarded(eddy::Coro<T> main) {
    const Watchdog watchdog;
    return eddy::run(std::move(main));
}

// --- Lock helpers ----------------------------------------------------------------------------

/// Takes the lock, records `id`, yields once while holding it, releases.
eddy::Coro<void> lock_and_record(eddy::Lock& lock, std::vector<int>& order, int id) {
    co_await lock.acquire();
    order.push_back(id);
    co_await eddy::yield_now();
    lock.release();
}

eddy::Coro<void> set_flag(bool& flag) {
    flag = true;
    co_return;
}

} // namespace

TEST_SUITE("sync/primitives") {
    // ============================== Lock ==============================

    TEST_CASE("Lock: acquire on a free lock returns true without suspending") {
        on_loop([]() -> eddy::Coro<void> {
            eddy::Lock lock;
            CHECK_FALSE(lock.locked());
            bool other_ran = false;
            auto other = eddy::create_task(set_flag(other_ran));
            const bool got = co_await lock.acquire();
            CHECK(got);
            CHECK(lock.locked());
            CHECK_FALSE(other_ran); // no suspension: the other Task has not had a turn
            lock.release();
            CHECK_FALSE(lock.locked());
            co_await other;
            CHECK(other_ran);
        });
    }

    TEST_CASE("Lock: release of an unlocked lock throws RuntimeError") {
        eddy::Lock lock;
        CHECK_THROWS_WITH_AS(lock.release(), "Lock is not acquired.", eddy::RuntimeError);
        CHECK(lock.try_acquire());
        lock.release();
        CHECK_THROWS_WITH_AS(lock.release(), "Lock is not acquired.", eddy::RuntimeError);
        CHECK_FALSE(lock.locked());
    }

    TEST_CASE("Lock: try_acquire fails while held and succeeds once released") {
        eddy::Lock lock;
        CHECK(lock.try_acquire());
        CHECK_FALSE(lock.try_acquire());
        CHECK(lock.locked());
        lock.release();
        CHECK(lock.try_acquire());
        lock.release();
    }

    TEST_CASE("Lock: waiters get the lock in FIFO order") {
        std::vector<int> order = on_loop([]() -> eddy::Coro<std::vector<int>> {
            eddy::Lock lock;
            std::vector<int> seen;
            co_await lock.acquire();
            std::vector<eddy::Task<>> tasks;
            for (int i = 0; i < 5; ++i) {
                tasks.push_back(eddy::create_task(lock_and_record(lock, seen, i)));
                co_await settle(2); // task i is queued before task i+1 arrives
            }
            CHECK(seen.empty()); // all blocked behind us
            lock.release();
            for (auto& t : tasks) {
                co_await t;
            }
            CHECK_FALSE(lock.locked());
            co_return seen;
        });
        CHECK(order == std::vector<int>{0, 1, 2, 3, 4});
    }

    TEST_CASE("Lock: release hands the lock to the first waiter; a newcomer queues behind it") {
        std::vector<int> order = on_loop([]() -> eddy::Coro<std::vector<int>> {
            eddy::Lock lock;
            std::vector<int> seen;
            co_await lock.acquire();
            auto first = eddy::create_task(lock_and_record(lock, seen, 1));
            co_await settle();
            lock.release();
            // The first waiter owns the lock now, although it has not run yet.
            CHECK(lock.locked());
            CHECK_FALSE(lock.try_acquire());
            auto newcomer = eddy::create_task(lock_and_record(lock, seen, 2));
            co_await first;
            co_await newcomer;
            co_return seen;
        });
        CHECK(order == std::vector<int>{1, 2});
    }

    TEST_CASE("Lock: a waiter cancelled while waiting does not get the lock; others still do") {
        on_loop([]() -> eddy::Coro<void> {
            eddy::Lock lock;
            std::vector<int> seen;
            co_await lock.acquire();
            auto t0 = eddy::create_task(lock_and_record(lock, seen, 0));
            auto t1 = eddy::create_task(lock_and_record(lock, seen, 1));
            auto t2 = eddy::create_task(lock_and_record(lock, seen, 2));
            co_await settle();
            CHECK(t1.cancel());
            co_await settle();
            CHECK(t1.done());
            CHECK(t1.cancelled());
            CHECK(lock.locked()); // still ours
            lock.release();
            co_await t0;
            co_await t2;
            CHECK(seen == std::vector<int>{0, 2});
            CHECK_FALSE(lock.locked());
        });
    }

    TEST_CASE("Lock: a waiter cancelled right after being handed the lock passes it on") {
        on_loop([]() -> eddy::Coro<void> {
            eddy::Lock lock;
            std::vector<int> seen;
            co_await lock.acquire();
            auto t0 = eddy::create_task(lock_and_record(lock, seen, 0));
            auto t1 = eddy::create_task(lock_and_record(lock, seen, 1));
            co_await settle();
            lock.release(); // hands the lock to t0, which has not resumed yet
            CHECK(t0.cancel());
            co_await finish(t0);
            CHECK(t0.cancelled());
            co_await settle();
            CHECK(t1.done()); // t0 passed the lock on
            co_await t1;
            CHECK(seen == std::vector<int>{1});
            CHECK_FALSE(lock.locked());
        });
    }

    TEST_CASE("Lock: the only waiter cancelled after the hand-over leaves the lock free") {
        on_loop([]() -> eddy::Coro<void> {
            eddy::Lock lock;
            std::vector<int> seen;
            co_await lock.acquire();
            auto t0 = eddy::create_task(lock_and_record(lock, seen, 0));
            co_await settle();
            lock.release();
            t0.cancel();
            co_await finish(t0);
            CHECK(t0.cancelled());
            CHECK(seen.empty());
            CHECK_FALSE(lock.locked());
            CHECK(co_await lock.acquire()); // and it can be taken again
            lock.release();
        });
    }

    TEST_CASE("Lock: a scoped guard releases on exception and on reset") {
        auto body = []() -> eddy::Coro<void> {
            eddy::Lock lock;
            auto thrower = [&lock]() -> eddy::Coro<void> {
                auto g = co_await lock.scoped();
                CHECK(lock.locked());
                co_await eddy::yield_now();
                throw std::runtime_error("inside");
            };
            auto t = eddy::create_task(thrower());
            co_await finish(t);
            CHECK_THROWS_WITH_AS(t.result(), "inside", std::runtime_error);
            CHECK_FALSE(lock.locked());
            {
                auto g = co_await lock.scoped();
                CHECK(lock.locked());
                g.reset();
                CHECK_FALSE(lock.locked());
                g.reset(); // a second reset does nothing (no RuntimeError)
            }
            CHECK_FALSE(lock.locked());
            {
                auto g = co_await lock.scoped();
                auto moved = std::move(g); // the moved-from guard releases nothing
            }
            CHECK_FALSE(lock.locked());
        };
        on_loop(body);
        run_guarded(body());
    }

    TEST_CASE("Lock: mutual exclusion between Tasks on every worker") {
        auto body = []() -> eddy::Coro<int> {
            eddy::Lock lock;
            int counter = 0; // not atomic: the lock protects it
            std::atomic<int> inside{0};
            std::atomic<bool> overlap{false};
            auto worker = [&]() -> eddy::Coro<void> {
                for (int i = 0; i < 50; ++i) {
                    auto g = co_await lock.scoped();
                    if (inside.fetch_add(1) != 0) {
                        overlap = true;
                    }
                    const int seen = counter;
                    co_await eddy::yield_now();
                    counter = seen + 1;
                    inside.fetch_sub(1);
                }
            };
            std::vector<eddy::Task<>> tasks;
            for (int i = 0; i < 16; ++i) {
                tasks.push_back(eddy::create_task(worker()));
            }
            for (auto& t : tasks) {
                co_await t;
            }
            CHECK_FALSE(overlap.load());
            CHECK_FALSE(lock.locked());
            co_return counter;
        };
        CHECK(run_guarded(body()) == 16 * 50);
    }

    TEST_CASE("Lock: release from a plain thread hands the lock to a waiting Task") {
        auto body = []() -> eddy::Coro<bool> {
            eddy::Lock lock;
            CHECK(lock.try_acquire()); // held on behalf of the plain thread below
            eddy::Event waiting;
            std::atomic<bool> got{false};
            auto waiter = [&]() -> eddy::Coro<void> {
                waiting.set();
                co_await lock.acquire();
                got = true;
                lock.release();
            };
            auto t = eddy::create_task(waiter());
            co_await waiting.wait();
            std::thread releaser([&lock] { lock.release(); });
            co_await t;
            releaser.join();
            co_return got.load() && !lock.locked();
        };
        CHECK(run_guarded(body()));
    }

    // ============================== Event ==============================

    TEST_CASE("Event: starts clear; set, clear and is_set") {
        eddy::Event ev;
        CHECK_FALSE(ev.is_set());
        ev.set();
        CHECK(ev.is_set());
        ev.set(); // idempotent
        CHECK(ev.is_set());
        ev.clear();
        CHECK_FALSE(ev.is_set());
        ev.clear();
        CHECK_FALSE(ev.is_set());
    }

    TEST_CASE("Event: wait on a set event returns true at once") {
        on_loop([]() -> eddy::Coro<void> {
            eddy::Event ev;
            ev.set();
            bool other_ran = false;
            auto other = eddy::create_task(set_flag(other_ran));
            CHECK(co_await ev.wait());
            CHECK_FALSE(other_ran);
            co_await other;
        });
    }

    TEST_CASE("Event: set wakes every waiter") {
        auto body = []() -> eddy::Coro<int> {
            eddy::Event ev;
            std::atomic<int> woken{0};
            auto waiter = [&]() -> eddy::Coro<bool> {
                const bool r = co_await ev.wait();
                woken.fetch_add(1);
                co_return r;
            };
            std::vector<eddy::Task<bool>> tasks;
            for (int i = 0; i < 10; ++i) {
                tasks.push_back(eddy::create_task(waiter()));
            }
            co_await eddy::sleep(5ms);
            CHECK(woken.load() == 0);
            ev.set();
            int trues = 0;
            for (auto& t : tasks) {
                trues += (co_await t) ? 1 : 0;
            }
            CHECK(woken.load() == 10);
            co_return trues;
        };
        CHECK(on_loop(body) == 10);
        CHECK(run_guarded(body()) == 10);
    }

    TEST_CASE("Event: after clear, waiters block until the next set") {
        on_loop([]() -> eddy::Coro<void> {
            eddy::Event ev;
            ev.set();
            ev.clear();
            auto waiter = [&ev]() -> eddy::Coro<bool> { co_return co_await ev.wait(); };
            auto t = eddy::create_task(waiter());
            co_await settle();
            CHECK_FALSE(t.done());
            ev.set();
            co_await settle();
            CHECK(t.done());
            CHECK(t.result());
        });
    }

    TEST_CASE("Event: set then clear before the waiter runs still wakes it (asyncio)") {
        on_loop([]() -> eddy::Coro<void> {
            eddy::Event ev;
            auto waiter = [&ev]() -> eddy::Coro<bool> { co_return co_await ev.wait(); };
            auto t = eddy::create_task(waiter());
            co_await settle();
            ev.set();
            ev.clear();
            co_await settle();
            CHECK(t.done());
            CHECK(t.result());
        });
    }

    TEST_CASE("Event: a cancelled waiter throws CancelledError; the others are still woken") {
        on_loop([]() -> eddy::Coro<void> {
            eddy::Event ev;
            auto waiter = [&ev]() -> eddy::Coro<bool> { co_return co_await ev.wait(); };
            auto t0 = eddy::create_task(waiter());
            auto t1 = eddy::create_task(waiter());
            auto t2 = eddy::create_task(waiter());
            co_await settle();
            t1.cancel("stop");
            co_await finish(t1);
            CHECK(t1.cancelled());
            CHECK_THROWS_AS(t1.result(), eddy::CancelledError);
            ev.set();
            CHECK(co_await t0);
            CHECK(co_await t2);
        });
    }

    TEST_CASE("Event: set from a plain thread wakes Tasks on the workers") {
        auto body = []() -> eddy::Coro<int> {
            eddy::Event ev;
            eddy::Event started;
            std::atomic<int> arrived{0};
            auto waiter = [&]() -> eddy::Coro<int> {
                if (arrived.fetch_add(1) + 1 == 4) {
                    started.set();
                }
                co_await ev.wait();
                co_return 1;
            };
            std::vector<eddy::Task<int>> tasks;
            for (int i = 0; i < 4; ++i) {
                tasks.push_back(eddy::create_task(waiter()));
            }
            co_await started.wait();
            std::thread setter([&ev] { ev.set(); });
            int sum = 0;
            for (auto& t : tasks) {
                sum += co_await t;
            }
            setter.join();
            co_return sum;
        };
        CHECK(run_guarded(body()) == 4);
    }

    TEST_CASE("Event: data written before set is seen by a waiter on another worker") {
        auto body = []() -> eddy::Coro<int> {
            eddy::Event ev;
            int payload = 0; // published by ev.set()
            auto reader = [&]() -> eddy::Coro<int> {
                co_await ev.wait();
                co_return payload;
            };
            auto writer = [&]() -> eddy::Coro<void> {
                co_await eddy::yield_now();
                payload = 42;
                ev.set();
            };
            auto r = eddy::create_task(reader());
            auto w = eddy::create_task(writer());
            co_await w;
            co_return co_await r;
        };
        CHECK(run_guarded(body()) == 42);
    }

    // ============================== Condition ==============================

    TEST_CASE("Condition: wait and notify without holding the lock throw RuntimeError") {
        on_loop([]() -> eddy::Coro<void> {
            eddy::Condition cond;
            bool wait_threw = false;
            try {
                co_await cond.wait();
            } catch (const eddy::RuntimeError&) {
                wait_threw = true;
            }
            CHECK(wait_threw);
            CHECK_THROWS_AS(cond.notify(), eddy::RuntimeError);
            CHECK_THROWS_AS(cond.notify(3), eddy::RuntimeError);
            CHECK_THROWS_AS(cond.notify_all(), eddy::RuntimeError);
            CHECK_FALSE(cond.locked());
            bool wait_for_threw = false;
            try {
                co_await cond.wait_for([] { return false; });
            } catch (const eddy::RuntimeError&) {
                wait_for_threw = true;
            }
            CHECK(wait_for_threw);
            // With the lock held, notify without waiters is fine.
            co_await cond.acquire();
            cond.notify();
            cond.notify_all();
            cond.release();
        });
    }

    TEST_CASE("Condition: notify(n) wakes n waiters in FIFO order; notify_all the rest") {
        on_loop([]() -> eddy::Coro<void> {
            eddy::Condition cond;
            std::vector<int> woken;
            auto waiter = [&](int id) -> eddy::Coro<void> {
                auto g = co_await cond.scoped();
                co_await cond.wait();
                CHECK(cond.locked()); // held again on the way out
                woken.push_back(id);
            };
            std::vector<eddy::Task<>> tasks;
            for (int i = 0; i < 5; ++i) {
                tasks.push_back(eddy::create_task(waiter(i)));
                co_await settle(2);
            }
            CHECK_FALSE(cond.locked()); // every waiter released it in wait()
            {
                auto g = co_await cond.scoped();
                cond.notify(2);
            }
            co_await settle();
            CHECK(woken == std::vector<int>{0, 1});
            {
                auto g = co_await cond.scoped();
                cond.notify(); // n = 1
            }
            co_await settle();
            CHECK(woken == std::vector<int>{0, 1, 2});
            {
                auto g = co_await cond.scoped();
                cond.notify_all();
            }
            for (auto& t : tasks) {
                co_await t;
            }
            CHECK(woken == std::vector<int>{0, 1, 2, 3, 4});
            CHECK_FALSE(cond.locked());
        });
    }

    TEST_CASE("Condition: a notification with no waiter is not remembered") {
        on_loop([]() -> eddy::Coro<void> {
            eddy::Condition cond;
            {
                auto g = co_await cond.scoped();
                cond.notify_all();
            }
            auto waiter = [&cond]() -> eddy::Coro<void> {
                auto g = co_await cond.scoped();
                co_await cond.wait();
            };
            auto t = eddy::create_task(waiter());
            co_await settle();
            CHECK_FALSE(t.done());
            {
                auto g = co_await cond.scoped();
                cond.notify();
            }
            co_await t;
        });
    }

    TEST_CASE("Condition: wait_for returns once the predicate holds, re-checking on each wake") {
        auto body = []() -> eddy::Coro<int> {
            eddy::Condition cond;
            int value = 0; // guarded by cond's lock
            std::atomic<int> checks{0};
            auto waiter = [&]() -> eddy::Coro<int> {
                auto g = co_await cond.scoped();
                const bool r = co_await cond.wait_for([&] {
                    checks.fetch_add(1);
                    return value >= 3;
                });
                CHECK(r);
                co_return value;
            };
            auto t = eddy::create_task(waiter());
            for (int i = 0; i < 3; ++i) {
                co_await eddy::sleep(2ms);
                auto g = co_await cond.scoped();
                ++value;
                cond.notify_all();
            }
            const int seen = co_await t;
            CHECK(checks.load() >= 2); // evaluated before waiting and after the last wake
            co_return seen;
        };
        CHECK(on_loop(body) == 3);
        CHECK(run_guarded(body()) == 3);
    }

    TEST_CASE("Condition: wait_for with a true predicate returns without releasing the lock") {
        on_loop([]() -> eddy::Coro<void> {
            eddy::Condition cond;
            bool other_ran = false;
            auto g = co_await cond.scoped();
            auto other = eddy::create_task(set_flag(other_ran));
            CHECK(co_await cond.wait_for([] { return true; }));
            CHECK(cond.locked());
            CHECK_FALSE(other_ran);
            g.reset();
            co_await other;
        });
    }

    TEST_CASE("Condition: a cancelled wait re-acquires the lock before CancelledError escapes") {
        on_loop([]() -> eddy::Coro<void> {
            eddy::Condition cond;
            bool got_cancelled = false;
            bool held_after = false;
            auto waiter = [&]() -> eddy::Coro<void> {
                co_await cond.acquire();
                try {
                    co_await cond.wait();
                } catch (const eddy::CancelledError&) {
                    got_cancelled = true;
                }
                held_after = cond.locked();
                cond.release(); // must not throw: we hold the lock
            };
            auto t = eddy::create_task(waiter());
            co_await settle();
            co_await cond.acquire(); // the waiter cannot get the lock back while we hold it
            t.cancel();
            co_await settle();
            CHECK_FALSE(t.done());
            CHECK_FALSE(got_cancelled);
            cond.release();
            co_await t; // the waiter caught the CancelledError itself
            CHECK(got_cancelled);
            CHECK(held_after);
            CHECK_FALSE(cond.locked());
        });
    }

    TEST_CASE("Condition: a waiter cancelled right after notify passes the notification on") {
        on_loop([]() -> eddy::Coro<void> {
            eddy::Condition cond;
            std::vector<int> woken;
            auto waiter = [&](int id) -> eddy::Coro<void> {
                auto g = co_await cond.scoped();
                co_await cond.wait();
                woken.push_back(id);
            };
            auto t0 = eddy::create_task(waiter(0));
            auto t1 = eddy::create_task(waiter(1));
            co_await settle();
            {
                auto g = co_await cond.scoped();
                cond.notify(1); // t0 is notified...
                t0.cancel();    // ...and cancelled before it runs
            }
            co_await finish(t0);
            CHECK(t0.cancelled());
            co_await settle();
            CHECK(t1.done()); // got the notification t0 passed on
            co_await t1;
            CHECK(woken == std::vector<int>{1});
            CHECK_FALSE(cond.locked());
        });
    }

    TEST_CASE("Condition: Condition(lock) shares the given Lock") {
        on_loop([]() -> eddy::Coro<void> {
            eddy::Lock lock;
            eddy::Condition cond(lock);
            CHECK_FALSE(cond.locked());
            co_await lock.acquire();
            CHECK(cond.locked());
            cond.notify(); // allowed: the shared lock is held
            lock.release();
            CHECK_FALSE(cond.locked());
            CHECK_THROWS_AS(cond.notify(), eddy::RuntimeError);

            bool done_waiting = false;
            auto waiter = [&]() -> eddy::Coro<void> {
                co_await cond.acquire();
                CHECK(lock.locked());
                co_await cond.wait();
                CHECK(lock.locked());
                done_waiting = true;
                lock.release();
            };
            auto t = eddy::create_task(waiter());
            co_await settle();
            CHECK_FALSE(lock.locked()); // wait() released the shared lock
            co_await lock.acquire();
            cond.notify();
            co_await settle();
            CHECK_FALSE(done_waiting); // notified, but the lock is still ours
            lock.release();
            co_await t;
            CHECK(done_waiting);
            CHECK_FALSE(lock.locked());
        });
    }

    TEST_CASE("Condition: notify_all wakes every waiter on every worker") {
        auto body = []() -> eddy::Coro<int> {
            eddy::Condition cond;
            int ready = 0;   // guarded by cond's lock
            bool go = false; // guarded by cond's lock
            auto waiter = [&]() -> eddy::Coro<int> {
                auto g = co_await cond.scoped();
                ++ready;
                cond.notify_all(); // the main Task waits for ready == n
                co_await cond.wait_for([&] { return go; });
                co_return 1;
            };
            constexpr int n = 12;
            std::vector<eddy::Task<int>> tasks;
            for (int i = 0; i < n; ++i) {
                tasks.push_back(eddy::create_task(waiter()));
            }
            {
                auto g = co_await cond.scoped();
                co_await cond.wait_for([&] { return ready == n; });
                go = true;
                cond.notify_all();
            }
            int sum = 0;
            for (auto& t : tasks) {
                sum += co_await t;
            }
            co_return sum;
        };
        CHECK(run_guarded(body()) == 12);
    }

    // ============================== Semaphore ==============================

    TEST_CASE("Semaphore: a negative initial value throws ValueError") {
        CHECK_THROWS_AS(eddy::Semaphore(-1), eddy::ValueError);
        CHECK_THROWS_AS(eddy::BoundedSemaphore(-5), eddy::ValueError);
        CHECK_NOTHROW(eddy::Semaphore(0));
    }

    TEST_CASE("Semaphore: acquire takes permits without suspending; release returns them") {
        on_loop([]() -> eddy::Coro<void> {
            eddy::Semaphore sem(2);
            CHECK(sem.value() == 2);
            CHECK_FALSE(sem.locked());
            bool other_ran = false;
            auto other = eddy::create_task(set_flag(other_ran));
            CHECK(co_await sem.acquire());
            CHECK(sem.value() == 1);
            CHECK_FALSE(sem.locked());
            CHECK(co_await sem.acquire());
            CHECK(sem.value() == 0);
            CHECK(sem.locked());
            CHECK_FALSE(other_ran);
            CHECK_FALSE(sem.try_acquire());
            sem.release();
            CHECK(sem.value() == 1);
            CHECK_FALSE(sem.locked());
            sem.release();
            sem.release(); // an unbounded Semaphore may go above its initial value
            CHECK(sem.value() == 3);
            co_await other;
        });
    }

    TEST_CASE("Semaphore(0) is locked; acquire waits for a release") {
        on_loop([]() -> eddy::Coro<void> {
            eddy::Semaphore sem(0);
            CHECK(sem.locked());
            auto taker = [&sem]() -> eddy::Coro<bool> { co_return co_await sem.acquire(); };
            auto t = eddy::create_task(taker());
            co_await settle();
            CHECK_FALSE(t.done());
            sem.release();
            CHECK(sem.value() == 0); // handed straight to the waiter
            co_await settle();
            CHECK(t.done());
            CHECK(t.result());
            CHECK(sem.value() == 0);
        });
    }

    TEST_CASE("Semaphore: waiters get permits in FIFO order; a newcomer queues behind them") {
        on_loop([]() -> eddy::Coro<void> {
            eddy::Semaphore sem(0);
            std::vector<int> order;
            auto taker = [&](int id) -> eddy::Coro<void> {
                co_await sem.acquire();
                order.push_back(id);
            };
            std::vector<eddy::Task<>> tasks;
            for (int i = 0; i < 4; ++i) {
                tasks.push_back(eddy::create_task(taker(i)));
                co_await settle(2);
            }
            sem.release();
            co_await settle();
            CHECK(order == std::vector<int>{0});
            sem.release();
            sem.release();
            // A permit is free for nobody while a Task waits: the newcomer waits its turn.
            CHECK(sem.locked());
            tasks.push_back(eddy::create_task(taker(4)));
            co_await settle();
            CHECK(order == std::vector<int>{0, 1, 2});
            sem.release();
            sem.release();
            for (auto& t : tasks) {
                co_await t;
            }
            CHECK(order == std::vector<int>{0, 1, 2, 3, 4});
            CHECK(sem.value() == 0);
        });
    }

    TEST_CASE("Semaphore: a cancelled waiter gets no permit; one cancelled after the hand-over "
              "passes its permit on") {
        on_loop([]() -> eddy::Coro<void> {
            eddy::Semaphore sem(0);
            std::vector<int> order;
            auto taker = [&](int id) -> eddy::Coro<void> {
                co_await sem.acquire();
                order.push_back(id);
            };
            auto t0 = eddy::create_task(taker(0));
            auto t1 = eddy::create_task(taker(1));
            auto t2 = eddy::create_task(taker(2));
            co_await settle();
            t0.cancel(); // cancelled while waiting
            co_await finish(t0);
            CHECK(t0.cancelled());
            sem.release(); // goes to t1...
            t1.cancel();   // ...which is cancelled before it runs: the permit goes to t2
            co_await finish(t1);
            CHECK(t1.cancelled());
            co_await settle();
            CHECK(t2.done()); // t1 passed its permit on
            co_await t2;
            CHECK(order == std::vector<int>{2});
            CHECK(sem.value() == 0);
            sem.release();
            CHECK(sem.value() == 1);
        });
    }

    TEST_CASE("Semaphore: the only waiter cancelled after the hand-over returns the permit") {
        on_loop([]() -> eddy::Coro<void> {
            eddy::Semaphore sem(0);
            auto taker = [&sem]() -> eddy::Coro<bool> { co_return co_await sem.acquire(); };
            auto t = eddy::create_task(taker());
            co_await settle();
            sem.release();
            t.cancel();
            co_await finish(t);
            CHECK(t.cancelled());
            CHECK(sem.value() == 1);
            CHECK_FALSE(sem.locked());
        });
    }

    TEST_CASE("Semaphore: a scoped guard returns its permit, also on exception") {
        on_loop([]() -> eddy::Coro<void> {
            eddy::Semaphore sem(1);
            auto thrower = [&sem]() -> eddy::Coro<void> {
                auto g = co_await sem.scoped();
                CHECK(sem.value() == 0);
                throw std::logic_error("x");
            };
            auto t = eddy::create_task(thrower());
            co_await finish(t);
            CHECK_THROWS_AS(t.result(), std::logic_error);
            CHECK(sem.value() == 1);
        });
    }

    TEST_CASE("Semaphore: never more holders than permits across workers") {
        auto body = []() -> eddy::Coro<int> {
            eddy::Semaphore sem(3);
            std::atomic<int> inside{0};
            std::atomic<int> peak{0};
            std::atomic<int> passes{0};
            auto user = [&]() -> eddy::Coro<void> {
                for (int i = 0; i < 20; ++i) {
                    auto g = co_await sem.scoped();
                    const int now = inside.fetch_add(1) + 1;
                    int p = peak.load();
                    while (now > p && !peak.compare_exchange_weak(p, now)) {
                    }
                    co_await eddy::yield_now();
                    inside.fetch_sub(1);
                    passes.fetch_add(1);
                }
            };
            std::vector<eddy::Task<>> tasks;
            for (int i = 0; i < 10; ++i) {
                tasks.push_back(eddy::create_task(user()));
            }
            for (auto& t : tasks) {
                co_await t;
            }
            CHECK(peak.load() <= 3);
            CHECK(peak.load() >= 1);
            CHECK(sem.value() == 3);
            co_return passes.load();
        };
        CHECK(run_guarded(body()) == 200);
    }

    TEST_CASE("BoundedSemaphore: releasing beyond the initial value throws ValueError") {
        eddy::BoundedSemaphore sem(2);
        CHECK_THROWS_AS(sem.release(), eddy::ValueError);
        CHECK(sem.value() == 2);
        CHECK(sem.try_acquire());
        CHECK(sem.try_acquire());
        CHECK_FALSE(sem.try_acquire());
        sem.release();
        sem.release();
        CHECK(sem.value() == 2);
        CHECK_THROWS_AS(sem.release(), eddy::ValueError);
        CHECK(sem.value() == 2);

        eddy::BoundedSemaphore zero(0);
        CHECK(zero.locked());
        CHECK_THROWS_AS(zero.release(), eddy::ValueError);
    }

    TEST_CASE("BoundedSemaphore: a release handed to a waiter does not count as over-release") {
        on_loop([]() -> eddy::Coro<void> {
            eddy::BoundedSemaphore sem(1);
            co_await sem.acquire();
            auto taker = [&sem]() -> eddy::Coro<void> {
                co_await sem.acquire();
                sem.release();
            };
            auto t = eddy::create_task(taker());
            co_await settle();
            sem.release(); // to the waiter
            co_await t;
            CHECK(sem.value() == 1);
            CHECK_THROWS_AS(sem.release(), eddy::ValueError);
        });
    }

    // ============================== Barrier ==============================

    TEST_CASE("Barrier: fewer than one party throws ValueError") {
        CHECK_THROWS_AS(eddy::Barrier(0), eddy::ValueError);
        eddy::Barrier one(1);
        CHECK(one.parties() == 1);
        CHECK(one.n_waiting() == 0);
        CHECK_FALSE(one.broken());
    }

    TEST_CASE("Barrier(1): wait returns index 0 every time") {
        on_loop([]() -> eddy::Coro<void> {
            eddy::Barrier b(1);
            CHECK(co_await b.wait() == 0);
            CHECK(co_await b.wait() == 0);
            CHECK(b.n_waiting() == 0);
        });
    }

    TEST_CASE("Barrier: the parties meet; indices follow arrival; n_waiting counts arrivals") {
        on_loop([]() -> eddy::Coro<void> {
            eddy::Barrier b(3);
            auto party = [&b]() -> eddy::Coro<std::size_t> { co_return co_await b.wait(); };
            auto t0 = eddy::create_task(party());
            co_await settle();
            CHECK(b.n_waiting() == 1);
            auto t1 = eddy::create_task(party());
            co_await settle();
            CHECK(b.n_waiting() == 2);
            CHECK_FALSE(t0.done());
            CHECK_FALSE(t1.done());
            auto t2 = eddy::create_task(party());
            CHECK(co_await t0 == 0);
            CHECK(co_await t1 == 1);
            CHECK(co_await t2 == 2);
            CHECK(b.n_waiting() == 0);
            CHECK_FALSE(b.broken());
        });
    }

    TEST_CASE("Barrier: reusable across cycles; each cycle hands out 0..n-1 once") {
        auto body = []() -> eddy::Coro<bool> {
            constexpr std::size_t parties = 4;
            constexpr int cycles = 6;
            eddy::Barrier b(parties);
            std::vector<std::vector<std::size_t>> got(parties);
            auto party = [&](std::size_t me) -> eddy::Coro<void> {
                for (int c = 0; c < cycles; ++c) {
                    got[me].push_back(co_await b.wait());
                    co_await eddy::yield_now();
                }
            };
            std::vector<eddy::Task<>> tasks;
            for (std::size_t i = 0; i < parties; ++i) {
                tasks.push_back(eddy::create_task(party(i)));
            }
            for (auto& t : tasks) {
                co_await t;
            }
            bool ok = true;
            for (std::size_t c = 0; c < static_cast<std::size_t>(cycles); ++c) {
                std::set<std::size_t> indices;
                for (std::size_t i = 0; i < parties; ++i) {
                    if (c < got[i].size()) {
                        indices.insert(got[i][c]);
                    }
                }
                const bool cycle_ok = indices.size() == parties && *indices.rbegin() == parties - 1;
                CHECK(cycle_ok);
                ok = ok && cycle_ok;
            }
            CHECK(b.n_waiting() == 0);
            CHECK_FALSE(b.broken());
            co_return ok;
        };
        CHECK(on_loop(body));
        CHECK(run_guarded(body()));
    }

    TEST_CASE("Barrier: abort breaks it for current and later waiters") {
        auto body = []() -> eddy::Coro<void> {
            eddy::Barrier b(3);
            std::atomic<int> arrived{0};
            auto party = [&]() -> eddy::Coro<std::size_t> {
                arrived.fetch_add(1);
                co_return co_await b.wait();
            };
            auto t0 = eddy::create_task(party());
            auto t1 = eddy::create_task(party());
            // Wait until both are inside wait() (n_waiting is read under no lock: poll).
            while (b.n_waiting() < 2) {
                co_await eddy::sleep(1ms);
            }
            co_await b.abort();
            CHECK(b.broken());
            CHECK(b.n_waiting() == 0);
            co_await finish(t0);
            co_await finish(t1);
            CHECK_THROWS_AS(t0.result(), eddy::BrokenBarrierError);
            CHECK_THROWS_AS(t1.result(), eddy::BrokenBarrierError);
            bool later_threw = false;
            try {
                co_await b.wait();
            } catch (const eddy::BrokenBarrierError&) {
                later_threw = true;
            }
            CHECK(later_threw);
            CHECK(b.broken());
            // reset() repairs it.
            co_await b.reset();
            CHECK_FALSE(b.broken());
            auto p0 = eddy::create_task(party());
            auto p1 = eddy::create_task(party());
            auto p2 = eddy::create_task(party());
            std::set<std::size_t> idx;
            idx.insert(co_await p0);
            idx.insert(co_await p1);
            idx.insert(co_await p2);
            CHECK(idx == std::set<std::size_t>{0, 1, 2});
        };
        on_loop(body);
        run_guarded(body());
    }

    TEST_CASE("Barrier: reset breaks the current waiters and leaves it usable") {
        auto body = []() -> eddy::Coro<void> {
            eddy::Barrier b(2);
            auto party = [&b]() -> eddy::Coro<std::size_t> { co_return co_await b.wait(); };
            auto t0 = eddy::create_task(party());
            while (b.n_waiting() < 1) {
                co_await eddy::sleep(1ms);
            }
            co_await b.reset();
            co_await finish(t0);
            CHECK_THROWS_AS(t0.result(), eddy::BrokenBarrierError);
            CHECK_FALSE(b.broken());
            CHECK(b.n_waiting() == 0);
            auto t1 = eddy::create_task(party());
            auto t2 = eddy::create_task(party());
            const std::size_t a = co_await t1;
            const std::size_t c = co_await t2;
            CHECK(a + c == 1); // {0, 1}
            CHECK(a != c);
        };
        on_loop(body);
        run_guarded(body());
    }

    TEST_CASE("Barrier: reset with nobody waiting just keeps it usable") {
        on_loop([]() -> eddy::Coro<void> {
            eddy::Barrier b(1);
            co_await b.reset();
            CHECK_FALSE(b.broken());
            CHECK(co_await b.wait() == 0);
        });
    }

    TEST_CASE("Barrier: a cancelled waiter leaves; the remaining parties still meet") {
        on_loop([]() -> eddy::Coro<void> {
            eddy::Barrier b(2);
            auto party = [&b]() -> eddy::Coro<std::size_t> { co_return co_await b.wait(); };
            auto t0 = eddy::create_task(party());
            co_await settle();
            CHECK(b.n_waiting() == 1);
            t0.cancel();
            co_await finish(t0);
            CHECK(t0.cancelled());
            CHECK(b.n_waiting() == 0);
            CHECK_FALSE(b.broken());
            auto t1 = eddy::create_task(party());
            auto t2 = eddy::create_task(party());
            CHECK(co_await t1 == 0);
            CHECK(co_await t2 == 1);
        });
    }
}
