#pragma once

/// `eddy::run(main())`: asyncio's `asyncio.run`.
///
/// Creates a new loop, makes it the thread's current loop, runs `main` to completion,
/// cancels the Tasks that are left and waits for them to finish, closes the loop, and returns
/// main's value or rethrows its exception.
///
/// (The multi-worker Runtime will take `Config::workers`; until it lands, `run` drives one
/// standalone loop on the calling thread.)

#include <cstdlib>
#include <string>
#include <utility>

#include <eddy/future/coro.hpp>
#include <eddy/scheduler/event_loop.hpp>

namespace eddy {

/// Options for `eddy::run`.
struct Config {
    /// Debug mode for the loop (as `loop.set_debug(true)`; EDDY_DEBUG=1 also sets it).
    bool debug = false;
};

namespace detail {
/// Cancels every pending Task of `loop`, runs until they are done, and reports the
/// exceptions of those that failed instead of being cancelled.
void cancel_all_tasks(EventLoop& loop);
/// The shared set-up of `run`: throws if a loop is running on this thread.
EventLoop begin_run(const Config& config);
void end_run(EventLoop& loop) noexcept;
} // namespace detail

template <class T>
T run(Coro<T> main, Config config = {}) {
    EventLoop loop = detail::begin_run(config);
    struct Finish {
        EventLoop& loop;
        ~Finish() { detail::end_run(loop); }
    } finish{loop};
    Task<T> task = loop.create_task(std::move(main));
    try {
        loop.run_until_done(task.base());
    } catch (...) {
        detail::cancel_all_tasks(loop);
        throw;
    }
    detail::cancel_all_tasks(loop);
    if constexpr (std::is_void_v<T>) {
        task.result();
    } else if constexpr (std::is_reference_v<T>) {
        return task.result();
    } else {
        return T(std::move(task.result()));
    }
}

} // namespace eddy
