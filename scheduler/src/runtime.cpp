#include <eddy/scheduler/runtime.hpp>

#include <cstdlib>
#include <string>
#include <thread>

#include <eddy/scheduler/detail/loop_core.hpp>
#include <eddy/scheduler/executor.hpp>

namespace eddy {

namespace {
unsigned env_unsigned(const char* name, unsigned fallback) {
    const char* v = std::getenv(name); // NOLINT(concurrency-mt-unsafe): read at set-up
    if (v == nullptr || *v == '\0') {
        return fallback;
    }
    char* end = nullptr;
    const unsigned long n = std::strtoul(v, &end, 10);
    if (end == v || *end != '\0' || n == 0 || n > 4096) {
        throw Error(std::string(name) + " must be a number from 1 to 4096, got '" + v + "'");
    }
    return static_cast<unsigned>(n);
}

unsigned hardware_threads() {
    const unsigned n = std::thread::hardware_concurrency();
    return n == 0 ? 1 : n;
}
} // namespace

Config Config::resolved() const {
    Config c = *this;
    if (c.workers == 0) {
        c.workers = env_unsigned("EDDY_WORKERS", hardware_threads());
    }
    if (c.cpu_threads == 0) {
        c.cpu_threads = env_unsigned("EDDY_CPU_THREADS", hardware_threads());
    }
    if (c.blocking_threads_max == 0) {
        c.blocking_threads_max = env_unsigned("EDDY_BLOCKING_THREADS_MAX", 64);
    }
    return c;
}

Runtime::Runtime(Config config) : core_(std::make_unique<detail::RuntimeCore>(config)) {
    core_->start();
}

Runtime::~Runtime() {
    try {
        shutdown();
    } catch (...) { // NOLINT(bugprone-empty-catch): a destructor must not throw
    }
}

void Runtime::check_can_block(const char* what) {
    if (detail::running_scheduler != nullptr) {
        throw RuntimeError(std::string(what) +
                           "() cannot be called from a running event loop (it would block it)");
    }
}

EventLoop& Runtime::loop(std::size_t i) {
    if (i >= core_->loops_.size()) {
        throw Error("Runtime::loop: no worker " + std::to_string(i));
    }
    return *core_->loops_[i];
}

void Runtime::cancel_leftovers() {
    std::vector<Task<>> tasks;
    for (detail::TaskBase* t : core_->pending_tasks()) {
        tasks.push_back(Task<>::adopt(t));
    }
    for (Task<>& t : tasks) {
        t.cancel();
    }
    for (Task<>& t : tasks) {
        t.wait();
    }
    for (Task<>& t : tasks) {
        if (t.cancelled()) {
            continue;
        }
        if (std::exception_ptr e = t.exception()) {
            if (detail::Scheduler* loop = t.base()->loop(); loop != nullptr) {
                loop->report(
                    {"unhandled exception during eddy::run() shutdown", e, t.get_name(), {}});
            }
        }
    }
}

void Runtime::shutdown() {
    if (shut_down_) {
        return;
    }
    check_can_block("Runtime::shutdown");
    shut_down_ = true;
    cancel_leftovers();
    core_->stop_workers();
}

RuntimeMetrics Runtime::metrics() const {
    RuntimeMetrics m;
    for (const auto& w : core_->workers_) {
        const auto& c = w->counters_;
        WorkerMetrics wm;
        wm.tasks_run = c.tasks_run.load(std::memory_order_relaxed);
        wm.steals = c.steals.load(std::memory_order_relaxed);
        wm.stolen_tasks = c.stolen_tasks.load(std::memory_order_relaxed);
        wm.steal_attempts = c.steal_attempts.load(std::memory_order_relaxed);
        wm.parks = c.parks.load(std::memory_order_relaxed);
        wm.wakeups_sent = c.wakeups_sent.load(std::memory_order_relaxed);
        wm.wakeups_received = c.wakeups_received.load(std::memory_order_relaxed);
        wm.timers_fired = c.timers_fired.load(std::memory_order_relaxed);
        wm.busy_ns = c.busy_ns.load(std::memory_order_relaxed);
        wm.local_queue_depth = w->local_depth();
        m.workers.push_back(wm);
    }
    m.inject_queue_depth = core_->inject_.size();
    m.cpu = core_->cpu_pool_->metrics();
    m.blocking = core_->blocking_pool_->metrics();
    return m;
}

void Runtime::set_exception_handler(const ExceptionHandler& handler) {
    for (auto& loop : core_->loops_) {
        loop->set_exception_handler(handler);
    }
}

} // namespace eddy
