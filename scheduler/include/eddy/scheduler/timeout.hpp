#pragma once

/// `eddy::timeout(d)` / `eddy::timeout_at(when)`: asyncio's timeout scopes.
///
/// C++ has no `async with`, so a scope is the body it runs:
///
/// ```cpp
/// int v = co_await eddy::timeout(2s, fetch());              // a Coro, a Task, a Future, ...
/// co_await eddy::timeout(2s, [&](eddy::Timeout& cm) -> eddy::Coro<void> {
///     co_await step1();
///     cm.reschedule(cm.when().value() + 1.0);                   // as asyncio's cm.reschedule
///     co_await step2();
/// });
/// eddy::Timeout cm = eddy::timeout(2s);                      // or keep the object
/// co_await cm.run(fetch());
/// if (cm.expired()) { ... }
/// ```
///
/// Semantics are asyncio's: when the deadline passes, the Task running the scope is
/// cancelled (so whatever it awaits inside the scope is cancelled); when the resulting
/// CancelledError reaches the end of the scope it becomes TimeoutError. A cancellation that
/// came from elsewhere stays a CancelledError (`cancelling()` counts the requests); nested
/// scopes therefore report correctly: the one that expired converts its own cancellation.
/// Deadlines are loop times (`loop.time()`, seconds) as in asyncio; `std::nullopt` means
/// none.
///
/// Thread safety: the expiry fires on the loop where the scope was entered while the Task may
/// run on another worker; entry, expiry, `reschedule` and exit serialise on the scope's own
/// mutex, so an expiry either cancels the Task before the scope exits (and is converted) or
/// not at all.

#include <chrono>
#include <exception>
#include <memory>
#include <mutex>
#include <optional>
#include <type_traits>
#include <utility>

#include <eddy/future/coro.hpp>
#include <eddy/future/error.hpp>
#include <eddy/future/task.hpp>
#include <eddy/scheduler/event_loop.hpp>
#include <eddy/scheduler/handle.hpp>

namespace eddy {

namespace detail {

/// `loop.time()` without a loop: every loop shares this clock.
inline double loop_time() noexcept {
    return std::chrono::duration<double>(EventLoop::clock::now().time_since_epoch()).count();
}

/// The type `co_await std::declval<A>()` produces.
template <class A>
auto await_result_probe(A&& a) {
    if constexpr (requires { std::forward<A>(a).operator co_await(); }) {
        return std::type_identity<
            decltype(std::forward<A>(a).operator co_await().await_resume())>{};
    } else {
        return std::type_identity<decltype(a.await_resume())>{};
    }
}
template <class A>
using await_result_t =
    typename decltype(await_result_probe(std::declval<std::remove_cvref_t<A>>()))::type;

/// Any awaitable as a Coro (a Coro stays itself).
template <class A>
Coro<await_result_t<A>> as_coro(A aw) {
    if constexpr (is_coro_v<A>) {
        return aw;
    } else {
        return
            [](A a) -> Coro<await_result_t<A>> { co_return co_await std::move(a); }(std::move(aw));
    }
}

} // namespace detail

/// An asyncio timeout scope. See the file comment.
class Timeout {
public:
    using time_point = std::optional<double>; ///< a loop time in seconds, or none

    explicit Timeout(time_point when) : state_(std::make_shared<State>()) { state_->when = when; }

    /// The deadline (loop time, seconds), or none.
    [[nodiscard]] time_point when() const {
        std::lock_guard guard(state_->mu);
        return state_->when;
    }
    /// Moves the deadline (none: no deadline). Only while the scope runs; throws RuntimeError
    /// before entry ("Timeout has not been entered") and after expiry or exit.
    void reschedule(time_point when);
    /// Whether the deadline passed while the scope ran.
    [[nodiscard]] bool expired() const {
        std::lock_guard guard(state_->mu);
        return state_->phase == Phase::expiring || state_->phase == Phase::expired;
    }

    /// Runs `body` (a Coro, Task, Future or any awaitable) inside the scope and returns its
    /// value. Throws TimeoutError when the deadline cancelled it. A scope runs once.
    template <class A>
    Coro<detail::await_result_t<A>> run(A body) {
        // A static coroutine with the scope by value: the Coro may outlive this object
        // (`return timeout(d).run(x);`), and the copy shares the scope's state.
        return run_scope(*this, std::move(body));
    }

private:
    enum class Phase { created, entered, expiring, expired, exited };
    struct State {
        std::mutex mu;
        Phase phase = Phase::created;  // guarded by mu
        time_point when;               // guarded by mu
        Task<> task;                   // fixed at entry
        std::uint32_t cancelling = 0;  // fixed at entry
        std::optional<EventLoop> loop; // fixed at entry
        TimerHandle handle;            // guarded by mu
    };
    void enter();
    /// Ends the scope; rethrows `error`, or throws TimeoutError in its place.
    void exit(const std::exception_ptr& error);
    static void arm_locked(const std::shared_ptr<State>& state);

    template <class A>
    static Coro<detail::await_result_t<A>> run_scope(Timeout self, A body) {
        using R = detail::await_result_t<A>;
        self.enter();
        std::exception_ptr error;
        if constexpr (std::is_void_v<R>) {
            try {
                co_await await_body(body);
            } catch (...) {
                error = std::current_exception();
            }
            self.exit(error);
        } else {
            std::optional<R> value;
            try {
                value.emplace(co_await await_body(body));
            } catch (...) {
                error = std::current_exception();
            }
            self.exit(error);
            co_return std::move(*value);
        }
    }
    /// Futures are awaited as lvalues (their value is copied: others may read it too);
    /// everything else is consumed.
    // The test is one requires-expression: with `requires {...} && is_base_of_v<Future<...>>`
    // the second operand is instantiated even for awaitables without a value_type (such as
    // `queue.get()` / `event.wait()`), a hard error.
    template <class A>
    static decltype(auto) await_body(A& body) {
        if constexpr (requires {
                          typename A::value_type;
                          requires std::is_base_of_v<Future<typename A::value_type>, A>;
                      }) {
            return (body);
        } else {
            return std::move(body);
        }
    }

    std::shared_ptr<State> state_;
};

/// asyncio's `timeout(delay)`: a scope whose deadline is `delay` from now.
template <class Rep, class Period>
Timeout timeout(std::chrono::duration<Rep, Period> delay) {
    return Timeout(detail::loop_time() + std::chrono::duration<double>(delay).count());
}
/// `timeout(seconds)`, or `timeout(std::nullopt)` for no deadline.
inline Timeout timeout(std::optional<double> seconds) {
    if (!seconds) {
        return Timeout(std::nullopt);
    }
    return Timeout(detail::loop_time() + *seconds);
}
/// asyncio's `timeout_at(when)`: `when` is a loop time (`loop.time()`), or none.
inline Timeout timeout_at(std::optional<double> when) {
    return Timeout(when);
}
/// `timeout_at` with a steady_clock time point.
inline Timeout timeout_at(EventLoop::clock::time_point when) {
    return Timeout(std::chrono::duration<double>(when.time_since_epoch()).count());
}

namespace detail {
template <class Body>
auto run_in_scope(Timeout cm, Body body) {
    if constexpr (std::is_invocable_v<Body&, Timeout&>) {
        return [](Timeout scope,
                  Body fn) -> Coro<await_result_t<std::invoke_result_t<Body&, Timeout&>>> {
            co_return co_await scope.run(fn(scope));
        }(std::move(cm), std::move(body));
    } else if constexpr (std::is_invocable_v<Body&>) {
        return [](Timeout scope, Body fn) -> Coro<await_result_t<std::invoke_result_t<Body&>>> {
            co_return co_await scope.run(fn());
        }(std::move(cm), std::move(body));
    } else {
        return cm.run(std::move(body));
    }
}
} // namespace detail

/// `co_await eddy::timeout(d, body)`: runs `body` (an awaitable, or a callable returning one,
/// optionally taking the `Timeout&`) in a scope of `d`; returns its value or throws
/// TimeoutError.
template <class Rep, class Period, class Body>
auto timeout(std::chrono::duration<Rep, Period> delay, Body body) {
    return detail::run_in_scope(timeout(delay), std::move(body));
}
template <class Body>
auto timeout(std::optional<double> seconds, Body body) {
    return detail::run_in_scope(timeout(seconds), std::move(body));
}
template <class Body>
auto timeout_at(std::optional<double> when, Body body) {
    return detail::run_in_scope(timeout_at(when), std::move(body));
}
template <class Body>
auto timeout_at(EventLoop::clock::time_point when, Body body) {
    return detail::run_in_scope(timeout_at(when), std::move(body));
}

} // namespace eddy
