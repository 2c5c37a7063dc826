// Micro-benchmarks of the foundation's hot paths, each on one standalone EventLoop driven by
// the benchmark's own thread (worker count: 1; there is no Runtime yet).
//
// Every benchmark builds its loop once, outside the timed region, and then times whole
// batches of N operations: the figure is items per second of wall-clock time (UseRealTime).
// bench/micro/python/micro_asyncio.py runs the same batches, with the same names and the same
// N, on asyncio and uvloop; bench/micro/compare.sh puts the three side by side.
//
//   call_soon          N callbacks queued with call_soon, then one run of the loop that
//                      runs them all (the last one stops the loop)
//   call_soon_running  the same, but queued by a callback already running on the loop (the
//                      path a running program takes)
//   timer_cancel       N call_later(1 h) timers inserted, all cancelled, and one loop turn
//                      that purges the cancelled entries from the heap
//   timer_fire         N call_later(0 s) timers inserted and fired (the last stops the loop)
//   future_set_await   one Task awaits N fresh Futures, each completed by a call_soon callback
//   future_pingpong    two Tasks complete each other's Futures, N round trips
//   spawn_await        one Task creates N Tasks of an empty coroutine, then awaits each
//   yield_one_task     one Task yields (yield_now) N times
//   yield_1000_tasks   1000 Tasks each yield N/1000 times
//
// Run: bench_scheduler --benchmark_repetitions=5 --benchmark_report_aggregates_only=true
//      [--benchmark_format=json]

#include <benchmark/benchmark.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <vector>

#include <eddy/eddy.hpp>

using namespace std::chrono_literals;

namespace {

/// Items per batch, the same for every benchmark (and for the Python twins).
constexpr std::int64_t batch = 100'000;
/// Number of Tasks in yield_1000_tasks.
constexpr std::int64_t yielders = 1'000;

std::size_t to_size(std::int64_t n) {
    return static_cast<std::size_t>(n);
}

/// Marks the benchmark failed if a batch did not do exactly `expected` items, so a broken
/// loop cannot pass off a short batch as a fast one.
void check_count(benchmark::State& state, std::int64_t got, std::int64_t expected) {
    if (got != expected) {
        state.SkipWithError("a batch did not run the expected number of items");
    }
}

// --- (a) call_soon + run -------------------------------------------------------------------

void call_soon(benchmark::State& state) {
    const std::int64_t n = state.range(0);
    eddy::EventLoop loop = eddy::new_event_loop();
    std::int64_t ran = 0;
    for ([[maybe_unused]] auto _ : state) {
        ran = 0;
        for (std::int64_t i = 0; i + 1 < n; ++i) {
            loop.call_soon([&ran] { ++ran; });
        }
        loop.call_soon([&ran, &loop] {
            ++ran;
            loop.stop();
        });
        loop.run_forever();
        check_count(state, ran, n);
    }
    state.SetItemsProcessed(state.iterations() * n);
}

void call_soon_running(benchmark::State& state) {
    const std::int64_t n = state.range(0);
    eddy::EventLoop loop = eddy::new_event_loop();
    std::int64_t ran = 0;
    for ([[maybe_unused]] auto _ : state) {
        ran = 0;
        loop.call_soon([&ran, &loop, n] {
            for (std::int64_t i = 0; i + 1 < n; ++i) {
                loop.call_soon([&ran] { ++ran; });
            }
            loop.call_soon([&ran, &loop] {
                ++ran;
                loop.stop();
            });
        });
        loop.run_forever();
        check_count(state, ran, n);
    }
    state.SetItemsProcessed(state.iterations() * n);
}

// --- (b) timers ----------------------------------------------------------------------------

void timer_cancel(benchmark::State& state) {
    const std::int64_t n = state.range(0);
    eddy::EventLoop loop = eddy::new_event_loop();
    std::vector<eddy::TimerHandle> handles;
    handles.reserve(to_size(n));
    std::int64_t ran = 0;
    for ([[maybe_unused]] auto _ : state) {
        for (std::int64_t i = 0; i < n; ++i) {
            handles.push_back(loop.call_later(1h, [&ran] { ++ran; }));
        }
        for (eddy::TimerHandle& h : handles) {
            h.cancel();
        }
        handles.clear();
        // One turn of the loop: it sees that most of the heap is cancelled and drops it all,
        // as asyncio's _run_once does. Without it the heap would grow batch after batch.
        loop.call_soon([&loop] { loop.stop(); });
        loop.run_forever();
        check_count(state, ran, 0);
    }
    state.SetItemsProcessed(state.iterations() * n);
}

void timer_fire(benchmark::State& state) {
    const std::int64_t n = state.range(0);
    eddy::EventLoop loop = eddy::new_event_loop();
    std::int64_t fired = 0;
    for ([[maybe_unused]] auto _ : state) {
        fired = 0;
        for (std::int64_t i = 0; i < n; ++i) {
            loop.call_later(0s, [&fired, &loop, n] {
                if (++fired == n) {
                    loop.stop();
                }
            });
        }
        loop.run_forever();
        check_count(state, fired, n);
    }
    state.SetItemsProcessed(state.iterations() * n);
}

// --- (c) future set + await ----------------------------------------------------------------

eddy::Coro<std::int64_t> await_futures(eddy::EventLoop& loop, std::int64_t n) {
    std::int64_t sum = 0;
    for (std::int64_t i = 0; i < n; ++i) {
        eddy::Future<int> fut = loop.create_future<int>();
        loop.call_soon([fut]() mutable { fut.set_result(1); });
        sum += co_await fut;
    }
    co_return sum;
}

void future_set_await(benchmark::State& state) {
    const std::int64_t n = state.range(0);
    eddy::EventLoop loop = eddy::new_event_loop();
    for ([[maybe_unused]] auto _ : state) {
        check_count(state, loop.run_until_complete(await_futures(loop, n)), n);
    }
    state.SetItemsProcessed(state.iterations() * n);
}

/// The two Futures the ping-pong Tasks hand each other. Each side creates the Future it is
/// about to wait on before it wakes the other side, so no completion can go to a stale one.
struct Rally {
    eddy::Future<void> to_pinger;
    eddy::Future<void> to_ponger;
    std::int64_t round_trips = 0;
};

eddy::Coro<void> pinger(eddy::EventLoop& loop, Rally& r, std::int64_t n) {
    for (std::int64_t i = 0; i < n; ++i) {
        r.to_pinger = loop.create_future<void>();
        eddy::Future<void> reply = r.to_pinger;
        r.to_ponger.set_result();
        co_await reply;
        ++r.round_trips;
    }
}

eddy::Coro<void> ponger(eddy::EventLoop& loop, Rally& r, std::int64_t n) {
    for (std::int64_t i = 0; i < n; ++i) {
        eddy::Future<void> ball = r.to_ponger;
        co_await ball;
        r.to_ponger = loop.create_future<void>();
        r.to_pinger.set_result();
    }
}

eddy::Coro<std::int64_t> ping_pong(eddy::EventLoop& loop, std::int64_t n) {
    Rally r;
    r.to_ponger = loop.create_future<void>();
    eddy::Task<void> a = loop.create_task(pinger(loop, r, n));
    eddy::Task<void> b = loop.create_task(ponger(loop, r, n));
    co_await a;
    co_await b;
    co_return r.round_trips;
}

void future_pingpong(benchmark::State& state) {
    const std::int64_t n = state.range(0);
    eddy::EventLoop loop = eddy::new_event_loop();
    for ([[maybe_unused]] auto _ : state) {
        check_count(state, loop.run_until_complete(ping_pong(loop, n)), n);
    }
    state.SetItemsProcessed(state.iterations() * n);
}

// --- (d) task spawn + await ----------------------------------------------------------------

eddy::Coro<void> empty() {
    co_return;
}

eddy::Coro<std::int64_t> spawn_all(eddy::EventLoop& loop, std::int64_t n) {
    std::vector<eddy::Task<void>> tasks;
    tasks.reserve(to_size(n));
    for (std::int64_t i = 0; i < n; ++i) {
        tasks.push_back(loop.create_task(empty()));
    }
    std::int64_t joined = 0;
    for (eddy::Task<void>& t : tasks) {
        co_await t;
        ++joined;
    }
    co_return joined;
}

void spawn_await(benchmark::State& state) {
    const std::int64_t n = state.range(0);
    eddy::EventLoop loop = eddy::new_event_loop();
    for ([[maybe_unused]] auto _ : state) {
        check_count(state, loop.run_until_complete(spawn_all(loop, n)), n);
    }
    state.SetItemsProcessed(state.iterations() * n);
}

// --- (e) yield_now -------------------------------------------------------------------------

eddy::Coro<std::int64_t> yield_times(std::int64_t n) {
    std::int64_t done = 0;
    for (std::int64_t i = 0; i < n; ++i) {
        co_await eddy::yield_now();
        ++done;
    }
    co_return done;
}

void yield_one_task(benchmark::State& state) {
    const std::int64_t n = state.range(0);
    eddy::EventLoop loop = eddy::new_event_loop();
    for ([[maybe_unused]] auto _ : state) {
        check_count(state, loop.run_until_complete(yield_times(n)), n);
    }
    state.SetItemsProcessed(state.iterations() * n);
}

eddy::Coro<std::int64_t> yield_in_many(eddy::EventLoop& loop, std::int64_t tasks,
                                       std::int64_t each) {
    std::vector<eddy::Task<std::int64_t>> all;
    all.reserve(to_size(tasks));
    for (std::int64_t i = 0; i < tasks; ++i) {
        all.push_back(loop.create_task(yield_times(each)));
    }
    std::int64_t total = 0;
    for (eddy::Task<std::int64_t>& t : all) {
        total += co_await t;
    }
    co_return total;
}

void yield_1000_tasks(benchmark::State& state) {
    const std::int64_t n = state.range(0);
    const std::int64_t each = n / yielders;
    eddy::EventLoop loop = eddy::new_event_loop();
    for ([[maybe_unused]] auto _ : state) {
        check_count(state, loop.run_until_complete(yield_in_many(loop, yielders, each)),
                    yielders * each);
    }
    state.SetItemsProcessed(state.iterations() * yielders * each);
}

} // namespace

BENCHMARK(call_soon)->Arg(batch)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(call_soon_running)->Arg(batch)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(timer_cancel)->Arg(batch)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(timer_fire)->Arg(batch)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(future_set_await)->Arg(batch)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(future_pingpong)->Arg(batch)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(spawn_await)->Arg(batch)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(yield_one_task)->Arg(batch)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(yield_1000_tasks)->Arg(batch)->UseRealTime()->Unit(benchmark::kMillisecond);

BENCHMARK_MAIN();
