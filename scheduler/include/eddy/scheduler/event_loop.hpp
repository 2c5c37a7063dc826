#pragma once

/// `eddy::EventLoop`: asyncio's event loop.
///
/// An EventLoop is a copyable handle to one loop; copies refer to the same loop, and the
/// loop is closed when the last handle goes. `loop.x()` and `loop->x()` both work, so code
/// written either way against `new_event_loop()` compiles.
///
/// Thread safety: as in asyncio, a loop is driven by one thread. `call_soon_threadsafe`,
/// `stop`, `is_running`, `is_closed` and `time` may be called from any thread; everything
/// else from the thread running the loop (or any one thread while it is not running). In
/// debug mode, `call_soon`/`call_later`/`call_at` from another thread throw RuntimeError.

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include <eddy/future/coro.hpp>
#include <eddy/future/detail/unique_function.hpp>
#include <eddy/future/error.hpp>
#include <eddy/future/future.hpp>
#include <eddy/future/task.hpp>
#include <eddy/scheduler/detail/loop_core.hpp>
#include <eddy/scheduler/handle.hpp>

namespace eddy {

class Executor;
class Socket;
class SockAddr;
struct AddrInfo;
struct AddrInfoHints;
struct ConnectionOptions;
struct ServerOptions;

/// `handler(loop, context)`, as asyncio's `loop.set_exception_handler`.
using ExceptionHandler = std::function<void(EventLoop&, const ExceptionContext&)>;

namespace detail {
/// Binds `f(args...)` into one nullary callable (asyncio's `call_soon(cb, *args)`).
template <class F, class... A>
auto bind_callback(F&& f, A&&... args) {
    if constexpr (sizeof...(A) == 0) {
        return std::decay_t<F>(std::forward<F>(f));
    } else {
        return [f = std::decay_t<F>(std::forward<F>(f)),
                tup = std::make_tuple(std::decay_t<A>(std::forward<A>(args))...)]() mutable {
            std::apply(f, tup);
        };
    }
}
} // namespace detail

class EventLoop {
public:
    using clock = std::chrono::steady_clock;

    /// A new, standalone loop (as `new_event_loop()`).
    EventLoop();
    /// Internal: a handle to `core` (takes a user reference).
    explicit EventLoop(detail::LoopCore* core) noexcept;
    EventLoop(const EventLoop& other) noexcept;
    EventLoop(EventLoop&& other) noexcept;
    EventLoop& operator=(EventLoop other) noexcept;
    ~EventLoop();

    /// So `loop->call_soon(...)` reads as well as `loop.call_soon(...)`.
    EventLoop* operator->() noexcept { return this; }
    const EventLoop* operator->() const noexcept { return this; }

    // --- time ------------------------------------------------------------------------------
    /// asyncio's `loop.time()`: seconds on the loop's monotonic clock.
    [[nodiscard]] double time() const noexcept {
        return std::chrono::duration<double>(clock::now().time_since_epoch()).count();
    }
    /// The same clock as a `steady_clock::time_point`.
    [[nodiscard]] clock::time_point now() const noexcept { return clock::now(); }

    // --- callbacks -------------------------------------------------------------------------
    /// Schedules `f(args...)` to run on the next turn, after the callbacks already scheduled.
    template <class F, class... A>
    Handle call_soon(F&& f, A&&... args) {
        auto* h = make_handle<detail::HandleBase>(std::forward<F>(f), std::forward<A>(args)...);
        h->share_with_caller(); // one reference for the queue, one for the returned Handle
        Handle handle(h);
        core_->call_soon(h);
        return handle;
    }

    /// `call_soon` from any thread; wakes the loop if it is parked.
    template <class F, class... A>
    Handle call_soon_threadsafe(F&& f, A&&... args) {
        auto* h = make_handle<detail::HandleBase>(std::forward<F>(f), std::forward<A>(args)...);
        h->share_with_caller();
        Handle handle(h);
        core_->call_soon_threadsafe(h);
        return handle;
    }

    /// Schedules `f(args...)` after `delay` (asyncio's `call_later`).
    template <class Rep, class Period, class F, class... A>
    TimerHandle call_later(std::chrono::duration<Rep, Period> delay, F&& f, A&&... args) {
        return call_at(now() + std::chrono::duration_cast<clock::duration>(delay),
                       std::forward<F>(f), std::forward<A>(args)...);
    }
    /// `call_later` with the delay in seconds, as asyncio takes it.
    template <class F, class... A>
    TimerHandle call_later(double seconds, F&& f, A&&... args) {
        return call_later(std::chrono::duration<double>(seconds), std::forward<F>(f),
                          std::forward<A>(args)...);
    }

    /// Schedules `f(args...)` at loop time `when` (asyncio's `call_at`, seconds).
    template <class F, class... A>
    TimerHandle call_at(double when, F&& f, A&&... args) {
        return call_at(clock::time_point(std::chrono::duration_cast<clock::duration>(
                           std::chrono::duration<double>(when))),
                       std::forward<F>(f), std::forward<A>(args)...);
    }
    template <class F, class... A>
    TimerHandle call_at(clock::time_point when, F&& f, A&&... args) {
        auto* t = make_handle<detail::TimerBase>(std::forward<F>(f), std::forward<A>(args)...);
        t->when_ = when;
        t->bind(core_);
        t->share_with_caller();
        TimerHandle handle(t);
        core_->call_at(t);
        return handle;
    }

    // --- tasks and futures -----------------------------------------------------------------
    /// Wraps `coro` in a Task and schedules its first step (asyncio's `loop.create_task`).
    template <class T>
    Task<T> create_task(Coro<T> coro, const TaskOptions& options = {}) {
        core_->check_open();
        core_->check_thread();
        return detail::spawn_task(core_, std::move(coro), options.name, options.pinned);
    }

    /// A new pending Future bound to this loop.
    template <class T = void>
    Future<T> create_future() {
        detail::FutureStateBase* s = make_future_state<T>();
        Future<T> fut = Future<T>::from_state(s);
        s->release(); // from_state took its own reference
        return fut;
    }

    /// asyncio's `loop.run_in_executor(executor, fn)`: runs `fn()` on `executor` (`nullptr`:
    /// the blocking pool, asyncio's default executor) and returns a Future bound to this loop.
    /// Defined in <eddy/scheduler/executor.hpp>.
    template <class F>
    auto run_in_executor(Executor* executor, F&& fn);

    /// Pending Tasks of this loop.
    [[nodiscard]] std::vector<Task<>> all_tasks() const;

    // --- IO (defined in io/: link eddy::io, or eddy::eddy, and include <eddy/io/...>) -------
    /// asyncio's `add_reader(fd, cb, *args)`: calls `f(args...)` on this loop whenever `fd`
    /// is readable (level-triggered), until `remove_reader(fd)`. Replaces an earlier reader.
    template <class F, class... A>
    void add_reader(int fd, F&& f, A&&... args) {
        add_fd_callback(fd, false,
                        detail::bind_callback(std::forward<F>(f), std::forward<A>(args)...));
    }
    /// asyncio's `add_writer(fd, cb, *args)`: the same for writability.
    template <class F, class... A>
    void add_writer(int fd, F&& f, A&&... args) {
        add_fd_callback(fd, true,
                        detail::bind_callback(std::forward<F>(f), std::forward<A>(args)...));
    }
    /// Stops watching `fd` for reading; true if a reader was registered.
    bool remove_reader(int fd);
    /// Stops watching `fd` for writing; true if a writer was registered.
    bool remove_writer(int fd);

    /// asyncio's `sock_recv(sock, n)`: up to `n` bytes ("" at end of stream).
    Coro<std::string> sock_recv(Socket& sock, std::size_t n);
    /// asyncio's `sock_recv_into(sock, buf)`: bytes read into `data[0, size)`.
    Coro<std::size_t> sock_recv_into(Socket& sock, char* data, std::size_t size);
    /// asyncio's `sock_sendall(sock, data)`: sends all of `data` (which must stay alive until
    /// the call completes).
    Coro<void> sock_sendall(Socket& sock, std::string_view data);
    /// asyncio's `sock_accept(sock)`: the next connection and its peer address.
    Coro<std::pair<Socket, SockAddr>> sock_accept(Socket& sock);
    /// asyncio's `sock_connect(sock, address)`.
    Coro<void> sock_connect(Socket& sock, SockAddr address);
    /// asyncio's `getaddrinfo(host, port, ...)`: numeric hosts at once, names on the blocking
    /// pool. Throws GaiError.
    Coro<std::vector<AddrInfo>> getaddrinfo(std::string host, std::string port,
                                            AddrInfoHints hints);
    Coro<std::vector<AddrInfo>> getaddrinfo(std::string host, int port);

    /// asyncio's `create_connection(protocol_factory, host, port)` → {transport, protocol};
    /// `create_server(protocol_factory, host, port)` → Server; and the Unix variants. The
    /// factory returns a `std::shared_ptr<P>` (P derives from `eddy::Protocol`). Defined in
    /// <eddy/io/transport.hpp>.
    template <class F>
    auto create_connection(F factory, std::string host, int port);
    template <class F>
    auto create_connection(F factory, std::string host, int port, const ConnectionOptions& options);
    template <class F>
    auto create_unix_connection(F factory, std::string path);
    template <class F>
    auto create_server(F factory, std::string host, int port);
    template <class F>
    auto create_server(F factory, std::string host, int port, const ServerOptions& options);
    template <class F>
    auto create_unix_server(F factory, std::string path);
    template <class F>
    auto create_unix_server(F factory, std::string path, const ServerOptions& options);

    // --- running ---------------------------------------------------------------------------
    /// Runs until `fut` is done; returns its value or throws its exception.
    template <class T>
    T run_until_complete(Future<T> fut) {
        run_until_done(detail::FutureAccess<T>::state(fut));
        if constexpr (std::is_void_v<T>) {
            fut.result();
        } else if constexpr (std::is_reference_v<T> || std::is_copy_constructible_v<T>) {
            return fut.result();
        } else {
            return T(std::move(fut.result()));
        }
    }
    /// Wraps `coro` in a Task and runs until it is done.
    template <class T>
    T run_until_complete(Coro<T> coro) {
        Task<T> task = create_task(std::move(coro));
        run_until_done(task.base());
        return detail::take_result(task);
    }

    /// Runs until `stop()` is called.
    void run_forever();
    /// Stops the loop after the callbacks of the current turn (asyncio's `stop`). May be called
    /// from any thread: a parked loop is woken to see it.
    void stop() noexcept { core_->stop(); }
    /// Discards queued callbacks and timers and orphans pending Tasks. A closed loop refuses
    /// to run or to schedule. Throws RuntimeError if the loop is running.
    void close();
    [[nodiscard]] bool is_running() const noexcept { return core_->is_running(); }
    [[nodiscard]] bool is_closed() const noexcept { return core_->is_closed(); }

    // --- errors and debugging --------------------------------------------------------------
    /// Sets the handler that receives every reported error; an empty one restores the default.
    void set_exception_handler(ExceptionHandler handler);
    [[nodiscard]] ExceptionHandler get_exception_handler() const;
    /// Logs `ctx` to stderr (what the loop does without a handler).
    void default_exception_handler(const ExceptionContext& ctx) const noexcept;
    /// Passes `ctx` to the handler (or the default one).
    void call_exception_handler(const ExceptionContext& ctx) const noexcept;

    /// Debug mode (also set by EDDY_DEBUG=1): reports callbacks and Task steps slower than
    /// `slow_callback_duration` and checks that non-thread-safe calls come from the loop's
    /// thread.
    void set_debug(bool enabled) noexcept { core_->set_debug(enabled); }
    [[nodiscard]] bool get_debug() const noexcept { return core_->debug(); }

    /// asyncio's `loop.slow_callback_duration` (seconds, default 0.1):
    /// `loop.slow_callback_duration = 0.05;` and `double d = loop.slow_callback_duration;`.
    class SlowCallbackDuration {
    public:
        explicit SlowCallbackDuration(detail::LoopCore* core) noexcept : core_(core) {}
        SlowCallbackDuration& operator=(double seconds) noexcept {
            core_->slow_callback_duration.store(seconds, std::memory_order_relaxed);
            return *this;
        }
        template <class Rep, class Period>
        SlowCallbackDuration& operator=(std::chrono::duration<Rep, Period> d) noexcept {
            return *this = std::chrono::duration<double>(d).count();
        }
        operator double() const noexcept { // NOLINT(google-explicit-constructor)
            return core_->slow_callback_duration.load(std::memory_order_relaxed);
        }

    private:
        detail::LoopCore* core_;
    };
    SlowCallbackDuration slow_callback_duration;

    bool operator==(const EventLoop& other) const noexcept { return core_ == other.core_; }

    /// Internal.
    [[nodiscard]] detail::LoopCore* core() const noexcept { return core_; }
    /// Internal: `run_until_complete` without taking the result.
    void run_until_done(detail::FutureStateBase* state);

private:
    template <class Base, class F, class... A>
    static Base* make_handle(F&& f, A&&... args) {
        auto bound = detail::bind_callback(std::forward<F>(f), std::forward<A>(args)...);
        return new detail::CallbackImpl<Base, decltype(bound)>(std::move(bound));
    }
    template <class T>
    detail::FutureStateBase* make_future_state() {
        core_->check_open();
        auto* s = new detail::FutureState<T>(core_);
        return s;
    }
    void add_fd_callback(int fd, bool writer, detail::UniqueFunction<void()> fn);
    detail::LoopCore* core_;
};

/// asyncio's `new_event_loop()`: a new standalone loop.
EventLoop new_event_loop();
/// The loop running on this thread; throws RuntimeError("no running event loop") outside one.
EventLoop& get_running_loop();
/// The running loop, else this thread's current loop; creates and sets one if there is none
/// (the behaviour asyncio's tutorials rely on).
EventLoop& get_event_loop();
/// Makes `loop` this thread's current loop.
void set_event_loop(const EventLoop& loop);
/// Clears this thread's current loop.
void set_event_loop(std::nullptr_t);

/// `asyncio.create_task(coro, name=)`: a Task on the running loop.
template <class T>
Task<T> create_task(Coro<T> coro, const TaskOptions& options = {}) {
    return get_running_loop().create_task(std::move(coro), options);
}

/// `asyncio.ensure_future`: a Coro becomes a Task on the current loop; a Future stays itself.
template <class T>
Task<T> ensure_future(Coro<T> coro) {
    return get_event_loop().create_task(std::move(coro));
}
template <class T>
Task<T> ensure_future(Task<T> task) {
    return task;
}
template <class T>
Future<T> ensure_future(Future<T> fut) {
    return fut;
}

/// `asyncio.all_tasks()`: the pending Tasks of the running loop.
std::vector<Task<>> all_tasks();

} // namespace eddy
