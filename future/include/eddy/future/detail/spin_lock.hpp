#pragma once

#include <atomic>
#include <thread>

namespace eddy::detail {

/// A one-byte test-and-test-and-set lock for critical sections of a few dozen
/// instructions (a Future's state change, its callback list).
///
/// Memory ordering: `lock()` takes the flag with an acquire exchange and `unlock()` clears
/// it with a release store, so everything written inside one critical section
/// happens-before everything read inside the next. The inner spin reads relaxed: it only
/// decides when to retry the exchange, which carries the ordering.
class SpinLock {
public:
    void lock() noexcept {
        for (unsigned spins = 0;; ++spins) {
            if (!locked_.exchange(true, std::memory_order_acquire)) {
                return;
            }
            while (locked_.load(std::memory_order_relaxed)) {
                if (++spins > 64) {
                    std::this_thread::yield();
                }
            }
        }
    }

    bool try_lock() noexcept {
        return !locked_.load(std::memory_order_relaxed) &&
               !locked_.exchange(true, std::memory_order_acquire);
    }

    void unlock() noexcept { locked_.store(false, std::memory_order_release); }

private:
    std::atomic<bool> locked_{false};
};

} // namespace eddy::detail
