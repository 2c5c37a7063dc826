#pragma once

/// asyncio's synchronisation primitives, safe when the Tasks using them run on different
/// workers at the same time: `Lock`, `Event`, `Condition`, `Semaphore`, `BoundedSemaphore`,
/// `Barrier`.
///
/// Semantics are asyncio's: waiters are served in FIFO order; an operation that can complete
/// at once does not suspend; cancelling a waiting Task throws CancelledError from its
/// `co_await` and, if it had just been woken, passes what it was given (the lock, a permit, a
/// notification) on to the next waiter, so nothing is lost. Where asyncio lets the woken Task
/// take the lock when it runs, eddy hands the lock (or permit) over directly: with several
/// workers a Task that was never queued could otherwise take it first.
///
/// Thread safety: every member may be called from any Task on any worker; `release()`,
/// `set()`, `notify()` also from plain threads. A primitive is not bound to a loop.
///
/// `async with lock:` is `auto guard = co_await lock.scoped();` (released when `guard` goes).

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <utility>

#include <eddy/future/coro.hpp>
#include <eddy/future/detail/spin_lock.hpp>
#include <eddy/future/error.hpp>
#include <eddy/scheduler/detail/wait_list.hpp>

namespace eddy {

class Lock;
class Semaphore;

/// Releases what it holds when destroyed (the C++ form of `async with`).
template <class P>
class [[nodiscard]] Guard {
public:
    explicit Guard(P* p) noexcept : p_(p) {}
    Guard(Guard&& o) noexcept : p_(std::exchange(o.p_, nullptr)) {}
    Guard& operator=(Guard&& o) noexcept {
        if (this != &o) {
            reset();
            p_ = std::exchange(o.p_, nullptr);
        }
        return *this;
    }
    Guard(const Guard&) = delete;
    Guard& operator=(const Guard&) = delete;
    ~Guard() { reset(); }
    /// Releases now.
    void reset() {
        if (p_ != nullptr) {
            std::exchange(p_, nullptr)->release();
        }
    }

private:
    P* p_;
};

/// asyncio.Lock: a mutual-exclusion lock for Tasks (not for threads).
class Lock {
public:
    Lock() = default;
    Lock(const Lock&) = delete;
    Lock& operator=(const Lock&) = delete;
    ~Lock() = default;

    /// `co_await lock.acquire()`: true once the lock is held. Does not suspend when free.
    auto acquire() {
        return detail::fast_path<bool>(
            [this]() -> std::optional<bool> {
                if (try_acquire()) {
                    return true;
                }
                return std::nullopt;
            },
            [this] { return acquire_slow(); });
    }
    /// Releases the lock, handing it to the first waiter. Throws RuntimeError when unlocked.
    void release();
    /// Whether the lock is held.
    [[nodiscard]] bool locked() const noexcept { return locked_.load(std::memory_order_relaxed); }

    /// `async with lock:` — `auto guard = co_await lock.scoped();`.
    Coro<Guard<Lock>> scoped();

    /// Takes the lock if it is free and nobody waits; never suspends (no asyncio equivalent).
    bool try_acquire() noexcept;

private:
    Coro<bool> acquire_slow();
    void release_locked(detail::Wakeups& wakeups);

    detail::SpinLock mu_;
    /// Written under mu_; read relaxed by locked() (a snapshot, as asyncio's `locked()`).
    std::atomic<bool> locked_{false};
    detail::WaiterList waiters_{mu_}; // guarded by mu_
};

/// asyncio.Event.
class Event {
public:
    Event() = default;
    Event(const Event&) = delete;
    Event& operator=(const Event&) = delete;
    ~Event() = default;

    /// `co_await ev.wait()`: returns true once the event is set (at once when it is).
    auto wait() {
        return detail::fast_path<bool>(
            [this]() -> std::optional<bool> {
                if (is_set()) {
                    return true;
                }
                return std::nullopt;
            },
            [this] { return wait_slow(); });
    }
    /// Sets the flag and wakes every waiter.
    void set();
    /// Clears the flag.
    void clear() noexcept;
    /// Acquire: pairs with the release in set(), so a Task that sees the flag sees what the
    /// setter wrote before setting it.
    [[nodiscard]] bool is_set() const noexcept { return set_.load(std::memory_order_acquire); }

private:
    Coro<bool> wait_slow();

    detail::SpinLock mu_;
    std::atomic<bool> set_{false};    // written under mu_ (release); see is_set()
    detail::WaiterList waiters_{mu_}; // guarded by mu_
};

/// asyncio.Condition: a Lock (its own, or one given) plus notifications.
class Condition {
public:
    Condition();
    /// Shares `lock` (asyncio's `Condition(lock)`); `lock` must outlive the Condition.
    explicit Condition(Lock& lock) noexcept;
    Condition(const Condition&) = delete;
    Condition& operator=(const Condition&) = delete;
    ~Condition();

    auto acquire() { return lock_->acquire(); }
    void release() { lock_->release(); }
    [[nodiscard]] bool locked() const noexcept { return lock_->locked(); }
    Coro<Guard<Lock>> scoped() { return lock_->scoped(); }

    /// Releases the lock, waits for a notification, re-acquires the lock (even when
    /// cancelled), returns true. Throws RuntimeError if the lock is not held.
    Coro<bool> wait();
    /// Waits until `pred()` is true; returns its last value. The lock must be held.
    template <class Pred>
    Coro<bool> wait_for(Pred pred) {
        bool result = static_cast<bool>(pred());
        while (!result) {
            co_await wait();
            result = static_cast<bool>(pred());
        }
        co_return result;
    }
    /// Wakes up to `n` waiters. Throws RuntimeError if the lock is not held.
    void notify(std::size_t n = 1);
    /// Wakes every waiter. Throws RuntimeError if the lock is not held.
    void notify_all();

private:
    void notify_unchecked(std::size_t n);

    std::unique_ptr<Lock> own_;
    Lock* lock_;
    detail::SpinLock mu_;
    detail::WaiterList waiters_{mu_}; // guarded by mu_
};

/// asyncio.Semaphore: `value` permits; `acquire` waits while none is free.
class Semaphore {
public:
    /// Throws ValueError when `value` is negative.
    explicit Semaphore(std::int64_t value = 1);
    Semaphore(const Semaphore&) = delete;
    Semaphore& operator=(const Semaphore&) = delete;
    virtual ~Semaphore() = default;

    /// `co_await sem.acquire()`: true once a permit is taken. Does not suspend when one is free.
    auto acquire() {
        return detail::fast_path<bool>(
            [this]() -> std::optional<bool> {
                if (try_acquire()) {
                    return true;
                }
                return std::nullopt;
            },
            [this] { return acquire_slow(); });
    }
    /// Returns a permit, handing it to the first waiter if there is one.
    void release();
    /// True when `acquire()` would wait.
    [[nodiscard]] bool locked() const;
    /// The permits free now (asyncio's private `_value`).
    [[nodiscard]] std::int64_t value() const noexcept {
        return value_.load(std::memory_order_relaxed);
    }
    /// `async with sem:` — `auto guard = co_await sem.scoped();`.
    Coro<Guard<Semaphore>> scoped();
    /// Takes a permit if one is free and nobody waits; never suspends.
    bool try_acquire() noexcept;

protected:
    Semaphore(std::int64_t value, bool bounded);

private:
    Coro<bool> acquire_slow();
    void release_locked(detail::Wakeups& wakeups);

    mutable detail::SpinLock mu_;
    /// Written under mu_; read relaxed by value() (a snapshot).
    std::atomic<std::int64_t> value_;
    const std::int64_t bound_;        // the initial value of a BoundedSemaphore, else -1
    detail::WaiterList waiters_{mu_}; // guarded by mu_
};

/// asyncio.BoundedSemaphore: `release()` beyond the initial value throws ValueError.
class BoundedSemaphore : public Semaphore {
public:
    explicit BoundedSemaphore(std::int64_t value = 1) : Semaphore(value, true) {}
};

/// asyncio.Barrier: `parties` Tasks meet; each `wait()` returns a distinct index in
/// [0, parties). `abort()` breaks it (waiters get BrokenBarrierError), `reset()` returns it
/// to its initial state (current waiters get BrokenBarrierError).
class Barrier {
public:
    /// Throws ValueError when `parties` < 1.
    explicit Barrier(std::size_t parties);
    Barrier(const Barrier&) = delete;
    Barrier& operator=(const Barrier&) = delete;
    ~Barrier() = default;

    Coro<std::size_t> wait();
    Coro<void> reset();
    Coro<void> abort();

    [[nodiscard]] std::size_t parties() const noexcept { return parties_; }
    /// Tasks waiting in the current cycle (0 while draining or broken).
    [[nodiscard]] std::size_t n_waiting() const noexcept;
    [[nodiscard]] bool broken() const noexcept {
        return state_.load(std::memory_order_relaxed) == broken_state;
    }

private:
    enum State : int { filling, draining, resetting, broken_state };
    Coro<void> block();
    Coro<void> wait_release();
    void exit_locked();

    Condition cond_;
    const std::size_t parties_;
    // Written while cond_'s lock is held (the Lock's hand-over orders them); read relaxed by
    // the properties without it, as snapshots.
    std::atomic<int> state_{filling};
    std::atomic<std::size_t> count_{0};
};

} // namespace eddy
