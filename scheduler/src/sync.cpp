#include <eddy/scheduler/sync.hpp>

#include <exception>

namespace eddy {

// Every slow path below has the same shape (see detail/wait_list.hpp): link a Waiter under the
// lock, await its future without the lock, and on CancelledError unlink it and pass on what a
// waker may have handed it meanwhile. A `co_await` cannot sit inside a catch block, so the
// exception is kept in an exception_ptr and rethrown after the clean-up.

// --- Lock ------------------------------------------------------------------------------------

bool Lock::try_acquire() noexcept {
    std::lock_guard guard(mu_);
    // asyncio: free, and no waiter that is still waiting (cancelled ones do not count).
    if (locked_.load(std::memory_order_relaxed) || waiters_.any_pending()) {
        return false;
    }
    locked_.store(true, std::memory_order_relaxed);
    return true;
}

Coro<bool> Lock::acquire_slow() {
    detail::Waiter w;
    {
        std::lock_guard guard(mu_);
        if (!locked_.load(std::memory_order_relaxed) && !waiters_.any_pending()) {
            locked_.store(true, std::memory_order_relaxed);
            co_return true;
        }
        waiters_.push_back(w);
    }
    std::exception_ptr error;
    try {
        co_await w.future();
    } catch (...) {
        error = std::current_exception();
    }
    if (error) {
        detail::Wakeups wakeups;
        {
            std::lock_guard guard(mu_);
            waiters_.unlink(w);
            if (w.claimed()) {
                release_locked(wakeups); // handed the lock, then cancelled: pass it on
            }
        }
        std::rethrow_exception(error);
    }
    co_return true; // the releaser handed the lock over (locked_ stayed true)
}

void Lock::release() {
    detail::Wakeups wakeups;
    std::lock_guard guard(mu_);
    release_locked(wakeups);
}

void Lock::release_locked(detail::Wakeups& wakeups) {
    if (!locked_.load(std::memory_order_relaxed)) {
        throw RuntimeError("Lock is not acquired.");
    }
    if (!waiters_.wake_first(wakeups)) {
        locked_.store(false, std::memory_order_relaxed);
    }
}

Coro<Guard<Lock>> Lock::scoped() {
    co_await acquire();
    co_return Guard<Lock>(this);
}

// --- Event -----------------------------------------------------------------------------------

Coro<bool> Event::wait_slow() {
    detail::Waiter w;
    {
        std::lock_guard guard(mu_);
        if (set_.load(std::memory_order_relaxed)) {
            co_return true;
        }
        waiters_.push_back(w);
    }
    std::exception_ptr error;
    try {
        co_await w.future();
    } catch (...) {
        error = std::current_exception();
    }
    {
        std::lock_guard guard(mu_);
        waiters_.unlink(w);
    }
    if (error) {
        std::rethrow_exception(error);
    }
    co_return true;
}

void Event::set() {
    detail::Wakeups wakeups;
    std::lock_guard guard(mu_);
    if (!set_.load(std::memory_order_relaxed)) {
        set_.store(true, std::memory_order_release);
        waiters_.wake_all(wakeups);
    }
}

void Event::clear() noexcept {
    std::lock_guard guard(mu_);
    set_.store(false, std::memory_order_relaxed);
}

// --- Condition -------------------------------------------------------------------------------

Condition::Condition() : own_(std::make_unique<Lock>()), lock_(own_.get()) {}
Condition::Condition(Lock& lock) noexcept : lock_(&lock) {}
Condition::~Condition() = default;

Coro<bool> Condition::wait() {
    if (!locked()) {
        throw RuntimeError("cannot wait on un-acquired lock");
    }
    detail::Waiter w;
    {
        std::lock_guard guard(mu_);
        waiters_.push_back(w);
    }
    release();
    std::exception_ptr error;
    try {
        co_await w.future();
    } catch (...) {
        error = std::current_exception();
    }
    {
        std::lock_guard guard(mu_);
        waiters_.unlink(w);
    }
    // The lock must be held again on the way out, even when cancelled (asyncio's rule).
    for (;;) {
        try {
            co_await lock_->acquire();
            break;
        } catch (const CancelledError&) {
            error = std::current_exception();
        }
    }
    if (error) {
        // We may have been notified just before the cancellation: pass one notification on
        // (a spurious wake-up is allowed by the protocol; a lost one is not).
        notify_unchecked(1);
        std::rethrow_exception(error);
    }
    co_return true;
}

void Condition::notify(std::size_t n) {
    if (!locked()) {
        throw RuntimeError("cannot notify on un-acquired lock");
    }
    notify_unchecked(n);
}

void Condition::notify_all() {
    if (!locked()) {
        throw RuntimeError("cannot notify on un-acquired lock");
    }
    detail::Wakeups wakeups;
    std::lock_guard guard(mu_);
    waiters_.wake_all(wakeups);
}

void Condition::notify_unchecked(std::size_t n) {
    detail::Wakeups wakeups;
    std::lock_guard guard(mu_);
    waiters_.wake(n, wakeups);
}

// --- Semaphore -------------------------------------------------------------------------------

Semaphore::Semaphore(std::int64_t value) : Semaphore(value, false) {}

Semaphore::Semaphore(std::int64_t value, bool bounded)
    : value_(value), bound_(bounded ? value : -1) {
    if (value < 0) {
        throw ValueError("Semaphore initial value must be >= 0");
    }
}

bool Semaphore::locked() const {
    std::lock_guard guard(mu_);
    return value_.load(std::memory_order_relaxed) == 0 || waiters_.any_pending();
}

bool Semaphore::try_acquire() noexcept {
    std::lock_guard guard(mu_);
    const std::int64_t v = value_.load(std::memory_order_relaxed);
    if (v == 0 || waiters_.any_pending()) {
        return false;
    }
    value_.store(v - 1, std::memory_order_relaxed);
    return true;
}

Coro<bool> Semaphore::acquire_slow() {
    detail::Waiter w;
    {
        std::lock_guard guard(mu_);
        const std::int64_t v = value_.load(std::memory_order_relaxed);
        if (v > 0 && !waiters_.any_pending()) {
            value_.store(v - 1, std::memory_order_relaxed);
            co_return true;
        }
        waiters_.push_back(w);
    }
    std::exception_ptr error;
    try {
        co_await w.future();
    } catch (...) {
        error = std::current_exception();
    }
    if (error) {
        detail::Wakeups wakeups;
        {
            std::lock_guard guard(mu_);
            waiters_.unlink(w);
            if (w.claimed()) {
                release_locked(wakeups); // given a permit, then cancelled: pass it on
            }
        }
        std::rethrow_exception(error);
    }
    co_return true; // the releaser handed its permit over
}

void Semaphore::release() {
    detail::Wakeups wakeups;
    std::lock_guard guard(mu_);
    if (bound_ >= 0 && value_.load(std::memory_order_relaxed) >= bound_) {
        throw ValueError("BoundedSemaphore released too many times");
    }
    release_locked(wakeups);
}

void Semaphore::release_locked(detail::Wakeups& wakeups) {
    if (!waiters_.wake_first(wakeups)) {
        value_.store(value_.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
    }
}

Coro<Guard<Semaphore>> Semaphore::scoped() {
    co_await acquire();
    co_return Guard<Semaphore>(this);
}

// --- Barrier ---------------------------------------------------------------------------------
// asyncio's Barrier, on a Condition: its state changes only while the Condition's lock is
// held, so the algorithm carries over; the lock's hand-over orders the state between workers.

Barrier::Barrier(std::size_t parties) : parties_(parties) {
    if (parties < 1) {
        throw ValueError("parties must be > 0");
    }
}

std::size_t Barrier::n_waiting() const noexcept {
    return state_.load(std::memory_order_relaxed) == filling
               ? count_.load(std::memory_order_relaxed)
               : 0;
}

Coro<std::size_t> Barrier::wait() {
    auto guard = co_await cond_.scoped();
    co_await block(); // while the previous cycle drains or a reset is in progress
    const std::size_t index = count_.load(std::memory_order_relaxed);
    count_.store(index + 1, std::memory_order_relaxed);
    std::exception_ptr error;
    try {
        if (index + 1 == parties_) {
            state_.store(draining, std::memory_order_relaxed); // the last one releases everybody
            cond_.notify_all();
        } else {
            co_await wait_release();
        }
    } catch (...) {
        error = std::current_exception();
    }
    count_.store(count_.load(std::memory_order_relaxed) - 1, std::memory_order_relaxed);
    exit_locked();
    if (error) {
        std::rethrow_exception(error);
    }
    co_return index;
}

Coro<void> Barrier::block() {
    co_await cond_.wait_for([this] {
        const int s = state_.load(std::memory_order_relaxed);
        return s != draining && s != resetting;
    });
    if (state_.load(std::memory_order_relaxed) == broken_state) {
        throw BrokenBarrierError("Barrier aborted");
    }
}

Coro<void> Barrier::wait_release() {
    co_await cond_.wait_for([this] { return state_.load(std::memory_order_relaxed) != filling; });
    const int s = state_.load(std::memory_order_relaxed);
    if (s == broken_state || s == resetting) {
        throw BrokenBarrierError("Abort call");
    }
}

void Barrier::exit_locked() {
    if (count_.load(std::memory_order_relaxed) == 0) {
        const int s = state_.load(std::memory_order_relaxed);
        if (s == resetting || s == draining) {
            state_.store(filling, std::memory_order_relaxed);
        }
        cond_.notify_all();
    }
}

Coro<void> Barrier::reset() {
    auto guard = co_await cond_.scoped();
    if (count_.load(std::memory_order_relaxed) > 0) {
        state_.store(resetting, std::memory_order_relaxed);
    } else {
        state_.store(filling, std::memory_order_relaxed);
    }
    cond_.notify_all();
}

Coro<void> Barrier::abort() {
    auto guard = co_await cond_.scoped();
    state_.store(broken_state, std::memory_order_relaxed);
    cond_.notify_all();
}

} // namespace eddy
