// asyncio's queues: Queue (FIFO), PriorityQueue (smallest first), LifoQueue; put/get and their
// _nowait forms, bounds, FIFO service of blocked getters and putters, task_done/join,
// shutdown, cancellation of blocked getters and putters, move-only items.
//
// Ordering tests run on a standalone loop (the order in which Tasks run is defined there);
// the others also run under eddy::run with Tasks spread over the workers.

#include <doctest/doctest.h>

#include <eddy/eddy.hpp>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

using namespace std::chrono_literals;

namespace {

/// Lets every ready Task on a standalone loop run until it suspends again.
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

template <class Q>
eddy::Coro<typename Q::value_type> get_one(Q& q) {
    co_return co_await q.get();
}

template <class Q>
eddy::Coro<void> put_one(Q& q, typename Q::value_type v) {
    co_await q.put(std::move(v));
}

/// Gets one item and appends `(id, item)` to `log`.
eddy::Coro<void> get_and_log(eddy::Queue<int>& q, std::vector<std::pair<int, int>>& log, int id) {
    const int v = co_await q.get();
    log.emplace_back(id, v);
}

eddy::Coro<void> set_flag(bool& flag) {
    flag = true;
    co_return;
}

} // namespace

TEST_SUITE("sync/queue") {
    TEST_CASE("Queue: FIFO order through put/get and put_nowait/get_nowait") {
        auto body = []() -> eddy::Coro<std::vector<int>> {
            eddy::Queue<int> q;
            for (int i = 0; i < 5; ++i) {
                co_await q.put(i);
            }
            q.put_nowait(5);
            q.put_nowait(6);
            std::vector<int> out;
            for (int i = 0; i < 4; ++i) {
                out.push_back(co_await q.get());
            }
            while (!q.empty()) {
                out.push_back(q.get_nowait());
            }
            co_return out;
        };
        const std::vector<int> expected{0, 1, 2, 3, 4, 5, 6};
        CHECK(on_loop(body) == expected);
        CHECK(run_guarded(body()) == expected);
    }

    TEST_CASE("PriorityQueue: smallest first; pairs order by priority then data") {
        eddy::PriorityQueue<int> pq;
        for (int v : {5, 1, 4, 1, 3, 9, 2}) {
            pq.put_nowait(v);
        }
        std::vector<int> out;
        while (!pq.empty()) {
            out.push_back(pq.get_nowait());
        }
        CHECK(out == std::vector<int>{1, 1, 2, 3, 4, 5, 9});

        eddy::PriorityQueue<std::pair<int, std::string>> tasks;
        tasks.put_nowait({2, "b"});
        tasks.put_nowait({1, "z"});
        tasks.put_nowait({2, "a"});
        tasks.put_nowait({0, "y"});
        CHECK(tasks.get_nowait().second == "y");
        CHECK(tasks.get_nowait().second == "z");
        CHECK(tasks.get_nowait().second == "a");
        CHECK(tasks.get_nowait().second == "b");

        eddy::PriorityQueue<int, std::greater<int>> maxq;
        maxq.put_nowait(1);
        maxq.put_nowait(3);
        maxq.put_nowait(2);
        CHECK(maxq.get_nowait() == 3);
        CHECK(maxq.get_nowait() == 2);
        CHECK(maxq.get_nowait() == 1);
    }

    TEST_CASE("PriorityQueue: co_await get also returns the smallest") {
        auto body = []() -> eddy::Coro<std::vector<int>> {
            eddy::PriorityQueue<int> pq;
            for (int v : {7, 3, 5}) {
                co_await pq.put(v);
            }
            std::vector<int> out;
            for (int i = 0; i < 3; ++i) {
                out.push_back(co_await pq.get());
            }
            co_return out;
        };
        CHECK(on_loop(body) == std::vector<int>{3, 5, 7});
    }

    TEST_CASE("LifoQueue: last in, first out") {
        auto body = []() -> eddy::Coro<std::vector<int>> {
            eddy::LifoQueue<int> q;
            for (int i = 0; i < 4; ++i) {
                co_await q.put(i);
            }
            std::vector<int> out;
            out.push_back(co_await q.get());
            q.put_nowait(10);
            while (!q.empty()) {
                out.push_back(q.get_nowait());
            }
            co_return out;
        };
        const std::vector<int> expected{3, 10, 2, 1, 0};
        CHECK(on_loop(body) == expected);
        CHECK(run_guarded(body()) == expected);
    }

    TEST_CASE("Queue: get_nowait on empty throws QueueEmpty; put_nowait on full QueueFull") {
        eddy::Queue<int> q(2);
        CHECK_THROWS_AS(q.get_nowait(), eddy::QueueEmpty);
        q.put_nowait(1);
        q.put_nowait(2);
        CHECK_THROWS_AS(q.put_nowait(3), eddy::QueueFull);
        CHECK(q.qsize() == 2); // the failed put left nothing behind
        CHECK(q.get_nowait() == 1);
        CHECK(q.get_nowait() == 2);
        CHECK_THROWS_AS(q.get_nowait(), eddy::QueueEmpty);

        eddy::LifoQueue<int> lq(1);
        lq.put_nowait(0);
        CHECK_THROWS_AS(lq.put_nowait(1), eddy::QueueFull);
        eddy::PriorityQueue<int> pq;
        CHECK_THROWS_AS(pq.get_nowait(), eddy::QueueEmpty);
    }

    TEST_CASE("Queue: maxsize, qsize, empty and full") {
        eddy::Queue<int> unbounded;
        CHECK(unbounded.maxsize() == 0);
        CHECK(unbounded.empty());
        CHECK_FALSE(unbounded.full());
        for (int i = 0; i < 1000; ++i) {
            unbounded.put_nowait(i);
        }
        CHECK(unbounded.qsize() == 1000);
        CHECK_FALSE(unbounded.full()); // never full
        CHECK_FALSE(unbounded.empty());

        eddy::Queue<int> q(3);
        CHECK(q.maxsize() == 3);
        CHECK(q.empty());
        CHECK_FALSE(q.full());
        q.put_nowait(1);
        CHECK(q.qsize() == 1);
        CHECK_FALSE(q.empty());
        CHECK_FALSE(q.full());
        q.put_nowait(2);
        q.put_nowait(3);
        CHECK(q.qsize() == 3);
        CHECK(q.full());
        (void)q.get_nowait();
        CHECK(q.qsize() == 2);
        CHECK_FALSE(q.full());
    }

    TEST_CASE("Queue: put on a non-full queue and get on a non-empty one do not suspend") {
        on_loop([]() -> eddy::Coro<void> {
            eddy::Queue<int> q(2);
            bool other_ran = false;
            auto other = eddy::create_task(set_flag(other_ran));
            co_await q.put(1);
            co_await q.put(2);
            CHECK(co_await q.get() == 1);
            CHECK_FALSE(other_ran);
            co_await other;
        });
    }

    TEST_CASE("Queue: get outside a Task throws RuntimeError") {
        eddy::Queue<int> q;
        q.put_nowait(1);
        auto g = q.get();
        CHECK_THROWS_AS((void)g.await_ready(), eddy::RuntimeError);
        CHECK(q.qsize() == 1);
    }

    TEST_CASE("Queue: a get on an empty queue waits for a put") {
        auto body = []() -> eddy::Coro<int> {
            eddy::Queue<int> q;
            auto getter = eddy::create_task(get_one(q));
            co_await eddy::sleep(5ms);
            CHECK_FALSE(getter.done());
            co_await q.put(42);
            co_return co_await getter;
        };
        CHECK(on_loop(body) == 42);
        CHECK(run_guarded(body()) == 42);
    }

    TEST_CASE("Queue: a bounded put waits until a get makes room") {
        auto body = []() -> eddy::Coro<std::vector<int>> {
            eddy::Queue<int> q(1);
            co_await q.put(1);
            auto putter = eddy::create_task(put_one(q, 2));
            co_await eddy::sleep(5ms);
            CHECK_FALSE(putter.done());
            CHECK(q.qsize() == 1);
            std::vector<int> out;
            out.push_back(co_await q.get());
            co_await putter;
            out.push_back(co_await q.get());
            CHECK(q.empty());
            co_return out;
        };
        CHECK(on_loop(body) == std::vector<int>{1, 2});
        CHECK(run_guarded(body()) == std::vector<int>{1, 2});
    }

    TEST_CASE("Queue: blocked getters are served in FIFO order") {
        on_loop([]() -> eddy::Coro<void> {
            eddy::Queue<int> q;
            std::vector<std::pair<int, int>> log;
            std::vector<eddy::Task<>> tasks;
            for (int i = 0; i < 4; ++i) {
                tasks.push_back(eddy::create_task(get_and_log(q, log, i)));
                co_await settle(2);
            }
            for (int v = 100; v < 104; ++v) {
                q.put_nowait(v);
            }
            CHECK(q.qsize() == 0); // every item went straight to a waiting getter
            for (auto& t : tasks) {
                co_await t;
            }
            CHECK(log == std::vector<std::pair<int, int>>{{0, 100}, {1, 101}, {2, 102}, {3, 103}});
        });
    }

    TEST_CASE("Queue: a getter that was not waiting does not overtake a woken one") {
        on_loop([]() -> eddy::Coro<void> {
            eddy::Queue<int> q;
            std::vector<std::pair<int, int>> log;
            auto waiting = eddy::create_task(get_and_log(q, log, 0));
            co_await settle();
            q.put_nowait(1); // for the waiting getter
            q.put_nowait(2);
            auto newcomer = eddy::create_task(get_and_log(q, log, 1));
            co_await waiting;
            co_await newcomer;
            REQUIRE(log.size() == 2);
            for (const auto& [id, v] : log) {
                CHECK(v == id + 1);
            }
        });
    }

    TEST_CASE("Queue: blocked putters are served in FIFO order") {
        on_loop([]() -> eddy::Coro<void> {
            eddy::Queue<int> q(1);
            q.put_nowait(0);
            std::vector<eddy::Task<>> putters;
            for (int i = 1; i <= 3; ++i) {
                putters.push_back(eddy::create_task(put_one(q, i)));
                co_await settle(2);
            }
            std::vector<int> out;
            for (int i = 0; i < 4; ++i) {
                out.push_back(co_await q.get());
                co_await settle();
            }
            for (auto& t : putters) {
                co_await t;
            }
            CHECK(out == std::vector<int>{0, 1, 2, 3});
            CHECK(q.empty());
        });
    }

    TEST_CASE("Queue: join returns at once when nothing is unfinished") {
        on_loop([]() -> eddy::Coro<void> {
            eddy::Queue<int> q;
            bool other_ran = false;
            auto other = eddy::create_task(set_flag(other_ran));
            co_await q.join();
            CHECK_FALSE(other_ran);
            q.put_nowait(1);
            (void)q.get_nowait();
            q.task_done();
            co_await q.join();
            CHECK_FALSE(other_ran);
            co_await other;
        });
    }

    TEST_CASE("Queue: join waits for task_done of every item put") {
        auto body = []() -> eddy::Coro<void> {
            eddy::Queue<int> q;
            co_await q.put(1);
            co_await q.put(2);
            auto joiner = eddy::create_task(q.join());
            co_await eddy::sleep(2ms);
            CHECK_FALSE(joiner.done());
            (void)co_await q.get();
            (void)co_await q.get();
            CHECK(q.empty());
            co_await eddy::sleep(2ms);
            CHECK_FALSE(joiner.done()); // got, but not yet task_done
            q.task_done();
            co_await eddy::sleep(2ms);
            CHECK_FALSE(joiner.done());
            q.task_done();
            co_await joiner;
            // A later put makes join wait again.
            q.put_nowait(3);
            auto again = eddy::create_task(q.join());
            co_await eddy::sleep(2ms);
            CHECK_FALSE(again.done());
            (void)q.get_nowait();
            q.task_done();
            co_await again;
        };
        on_loop(body);
        run_guarded(body());
    }

    TEST_CASE("Queue: task_done called too many times throws ValueError") {
        eddy::Queue<int> q;
        CHECK_THROWS_AS(q.task_done(), eddy::ValueError);
        q.put_nowait(1);
        q.task_done(); // allowed before the get: it counts items put
        CHECK_THROWS_AS(q.task_done(), eddy::ValueError);
    }

    TEST_CASE("Queue: consumers calling task_done release join across workers") {
        auto body = []() -> eddy::Coro<int> {
            eddy::Queue<int> q(4);
            std::atomic<int> processed{0};
            auto consumer = [&]() -> eddy::Coro<void> {
                for (;;) {
                    (void)co_await q.get();
                    processed.fetch_add(1);
                    q.task_done();
                }
            };
            std::vector<eddy::Task<>> consumers;
            for (int i = 0; i < 3; ++i) {
                consumers.push_back(eddy::create_task(consumer()));
            }
            for (int i = 0; i < 200; ++i) {
                co_await q.put(i);
            }
            co_await q.join();
            const int seen = processed.load();
            for (auto& c : consumers) {
                c.cancel();
            }
            for (auto& c : consumers) {
                co_await finish(c);
                CHECK(c.cancelled());
            }
            co_return seen;
        };
        CHECK(on_loop(body) == 200);
        CHECK(run_guarded(body()) == 200);
    }

    TEST_CASE("Queue: put_nowait from a plain thread feeds getters on the workers") {
        auto body = []() -> eddy::Coro<int> {
            eddy::Queue<int> q;
            std::vector<eddy::Task<int>> getters;
            for (int i = 0; i < 4; ++i) {
                getters.push_back(eddy::create_task(get_one(q)));
            }
            std::thread feeder([&q] {
                for (int i = 1; i <= 4; ++i) {
                    q.put_nowait(i);
                }
            });
            int sum = 0;
            for (auto& g : getters) {
                sum += co_await g;
            }
            feeder.join();
            CHECK(q.empty());
            co_return sum;
        };
        CHECK(run_guarded(body()) == 1 + 2 + 3 + 4);
    }

    // --- shutdown ------------------------------------------------------------------------------

    TEST_CASE("Queue: after shutdown, put and put_nowait throw QueueShutDown") {
        on_loop([]() -> eddy::Coro<void> {
            eddy::Queue<int> q;
            q.put_nowait(1);
            q.shutdown();
            CHECK_THROWS_AS(q.put_nowait(2), eddy::QueueShutDown);
            bool threw = false;
            try {
                co_await q.put(3);
            } catch (const eddy::QueueShutDown&) {
                threw = true;
            }
            CHECK(threw);
            CHECK(q.qsize() == 1);
        });
    }

    TEST_CASE("Queue: items stay gettable after shutdown(); then get throws QueueShutDown") {
        on_loop([]() -> eddy::Coro<void> {
            eddy::Queue<int> q;
            q.put_nowait(1);
            q.put_nowait(2);
            q.shutdown();
            CHECK(co_await q.get() == 1);
            CHECK(q.get_nowait() == 2);
            CHECK_THROWS_AS(q.get_nowait(), eddy::QueueShutDown);
            bool threw = false;
            try {
                (void)co_await q.get();
            } catch (const eddy::QueueShutDown&) {
                threw = true;
            }
            CHECK(threw);
        });
    }

    TEST_CASE("Queue: shutdown wakes blocked getters with QueueShutDown") {
        auto body = []() -> eddy::Coro<void> {
            eddy::Queue<int> q;
            std::vector<eddy::Task<int>> getters;
            for (int i = 0; i < 3; ++i) {
                getters.push_back(eddy::create_task(get_one(q)));
            }
            co_await eddy::sleep(5ms);
            q.shutdown();
            for (auto& g : getters) {
                co_await finish(g);
                CHECK_THROWS_AS(g.result(), eddy::QueueShutDown);
            }
        };
        on_loop(body);
        run_guarded(body());
    }

    TEST_CASE("Queue: shutdown wakes blocked putters with QueueShutDown; their items are dropped") {
        auto body = []() -> eddy::Coro<void> {
            eddy::Queue<int> q(1);
            q.put_nowait(0);
            std::vector<eddy::Task<>> putters;
            for (int i = 1; i <= 2; ++i) {
                putters.push_back(eddy::create_task(put_one(q, i)));
            }
            co_await eddy::sleep(5ms);
            q.shutdown();
            for (auto& p : putters) {
                co_await finish(p);
                CHECK_THROWS_AS(p.result(), eddy::QueueShutDown);
            }
            CHECK(q.qsize() == 1);
            CHECK(q.get_nowait() == 0);
            CHECK_THROWS_AS(q.get_nowait(), eddy::QueueShutDown);
        };
        on_loop(body);
        run_guarded(body());
    }

    TEST_CASE("Queue: shutdown(immediate) drops the items and releases join") {
        auto body = []() -> eddy::Coro<void> {
            eddy::Queue<int> q;
            for (int i = 0; i < 5; ++i) {
                q.put_nowait(i);
            }
            auto joiner = eddy::create_task(q.join());
            co_await eddy::sleep(2ms);
            CHECK_FALSE(joiner.done());
            q.shutdown(true);
            CHECK(q.qsize() == 0);
            CHECK(q.empty());
            co_await joiner;
            CHECK_THROWS_AS(q.get_nowait(), eddy::QueueShutDown);
            bool threw = false;
            try {
                (void)co_await q.get();
            } catch (const eddy::QueueShutDown&) {
                threw = true;
            }
            CHECK(threw);
            CHECK_THROWS_AS(q.put_nowait(1), eddy::QueueShutDown);
        };
        on_loop(body);
        run_guarded(body());
    }

    TEST_CASE("Queue: shutdown(immediate) still waits for items got but not task_done") {
        on_loop([]() -> eddy::Coro<void> {
            eddy::Queue<int> q;
            q.put_nowait(1);
            q.put_nowait(2);
            (void)q.get_nowait(); // in progress: unfinished until task_done
            q.shutdown(true);
            auto joiner = eddy::create_task(q.join());
            co_await settle();
            CHECK_FALSE(joiner.done());
            q.task_done();
            co_await joiner;
            CHECK_THROWS_AS(q.task_done(), eddy::ValueError);
        });
    }

    // --- cancellation --------------------------------------------------------------------------

    TEST_CASE("Queue: a getter cancelled while waiting takes nothing; the item goes to the next") {
        on_loop([]() -> eddy::Coro<void> {
            eddy::Queue<int> q;
            auto g0 = eddy::create_task(get_one(q));
            auto g1 = eddy::create_task(get_one(q));
            co_await settle();
            g0.cancel();
            co_await finish(g0);
            CHECK(g0.cancelled());
            q.put_nowait(7);
            CHECK(co_await g1 == 7);
            CHECK(q.empty());
        });
    }

    TEST_CASE("Queue: a getter cancelled right after being handed an item passes it on") {
        on_loop([]() -> eddy::Coro<void> {
            eddy::Queue<int> q;
            auto g0 = eddy::create_task(get_one(q));
            auto g1 = eddy::create_task(get_one(q));
            co_await settle();
            q.put_nowait(7); // handed to g0...
            g0.cancel();     // ...which is cancelled before it runs
            co_await finish(g0);
            CHECK(g0.cancelled());
            co_await settle();
            CHECK(g1.done()); // g0 gave the item back to g1
            CHECK(co_await g1 == 7);
            CHECK(q.empty());
        });
    }

    TEST_CASE("Queue: an item given back by a cancelled getter keeps its place at the front") {
        on_loop([]() -> eddy::Coro<void> {
            eddy::Queue<int> q;
            auto g0 = eddy::create_task(get_one(q));
            co_await settle();
            q.put_nowait(1); // handed to g0
            q.put_nowait(2); // queued
            CHECK(q.qsize() == 1);
            g0.cancel();
            co_await finish(g0);
            CHECK(g0.cancelled());
            CHECK(q.qsize() == 2);
            CHECK(q.get_nowait() == 1);
            CHECK(q.get_nowait() == 2);
        });
    }

    TEST_CASE("Queue: a putter cancelled while waiting puts nothing") {
        on_loop([]() -> eddy::Coro<void> {
            eddy::Queue<int> q(1);
            q.put_nowait(0);
            auto p = eddy::create_task(put_one(q, 1));
            co_await settle();
            p.cancel();
            co_await finish(p);
            CHECK(p.cancelled());
            CHECK(q.qsize() == 1);
            CHECK(q.get_nowait() == 0);
            CHECK(q.empty());
            // The cancelled put is not counted as unfinished: one task_done releases join.
            q.task_done();
            co_await q.join();
        });
    }

    TEST_CASE("Queue: a putter cancelled right after being woken passes the wake-up on") {
        on_loop([]() -> eddy::Coro<void> {
            eddy::Queue<int> q(1);
            q.put_nowait(0);
            auto p1 = eddy::create_task(put_one(q, 1));
            auto p2 = eddy::create_task(put_one(q, 2));
            co_await settle();
            CHECK(q.get_nowait() == 0); // wakes p1...
            p1.cancel();                // ...which is cancelled before it runs
            co_await finish(p1);
            CHECK(p1.cancelled());
            co_await settle();
            CHECK(p2.done()); // p1 passed its wake-up on
            co_await p2;
            CHECK(q.get_nowait() == 2);
            CHECK(q.empty());
        });
    }

    // --- move-only items -----------------------------------------------------------------------

    TEST_CASE("Queue: move-only items (unique_ptr) pass through every path") {
        auto body = []() -> eddy::Coro<int> {
            using Item = std::unique_ptr<int>;
            eddy::Queue<Item> q(1);
            int sum = 0;
            // Fast paths.
            co_await q.put(std::make_unique<int>(1));
            sum += *co_await q.get();
            q.put_nowait(std::make_unique<int>(2));
            sum += *q.get_nowait();
            // A getter waiting is handed the item directly.
            auto getter = eddy::create_task(get_one(q));
            co_await eddy::sleep(2ms);
            co_await q.put(std::make_unique<int>(3));
            Item got = co_await getter;
            sum += *got;
            // A putter waits on the full queue.
            q.put_nowait(std::make_unique<int>(4));
            auto putter = eddy::create_task(put_one(q, std::make_unique<int>(5)));
            co_await eddy::sleep(2ms);
            sum += *co_await q.get();
            co_await putter;
            sum += *co_await q.get();

            eddy::LifoQueue<Item> lq;
            lq.put_nowait(std::make_unique<int>(6));
            lq.put_nowait(std::make_unique<int>(7));
            CHECK(*lq.get_nowait() == 7);
            sum += *co_await lq.get();
            co_return sum;
        };
        CHECK(on_loop(body) == 1 + 2 + 3 + 4 + 5 + 6);
        CHECK(run_guarded(body()) == 1 + 2 + 3 + 4 + 5 + 6);
    }

    TEST_CASE("Queue: items without a default constructor work on the waiting paths") {
        struct NoDefault {
            explicit NoDefault(int x) : v(x) {}
            int v;
        };
        on_loop([]() -> eddy::Coro<void> {
            eddy::Queue<NoDefault> q(1);
            auto getter = eddy::create_task(get_one(q));
            co_await settle();
            co_await q.put(NoDefault(1)); // handed to the waiting getter
            CHECK((co_await getter).v == 1);
            q.put_nowait(NoDefault(2));
            auto putter = eddy::create_task(put_one(q, NoDefault(3)));
            co_await settle();
            CHECK(q.get_nowait().v == 2);
            co_await putter;
            CHECK((co_await q.get()).v == 3);
        });
    }

    TEST_CASE("Queue: a move-only item given back by a cancelled getter is not lost") {
        on_loop([]() -> eddy::Coro<void> {
            eddy::Queue<std::unique_ptr<int>> q;
            auto g0 = eddy::create_task(get_one(q));
            co_await settle();
            q.put_nowait(std::make_unique<int>(9));
            g0.cancel();
            co_await finish(g0);
            CHECK(g0.cancelled());
            REQUIRE(q.qsize() == 1);
            auto v = q.get_nowait();
            REQUIRE(v != nullptr);
            CHECK(*v == 9);
        });
    }
}
