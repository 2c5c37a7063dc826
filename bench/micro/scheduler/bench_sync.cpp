// Micro-benchmarks of composition and synchronisation, on a Runtime (1 or 2 workers).
//
// Every benchmark builds its Runtime once, outside the timed region, and times whole batches
// (rt.run of one main Task per batch): the figure is items per second of wall-clock time.
// bench/micro/python/micro_asyncio_sync.py runs the same batches, with the same names, on
// asyncio and uvloop.
//
//   queue_pingpong/W     two Tasks bounce a value through two Queue(maxsize=1), N round trips
//                        (W3 through queues; Tokio measures W3 with mpsc(1) channels)
//   queue_mpmc/W         2 producers and 2 consumers move N items through one Queue(1024)
//   lock_uncontended     one Task takes and releases a Lock N times
//   lock_contended/W     4 Tasks take a Lock N times in all, yielding while they hold it
//   event_set_wait       one Task waits on N fresh Events, each set by a call_soon callback
//   gather_10k/W         gather of 10,000 Tasks (each yields once), N/10,000 times
//   task_group_10k/W     a TaskGroup of 10,000 children (each yields once), N/10,000 times
//
// W is the worker count. Run: bench_sync --benchmark_repetitions=5
//     --benchmark_report_aggregates_only=true [--benchmark_format=json]

#include <benchmark/benchmark.h>

#include <cstdint>
#include <vector>

#include <eddy/eddy.hpp>

namespace {

constexpr std::int64_t batch = 100'000;
constexpr std::int64_t wide = 10'000;

void check_count(benchmark::State& state, std::int64_t got, std::int64_t expected) {
    if (got != expected) {
        state.SkipWithError("a batch did not do the expected number of items");
    }
}

eddy::Runtime make_runtime(const benchmark::State& state) {
    return eddy::Runtime{eddy::Config{.workers = static_cast<unsigned>(state.range(1))}};
}

// --- queues ----------------------------------------------------------------------------------

eddy::Coro<void> ponger(eddy::Queue<std::int64_t>& in, eddy::Queue<std::int64_t>& out) {
    for (;;) {
        const std::int64_t v = co_await in.get();
        if (v < 0) {
            co_return;
        }
        co_await out.put(v + 1);
    }
}

eddy::Coro<std::int64_t> pingpong(std::int64_t n) {
    eddy::Queue<std::int64_t> pings(1);
    eddy::Queue<std::int64_t> pongs(1);
    auto other = eddy::create_task(ponger(pings, pongs));
    std::int64_t x = 0;
    for (std::int64_t i = 0; i < n; ++i) {
        co_await pings.put(x);
        x = co_await pongs.get();
    }
    co_await pings.put(-1);
    co_await other;
    co_return x;
}

void queue_pingpong(benchmark::State& state) {
    const std::int64_t n = state.range(0);
    eddy::Runtime rt = make_runtime(state);
    for ([[maybe_unused]] auto _ : state) {
        check_count(state, rt.run(pingpong(n)), n);
    }
    state.SetItemsProcessed(state.iterations() * n);
}

eddy::Coro<std::int64_t> produce(eddy::Queue<std::int64_t>& q, std::int64_t n) {
    for (std::int64_t i = 0; i < n; ++i) {
        co_await q.put(1);
    }
    co_return 0;
}

eddy::Coro<std::int64_t> consume(eddy::Queue<std::int64_t>& q, std::int64_t n) {
    std::int64_t sum = 0;
    for (std::int64_t i = 0; i < n; ++i) {
        sum += co_await q.get();
    }
    co_return sum;
}

eddy::Coro<std::int64_t> mpmc(std::int64_t n) {
    eddy::Queue<std::int64_t> q(1024);
    auto p1 = eddy::create_task(produce(q, n / 2));
    auto p2 = eddy::create_task(produce(q, n / 2));
    auto c1 = eddy::create_task(consume(q, n / 2));
    auto c2 = eddy::create_task(consume(q, n / 2));
    co_await p1;
    co_await p2;
    co_return co_await c1 + co_await c2;
}

void queue_mpmc(benchmark::State& state) {
    const std::int64_t n = state.range(0);
    eddy::Runtime rt = make_runtime(state);
    for ([[maybe_unused]] auto _ : state) {
        check_count(state, rt.run(mpmc(n)), n);
    }
    state.SetItemsProcessed(state.iterations() * n);
}

// --- Lock and Event --------------------------------------------------------------------------

eddy::Coro<std::int64_t> lock_loop(std::int64_t n) {
    eddy::Lock lock;
    std::int64_t held = 0;
    for (std::int64_t i = 0; i < n; ++i) {
        co_await lock.acquire();
        ++held;
        lock.release();
    }
    co_return held;
}

void lock_uncontended(benchmark::State& state) {
    const std::int64_t n = state.range(0);
    eddy::Runtime rt{eddy::Config{.workers = 1}};
    for ([[maybe_unused]] auto _ : state) {
        check_count(state, rt.run(lock_loop(n)), n);
    }
    state.SetItemsProcessed(state.iterations() * n);
}

eddy::Coro<void> contender(eddy::Lock& lock, std::int64_t& counter, std::int64_t n) {
    for (std::int64_t i = 0; i < n; ++i) {
        auto guard = co_await lock.scoped();
        ++counter; // plain: the Lock is what keeps this race-free across workers
        co_await eddy::yield_now();
    }
}

eddy::Coro<std::int64_t> lock_contention(std::int64_t n) {
    eddy::Lock lock;
    std::int64_t counter = 0;
    std::vector<eddy::Task<void>> tasks;
    for (int i = 0; i < 4; ++i) {
        tasks.push_back(eddy::create_task(contender(lock, counter, n / 4)));
    }
    for (auto& t : tasks) {
        co_await t;
    }
    co_return counter;
}

void lock_contended(benchmark::State& state) {
    const std::int64_t n = state.range(0);
    eddy::Runtime rt = make_runtime(state);
    for ([[maybe_unused]] auto _ : state) {
        check_count(state, rt.run(lock_contention(n)), n);
    }
    state.SetItemsProcessed(state.iterations() * n);
}

eddy::Coro<std::int64_t> events(std::int64_t n) {
    eddy::EventLoop& loop = eddy::get_running_loop();
    std::int64_t seen = 0;
    for (std::int64_t i = 0; i < n; ++i) {
        eddy::Event ev;
        loop.call_soon([&ev] { ev.set(); });
        if (co_await ev.wait()) {
            ++seen;
        }
    }
    co_return seen;
}

void event_set_wait(benchmark::State& state) {
    const std::int64_t n = state.range(0);
    eddy::Runtime rt{eddy::Config{.workers = 1}};
    for ([[maybe_unused]] auto _ : state) {
        check_count(state, rt.run(events(n)), n);
    }
    state.SetItemsProcessed(state.iterations() * n);
}

// --- gather and TaskGroup --------------------------------------------------------------------

eddy::Coro<std::int64_t> one() {
    co_await eddy::yield_now();
    co_return 1;
}

eddy::Coro<std::int64_t> gather_rounds(std::int64_t rounds) {
    std::int64_t total = 0;
    for (std::int64_t r = 0; r < rounds; ++r) {
        std::vector<eddy::Coro<std::int64_t>> coros;
        coros.reserve(static_cast<std::size_t>(wide));
        for (std::int64_t i = 0; i < wide; ++i) {
            coros.push_back(one());
        }
        for (std::int64_t v : co_await eddy::gather(coros)) {
            total += v;
        }
    }
    co_return total;
}

void gather_10k(benchmark::State& state) {
    const std::int64_t n = state.range(0);
    eddy::Runtime rt = make_runtime(state);
    for ([[maybe_unused]] auto _ : state) {
        check_count(state, rt.run(gather_rounds(n / wide)), n);
    }
    state.SetItemsProcessed(state.iterations() * n);
}

eddy::Coro<std::int64_t> group_rounds(std::int64_t rounds) {
    std::int64_t total = 0;
    for (std::int64_t r = 0; r < rounds; ++r) {
        eddy::TaskGroup tg;
        std::vector<eddy::Task<std::int64_t>> children;
        children.reserve(static_cast<std::size_t>(wide));
        for (std::int64_t i = 0; i < wide; ++i) {
            children.push_back(tg.create_task(one()));
        }
        co_await tg.join();
        for (auto& c : children) {
            total += c.result();
        }
    }
    co_return total;
}

void task_group_10k(benchmark::State& state) {
    const std::int64_t n = state.range(0);
    eddy::Runtime rt = make_runtime(state);
    for ([[maybe_unused]] auto _ : state) {
        check_count(state, rt.run(group_rounds(n / wide)), n);
    }
    state.SetItemsProcessed(state.iterations() * n);
}

} // namespace

BENCHMARK(queue_pingpong)
    ->Args({batch, 1})
    ->Args({batch, 2})
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);
BENCHMARK(queue_mpmc)
    ->Args({batch, 1})
    ->Args({batch, 2})
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);
BENCHMARK(lock_uncontended)->Arg(batch)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(lock_contended)
    ->Args({batch, 1})
    ->Args({batch, 2})
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);
BENCHMARK(event_set_wait)->Arg(batch)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(gather_10k)
    ->Args({batch, 1})
    ->Args({batch, 2})
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);
BENCHMARK(task_group_10k)
    ->Args({batch, 1})
    ->Args({batch, 2})
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

BENCHMARK_MAIN();
