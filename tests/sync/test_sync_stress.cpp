// Bounded-time stress tests hunting races in the synchronisation primitives and queues: many
// Tasks on runtimes of 8 workers (oversubscribed on small machines) and of EDDY_WORKERS, with
// exact end-of-run accounting, and cancellation storms racing with releases and puts.
//
// Every count is checked exactly (nothing lost, nothing duplicated); timing never decides the
// outcome. Iteration counts are kept small enough for a debug build and smaller under the
// sanitizers.

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
#include <deque>
#include <exception>
#include <memory>
#include <mutex>
#include <random>
#include <thread>
#include <vector>

namespace {

#if defined(__SANITIZE_THREAD__) || defined(__SANITIZE_ADDRESS__)
constexpr int scale_div = 2;
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer) || __has_feature(address_sanitizer)
constexpr int scale_div = 2;
#else
constexpr int scale_div = 1;
#endif
#else
constexpr int scale_div = 1;
#endif

/// Aborts the process with a message if the test it guards runs for longer than `limit`: a
/// hang (a lost wake-up) is then reported by name instead of as a bare ctest timeout.
class Watchdog {
public:
    explicit Watchdog(const char* what, std::chrono::seconds limit = std::chrono::seconds(90))
        : thread_([this, what, limit] {
              std::unique_lock lock(mu_);
              if (!cv_.wait_for(lock, limit, [this] { return done_; })) {
                  std::fprintf(stderr, "watchdog: \"%s\" still running after %lld s: hung\n", what,
                               static_cast<long long>(limit.count()));
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

/// `n`, smaller under a sanitizer.
constexpr int scaled(int n) {
    return std::max(1, n / scale_div);
}

/// Awaits `t` and swallows its outcome.
template <class T>
eddy::Coro<void> finish(eddy::Task<T> t) {
    try {
        co_await t;
    } catch (...) {
    }
}

/// Runs `make()` on a Runtime of `workers` workers (0: EDDY_WORKERS, else the default).
template <class F>
auto run_on(unsigned workers, F make) {
    return eddy::run(make(), eddy::Config{.workers = workers});
}

/// Raises `peak` to at least `now`.
void raise_peak(std::atomic<int>& peak, int now) {
    int p = peak.load();
    while (now > p && !peak.compare_exchange_weak(p, now)) {
    }
}

/// A per-Task random stream (each Task owns its own engine: no sharing between threads).
std::minstd_rand make_rng(unsigned seed) {
    return std::minstd_rand(seed * 2654435761U + 1U);
}

/// Counts how many of `slots` hold exactly `want`.
std::size_t count_equal(const std::vector<std::atomic<int>>& slots, int want) {
    return static_cast<std::size_t>(
        std::count_if(slots.begin(), slots.end(),
                      [want](const std::atomic<int>& a) { return a.load() == want; }));
}

} // namespace

TEST_SUITE("sync/stress") {
    TEST_CASE("Queue: producers and consumers on a bounded queue; every item arrives once") {
        const Watchdog watchdog(
            "Queue: producers and consumers on a bounded queue; every item arrives once");
        for (unsigned workers : {8U, 0U}) {
            CAPTURE(workers);
            const int producers = 6;
            const int consumers = 5;
            const int per_producer = scaled(60'000);
            const int total = producers * per_producer;
            std::vector<std::atomic<int>> seen(static_cast<std::size_t>(total));
            std::atomic<long long> sum{0};
            run_on(workers, [&]() -> eddy::Coro<void> {
                eddy::Queue<int> q(64);
                auto producer = [&](int p) -> eddy::Coro<void> {
                    for (int i = 0; i < per_producer; ++i) {
                        co_await q.put(p * per_producer + i);
                    }
                };
                auto consumer = [&]() -> eddy::Coro<int> {
                    int got = 0;
                    for (;;) {
                        int v = 0;
                        try {
                            v = co_await q.get();
                        } catch (const eddy::QueueShutDown&) {
                            break;
                        }
                        seen[static_cast<std::size_t>(v)].fetch_add(1);
                        sum.fetch_add(v);
                        ++got;
                    }
                    co_return got;
                };
                std::vector<eddy::Task<>> ps;
                std::vector<eddy::Task<int>> cs;
                for (int c = 0; c < consumers; ++c) {
                    cs.push_back(eddy::create_task(consumer()));
                }
                for (int p = 0; p < producers; ++p) {
                    ps.push_back(eddy::create_task(producer(p)));
                }
                for (auto& p : ps) {
                    co_await p;
                }
                q.shutdown(); // consumers drain what is left, then get QueueShutDown
                int got = 0;
                for (auto& c : cs) {
                    got += co_await c;
                }
                CHECK(got == total);
                CHECK(q.empty());
            });
            CHECK(count_equal(seen, 1) == static_cast<std::size_t>(total));
            const long long n = total;
            CHECK(sum.load() == n * (n - 1) / 2);
        }
    }

    TEST_CASE("Queue: one consumer sees each producer's items in the order they were put") {
        const Watchdog watchdog(
            "Queue: one consumer sees each producer's items in the order they were put");
        const int producers = 4;
        const int per_producer = scaled(40'000);
        std::vector<int> last(producers, -1);
        bool in_order = true;
        int received = 0;
        run_on(8, [&]() -> eddy::Coro<void> {
            eddy::Queue<std::pair<int, int>> q(16);
            auto producer = [&](int p) -> eddy::Coro<void> {
                for (int i = 0; i < per_producer; ++i) {
                    co_await q.put({p, i});
                }
            };
            std::vector<eddy::Task<>> ps;
            for (int p = 0; p < producers; ++p) {
                ps.push_back(eddy::create_task(producer(p)));
            }
            for (int n = 0; n < producers * per_producer; ++n) {
                auto [p, i] = co_await q.get();
                auto& l = last[static_cast<std::size_t>(p)];
                if (i != l + 1) {
                    in_order = false;
                }
                l = i;
                ++received;
            }
            for (auto& p : ps) {
                co_await p;
            }
            CHECK(q.empty());
        });
        CHECK(in_order);
        CHECK(received == producers * per_producer);
        CHECK(std::all_of(last.begin(), last.end(), [&](int l) { return l == per_producer - 1; }));
    }

    TEST_CASE("PriorityQueue and LifoQueue: every item arrives once under contention") {
        const Watchdog watchdog(
            "PriorityQueue and LifoQueue: every item arrives once under contention");
        const int producers = 4;
        const int per_producer = scaled(20'000);
        const int total = producers * per_producer;
        std::vector<std::atomic<int>> seen_pq(static_cast<std::size_t>(total));
        std::vector<std::atomic<int>> seen_lq(static_cast<std::size_t>(total));
        run_on(8, [&]() -> eddy::Coro<void> {
            eddy::PriorityQueue<int> pq(32);
            eddy::LifoQueue<int> lq(32);
            auto producer = [&](int p) -> eddy::Coro<void> {
                for (int i = 0; i < per_producer; ++i) {
                    co_await pq.put(p * per_producer + i);
                    co_await lq.put(p * per_producer + i);
                }
            };
            auto drain = [](auto& q, std::vector<std::atomic<int>>& seen) -> eddy::Coro<void> {
                for (;;) {
                    int v = 0;
                    try {
                        v = co_await q.get();
                    } catch (const eddy::QueueShutDown&) {
                        break;
                    }
                    seen[static_cast<std::size_t>(v)].fetch_add(1);
                }
            };
            std::vector<eddy::Task<>> ps;
            std::vector<eddy::Task<>> cs;
            for (int c = 0; c < 3; ++c) {
                cs.push_back(eddy::create_task(drain(pq, seen_pq)));
                cs.push_back(eddy::create_task(drain(lq, seen_lq)));
            }
            for (int p = 0; p < producers; ++p) {
                ps.push_back(eddy::create_task(producer(p)));
            }
            for (auto& p : ps) {
                co_await p;
            }
            pq.shutdown();
            lq.shutdown();
            for (auto& c : cs) {
                co_await c;
            }
        });
        CHECK(count_equal(seen_pq, 1) == static_cast<std::size_t>(total));
        CHECK(count_equal(seen_lq, 1) == static_cast<std::size_t>(total));
    }

    TEST_CASE("Lock: a non-atomic counter incremented under the lock by many Tasks is exact") {
        const Watchdog watchdog(
            "Lock: a non-atomic counter incremented under the lock by many Tasks is exact");
        for (unsigned workers : {8U, 0U}) {
            CAPTURE(workers);
            const int tasks = 64;
            const int iterations = scaled(1'000);
            int counter = 0; // protected by the lock only
            std::atomic<int> inside{0};
            std::atomic<bool> overlap{false};
            run_on(workers, [&]() -> eddy::Coro<void> {
                eddy::Lock lock;
                auto worker = [&](unsigned id) -> eddy::Coro<void> {
                    auto rng = make_rng(id);
                    for (int i = 0; i < iterations; ++i) {
                        const auto r = rng() % 4U;
                        if (r == 0) {
                            auto g = co_await lock.scoped();
                            if (inside.fetch_add(1) != 0) {
                                overlap = true;
                            }
                            const int c = counter;
                            co_await eddy::yield_now(); // hold the lock across a suspension
                            counter = c + 1;
                            inside.fetch_sub(1);
                        } else if (r == 1 && lock.try_acquire()) {
                            if (inside.fetch_add(1) != 0) {
                                overlap = true;
                            }
                            ++counter;
                            inside.fetch_sub(1);
                            lock.release();
                        } else {
                            if (r == 1) {
                                co_await eddy::yield_now();
                            }
                            co_await lock.acquire();
                            if (inside.fetch_add(1) != 0) {
                                overlap = true;
                            }
                            ++counter;
                            inside.fetch_sub(1);
                            lock.release();
                        }
                        if (rng() % 8U == 0) {
                            co_await eddy::yield_now();
                        }
                    }
                };
                std::vector<eddy::Task<>> all;
                for (int t = 0; t < tasks; ++t) {
                    all.push_back(eddy::create_task(worker(static_cast<unsigned>(t))));
                }
                for (auto& t : all) {
                    co_await t;
                }
                CHECK_FALSE(lock.locked());
            });
            CHECK_FALSE(overlap.load());
            CHECK(counter == tasks * iterations);
        }
    }

    TEST_CASE("Semaphore: concurrency never exceeds the permits; all permits come back") {
        const Watchdog watchdog(
            "Semaphore: concurrency never exceeds the permits; all permits come back");
        for (unsigned workers : {8U, 0U}) {
            CAPTURE(workers);
            constexpr std::int64_t limit = 3;
            const int tasks = 48;
            const int iterations = scaled(600);
            std::atomic<int> inside{0};
            std::atomic<int> peak{0};
            std::atomic<int> passes{0};
            std::int64_t final_value = -1;
            run_on(workers, [&]() -> eddy::Coro<void> {
                eddy::BoundedSemaphore sem(limit);
                auto user = [&](unsigned id) -> eddy::Coro<void> {
                    auto rng = make_rng(id + 1000U);
                    for (int i = 0; i < iterations; ++i) {
                        auto g = co_await sem.scoped();
                        raise_peak(peak, inside.fetch_add(1) + 1);
                        if (rng() % 2U == 0) {
                            co_await eddy::yield_now();
                        }
                        inside.fetch_sub(1);
                        passes.fetch_add(1);
                    }
                };
                std::vector<eddy::Task<>> all;
                for (int t = 0; t < tasks; ++t) {
                    all.push_back(eddy::create_task(user(static_cast<unsigned>(t))));
                }
                for (auto& t : all) {
                    co_await t;
                }
                final_value = sem.value();
            });
            CHECK(peak.load() <= limit);
            CHECK(passes.load() == tasks * iterations);
            CHECK(final_value == limit);
        }
    }

    TEST_CASE("Condition: bounded-buffer producers and consumers; every item consumed once") {
        const Watchdog watchdog(
            "Condition: bounded-buffer producers and consumers; every item consumed once");
        for (unsigned workers : {8U, 0U}) {
            CAPTURE(workers);
            const int producers = 4;
            const int consumers = 4;
            const int per_producer = scaled(10'000);
            const int total = producers * per_producer;
            constexpr std::size_t capacity = 8;
            std::vector<std::atomic<int>> seen(static_cast<std::size_t>(total));
            std::atomic<bool> overflow{false};
            run_on(workers, [&]() -> eddy::Coro<void> {
                eddy::Condition cond;
                std::deque<int> buffer;         // guarded by cond's lock
                int producers_left = producers; // guarded by cond's lock
                auto producer = [&](int p) -> eddy::Coro<void> {
                    for (int i = 0; i < per_producer; ++i) {
                        auto g = co_await cond.scoped();
                        co_await cond.wait_for([&] { return buffer.size() < capacity; });
                        buffer.push_back(p * per_producer + i);
                        if (buffer.size() > capacity) {
                            overflow = true;
                        }
                        cond.notify_all();
                    }
                    auto g = co_await cond.scoped();
                    --producers_left;
                    cond.notify_all();
                };
                auto consumer = [&]() -> eddy::Coro<void> {
                    for (;;) {
                        auto g = co_await cond.scoped();
                        co_await cond.wait_for(
                            [&] { return !buffer.empty() || producers_left == 0; });
                        if (buffer.empty()) {
                            co_return; // producers done and nothing left
                        }
                        const int v = buffer.front();
                        buffer.pop_front();
                        seen[static_cast<std::size_t>(v)].fetch_add(1);
                        cond.notify_all(); // room for a producer
                    }
                };
                std::vector<eddy::Task<>> all;
                for (int c = 0; c < consumers; ++c) {
                    all.push_back(eddy::create_task(consumer()));
                }
                for (int p = 0; p < producers; ++p) {
                    all.push_back(eddy::create_task(producer(p)));
                }
                for (auto& t : all) {
                    co_await t;
                }
                CHECK(buffer.empty());
                CHECK_FALSE(cond.locked());
            });
            CHECK_FALSE(overflow.load());
            CHECK(count_equal(seen, 1) == static_cast<std::size_t>(total));
        }
    }

    TEST_CASE("Condition: notify(1) per item with single-item waits loses no wake-up") {
        const Watchdog watchdog(
            "Condition: notify(1) per item with single-item waits loses no wake-up");
        const int producers = 3;
        const int consumers = 6;
        const int per_producer = scaled(10'000);
        const int total = producers * per_producer;
        std::vector<std::atomic<int>> seen(static_cast<std::size_t>(total));
        run_on(8, [&]() -> eddy::Coro<void> {
            eddy::Condition cond;
            std::deque<int> buffer; // guarded by cond's lock
            bool done = false;      // guarded by cond's lock
            auto producer = [&](int p) -> eddy::Coro<void> {
                for (int i = 0; i < per_producer; ++i) {
                    {
                        auto g = co_await cond.scoped();
                        buffer.push_back(p * per_producer + i);
                        cond.notify(1);
                    }
                    if (i % 16 == 0) {
                        co_await eddy::yield_now();
                    }
                }
            };
            auto consumer = [&]() -> eddy::Coro<void> {
                for (;;) {
                    auto g = co_await cond.scoped();
                    co_await cond.wait_for([&] { return !buffer.empty() || done; });
                    if (buffer.empty()) {
                        co_return;
                    }
                    seen[static_cast<std::size_t>(buffer.front())].fetch_add(1);
                    buffer.pop_front();
                }
            };
            std::vector<eddy::Task<>> cs;
            std::vector<eddy::Task<>> ps;
            for (int c = 0; c < consumers; ++c) {
                cs.push_back(eddy::create_task(consumer()));
            }
            for (int p = 0; p < producers; ++p) {
                ps.push_back(eddy::create_task(producer(p)));
            }
            for (auto& p : ps) {
                co_await p;
            }
            // Every item must be consumed before `done`: a lost notification would leave an
            // item in the buffer with every consumer asleep. Wait for the consumers to empty
            // it while they are still only woken by notify(1)...
            for (;;) {
                auto g = co_await cond.scoped();
                if (buffer.empty()) {
                    break;
                }
                g.reset();
                co_await eddy::yield_now();
            }
            {
                auto g = co_await cond.scoped();
                done = true;
                cond.notify_all();
            }
            for (auto& c : cs) {
                co_await c;
            }
        });
        CHECK(count_equal(seen, 1) == static_cast<std::size_t>(total));
    }

    TEST_CASE("Event: a relay of Events across workers loses no wake-up") {
        const Watchdog watchdog("Event: a relay of Events across workers loses no wake-up");
        const int stages = 16;
        const int rounds = scaled(1'000);
        int completed = 0;
        run_on(8, [&]() -> eddy::Coro<void> {
            for (int r = 0; r < rounds; ++r) {
                std::vector<std::unique_ptr<eddy::Event>> evs;
                for (int i = 0; i <= stages; ++i) {
                    evs.push_back(std::make_unique<eddy::Event>());
                }
                auto stage = [&evs](std::size_t i) -> eddy::Coro<void> {
                    co_await evs[i]->wait();
                    evs[i + 1]->set();
                };
                std::vector<eddy::Task<>> all;
                for (std::size_t i = 0; i < static_cast<std::size_t>(stages); ++i) {
                    all.push_back(eddy::create_task(stage(i)));
                }
                evs.front()->set();
                co_await evs.back()->wait();
                for (auto& t : all) {
                    co_await t;
                }
                ++completed;
            }
        });
        CHECK(completed == rounds);
    }

    TEST_CASE("Barrier: nobody leaves a cycle before every party arrived") {
        const Watchdog watchdog("Barrier: nobody leaves a cycle before every party arrived");
        for (unsigned workers : {8U, 0U}) {
            CAPTURE(workers);
            constexpr std::size_t parties = 8;
            const int cycles = scaled(1'500);
            std::vector<std::atomic<int>> arrivals(static_cast<std::size_t>(cycles));
            std::vector<std::atomic<int>> index_mask(static_cast<std::size_t>(cycles));
            std::atomic<bool> early{false};
            run_on(workers, [&]() -> eddy::Coro<void> {
                eddy::Barrier b(parties);
                auto party = [&]() -> eddy::Coro<void> {
                    for (std::size_t c = 0; c < static_cast<std::size_t>(cycles); ++c) {
                        arrivals[c].fetch_add(1);
                        const std::size_t idx = co_await b.wait();
                        if (arrivals[c].load() != static_cast<int>(parties)) {
                            early = true;
                        }
                        index_mask[c].fetch_or(1 << idx);
                    }
                };
                std::vector<eddy::Task<>> all;
                for (std::size_t i = 0; i < parties; ++i) {
                    all.push_back(eddy::create_task(party()));
                }
                for (auto& t : all) {
                    co_await t;
                }
                CHECK_FALSE(b.broken());
                CHECK(b.n_waiting() == 0);
            });
            CHECK_FALSE(early.load());
            CHECK(count_equal(index_mask, (1 << parties) - 1) == static_cast<std::size_t>(cycles));
        }
    }

    // --- cancellation storms -------------------------------------------------------------------

    TEST_CASE("Lock: waiters cancelled at random while others release; nothing hangs or leaks") {
        const Watchdog watchdog(
            "Lock: waiters cancelled at random while others release; nothing hangs or leaks");
        for (unsigned workers : {8U, 0U}) {
            CAPTURE(workers);
            const int waves = scaled(200);
            const int per_wave = 24;
            int counter = 0; // protected by the lock
            std::atomic<int> acquired{0};
            std::atomic<bool> overlap{false};
            std::atomic<int> inside{0};
            bool lock_free_at_end = false;
            run_on(workers, [&]() -> eddy::Coro<void> {
                eddy::Lock lock;
                auto rng = make_rng(7U);
                auto contender = [&](unsigned id) -> eddy::Coro<void> {
                    auto my_rng = make_rng(id + 99U);
                    for (int i = 0; i < 4; ++i) {
                        auto g = co_await lock.scoped();
                        acquired.fetch_add(1);
                        if (inside.fetch_add(1) != 0) {
                            overlap = true;
                        }
                        ++counter;
                        inside.fetch_sub(1);
                        if (my_rng() % 2U == 0) {
                            co_await eddy::yield_now(); // may be cancelled here, holding it
                        }
                    }
                };
                for (int w = 0; w < waves; ++w) {
                    std::vector<eddy::Task<>> all;
                    for (int t = 0; t < per_wave; ++t) {
                        all.push_back(
                            eddy::create_task(contender(static_cast<unsigned>(w * per_wave + t))));
                    }
                    for (int k = 0; k < per_wave / 2; ++k) {
                        if (rng() % 2U == 0) {
                            co_await eddy::yield_now();
                        }
                        all[rng() % all.size()].cancel();
                    }
                    for (auto& t : all) {
                        co_await finish(t);
                    }
                }
                lock_free_at_end = !lock.locked() && lock.try_acquire();
                if (lock_free_at_end) {
                    lock.release();
                }
            });
            CHECK_FALSE(overlap.load());
            CHECK(counter == acquired.load());
            CHECK(lock_free_at_end);
        }
    }

    TEST_CASE("Semaphore: waiters cancelled at random; every permit comes back") {
        const Watchdog watchdog("Semaphore: waiters cancelled at random; every permit comes back");
        for (unsigned workers : {8U, 0U}) {
            CAPTURE(workers);
            constexpr std::int64_t limit = 2;
            const int waves = scaled(200);
            const int per_wave = 24;
            std::atomic<int> inside{0};
            std::atomic<int> peak{0};
            std::int64_t final_value = -1;
            bool locked_at_end = true;
            run_on(workers, [&]() -> eddy::Coro<void> {
                eddy::BoundedSemaphore sem(limit);
                auto rng = make_rng(11U);
                auto user = [&]() -> eddy::Coro<void> {
                    for (int i = 0; i < 4; ++i) {
                        auto g = co_await sem.scoped();
                        raise_peak(peak, inside.fetch_add(1) + 1);
                        inside.fetch_sub(1);
                        co_await eddy::yield_now();
                    }
                };
                for (int w = 0; w < waves; ++w) {
                    std::vector<eddy::Task<>> all;
                    for (int t = 0; t < per_wave; ++t) {
                        all.push_back(eddy::create_task(user()));
                    }
                    for (int k = 0; k < per_wave / 2; ++k) {
                        if (rng() % 2U == 0) {
                            co_await eddy::yield_now();
                        }
                        all[rng() % all.size()].cancel();
                    }
                    for (auto& t : all) {
                        co_await finish(t);
                    }
                }
                final_value = sem.value();
                locked_at_end = sem.locked();
            });
            CHECK(peak.load() <= limit);
            CHECK(final_value == limit);
            CHECK_FALSE(locked_at_end);
        }
    }

    TEST_CASE("Queue: getters and putters cancelled at random; no item lost or duplicated") {
        const Watchdog watchdog(
            "Queue: getters and putters cancelled at random; no item lost or duplicated");
        for (unsigned workers : {8U, 0U}) {
            CAPTURE(workers);
            const int total = scaled(100'000);
            // put_ok[v]: v's put returned normally; received[v]: times v was got.
            std::vector<std::atomic<int>> put_ok(static_cast<std::size_t>(total));
            std::vector<std::atomic<int>> received(static_cast<std::size_t>(total));
            std::atomic<int> next_item{0};
            std::size_t left_in_queue = 0;
            int cancels = 0;
            run_on(workers, [&]() -> eddy::Coro<void> {
                eddy::Queue<int> q(4);
                auto producer = [&]() -> eddy::Coro<void> {
                    for (;;) {
                        const int v = next_item.fetch_add(1);
                        if (v >= total) {
                            co_return;
                        }
                        co_await q.put(v); // CancelledError: v was not put
                        put_ok[static_cast<std::size_t>(v)].store(1);
                    }
                };
                auto consumer = [&]() -> eddy::Coro<void> {
                    for (;;) {
                        int v = 0;
                        try {
                            v = co_await q.get();
                        } catch (const eddy::QueueShutDown&) {
                            co_return;
                        }
                        received[static_cast<std::size_t>(v)].fetch_add(1);
                    }
                };
                auto rng = make_rng(5U);
                std::vector<eddy::Task<>> producers;
                std::vector<eddy::Task<>> consumers;
                std::vector<eddy::Task<>> retired;
                for (int i = 0; i < 4; ++i) {
                    producers.push_back(eddy::create_task(producer()));
                    consumers.push_back(eddy::create_task(consumer()));
                }
                while (next_item.load() < total) {
                    co_await eddy::yield_now();
                    auto& pool = rng() % 2U == 0 ? producers : consumers;
                    const std::size_t i = rng() % pool.size();
                    if (pool[i].cancel()) {
                        ++cancels;
                    }
                    // Replace the victim (or a Task that ended) with a fresh one.
                    retired.push_back(pool[i]);
                    pool[i] = &pool == &producers ? eddy::create_task(producer())
                                                  : eddy::create_task(consumer());
                }
                for (auto& p : producers) {
                    co_await finish(p);
                }
                for (auto& r : retired) {
                    co_await finish(r);
                }
                q.shutdown(); // the live consumers drain the queue, then stop
                for (auto& c : consumers) {
                    co_await finish(c);
                    CHECK_FALSE(c.cancelled());
                }
                left_in_queue = q.qsize();
            });
            CHECK(left_in_queue == 0);
            std::size_t mismatched = 0;
            std::size_t delivered = 0;
            for (std::size_t v = 0; v < static_cast<std::size_t>(total); ++v) {
                if (received[v].load() != put_ok[v].load()) {
                    ++mismatched;
                }
                delivered += static_cast<std::size_t>(received[v].load());
            }
            CHECK(mismatched == 0);
            MESSAGE("cancels: " << cancels << ", delivered: " << delivered << " of " << total);
        }
    }

    TEST_CASE("Condition: consumers cancelled at random pass their notifications on") {
        const Watchdog watchdog(
            "Condition: consumers cancelled at random pass their notifications on");
        for (unsigned workers : {8U, 0U}) {
            CAPTURE(workers);
            const int total = scaled(20'000);
            std::vector<std::atomic<int>> seen(static_cast<std::size_t>(total));
            std::atomic<bool> lock_not_held{false};
            run_on(workers, [&]() -> eddy::Coro<void> {
                eddy::Condition cond;
                std::deque<int> buffer; // guarded by cond's lock
                bool done = false;      // guarded by cond's lock
                auto consumer = [&]() -> eddy::Coro<void> {
                    for (;;) {
                        co_await cond.acquire();
                        bool cancelled = false;
                        try {
                            co_await cond.wait_for([&] { return !buffer.empty() || done; });
                        } catch (const eddy::CancelledError&) {
                            cancelled = true;
                        }
                        // wait() holds the lock again on the way out, even when cancelled.
                        if (!cond.locked()) {
                            lock_not_held = true;
                        }
                        if (cancelled || buffer.empty()) {
                            cond.release();
                            co_return;
                        }
                        seen[static_cast<std::size_t>(buffer.front())].fetch_add(1);
                        buffer.pop_front();
                        cond.release();
                    }
                };
                auto producer = [&]() -> eddy::Coro<void> {
                    for (int i = 0; i < total; ++i) {
                        {
                            auto g = co_await cond.scoped();
                            buffer.push_back(i);
                            cond.notify(1);
                        }
                        if (i % 8 == 0) {
                            co_await eddy::yield_now();
                        }
                    }
                };
                auto rng = make_rng(3U);
                std::vector<eddy::Task<>> consumers;
                std::vector<eddy::Task<>> retired;
                for (int i = 0; i < 6; ++i) {
                    consumers.push_back(eddy::create_task(consumer()));
                }
                auto prod = eddy::create_task(producer());
                while (!prod.done()) {
                    co_await eddy::yield_now();
                    const std::size_t i = rng() % consumers.size();
                    consumers[i].cancel();
                    retired.push_back(consumers[i]);
                    consumers[i] = eddy::create_task(consumer());
                }
                co_await prod;
                for (auto& r : retired) {
                    co_await finish(r);
                }
                // The live consumers must empty the buffer on the notifications alone.
                for (;;) {
                    auto g = co_await cond.scoped();
                    if (buffer.empty()) {
                        break;
                    }
                    g.reset();
                    co_await eddy::yield_now();
                }
                {
                    auto g = co_await cond.scoped();
                    done = true;
                    cond.notify_all();
                }
                for (auto& c : consumers) {
                    co_await finish(c);
                }
            });
            CHECK_FALSE(lock_not_held.load());
            CHECK(count_equal(seen, 1) == static_cast<std::size_t>(total));
        }
    }

    TEST_CASE("Event: waiters cancelled while set/clear race; the others all wake") {
        const Watchdog watchdog(
            "Event: waiters cancelled while set/clear race; the others all wake");
        for (unsigned workers : {8U, 0U}) {
            CAPTURE(workers);
            const int rounds = scaled(600);
            const int per_round = 16;
            std::atomic<int> stuck{0};
            run_on(workers, [&]() -> eddy::Coro<void> {
                auto rng = make_rng(17U);
                for (int r = 0; r < rounds; ++r) {
                    eddy::Event ev;
                    auto waiter = [&ev]() -> eddy::Coro<bool> { co_return co_await ev.wait(); };
                    std::vector<eddy::Task<bool>> all;
                    for (int i = 0; i < per_round; ++i) {
                        all.push_back(eddy::create_task(waiter()));
                    }
                    for (int k = 0; k < per_round / 2; ++k) {
                        if (rng() % 4U == 0) {
                            co_await eddy::yield_now();
                        }
                        all[rng() % all.size()].cancel();
                        if (k == per_round / 4) {
                            ev.set();
                            ev.clear();
                            ev.set();
                        }
                    }
                    for (auto& t : all) {
                        co_await finish(t);
                        if (!t.cancelled() && !(t.done() && t.result())) {
                            stuck.fetch_add(1);
                        }
                    }
                }
            });
            CHECK(stuck.load() == 0);
        }
    }

    // --- hand-over then cancel: the woken waiter is often the one cancelled ------------------

    TEST_CASE("Semaphore: releases racing with cancels; every permit is taken or still free") {
        const Watchdog watchdog(
            "Semaphore: releases racing with cancels; every permit is taken or still free");
        for (unsigned workers : {8U, 0U}) {
            CAPTURE(workers);
            const int rounds = scaled(600);
            const int takers = 4;
            std::atomic<long> taken{0};
            long releases = 0;
            std::int64_t left = -1;
            run_on(workers, [&]() -> eddy::Coro<void> {
                eddy::Semaphore sem(0);
                auto rng = make_rng(23U);
                auto taker = [&]() -> eddy::Coro<void> {
                    co_await sem.acquire();
                    taken.fetch_add(1); // keeps the permit
                };
                for (int r = 0; r < rounds; ++r) {
                    std::vector<eddy::Task<>> all;
                    for (int i = 0; i < takers; ++i) {
                        all.push_back(eddy::create_task(taker()));
                    }
                    co_await eddy::yield_now();
                    for (int i = 0; i < takers; ++i) {
                        sem.release(); // hands a permit to the first waiter...
                        ++releases;
                        all[rng() % all.size()].cancel(); // ...which may be cancelled now
                    }
                    for (auto& t : all) {
                        co_await finish(t);
                    }
                }
                left = sem.value();
            });
            // A permit given to a Task that was then cancelled must have been passed on.
            CHECK(taken.load() + left == releases);
        }
    }

    TEST_CASE("Condition: notify(1) then cancel of a waiter; the notification still lands") {
        const Watchdog watchdog(
            "Condition: notify(1) then cancel of a waiter; the notification still lands");
        for (unsigned workers : {8U, 0U}) {
            CAPTURE(workers);
            const int rounds = scaled(400);
            const int waiters = 3;
            int consumed = 0; // guarded by cond's lock
            run_on(workers, [&]() -> eddy::Coro<void> {
                eddy::Condition cond;
                std::deque<int> buffer; // guarded by cond's lock
                int arrived = 0;        // guarded by cond's lock
                auto rng = make_rng(31U);
                auto consumer = [&]() -> eddy::Coro<void> {
                    auto g = co_await cond.scoped();
                    ++arrived;
                    co_await cond.wait_for([&] { return !buffer.empty(); });
                    buffer.pop_front();
                    ++consumed;
                };
                for (int r = 0; r < rounds; ++r) {
                    std::vector<eddy::Task<>> all;
                    {
                        auto g = co_await cond.scoped();
                        arrived = 0;
                    }
                    for (int i = 0; i < waiters; ++i) {
                        all.push_back(eddy::create_task(consumer()));
                    }
                    // Until every consumer waits (it counts itself before wait() releases).
                    for (;;) {
                        auto g = co_await cond.scoped();
                        if (arrived == waiters) {
                            break;
                        }
                        g.reset();
                        co_await eddy::yield_now();
                    }
                    {
                        auto g = co_await cond.scoped();
                        buffer.push_back(r);
                        cond.notify(1);                   // wakes the first waiter...
                        all[rng() % all.size()].cancel(); // ...which may be cancelled now
                    }
                    // The item must be consumed: a lost notification leaves it there for good
                    // (the watchdog then reports the hang).
                    for (;;) {
                        auto g = co_await cond.scoped();
                        if (buffer.empty()) {
                            break;
                        }
                        g.reset();
                        co_await eddy::yield_now();
                    }
                    for (auto& t : all) {
                        t.cancel();
                    }
                    for (auto& t : all) {
                        co_await finish(t);
                    }
                }
                CHECK_FALSE(cond.locked());
            });
            CHECK(consumed == rounds);
        }
    }

    TEST_CASE("Queue: a get racing with the cancel of the woken putter loses no wake-up") {
        const Watchdog watchdog(
            "Queue: a get racing with the cancel of the woken putter loses no wake-up");
        for (unsigned workers : {8U, 0U}) {
            CAPTURE(workers);
            const int rounds = scaled(400);
            const int putters = 4;
            const int total = rounds * (putters + 1);
            std::vector<std::atomic<int>> put_ok(static_cast<std::size_t>(total));
            std::vector<std::atomic<int>> received(static_cast<std::size_t>(total));
            run_on(workers, [&]() -> eddy::Coro<void> {
                eddy::Queue<int> q(1);
                auto rng = make_rng(41U);
                auto putter = [&](int v) -> eddy::Coro<void> {
                    co_await q.put(v);
                    put_ok[static_cast<std::size_t>(v)].store(1);
                };
                int next = 0;
                for (int r = 0; r < rounds; ++r) {
                    const int first = next;
                    q.put_nowait(next); // full now: the putters below wait
                    put_ok[static_cast<std::size_t>(next++)].store(1);
                    std::vector<eddy::Task<>> all;
                    for (int i = 0; i < putters; ++i) {
                        all.push_back(eddy::create_task(putter(next++)));
                    }
                    co_await eddy::yield_now();
                    for (;;) {
                        bool empty = false;
                        try {
                            const int v = q.get_nowait(); // wakes the first putter...
                            received[static_cast<std::size_t>(v)].fetch_add(1);
                            all[rng() % all.size()].cancel(); // ...which may be cancelled now
                        } catch (const eddy::QueueEmpty&) {
                            empty = true;
                        }
                        if (empty) {
                            const bool all_done = std::all_of(
                                all.begin(), all.end(), [](const auto& t) { return t.done(); });
                            if (all_done && q.empty()) {
                                break;
                            }
                            // A putter that was woken must put (or pass its wake-up on): a
                            // lost one hangs here (the watchdog reports it).
                            co_await eddy::yield_now();
                        }
                    }
                    for (auto& t : all) {
                        co_await finish(t);
                    }
                    CHECK(next == first + putters + 1);
                }
            });
            std::size_t mismatched = 0;
            for (std::size_t v = 0; v < static_cast<std::size_t>(total); ++v) {
                if (received[v].load() != put_ok[v].load()) {
                    ++mismatched;
                }
            }
            CHECK(mismatched == 0);
        }
    }
}
