#pragma once

/// The park seam: what an EventLoop blocks in when it has nothing to run.
///
/// Linux epoll plus an eventfd that other threads write to wake the loop. io/ will register
/// sockets with the same epoll instance; `wait` hands their readiness events back.

#include <chrono>
#include <cstdint>

namespace eddy::detail {

class Poller {
public:
    Poller();
    ~Poller();
    Poller(const Poller&) = delete;
    Poller& operator=(const Poller&) = delete;

    /// Blocks until woken or `timeout` passes (negative: no limit; zero: just polls).
    /// Returns the number of events other than the wake-up (0 until io/ registers sockets).
    int wait(std::chrono::nanoseconds timeout);
    /// Makes a concurrent or the next `wait` return. Any thread; async-signal-safe.
    void wake() noexcept;

    [[nodiscard]] int epoll_fd() const noexcept { return epfd_; }

private:
    int epfd_ = -1;
    int evfd_ = -1;
};

} // namespace eddy::detail
