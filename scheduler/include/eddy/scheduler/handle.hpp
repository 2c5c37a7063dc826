#pragma once

/// `eddy::Handle` and `eddy::TimerHandle`: what `call_soon` / `call_later` / `call_at`
/// return (asyncio.Handle / asyncio.TimerHandle).
///
/// Thread safety: `cancel()`, `cancelled()` and `when()` may be called from any thread. A
/// callback cancelled from another thread while its loop is already running it still runs
/// to its end; cancelled before the loop takes it, it never runs.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>
#include <typeinfo>
#include <utility>

#include <eddy/future/detail/scheduler.hpp>
#include <eddy/future/detail/small_alloc.hpp>

namespace eddy {

namespace detail {

class LoopCore;

/// A queued callback: refcounted (the loop's queue holds one reference, each Handle one).
class HandleBase : public Runnable, public SmallAllocated {
public:
    HandleBase() = default;
    void add_ref() noexcept { refs_.fetch_add(1, std::memory_order_relaxed); }
    /// Before the handle is published anywhere: two references (the queue's and the returned
    /// Handle's) with a plain store instead of an increment. Relaxed: no other thread can see
    /// the handle yet; queuing it publishes it.
    void share_with_caller() noexcept { refs_.store(2, std::memory_order_relaxed); }
    void release() noexcept {
        // acq_rel: see FutureStateBase::release.
        if (refs_.fetch_sub(1, std::memory_order_acq_rel) == 1) {
            delete this;
        }
    }
    /// Returns true if this call cancelled it (false when already cancelled).
    virtual bool cancel() noexcept {
        // Relaxed: the flag itself is the whole message; a callback already taken by the
        // loop may still run (documented above).
        return !cancelled_.exchange(true, std::memory_order_relaxed);
    }
    [[nodiscard]] bool cancelled() const noexcept {
        return cancelled_.load(std::memory_order_relaxed);
    }

    void run() override;
    void discard() noexcept override { release(); }
    [[nodiscard]] std::string describe() const override;

protected:
    virtual ~HandleBase() = default;
    virtual void invoke() = 0;
    [[nodiscard]] virtual const char* type_name() const noexcept = 0;

private:
    std::atomic<std::uint32_t> refs_{1}; // the queue's and the Handles'; see release()
    std::atomic<bool> cancelled_{false}; // relaxed: see cancel()
};

/// A timer's entry in its loop's heap.
class TimerBase : public HandleBase {
public:
    using clock = std::chrono::steady_clock;
    bool cancel() noexcept override;
    /// Binds the timer to `loop` (no reference: see TimerBase::cancel).
    void bind(LoopCore* loop) noexcept;

    clock::time_point when_{};
    std::uint64_t seq_ = 0; // insertion order: equal deadlines fire FIFO

protected:
    ~TimerBase() override;

private:
    LoopCore* loop_ = nullptr; // compared with the running loop, followed only when equal
};

template <class Base, class F>
class CallbackImpl final : public Base {
public:
    explicit CallbackImpl(F&& f) : f_(std::move(f)) {}

private:
    void invoke() override { f_(); }
    [[nodiscard]] const char* type_name() const noexcept override { return typeid(F).name(); }
    F f_;
};

} // namespace detail

/// asyncio.Handle: a callback scheduled with `call_soon`.
class Handle {
public:
    Handle() noexcept = default;
    explicit Handle(detail::HandleBase* h) noexcept : h_(h) {} // adopts one reference
    Handle(const Handle& o) noexcept : h_(o.h_) {
        if (h_ != nullptr) {
            h_->add_ref();
        }
    }
    Handle(Handle&& o) noexcept : h_(std::exchange(o.h_, nullptr)) {}
    Handle& operator=(Handle o) noexcept {
        std::swap(h_, o.h_);
        return *this;
    }
    ~Handle() {
        if (h_ != nullptr) {
            h_->release();
        }
    }

    /// Cancels the callback: it will not run (if the loop has not started it yet).
    void cancel() noexcept {
        if (h_ != nullptr) {
            (void)h_->cancel();
        }
    }
    [[nodiscard]] bool cancelled() const noexcept { return h_ != nullptr && h_->cancelled(); }
    explicit operator bool() const noexcept { return h_ != nullptr; }

protected:
    detail::HandleBase* h_ = nullptr;
};

/// asyncio.TimerHandle: a callback scheduled with `call_later` / `call_at`.
class TimerHandle : public Handle {
public:
    TimerHandle() noexcept = default;
    explicit TimerHandle(detail::TimerBase* t) noexcept : Handle(t) {}

    /// The loop time (seconds, as `loop.time()`) at which the callback is due.
    [[nodiscard]] double when() const noexcept {
        return std::chrono::duration<double>(timer()->when_.time_since_epoch()).count();
    }
    /// The same instant as a steady_clock time point.
    [[nodiscard]] std::chrono::steady_clock::time_point when_time_point() const noexcept {
        return timer()->when_;
    }

private:
    [[nodiscard]] detail::TimerBase* timer() const noexcept {
        return static_cast<detail::TimerBase*>(h_);
    }
};

} // namespace eddy
