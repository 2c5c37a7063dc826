// The demo (README's first command, until the server demo lands with io/ and the bench
// harness): an eddy Runtime put through the in-process workloads of docs/benchmarks.md at a
// small scale, then a load of small requests while CPU jobs are offloaded to the CPU pool and
// blocking reads to the blocking pool, and the per-worker metrics that explain the figures.
//
//   eddy_demo [--workers N]     (default: one per hardware thread, or EDDY_WORKERS)
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
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
    std::printf("  %-12s %12.0f %-14s (%.3f s)\n", name, count / secs, unit, secs);
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
    row("spawn+join", n, seconds_since(start), "tasks/s");
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

eddy::Coro<void> cross_thread(int posts) {
    auto& loop = eddy::get_running_loop();
    auto all_in = loop.create_future<void>();
    std::atomic<int> received{0};
    const auto start = Clock::now();
    std::thread poster([&loop, &received, &all_in, posts] {
        for (int i = 0; i < posts; ++i) {
            loop.call_soon_threadsafe([&received, &all_in, posts] {
                // Relaxed: these run on one loop; the Future publishes the end.
                if (received.fetch_add(1, std::memory_order_relaxed) + 1 == posts) {
                    all_in.set_result();
                }
            });
        }
    });
    co_await all_in;
    row("posts", posts, seconds_since(start), "posts/s");
    poster.join();
}

/// A small request: a little work and a yield, timed from its creation to its end.
eddy::Coro<void> small_request(Clock::time_point created, std::vector<double>& lat, std::size_t i) {
    co_await eddy::yield_now();
    lat[i] = std::chrono::duration<double, std::micro>(Clock::now() - created).count();
}

/// About `us` microseconds of arithmetic: a CPU job that does not block.
long cpu_job(long us) {
    const auto until = Clock::now() + std::chrono::microseconds(us);
    long x = 0;
    while (Clock::now() < until) {
        for (int i = 0; i < 1000; ++i) {
            x = x * 31 + i;
        }
    }
    return x;
}

eddy::Coro<void> request_load(int requests, bool offload, const char* label) {
    std::vector<double> lat(static_cast<std::size_t>(requests));
    std::vector<eddy::Task<>> all;
    std::vector<eddy::Future<long>> jobs;
    all.reserve(lat.size());
    const auto start = Clock::now();
    for (int i = 0; i < requests; ++i) {
        if (offload && i % 50 == 0) {
            jobs.push_back(eddy::run_cpu([] { return cpu_job(1000); })); // 1 ms of CPU
            jobs.push_back(eddy::to_thread([] {                          // a blocking read
                long bytes = 0;
                if (std::FILE* f = std::fopen("/proc/self/stat", "r"); f != nullptr) {
                    char buf[4096];
                    bytes = static_cast<long>(std::fread(buf, 1, sizeof buf, f));
                    std::fclose(f);
                }
                return bytes;
            }));
        }
        all.push_back(
            eddy::create_task(small_request(Clock::now(), lat, static_cast<std::size_t>(i))));
        if (i % 100 == 0) {
            co_await eddy::sleep(100us); // requests arrive over time
        }
    }
    for (auto& t : all) {
        co_await t;
    }
    long checksum = 0;
    for (auto& j : jobs) {
        checksum += co_await j;
    }
    std::sort(lat.begin(), lat.end());
    std::printf("  %-28s %6d requests in %.3f s; latency p50 %.1f us, p99 %.1f us, max %.1f us%s\n",
                label, requests, seconds_since(start), lat[lat.size() / 2],
                lat[lat.size() * 99 / 100], lat.back(),
                offload ? (" (" + std::to_string(jobs.size() / 2) + " CPU jobs of 1 ms, " +
                           std::to_string(jobs.size() / 2) + " blocking reads)")
                              .c_str()
                        : "");
    (void)checksum;
}

eddy::Coro<void> tour() {
    std::puts("workloads (docs/benchmarks.md, small scale):");
    co_await spawn_and_join(300'000);
    co_await yields(1000, 200);
    co_await cross_thread(500'000);
    std::puts("offload: small requests while CPU and blocking work leave the IO workers:");
    co_await request_load(20'000, false, "requests alone");
    co_await request_load(20'000, true, "requests + offloaded jobs");
}

} // namespace

int main(int argc, char** argv) {
    eddy::Config config;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (std::strcmp(argv[i], "--workers") == 0) {
            config.workers = static_cast<unsigned>(std::strtoul(argv[i + 1], nullptr, 10));
        }
    }
    eddy::Runtime rt{config};
    std::printf("eddy demo: a Runtime of %zu workers, CPU pool of %u threads\n", rt.workers(),
                rt.config().cpu_threads);
    rt.run(tour());
    const auto m = rt.metrics();
    std::puts("per worker (since start):");
    for (std::size_t i = 0; i < m.workers.size(); ++i) {
        const auto& w = m.workers[i];
        std::printf("  worker %zu: %10llu tasks run, %7llu steals (%llu tasks), %6llu parks, "
                    "busy %.3f s\n",
                    i, static_cast<unsigned long long>(w.tasks_run),
                    static_cast<unsigned long long>(w.steals),
                    static_cast<unsigned long long>(w.stolen_tasks),
                    static_cast<unsigned long long>(w.parks), static_cast<double>(w.busy_ns) / 1e9);
    }
    std::printf("  CPU pool: %llu jobs; blocking pool: %llu jobs, %zu threads alive\n",
                static_cast<unsigned long long>(m.cpu.jobs_run),
                static_cast<unsigned long long>(m.blocking.jobs_run), m.blocking.threads_alive);
    rt.shutdown();
    return 0;
}
