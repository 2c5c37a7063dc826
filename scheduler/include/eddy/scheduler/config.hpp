#pragma once

/// `eddy::Config`: how a Runtime (and `eddy::run`) is set up.
///
/// Every field left at its default (0 / unset) is taken from the environment, then from the
/// machine: EDDY_WORKERS, EDDY_CPU_THREADS, EDDY_BLOCKING_THREADS_MAX, EDDY_DEBUG.

#include <chrono>
#include <cstddef>

namespace eddy {

struct Config {
    /// Worker threads, each running an EventLoop (default: EDDY_WORKERS, else one per
    /// hardware thread).
    unsigned workers = 0;
    /// Threads of the CPU pool behind `run_cpu` (default: EDDY_CPU_THREADS, else one per
    /// hardware thread).
    unsigned cpu_threads = 0;
    /// Most threads the blocking pool behind `to_thread` / `run_in_executor(nullptr, ...)`
    /// starts (default: EDDY_BLOCKING_THREADS_MAX, else 64).
    unsigned blocking_threads_max = 0;
    /// A blocking-pool thread idle this long exits.
    std::chrono::milliseconds blocking_idle_timeout{10'000};
    /// Debug mode on every loop (as `loop.set_debug(true)`; EDDY_DEBUG=1 also sets it).
    bool debug = false;

    /// This configuration with every unset field filled in from the environment and machine.
    [[nodiscard]] Config resolved() const;
};

} // namespace eddy
