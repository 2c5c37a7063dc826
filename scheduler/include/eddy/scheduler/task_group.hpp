#pragma once

/// `eddy::TaskGroup`: asyncio's structured concurrency (`async with asyncio.TaskGroup()`).
///
/// ```cpp
/// eddy::TaskGroup tg;                       // inside a Task: that Task is the parent
/// auto a = tg.create_task(fetch(1));
/// auto b = tg.create_task(fetch(2));
/// co_await tg.join();                       // waits for every child
/// // or, with asyncio's full `async with` behaviour:
/// co_await eddy::task_group([&](eddy::TaskGroup& tg) -> eddy::Coro<void> {
///     tg.create_task(fetch(1));
///     co_await something_else();            // cancelled if a child fails
/// });
/// ```
///
/// Semantics are asyncio's: the first child that fails cancels every other child (and, in
/// the `task_group(body)` form, the body too, which the group then un-cancels); `join()`
/// waits until every child is done and then throws an `ExceptionGroup` holding every error,
/// in the order they happened; children that were cancelled add nothing; cancelling the
/// parent while it waits in `join()` cancels the children, waits for them, and rethrows the
/// CancelledError (an ExceptionGroup takes precedence). After `join()`, `create_task` throws
/// RuntimeError, as it does while the group is aborting.
///
/// Where eddy differs: C++ has no `async with`, so with the plain form a body that throws
/// before reaching `join()` leaves the group to its destructor, which cannot wait: it cancels
/// the children still running and reports errors nobody collected through the loop's
/// exception handler. The `task_group(body)` form has no such gap; prefer it when the body
/// itself awaits. The plain form does not cancel the parent when a child fails (it would
/// skip `join()`); it cancels the other children only.
///
/// Thread safety: children run on any worker; their completions are counted under the
/// group's mutex. `create_task` may be called from the parent and from children.

#include <cstdint>
#include <exception>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include <eddy/future/coro.hpp>
#include <eddy/future/error.hpp>
#include <eddy/future/future.hpp>
#include <eddy/future/task.hpp>
#include <eddy/scheduler/event_loop.hpp>

namespace eddy {

class TaskGroup {
public:
    /// Must be created inside a Task (its parent).
    TaskGroup() : TaskGroup(false) {}
    TaskGroup(const TaskGroup&) = delete;
    TaskGroup& operator=(const TaskGroup&) = delete;
    ~TaskGroup();

    /// Starts `coro` as a child Task on the running loop. Throws RuntimeError once the group
    /// is finished or aborting (the Coro is destroyed unrun).
    template <class T>
    Task<T> create_task(Coro<T> coro, const TaskOptions& options = {}) {
        check_open();
        Task<T> task = get_running_loop().create_task(std::move(coro), options);
        adopt(Task<>(task));
        return task;
    }

    /// Waits for every child (asyncio's `__aexit__`). `body_error` is what the body threw,
    /// if anything (the plain form passes nothing). Throws ExceptionGroup, or CancelledError.
    Coro<void> join(std::exception_ptr body_error = nullptr);

    /// Internal: the `task_group(body)` form (cancels the parent when a child fails).
    struct scoped_t {};
    explicit TaskGroup(scoped_t /*tag*/) : TaskGroup(true) {}

private:
    struct State;
    explicit TaskGroup(bool scoped);
    void check_open();
    void adopt(const Task<>& child);

    std::shared_ptr<State> s_;
};

/// `async with asyncio.TaskGroup() as tg: <body>`: runs `body(tg)`, then waits for the
/// children; see TaskGroup.
template <class Body>
Coro<void> task_group(Body body) {
    TaskGroup tg(TaskGroup::scoped_t{});
    std::exception_ptr error;
    try {
        co_await body(tg);
    } catch (...) {
        error = std::current_exception();
    }
    co_await tg.join(error);
}

} // namespace eddy
