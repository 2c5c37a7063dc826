#include <eddy/scheduler/detail/runtime_core.hpp>

#include <algorithm>
#include <array>

#include <eddy/scheduler/detail/loop_core.hpp>
#include <eddy/scheduler/event_loop.hpp>
#include <eddy/scheduler/executor.hpp>

namespace eddy::detail {

// --- Worker ----------------------------------------------------------------------------------

Worker::Worker(RuntimeCore& rt, unsigned index) noexcept
    : rt_(rt), index_(index), rng_(0x9E3779B97F4A7C15ULL * (index + 1)) {}

bool Worker::has_tasks() const noexcept {
    return lifo_.load(std::memory_order_relaxed) != nullptr || !queue_.empty() ||
           !rt_.inject_.empty();
}

void Worker::push(TaskBase* t, TaskWake why) noexcept {
    if (why == TaskWake::wake) {
        // The LIFO slot: the woken Task runs next. The one it displaces goes to the queue.
        TaskBase* prev = lifo_.exchange(t, std::memory_order_relaxed); // owner only
        if (prev == nullptr) {
            return;
        }
        t = prev;
    }
    const bool was_empty = queue_.empty();
    push_back(t);
    if (was_empty) {
        // Only the first Task of a batch wakes a helper: a queue that already had work has
        // had its chance to (and run_tasks checks again every inject_interval Tasks), and
        // reading the shared idle counters on every push would bounce their cache line.
        rt_.notify_if_helpful();
    }
}

void Worker::push_back(TaskBase* t) noexcept {
    if (queue_.push(t)) {
        return;
    }
    // Full: move half of the queue, and this Task, to the inject queue for the others.
    std::array<TaskBase*, LocalQueue::capacity / 2 + 1> batch{};
    const std::uint32_t n = queue_.pop_batch(batch.data(), LocalQueue::capacity / 2);
    batch[n] = t;
    rt_.inject_.push_batch(batch.data(), n + 1);
    rt_.notify_one();
}

TaskBase* Worker::next_task() noexcept {
    if (++tick_ % inject_interval == 0 && !rt_.inject_.empty()) {
        TaskBase* t = nullptr;
        if (rt_.inject_.pop_batch(&t, 1) == 1) {
            return t;
        }
    }
    if (TaskBase* t = lifo_.load(std::memory_order_relaxed); t != nullptr) {
        lifo_.store(nullptr, std::memory_order_relaxed);
        if (lifo_runs_ < lifo_limit) {
            ++lifo_runs_;
            return t;
        }
        push_back(t); // two Tasks bouncing: let the queue run
    }
    lifo_runs_ = 0;
    if (TaskBase* t = queue_.pop(); t != nullptr) {
        return t;
    }
    if (take_from_inject()) {
        return queue_.pop();
    }
    return nullptr;
}

bool Worker::take_from_inject() noexcept {
    std::array<TaskBase*, 32> batch{};
    const std::size_t n = rt_.inject_.pop_batch(batch.data(), batch.size());
    for (std::size_t i = 0; i < n; ++i) {
        push_back(batch[i]);
    }
    return n > 0;
}

void Worker::run_tasks() {
    const auto start = LoopCore::clock::now();
    unsigned ran = 0;
    for (; ran < task_budget; ++ran) {
        TaskBase* t = next_task();
        if (t == nullptr) {
            break;
        }
        t->run();
        if (ran % inject_interval == inject_interval - 1 && queue_.size() > 1) {
            rt_.notify_if_helpful(); // work is piling up: wake a helper if one is idle
        }
    }
    if (ran > 0) {
        WorkerCounters::bump(counters_.tasks_run, ran);
        WorkerCounters::bump(
            counters_.busy_ns,
            static_cast<std::uint64_t>(
                std::chrono::duration_cast<std::chrono::nanoseconds>(LoopCore::clock::now() - start)
                    .count()));
    }
}

bool Worker::find_work() noexcept {
    if (take_from_inject()) {
        return true;
    }
    const auto workers = static_cast<unsigned>(rt_.size());
    if (workers < 2) {
        return false;
    }
    // At most half of the workers search at once (no thundering herd). Relaxed: a heuristic.
    if (rt_.num_searching_.load(std::memory_order_relaxed) * 2 >= workers) {
        return false;
    }
    rt_.num_searching_.fetch_add(1, std::memory_order_acq_rel);
    const bool found = steal();
    rt_.num_searching_.fetch_sub(1, std::memory_order_acq_rel);
    if (found && queue_.size() > 1) {
        rt_.notify_if_helpful(); // there is more: let another idle worker join
    }
    return found;
}

bool Worker::steal() noexcept {
    const auto workers = static_cast<unsigned>(rt_.size());
    // xorshift: a cheap random first victim, so thieves spread out.
    rng_ ^= rng_ << 13;
    rng_ ^= rng_ >> 7;
    rng_ ^= rng_ << 17;
    const auto first = static_cast<unsigned>(rng_ % workers);
    for (unsigned i = 0; i < workers; ++i) {
        Worker& victim = *rt_.workers_[(first + i) % workers];
        if (&victim == this) {
            continue;
        }
        WorkerCounters::bump(counters_.steal_attempts);
        const std::uint32_t n = victim.queue_.steal_into(queue_);
        if (n > 0) {
            WorkerCounters::bump(counters_.steals);
            WorkerCounters::bump(counters_.stolen_tasks, n);
            return true;
        }
    }
    return false;
}

bool Worker::prepare_park() noexcept {
    {
        std::lock_guard guard(rt_.idle_mu_);
        idle_ = true;
        rt_.idle_.push_back(this);
        // seq_cst: the registration the inject-queue argument relies on (design block).
        rt_.num_idle_.fetch_add(1, std::memory_order_seq_cst);
    }
    // The last look, under the inject queue's lock (see the design block), then at the
    // other workers' queues (a hint: their owners will run them anyway).
    bool work = rt_.inject_.nonempty_locked();
    if (!work && rt_.size() > 1) {
        for (const auto& w : rt_.workers_) {
            if (w.get() != this && w->queue_.size() > 1) {
                work = true;
                break;
            }
        }
    }
    if (work) {
        after_park();
        return false;
    }
    return true;
}

void Worker::after_park() noexcept {
    std::lock_guard guard(rt_.idle_mu_);
    if (idle_) {
        idle_ = false;
        auto& v = rt_.idle_;
        v.erase(std::remove(v.begin(), v.end(), this), v.end());
        rt_.num_idle_.fetch_sub(1, std::memory_order_seq_cst);
    }
}

// --- RuntimeCore ---------------------------------------------------------------------------

RuntimeCore::RuntimeCore(const Config& config)
    : config_(config.resolved()), blocking_pool_(std::make_unique<BlockingPool>(
                                      config_.blocking_threads_max, config_.blocking_idle_timeout)),
      cpu_pool_(std::make_unique<CpuPool>(config_.cpu_threads)) {
    const unsigned n = std::max(1U, config_.workers);
    workers_.reserve(n);
    loops_.reserve(n);
    for (unsigned i = 0; i < n; ++i) {
        workers_.push_back(std::make_unique<Worker>(*this, i));
        loops_.push_back(std::make_unique<EventLoop>());
        LoopCore* core = loops_.back()->core();
        core->set_worker(workers_.back().get());
        if (config_.debug) {
            core->set_debug(true);
        }
        workers_.back()->core_ = core;
    }
}

RuntimeCore::~RuntimeCore() {
    stop_workers();
}

void RuntimeCore::start() {
    threads_.reserve(workers_.size());
    for (auto& w : workers_) {
        threads_.emplace_back([this, worker = w.get()] { worker_main(*worker); });
    }
}

void RuntimeCore::worker_main(Worker& w) {
    current_worker = &w;
    EventLoop& loop = *loops_[w.index()];
    set_event_loop(loop);
    while (!is_shutdown()) {
        try {
            loop.run_forever();
        } catch (const std::exception& e) {
            loop.call_exception_handler({"worker loop failed", std::current_exception(), {}, {}});
        }
    }
    set_event_loop(nullptr);
    current_worker = nullptr;
}

void RuntimeCore::schedule_task(TaskBase* t, TaskWake why) noexcept {
    Worker* w = current_worker;
    if (w != nullptr && &w->runtime() == this && !is_shutdown()) {
        w->push(t, why);
        return;
    }
    inject_.push(t);
    notify_one();
}

void RuntimeCore::notify_one() noexcept {
    // seq_cst: pairs with the registration in prepare_park (design block).
    if (num_idle_.load(std::memory_order_seq_cst) == 0) {
        return;
    }
    Worker* target = nullptr;
    {
        std::lock_guard guard(idle_mu_);
        if (idle_.empty()) {
            return;
        }
        target = idle_.back();
        idle_.pop_back();
        target->idle_ = false;
        num_idle_.fetch_sub(1, std::memory_order_seq_cst);
    }
    if (Worker* me = current_worker; me != nullptr && &me->runtime() == this) {
        WorkerCounters::bump(me->counters_.wakeups_sent);
    }
    // Received: counted by the target's owner thread would race; a relaxed RMW here is rare.
    target->counters_.wakeups_received.fetch_add(1, std::memory_order_relaxed);
    target->core_->unpark();
}

void RuntimeCore::notify_if_helpful() noexcept {
    // Relaxed hints: a stale read costs parallelism, never a Task (design block).
    if (num_idle_.load(std::memory_order_relaxed) > 0 &&
        num_searching_.load(std::memory_order_relaxed) == 0) {
        notify_one();
    }
}

LoopCore* RuntimeCore::spawn_loop() noexcept {
    if (Worker* w = current_worker; w != nullptr && &w->runtime() == this) {
        return w->core_;
    }
    // Relaxed: only spreading matters.
    const unsigned i = next_spawn_.fetch_add(1, std::memory_order_relaxed);
    return workers_[i % workers_.size()]->core_;
}

std::vector<TaskBase*> RuntimeCore::pending_tasks() const {
    std::vector<TaskBase*> all;
    for (const auto& loop : loops_) {
        auto tasks = loop->core()->pending_tasks();
        all.insert(all.end(), tasks.begin(), tasks.end());
    }
    return all;
}

void RuntimeCore::stop_workers() {
    std::lock_guard guard(stop_mu_);
    if (stopped_) {
        return;
    }
    stopped_ = true;
    shutdown_.store(true, std::memory_order_release);
    for (auto& loop : loops_) {
        loop->stop();
    }
    for (auto& t : threads_) {
        if (t.joinable()) {
            t.join();
        }
    }
    threads_.clear();
    // The pools before the loops: a job that finishes completes its Future and wakes its
    // Task (which goes to the inject queue and never runs) while the loops are still open;
    // then close() orphans every Task left, with no thread other than this one touching them.
    cpu_pool_->shutdown();
    blocking_pool_->shutdown();
    for (auto& loop : loops_) {
        loop->close();
    }
}

} // namespace eddy::detail
