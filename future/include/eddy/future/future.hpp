#pragma once

/// `eddy::Future<T>`: asyncio's Future, made thread-safe.
///
/// A Future is a copyable handle to shared state: a result, an exception, or cancelled, set
/// once. Every copy sees the same state. `co_await fut` suspends the awaiting Task until the
/// future is done and then returns the value (or throws).
///
/// Thread safety: every member may be called from any thread, concurrently. Done callbacks
/// run on the loop the future is bound to (the running loop, else the thread's event loop,
/// when it was created), as asyncio schedules them with `call_soon`; a future bound to no
/// loop runs them on the thread that completes it.
///
/// Cancellation: a Task awaiting a future that gets cancelled receives CancelledError;
/// cancelling that Task cancels the future it awaits.

#include <chrono>
#include <coroutine>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <future>
#include <string>
#include <thread>
#include <type_traits>
#include <utility>

#include <eddy/future/detail/future_state.hpp>
#include <eddy/future/detail/task_base.hpp>
#include <eddy/future/error.hpp>

namespace eddy {

template <class T = void>
class Future;

namespace detail {

/// Suspends the current Task until a future is done; a node of the future's done list.
template <class T>
class FutureAwaiter final : public CallbackNode {
public:
    FutureAwaiter(FutureStateBase* state, ValueSlot<T>* slot, bool move_out) noexcept
        : state_(state), slot_(slot), move_out_(move_out) {}
    FutureAwaiter(const FutureAwaiter&) = delete;
    FutureAwaiter& operator=(const FutureAwaiter&) = delete;
    ~FutureAwaiter() {
        // Destroyed while still suspended: the Task died waiting (its loop closed). Unlink the
        // node; if completion already took it, wait until its fire() is over (it is using
        // this node and the Task right now).
        if (suspended_ && !state_->remove_node(this)) {
            wait_fired();
        }
    }

    // asyncio: awaiting a done future does not yield, so no cancellation is delivered.
    [[nodiscard]] bool await_ready() const noexcept { return state_->done(); }

    bool await_suspend(std::coroutine_handle<> h) {
        task_ = current_task;
        if (task_ == nullptr) {
            throw RuntimeError("a Future can only be awaited inside a Task");
        }
        if (!state_->add_waiter(this)) {
            return false; // completed meanwhile: resume at once
        }
        suspended_ = true;
        task_->begin_wait(state_, h);
        return true;
    }

    decltype(auto) await_resume() {
        if (suspended_) {
            suspended_ = false;
            wait_fired();      // fire() may still be returning from wake() on the completing thread
            task_->end_wait(); // throws CancelledError when a cancellation is pending
        }
        state_->check_result();
        if constexpr (std::is_void_v<T>) {
            return;
        } else if constexpr (std::is_reference_v<T>) {
            return static_cast<T>(slot_->get());
        } else if constexpr (!std::is_copy_constructible_v<T>) {
            return T(std::move(slot_->get()));
        } else {
            return move_out_ ? T(std::move(slot_->get())) : T(slot_->get());
        }
    }

    void fire(FutureStateBase& /*state*/) noexcept override {
        task_->wake();
        // Release: pairs with the acquire load in wait_fired. The node (in the Task's frame)
        // stays alive until this store: whoever resumes or destroys the awaiter waits for it.
        fired_.store(true, std::memory_order_release);
    }
    void drop() noexcept override { fired_.store(true, std::memory_order_release); }

private:
    /// Spins until fire() has returned (a few instructions after the wake that let the Task
    /// resume, so the wait is short; yielding keeps an oversubscribed machine moving).
    void wait_fired() const noexcept {
        while (!fired_.load(std::memory_order_acquire)) {
            std::this_thread::yield();
        }
    }

    FutureStateBase* state_;
    ValueSlot<T>* slot_;
    TaskBase* task_ = nullptr;
    bool suspended_ = false;
    bool move_out_;
    std::atomic<bool> fired_{false};
};

template <class T>
struct FutureAccess;

} // namespace detail

/// asyncio.Future. See the file comment.
template <class T>
class Future {
public:
    using value_type = T;

    /// A new pending future bound to the running loop (else the thread's event loop).
    Future() : Future(adopt, new detail::FutureState<T>(detail::default_scheduler())) {}

    Future(const Future& other) noexcept : state_(other.state_), slot_(other.slot_) {
        if (state_ != nullptr) {
            state_->add_ref();
        }
    }
    Future(Future&& other) noexcept
        : state_(std::exchange(other.state_, nullptr)), slot_(std::exchange(other.slot_, nullptr)) {
    }
    Future& operator=(Future other) noexcept {
        std::swap(state_, other.state_);
        std::swap(slot_, other.slot_);
        return *this;
    }
    ~Future() {
        if (state_ != nullptr) {
            state_->release();
        }
    }

    /// asyncio's `set_result`. Throws InvalidStateError if already done.
    template <class... A>
    void set_result(A&&... args) {
        if (state_->is_task()) {
            throw RuntimeError("Task does not support set_result() operation");
        }
        const bool ok = state_->try_finish([&] {
            if constexpr (!std::is_void_v<T>) {
                slot_->emplace(std::forward<A>(args)...);
            }
        });
        if (!ok) {
            throw InvalidStateError("invalid state: the future is already done");
        }
    }

    /// asyncio's `set_exception`. Throws InvalidStateError if already done.
    void set_exception(std::exception_ptr e) {
        if (state_->is_task()) {
            throw RuntimeError("Task does not support set_exception() operation");
        }
        state_->set_exception(std::move(e));
    }

    /// asyncio's `cancel(msg)`: false when already done.
    bool cancel(std::string msg = {}) { return state_->cancel(std::move(msg)); }

    [[nodiscard]] bool done() const noexcept { return state_->done(); }
    [[nodiscard]] bool cancelled() const noexcept { return state_->cancelled(); }

    /// The value. Throws InvalidStateError while pending, CancelledError when cancelled, or
    /// the stored exception.
    decltype(auto) result() const {
        state_->check_result();
        if constexpr (!std::is_void_v<T>) {
            return static_cast<std::add_lvalue_reference_t<T>>(slot_->get());
        }
    }

    /// Blocks the calling (plain) thread until the future is done, then returns `result()`.
    /// For threads outside any loop, e.g. on what `run_coroutine_threadsafe` returns; on a
    /// thread running a loop it throws RuntimeError instead of blocking the loop.
    decltype(auto) get() const {
        state_->wait_blocking(std::chrono::steady_clock::time_point::max());
        return result();
    }
    /// Blocks the calling thread until the future is done or `timeout` passes.
    template <class Rep, class Period>
    std::future_status wait_for(std::chrono::duration<Rep, Period> timeout) const {
        const auto deadline = std::chrono::steady_clock::now() +
                              std::chrono::ceil<std::chrono::steady_clock::duration>(timeout);
        return state_->wait_blocking(deadline) ? std::future_status::ready
                                               : std::future_status::timeout;
    }
    /// Blocks the calling thread until the future is done.
    void wait() const { state_->wait_blocking(std::chrono::steady_clock::time_point::max()); }

    /// asyncio's `exception()`: null when the future has a value.
    [[nodiscard]] std::exception_ptr exception() const { return state_->exception(); }

    /// Adds `cb`, called as `cb(fut)` once the future is done (scheduled on its loop, as
    /// asyncio's `call_soon`); at once if it is already done. Returns an id for
    /// `remove_done_callback`.
    template <class F>
    std::uint64_t add_done_callback(F&& cb) {
        return state_->add_callback(detail::DoneCallback::make(
            [cb = std::forward<F>(cb)](detail::FutureStateBase& s) mutable {
                Future self = Future::from_state(&s);
                cb(self);
            }));
    }

    /// Removes the callback `id`; returns the number removed (0 or 1).
    std::size_t remove_done_callback(std::uint64_t id) { return state_->remove_callback(id); }

    /// `co_await fut`: the value (copied, or moved for move-only types), or the exception.
    auto operator co_await() const& noexcept {
        return detail::FutureAwaiter<T>(state_, slot_, false);
    }
    /// Awaiting a temporary moves the value out.
    auto operator co_await() && noexcept { return detail::FutureAwaiter<T>(state_, slot_, true); }

    /// True when both handles refer to the same future (or Task).
    template <class U>
    bool operator==(const Future<U>& other) const noexcept {
        return state_ == other.state_;
    }
    bool operator==(std::nullptr_t) const noexcept { return state_ == nullptr; }
    explicit operator bool() const noexcept { return state_ != nullptr; }

    /// For done callbacks: a handle to the state that is calling them.
    static Future from_state(detail::FutureStateBase* s) noexcept {
        s->add_ref();
        if constexpr (std::is_void_v<T>) {
            return Future(adopt, s, nullptr);
        } else {
            return Future(adopt, s, slot_of(s));
        }
    }

protected:
    struct adopt_t {};
    static constexpr adopt_t adopt{};

    Future(adopt_t /*tag*/, detail::FutureStateBase* s, detail::ValueSlot<T>* slot) noexcept
        : state_(s), slot_(slot) {}
    Future(adopt_t tag, detail::FutureState<T>* s) noexcept : Future(tag, s, s) {}
    Future(adopt_t /*tag*/, std::nullptr_t /*null*/) noexcept {}

    [[nodiscard]] detail::FutureStateBase* state() const noexcept { return state_; }

private:
    static detail::ValueSlot<T>* slot_of(detail::FutureStateBase* s) noexcept;

    template <class U>
    friend class Future;
    friend struct detail::FutureAccess<T>;

    detail::FutureStateBase* state_ = nullptr;
    detail::ValueSlot<T>* slot_ = nullptr;
};

template <class T>
detail::ValueSlot<T>* Future<T>::slot_of(detail::FutureStateBase* s) noexcept {
    return static_cast<detail::ValueSlot<T>*>(s->value_slot());
}

namespace detail {
template <class T>
struct FutureAccess {
    static FutureStateBase* state(const Future<T>& f) noexcept { return f.state_; }
};
} // namespace detail

} // namespace eddy
