#pragma once

/// A descriptor registered with one loop's poller for its whole life (edge-triggered), and the
/// readiness bookkeeping every io/ operation shares.
///
/// Design
/// ------
/// * Registration. `create` registers the fd once (EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET);
///   nothing calls epoll_ctl again until `close`. The poller's tag is this object.
/// * Readiness without lost edges. Each direction has a sequence number that `on_events`
///   bumps under `mu_`. An operation reads the number, tries its system call, and on EAGAIN
///   asks to wait "for a change after seq": if the number moved meanwhile (an edge arrived
///   between the call and the wait), the wait is over at once and the operation retries; else
///   its future is stored and `on_events` completes it. The lock orders the two, so an edge
///   is never lost between EAGAIN and the wait.
/// * Two kinds of listeners. Task-based operations (sock_recv, streams) wait on a future per
///   direction: its completion wakes the Task wherever it runs. Callback-based transports set
///   a `Runnable` that `on_events` schedules on the loop (at most once until it has run),
///   because protocol callbacks are user code and must not run inside a poll batch.
/// * Lifetime. References: the user-side owners plus one for the registration. `close` (any
///   thread) unregisters, closes the fd, wakes every waiter, and drops the registration's
///   reference through a callback on the loop, which runs after any poll batch that could
///   still name this object (see Poller).

#include <atomic>
#include <cstdint>
#include <optional>

#include <eddy/future/detail/spin_lock.hpp>
#include <eddy/future/future.hpp>
#include <eddy/scheduler/detail/loop_core.hpp>
#include <eddy/scheduler/detail/poller.hpp>

namespace eddy::detail {

class SocketCore final : public IoSource {
public:
    enum Direction : int { read_dir = 0, write_dir = 1 };

    /// Registers `fd` with `loop`'s poller; the caller holds the one user reference returned.
    static SocketCore* create(int fd, LoopCore* loop);

    // acq_rel / relaxed as FutureStateBase's counts.
    void add_ref() noexcept { refs_.fetch_add(1, std::memory_order_relaxed); }
    void release() noexcept;

    [[nodiscard]] int fd() const noexcept { return fd_; }
    [[nodiscard]] LoopCore* loop() const noexcept { return loop_; }
    /// Acquire: pairs with close()'s release store; a closed socket's fd is not used again.
    [[nodiscard]] bool closed() const noexcept { return closed_.load(std::memory_order_acquire); }

    /// The current sequence number of `dir` (see the design block).
    [[nodiscard]] std::uint64_t seq(Direction dir) const;
    /// A future completed by the next readiness of `dir` after `seq` (already done when it
    /// came meanwhile, or when the socket is closed). One waiter per direction: a second
    /// concurrent one throws RuntimeError.
    Future<void> wait(Direction dir, std::uint64_t seq);

    /// Callback mode: `r` runs on the loop after readiness (scheduled at most once at a time).
    /// Call `take_events` from it to learn what happened.
    void set_callback(Runnable* r) noexcept;
    /// The readiness bits collected since the callback was last scheduled; marks it unqueued.
    /// The callback calls it first thing when it runs.
    std::uint32_t take_events() noexcept;
    /// Schedules the callback as if `events` had happened (any thread): the one way to run
    /// it besides readiness, so it is never queued twice. False when there is no callback or
    /// the loop is closed.
    bool kick(std::uint32_t events) noexcept;

    /// Unregisters, closes the fd, wakes every waiter. Idempotent; any thread.
    void close() noexcept;

    void on_events(std::uint32_t events) noexcept override;

private:
    SocketCore(int fd, LoopCore* loop) noexcept;
    ~SocketCore();

    std::atomic<std::uint32_t> refs_{2}; // the creator's and the registration's
    const int fd_;
    LoopCore* const loop_; // holds a reference on the loop
    /// Set once by close() (release), read by closed() (acquire).
    std::atomic<bool> closed_{false};
    mutable SpinLock mu_;
    std::uint64_t seq_[2] = {0, 0};         // guarded by mu_
    std::optional<Future<void>> waiter_[2]; // guarded by mu_
    Runnable* callback_ = nullptr;          // guarded by mu_
    bool callback_queued_ = false;          // guarded by mu_
    std::uint32_t pending_events_ = 0;      // guarded by mu_
};

} // namespace eddy::detail
