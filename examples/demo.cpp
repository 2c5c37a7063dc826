// The demo (README's first command, until the server demo lands with the bench harness): one
// eddy event loop put through the workloads of docs/benchmarks.md at a small scale, printing
// throughput and latency for each.
//
//   tasks     spawn N empty Tasks, then await them all
//   yields    1,000 Tasks each yield 100 times
//   ping-pong two Tasks bounce a value through Futures
//   posts     a plain thread posts callbacks with call_soon_threadsafe; then the round trip of
//             one post-and-acknowledge, p50 / p99
//   timers    N timers spread over 0..200 ms: wall time and mean lateness
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <thread>
#include <vector>

#include <eddy/eddy.hpp>

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

namespace {

double seconds_since(Clock::time_point t) {
    return std::chrono::duration<double>(Clock::now() - t).count();
}

void row(const char* name, double count, double secs, const char* unit) {
    std::printf("  %-10s %12.0f %-14s (%.3f s)\n", name, count / secs, unit, secs);
}

eddy::Coro<void> empty() {
    co_return;
}

eddy::Coro<void> spawn_and_join(int n) {
    std::vector<eddy::Task<>> tasks;
    tasks.reserve(static_cast<std::size_t>(n));
    const auto start = Clock::now();
    for (int i = 0; i < n; ++i) {
        tasks.push_back(eddy::create_task(empty()));
    }
    for (auto& t : tasks) {
        co_await t;
    }
    row("tasks", n, seconds_since(start), "tasks/s");
}

eddy::Coro<void> yielder(int times) {
    for (int i = 0; i < times; ++i) {
        co_await eddy::yield_now();
    }
}

eddy::Coro<void> yields(int tasks, int times) {
    std::vector<eddy::Task<>> all;
    all.reserve(static_cast<std::size_t>(tasks));
    const auto start = Clock::now();
    for (int i = 0; i < tasks; ++i) {
        all.push_back(eddy::create_task(yielder(times)));
    }
    for (auto& t : all) {
        co_await t;
    }
    row("yields", static_cast<double>(tasks) * times, seconds_since(start), "yields/s");
}

eddy::Coro<void> ping_pong(int rounds) {
    auto& loop = eddy::get_running_loop();
    const auto start = Clock::now();
    for (int i = 0; i < rounds; ++i) {
        auto ping = loop.create_future<int>();
        auto pong = loop.create_future<int>();
        auto responder =
            eddy::create_task([](eddy::Future<int> in, eddy::Future<int> out) -> eddy::Coro<void> {
                out.set_result(co_await in + 1);
            }(ping, pong));
        ping.set_result(i);
        if (co_await pong != i + 1) {
            std::abort();
        }
        co_await responder;
    }
    row("ping-pong", rounds, seconds_since(start), "round trips/s");
}

eddy::Coro<void> cross_thread(int posts, int round_trips) {
    auto& loop = eddy::get_running_loop();
    auto all_in = loop.create_future<void>();
    int received = 0;
    const auto start = Clock::now();
    std::thread poster([&loop, &received, &all_in, posts] {
        for (int i = 0; i < posts; ++i) {
            loop.call_soon_threadsafe([&received, &all_in, posts] {
                if (++received == posts) {
                    all_in.set_result();
                }
            });
        }
    });
    co_await all_in;
    row("posts", posts, seconds_since(start), "posts/s");
    poster.join();

    // Round trip: a plain thread posts, the loop acknowledges through an atomic.
    std::atomic<int> acked{0};
    auto finished = loop.create_future<void>();
    std::vector<double> micros;
    micros.reserve(static_cast<std::size_t>(round_trips));
    std::thread pinger([&] {
        for (int i = 0; i < round_trips; ++i) {
            const auto t0 = Clock::now();
            // Release: publishes nothing but the count; the pinger's acquire load pairs with it.
            loop.call_soon_threadsafe([&acked] { acked.fetch_add(1, std::memory_order_release); });
            while (acked.load(std::memory_order_acquire) <= i) {
            }
            micros.push_back(std::chrono::duration<double, std::micro>(Clock::now() - t0).count());
            if (i % 16 == 0) {
                std::this_thread::sleep_for(50us); // let the loop park now and then
            }
        }
        loop.call_soon_threadsafe([&finished] { finished.set_result(); });
    });
    co_await finished;
    pinger.join();
    std::sort(micros.begin(), micros.end());
    std::printf("  %-10s p50 %.1f us, p99 %.1f us (post + acknowledge, %d round trips)\n",
                "round trip", micros[micros.size() / 2], micros[micros.size() * 99 / 100],
                round_trips);
}

eddy::Coro<void> timers(int n) {
    auto& loop = eddy::get_running_loop();
    auto all_fired = loop.create_future<void>();
    int fired = 0;
    double lateness = 0;
    const auto start = Clock::now();
    for (int i = 0; i < n; ++i) {
        const auto due = loop.now() + std::chrono::microseconds((i * 7919L) % 200000);
        loop.call_at(due, [&, due] {
            lateness += std::chrono::duration<double, std::micro>(Clock::now() - due).count();
            if (++fired == n) {
                all_fired.set_result();
            }
        });
    }
    const double setup = seconds_since(start);
    co_await all_fired;
    std::printf(
        "  %-10s %d timers over 0..200 ms: wall %.3f s (setup %.3f s), mean lateness %.1f us\n",
        "timers", n, seconds_since(start), setup, lateness / n);
}

eddy::Coro<void> tour() {
    std::puts("eddy demo: one event loop, one thread (the multi-worker runtime comes next)");
    co_await spawn_and_join(1'000'000);
    co_await yields(1000, 100);
    co_await ping_pong(200'000);
    co_await cross_thread(1'000'000, 2000);
    co_await timers(200'000);
}

} // namespace

int main() {
    eddy::run(tour());
    return 0;
}
