#pragma once

/// `eddy::sleep` and `eddy::yield_now` (asyncio's `sleep(d)` and `sleep(0)`).
///
/// Cancellation: cancelling a Task that sleeps throws CancelledError from the `co_await`
/// and cancels the timer.

#include <chrono>
#include <coroutine>
#include <utility>

#include <eddy/future/coro.hpp>
#include <eddy/future/error.hpp>
#include <eddy/scheduler/event_loop.hpp>

namespace eddy {

/// Awaitable that lets every other ready callback and Task run once before the awaiting
/// Task continues (asyncio's `await asyncio.sleep(0)`).
struct YieldAwaiter {
    [[nodiscard]] bool await_ready() const noexcept { return false; }
    void await_suspend(std::coroutine_handle<> h) const {
        if (detail::current_task == nullptr) {
            throw RuntimeError("yield_now() must be awaited inside a Task");
        }
        detail::current_task->yield_from(h);
    }
    void await_resume() const { detail::current_task->deliver_cancellation(); }
};

/// `co_await eddy::yield_now();`
inline YieldAwaiter yield_now() noexcept {
    return {};
}

namespace detail {
Coro<void> sleep_for(EventLoop::clock::duration d);
} // namespace detail

/// Suspends the current Task for `d` (asyncio's `sleep`); `sleep(0s)` is `yield_now()`.
template <class Rep, class Period>
Coro<void> sleep(std::chrono::duration<Rep, Period> d) {
    return detail::sleep_for(std::chrono::ceil<EventLoop::clock::duration>(d));
}
/// `sleep` with the delay in seconds, as asyncio takes it.
inline Coro<void> sleep(double seconds) {
    return sleep(std::chrono::duration<double>(seconds));
}

/// asyncio's `sleep(delay, result)`: sleeps, then returns `result`.
template <class Rep, class Period, class T>
Coro<T> sleep(std::chrono::duration<Rep, Period> d, T result) {
    co_await sleep(d);
    co_return result;
}

} // namespace eddy
