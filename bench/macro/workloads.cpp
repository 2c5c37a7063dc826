// W1..W6 of BENCHMARKS.md on an eddy Runtime, one workload per invocation, printing one line in
// the peers' format (../shared/peers): `RESULT <workload> eddy <metric>=<value> ...`, the
// headline metric first, then the runtime's metrics that explain it.
//
//   workloads <w1|w2|w3|w3q|w4|w5|w6> [--workers N] [--n N]
//
//   w1 spawn      one Task spawns N (1,000,000) empty Tasks, then awaits them all: tasks/s
//   w2 yield      1,000 Tasks each yield N/1000 (1,000) times: yields/s
//   w3 ping-pong  two Tasks bounce a value N (1,000,000) times through Futures: round trips/s
//   w3q           the same through two eddy::Queue(maxsize=1), as Tokio's W3 uses mpsc(1)
//   w4 cross      a plain thread posts N (1,000,000) callbacks with call_soon_threadsafe:
//                 posts/s; then 10,000 post-and-acknowledge round trips: p50 / p99 in us
//   w5 timers     N (1,000,000) timers spread over 0..1 s: wall s, mean lateness in us
//   w6 memory     N (1,000,000) Tasks each sleeping 5 s: base RSS and Task count (the peers'
//                 harness wraps it in /usr/bin/time -v for the peak)
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include <eddy/eddy.hpp>

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

namespace {

double since(Clock::time_point t) {
    return std::chrono::duration<double>(Clock::now() - t).count();
}

long rss_kb() {
    std::ifstream status("/proc/self/status");
    std::string line;
    while (std::getline(status, line)) {
        if (line.rfind("VmRSS:", 0) == 0) {
            return std::strtol(line.c_str() + 6, nullptr, 10);
        }
    }
    return 0;
}

std::string metrics_suffix(const eddy::Runtime& rt) {
    std::uint64_t steals = 0;
    std::uint64_t parks = 0;
    std::string per_worker;
    for (const auto& w : rt.metrics().workers) {
        steals += w.steals;
        parks += w.parks;
        per_worker += (per_worker.empty() ? "" : "/") + std::to_string(w.tasks_run);
    }
    return " steals=" + std::to_string(steals) + " parks=" + std::to_string(parks) +
           " tasks_per_worker=" + per_worker;
}

eddy::Coro<void> empty() {
    co_return;
}

eddy::Coro<double> w1(long n) {
    std::vector<eddy::Task<>> tasks;
    tasks.reserve(static_cast<std::size_t>(n));
    const auto start = Clock::now();
    for (long i = 0; i < n; ++i) {
        tasks.push_back(eddy::create_task(empty()));
    }
    for (auto& t : tasks) {
        co_await t;
    }
    co_return static_cast<double>(n) / since(start);
}

eddy::Coro<void> yielder(long times) {
    for (long i = 0; i < times; ++i) {
        co_await eddy::yield_now();
    }
}

eddy::Coro<double> w2(long n) {
    const long tasks = 1000;
    const long each = n / tasks;
    std::vector<eddy::Task<>> all;
    all.reserve(static_cast<std::size_t>(tasks));
    const auto start = Clock::now();
    for (long i = 0; i < tasks; ++i) {
        all.push_back(eddy::create_task(yielder(each)));
    }
    for (auto& t : all) {
        co_await t;
    }
    co_return static_cast<double>(tasks * each) / since(start);
}

eddy::Coro<void> ponger(long n, std::vector<eddy::Future<long>>& pings,
                        std::vector<eddy::Future<long>>& pongs) {
    for (long i = 0; i < n; ++i) {
        const long v = co_await pings[static_cast<std::size_t>(i)];
        pongs[static_cast<std::size_t>(i)].set_result(v + 1);
    }
}

eddy::Coro<double> w3(long n) {
    auto& loop = eddy::get_running_loop();
    std::vector<eddy::Future<long>> pings;
    std::vector<eddy::Future<long>> pongs;
    pings.reserve(static_cast<std::size_t>(n));
    pongs.reserve(static_cast<std::size_t>(n));
    for (long i = 0; i < n; ++i) {
        pings.push_back(loop.create_future<long>());
        pongs.push_back(loop.create_future<long>());
    }
    auto other = eddy::create_task(ponger(n, pings, pongs));
    const auto start = Clock::now();
    for (long i = 0; i < n; ++i) {
        pings[static_cast<std::size_t>(i)].set_result(i);
        if (co_await pongs[static_cast<std::size_t>(i)] != i + 1) {
            std::abort();
        }
    }
    const double rate = static_cast<double>(n) / since(start);
    co_await other;
    co_return rate;
}

// W3 through queues, as Tokio's figure is measured: two Tasks, two bounded(1) Queues.
eddy::Coro<void> queue_ponger(eddy::Queue<long>& in, eddy::Queue<long>& out) {
    for (;;) {
        const long v = co_await in.get();
        if (v < 0) {
            co_return;
        }
        co_await out.put(v + 1);
    }
}

eddy::Coro<double> w3q(long n) {
    eddy::Queue<long> pings(1);
    eddy::Queue<long> pongs(1);
    auto other = eddy::create_task(queue_ponger(pings, pongs));
    const auto start = Clock::now();
    long x = 0;
    for (long i = 0; i < n; ++i) {
        co_await pings.put(x);
        x = co_await pongs.get();
    }
    const double rate = static_cast<double>(n) / since(start);
    co_await pings.put(-1);
    co_await other;
    if (x != n) {
        std::abort();
    }
    co_return rate;
}

eddy::Coro<std::string> w4(long n) {
    auto& loop = eddy::get_running_loop();
    auto all_in = loop.create_future<void>();
    std::atomic<long> received{0};
    const auto start = Clock::now();
    std::thread poster([&] {
        for (long i = 0; i < n; ++i) {
            loop.call_soon_threadsafe([&received, &all_in, n] {
                // Relaxed: one loop thread runs these; the Future publishes the end.
                if (received.fetch_add(1, std::memory_order_relaxed) + 1 == n) {
                    all_in.set_result();
                }
            });
        }
    });
    co_await all_in;
    const double rate = static_cast<double>(n) / since(start);
    poster.join();

    const int trips = 10'000;
    std::atomic<int> acked{0};
    auto finished = loop.create_future<void>();
    std::vector<double> micros;
    micros.reserve(trips);
    std::thread pinger([&] {
        for (int i = 0; i < trips; ++i) {
            const auto t0 = Clock::now();
            // Release/acquire: the acknowledgement is the whole message.
            loop.call_soon_threadsafe([&acked] { acked.fetch_add(1, std::memory_order_release); });
            while (acked.load(std::memory_order_acquire) <= i) {
            }
            micros.push_back(std::chrono::duration<double, std::micro>(Clock::now() - t0).count());
            if (i % 8 == 0) {
                std::this_thread::sleep_for(20us); // let the worker park sometimes
            }
        }
        loop.call_soon_threadsafe([&finished] { finished.set_result(); });
    });
    co_await finished;
    pinger.join();
    std::sort(micros.begin(), micros.end());
    char buf[160];
    std::snprintf(buf, sizeof buf, "posts_per_s=%.0f lat_p50_us=%.2f lat_p99_us=%.2f", rate,
                  micros[micros.size() / 2], micros[micros.size() * 99 / 100]);
    co_return std::string(buf);
}

eddy::Coro<std::string> w5(long n) {
    auto& loop = eddy::get_running_loop();
    auto all_fired = loop.create_future<void>();
    long fired = 0;
    long after_sched = 0;
    double lateness_us = 0;
    double lateness_after_us = 0;
    Clock::time_point sched_done{};
    const auto start = Clock::now();
    for (long i = 0; i < n; ++i) {
        const auto due = start + std::chrono::microseconds((i * 7919L) % 1'000'000L);
        loop.call_at(due, [&, due] {
            const double late =
                std::chrono::duration<double, std::micro>(Clock::now() - due).count();
            lateness_us += late;
            if (due > sched_done) {
                lateness_after_us += late;
                ++after_sched;
            }
            if (++fired == n) {
                all_fired.set_result();
            }
        });
    }
    sched_done = Clock::now();
    const double sched_s = since(start);
    co_await all_fired;
    char buf[200];
    std::snprintf(buf, sizeof buf,
                  "wall_s=%.4f late_mean_ms=%.3f sched_s=%.4f late_after_sched_ms=%.3f "
                  "n_after_sched=%ld n=%ld",
                  since(start), lateness_us / 1000.0 / static_cast<double>(n), sched_s,
                  after_sched > 0 ? lateness_after_us / 1000.0 / static_cast<double>(after_sched)
                                  : 0.0,
                  after_sched, n);
    co_return std::string(buf);
}

eddy::Coro<void> sleeper() {
    co_await eddy::sleep(5s);
}

eddy::Coro<std::string> w6(long n) {
    const long base = rss_kb();
    std::vector<eddy::Task<>> tasks;
    tasks.reserve(static_cast<std::size_t>(n));
    for (long i = 0; i < n; ++i) {
        tasks.push_back(eddy::create_task(sleeper()));
    }
    co_await eddy::sleep(100ms);
    const long during = rss_kb();
    for (auto& t : tasks) {
        co_await t;
    }
    char buf[160];
    std::snprintf(buf, sizeof buf,
                  "base_rss_kb=%ld tasks=%ld rss_with_tasks_kb=%ld bytes_per_task=%.0f", base, n,
                  during, static_cast<double>(during - base) * 1024.0 / static_cast<double>(n));
    co_return std::string(buf);
}

} // namespace

int main(int argc, char** argv) {
    if (argc < 2) {
        std::fprintf(stderr, "usage: workloads w1|w2|w3|w3q|w4|w5|w6 [--workers N] [--n N]\n");
        return 2;
    }
    const std::string w = argv[1];
    unsigned workers = 2;
    long n = 1'000'000;
    for (int i = 2; i + 1 < argc; i += 2) {
        if (std::strcmp(argv[i], "--workers") == 0) {
            workers = static_cast<unsigned>(std::strtoul(argv[i + 1], nullptr, 10));
        } else if (std::strcmp(argv[i], "--n") == 0) {
            n = std::strtol(argv[i + 1], nullptr, 10);
        }
    }
    eddy::Runtime rt{eddy::Config{.workers = workers}};
    std::string line;
    if (w == "w1") {
        line = "tasks_per_s=" + std::to_string(static_cast<long>(rt.run(w1(n))));
    } else if (w == "w2") {
        line = "yields_per_s=" + std::to_string(static_cast<long>(rt.run(w2(n))));
    } else if (w == "w3") {
        line = "roundtrips_per_s=" + std::to_string(static_cast<long>(rt.run(w3(n))));
    } else if (w == "w3q") {
        line = "roundtrips_per_s=" + std::to_string(static_cast<long>(rt.run(w3q(n))));
    } else if (w == "w4") {
        line = rt.run(w4(n));
    } else if (w == "w5") {
        line = rt.run(w5(n));
    } else if (w == "w6") {
        line = rt.run(w6(n));
    } else {
        std::fprintf(stderr, "unknown workload %s\n", w.c_str());
        return 2;
    }
    std::printf("RESULT %s eddy %s workers=%u%s\n", w.c_str(), line.c_str(), workers,
                metrics_suffix(rt).c_str());
    rt.shutdown();
    return 0;
}
