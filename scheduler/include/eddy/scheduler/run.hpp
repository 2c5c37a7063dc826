#pragma once

/// `eddy::run(main())` (asyncio's `asyncio.run`) and `eddy::run_coroutine_threadsafe`.

#include <type_traits>
#include <utility>

#include <eddy/future/coro.hpp>
#include <eddy/future/error.hpp>
#include <eddy/future/future.hpp>
#include <eddy/future/task.hpp>
#include <eddy/scheduler/config.hpp>
#include <eddy/scheduler/event_loop.hpp>
#include <eddy/scheduler/runtime.hpp>

namespace eddy {

/// Starts a Runtime (`config`; by default one worker per hardware thread, or EDDY_WORKERS),
/// runs `main` on it to completion, cancels the Tasks left over and waits for them, shuts the
/// runtime down, and returns main's value or rethrows its exception. Throws RuntimeError when
/// called from a thread that is running a loop.
template <class T>
T run(Coro<T> main, Config config = {}) {
    if (detail::running_scheduler != nullptr) {
        throw RuntimeError("eddy::run() cannot be called from a running event loop");
    }
    Runtime rt{config};
    if constexpr (std::is_void_v<T>) {
        rt.run(std::move(main));
        rt.shutdown();
    } else {
        T result = rt.run(std::move(main));
        rt.shutdown();
        return result;
    }
}

/// asyncio's `run_coroutine_threadsafe(coro, loop)`: from any thread, starts `coro` as a Task
/// on `loop` (a standalone loop, or one of a Runtime's), and returns its Future, which a plain
/// thread can block on with `get()` / `wait_for()`; `cancel()` cancels the Task.
template <class T>
Future<T> run_coroutine_threadsafe(Coro<T> coro, EventLoop& loop) {
    loop.core()->check_open();
    return detail::spawn_task(loop.core(), std::move(coro), {});
}

} // namespace eddy
