#pragma once

/// `eddy::Coro<T>`: the coroutine type users write (asyncio's `async def`).
///
/// A Coro is lazy: calling `f()` allocates its frame and runs nothing. `co_await f()`
/// runs it inline, on the awaiting Task, with no scheduling and no lock; its value or
/// exception comes back to the awaiter. `create_task(f())` turns the same frame into a Task
/// (the promise carries the Task header, so a Task is one allocation).
///
/// Thread safety: a Coro is owned by one Task at a time; do not share one between threads.

#include <cassert>
#include <coroutine>
#include <exception>
#include <type_traits>
#include <utility>

#include <eddy/future/detail/task_base.hpp>
#include <eddy/future/error.hpp>

namespace eddy {

template <class T = void>
class Coro;

namespace detail {

template <class T>
class CoroPromise;

template <class T>
class CoroPromiseValue : public TaskBase, public ValueSlot<T> {
public:
    [[nodiscard]] void* value_slot() noexcept override { return static_cast<ValueSlot<T>*>(this); }
    template <class U = T>
    void return_value(U&& v) {
        this->emplace(std::forward<U>(v));
    }
};

template <>
class CoroPromiseValue<void> : public TaskBase, public ValueSlot<void> {
public:
    void return_void() noexcept {}
};

template <class T>
class CoroPromise final : public CoroPromiseValue<T> {
public:
    CoroPromise() noexcept { this->frame_ = handle::from_promise(*this); }

    using handle = std::coroutine_handle<CoroPromise>;

    Coro<T> get_return_object() noexcept;

    /// A Task cancelled before its first step never runs its body: the first resumption
    /// throws CancelledError from here.
    struct InitialAwaiter {
        CoroPromise* promise;
        [[nodiscard]] bool await_ready() const noexcept { return false; }
        void await_suspend(std::coroutine_handle<> /*unused*/) const noexcept {}
        void await_resume() const {
            if (promise->as_task_) {
                promise->deliver_cancellation();
            }
        }
    };
    InitialAwaiter initial_suspend() noexcept { return {this}; }

    struct FinalAwaiter {
        [[nodiscard]] bool await_ready() const noexcept { return false; }
        void await_suspend(handle h) const noexcept {
            CoroPromise& p = h.promise();
            if (p.as_task_) {
                p.complete();
            } else {
                // Back to the awaiter through the Task's trampoline.
                current_task->next_ = p.continuation_;
            }
        }
        void await_resume() const noexcept {}
    };
    FinalAwaiter final_suspend() noexcept { return {}; }

    void unhandled_exception() noexcept { this->exc_ = std::current_exception(); }

    /// Turns this frame into a Task's (before its first step).
    void make_task() noexcept { as_task_ = true; }

    /// Inline use: the value or exception for the awaiter.
    decltype(auto) take_result() {
        if (this->exc_) {
            std::rethrow_exception(this->exc_);
        }
        if constexpr (std::is_void_v<T>) {
            return;
        } else if constexpr (std::is_reference_v<T>) {
            return static_cast<T>(this->get());
        } else {
            return T(std::move(this->get()));
        }
    }

    std::coroutine_handle<> continuation_;

    ~CoroPromise() override = default;

private:
    void destroy() noexcept override;
    bool as_task_ = false;
    friend class Coro<T>;
};

} // namespace detail

/// The coroutine type of eddy (asyncio's `async def`). See the file comment.
///
/// Cancellation: a Coro runs inside a Task; cancelling the Task throws CancelledError at the
/// Coro's pending `co_await`, which may catch it.
template <class T>
class [[nodiscard]] Coro {
public:
    using promise_type = detail::CoroPromise<T>;
    using handle = std::coroutine_handle<promise_type>;
    using value_type = T;

    Coro() noexcept = default;
    explicit Coro(handle h) noexcept : h_(h) {}
    Coro(Coro&& other) noexcept : h_(std::exchange(other.h_, {})) {}
    Coro& operator=(Coro&& other) noexcept {
        if (this != &other) {
            reset();
            h_ = std::exchange(other.h_, {});
        }
        return *this;
    }
    Coro(const Coro&) = delete;
    Coro& operator=(const Coro&) = delete;
    ~Coro() { reset(); }

    /// True while this object owns a coroutine frame.
    [[nodiscard]] bool valid() const noexcept { return static_cast<bool>(h_); }
    explicit operator bool() const noexcept { return valid(); }

    /// Gives up ownership of the frame (used by `create_task`).
    handle release() noexcept { return std::exchange(h_, {}); }

    struct Awaiter {
        handle callee;
        [[nodiscard]] bool await_ready() const noexcept { return false; }
        void await_suspend(std::coroutine_handle<> caller) const noexcept {
            assert(detail::current_task != nullptr && "a Coro must be awaited inside a Task");
            callee.promise().continuation_ = caller;
            detail::current_task->next_ = callee;
        }
        decltype(auto) await_resume() const { return callee.promise().take_result(); }
    };

    /// Runs the coroutine inline and returns its value (or rethrows its exception).
    Awaiter operator co_await() && noexcept {
        assert(h_ && !h_.done());
        return Awaiter{h_};
    }
    Awaiter operator co_await() & noexcept {
        assert(h_ && !h_.done());
        return Awaiter{h_};
    }

private:
    void reset() noexcept {
        if (h_) {
            h_.destroy();
            h_ = {};
        }
    }
    handle h_;
};

namespace detail {

template <class T>
Coro<T> CoroPromise<T>::get_return_object() noexcept {
    return Coro<T>(handle::from_promise(*this));
}

template <class T>
void CoroPromise<T>::destroy() noexcept {
    if (this->exception_unretrieved_.load(std::memory_order_relaxed)) {
        this->report_unretrieved("Task exception was never retrieved", this->get_name());
    }
    if (as_task_) {
        this->leave_registry();
    }
    handle::from_promise(*this).destroy();
}

/// True for `eddy::Coro<T>`.
template <class X>
inline constexpr bool is_coro_v = false;
template <class T>
inline constexpr bool is_coro_v<Coro<T>> = true;

} // namespace detail
} // namespace eddy
