#pragma once

/// `eddy::Task<T>`: a scheduled coroutine, and a `Future<T>` (asyncio.Task).
///
/// Created by `loop.create_task(coro)` / `eddy::create_task(coro)`. A Task is the unit a loop
/// runs: each step runs the coroutine until its next real suspension. The Task's state, its
/// coroutine frame and its result are one allocation.
///
/// Thread safety: every member may be called from any thread.
///
/// Cancellation: `cancel(msg)` makes the Task's pending `co_await` throw CancelledError
/// (asyncio's semantics, including `cancelling()` / `uncancel()`); a Task cancelled before
/// its first step never runs its body.

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include <eddy/future/coro.hpp>
#include <eddy/future/future.hpp>

namespace eddy {

/// Options for `create_task`.
struct TaskOptions {
    std::string name{}; ///< asyncio's `name=`; "Task-N" when empty
    bool pinned =
        false; ///< keep the Task on the loop that created it (always true on a standalone loop)
};

template <class T = void>
class Task : public Future<T> {
public:
    /// An empty handle (as asyncio's `None`); `current_task()` outside a Task returns one.
    Task() noexcept : Future<T>(Future<T>::adopt, nullptr) {}

    /// Any Task seen as `Task<void>` (what `all_tasks()` and `current_task()` return).
    template <class U>
    requires std::is_void_v<T> &&(!std::is_void_v<U>)
        Task(const Task<U>& other) noexcept // NOLINT(google-explicit-constructor)
        : Task(base(other)) {}

    [[nodiscard]] std::string get_name() const { return base()->get_name(); }
    void set_name(std::string name) { base()->set_name(std::move(name)); }
    /// The number of pending cancellation requests (asyncio's `cancelling()`).
    [[nodiscard]] std::uint32_t cancelling() const { return base()->cancelling(); }
    /// Decrements the cancellation requests; returns the remaining count.
    std::uint32_t uncancel() { return base()->uncancel(); }

    template <class... A>
    void set_result(A&&...) = delete; // asyncio: a Task's result comes from its coroutine
    void set_exception(std::exception_ptr) = delete;

    /// Adds `cb`, called as `cb(task)` once the Task is done.
    template <class F>
    std::uint64_t add_done_callback(F&& cb) {
        return this->state()->add_callback(detail::DoneCallback::make(
            [cb = std::forward<F>(cb)](detail::FutureStateBase& s) mutable {
                Task self(static_cast<detail::TaskBase*>(&s));
                cb(self);
            }));
    }

    /// Internal: a handle that adopts a reference the caller already holds on `t`.
    static Task adopt(detail::TaskBase* t) noexcept {
        Task task(t);
        if (t != nullptr) {
            t->release(); // `task` took its own; drop the adopted one (never the last)
        }
        return task;
    }

    /// Internal: a new handle to `t` (takes a reference).
    explicit Task(detail::TaskBase* t) noexcept
        : Future<T>(Future<T>::adopt, t,
                    static_cast<detail::ValueSlot<T>*>(t == nullptr ? nullptr : t->value_slot())) {
        if (t != nullptr) {
            t->add_ref();
        }
    }
    [[nodiscard]] detail::TaskBase* base() const noexcept {
        return static_cast<detail::TaskBase*>(this->state());
    }

private:
    template <class U>
    static detail::TaskBase* base(const Task<U>& t) noexcept {
        return t.base();
    }
};

namespace detail {
/// The outcome of a done Task for whoever owns the last use of it (`run`,
/// `run_until_complete`): its value, moved out (a reference stays a reference), or its
/// exception rethrown.
template <class T>
T take_result(Task<T>& task) {
    if constexpr (std::is_void_v<T>) {
        task.result();
    } else if constexpr (std::is_reference_v<T>) {
        return task.result();
    } else {
        return T(std::move(task.result()));
    }
}
} // namespace detail

/// The Task running on this thread now, or an empty handle (asyncio's `current_task()`).
inline Task<> current_task() noexcept {
    return Task<>(detail::current_task);
}

namespace detail {

/// Makes `coro` a Task on `loop` and queues its first step.
template <class T>
Task<T> spawn_task(Scheduler* loop, Coro<T>&& coro, const std::string& name, bool pinned = false) {
    auto h = coro.release();
    if (!h) {
        throw RuntimeError("create_task: the Coro is empty (already awaited or moved from)");
    }
    CoroPromise<T>& p = h.promise();
    p.make_task();
    Task<T> task(&p);            // the caller's handle
    p.start(loop, name, pinned); // the loop's "alive" reference is the initial one
    return task;
}

} // namespace detail
} // namespace eddy
