#pragma once

/// The park seam: what an EventLoop blocks in when it has nothing to run, and the readiness
/// backend io/ registers file descriptors with.
///
/// Linux epoll plus an eventfd that other threads write to wake the loop. A descriptor is
/// registered once for its whole life (`add`), usually edge-triggered, with an `IoSource`
/// that `wait` hands its events to.
///
/// Rules for an IoSource (they are what makes dispatch safe):
/// * `on_events` runs on the thread that polls (the loop's), inside `wait`, in the middle of a
///   batch: it must not run user code or free any source. It records readiness, wakes Tasks
///   (thread-safe) and schedules callbacks on its loop; user code runs after the batch.
/// * A source is freed only by a callback that runs on the poller's loop after `remove`: by
///   then no batch that could still name it is being dispatched.
///
/// A completion-based backend (io_uring) fits the same seam: a multishot poll request per
/// descriptor delivers the same readiness bits to the same `on_events`.

#include <chrono>
#include <cstdint>

namespace eddy::detail {

/// A registered descriptor's receiver of readiness events (see the file comment).
class IoSource {
public:
    IoSource() = default;
    IoSource(const IoSource&) = delete;
    IoSource& operator=(const IoSource&) = delete;
    /// `events`: EPOLLIN / EPOLLOUT / EPOLLERR / EPOLLHUP / EPOLLRDHUP bits.
    virtual void on_events(std::uint32_t events) noexcept = 0;

protected:
    ~IoSource() = default;
};

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

    /// Registers `fd` for `events` (EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET ...), delivered to
    /// `source`. Any thread. Throws std::system_error.
    void add(int fd, IoSource* source, std::uint32_t events);
    /// Changes the interest of a registered `fd`. Any thread. Throws std::system_error.
    void modify(int fd, IoSource* source, std::uint32_t events);
    /// Unregisters `fd` (ignores one that is not registered, or already closed). Any thread.
    void remove(int fd) noexcept;

    [[nodiscard]] int epoll_fd() const noexcept { return epfd_; }

private:
    int epfd_ = -1;
    int evfd_ = -1;
};

} // namespace eddy::detail
