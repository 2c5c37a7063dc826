#pragma once

/// The seam between future/ and whatever runs coroutines (scheduler/'s EventLoop).
///
/// future/ knows nothing of threads, pollers or timers: a Future schedules its done
/// callbacks, and a Task schedules its next step, through this small interface.

#include <exception>
#include <string>

namespace eddy {

/// What `loop.call_exception_handler(ctx)` receives: asyncio's context dict as a struct.
struct ExceptionContext {
    std::string message;          ///< what happened, e.g. "Exception in callback ..."
    std::exception_ptr exception; ///< the exception, if there is one
    std::string task;             ///< name of the Task involved, if any
    std::string handle;           ///< description of the callback involved, if any
};

namespace detail {

class TaskBase;

/// Why a Task is being queued (a multi-worker runtime places each differently).
enum class TaskWake : unsigned char {
    spawn, ///< its first step: to the back of the queue
    wake,  ///< woken by what it awaited: next, for message-passing locality
    yield, ///< it yielded, or was woken while running: to the back of the queue
};

/// Something a loop runs once from its ready queue: a callback Handle or a Task step.
/// `next_runnable_` links it into the loop's intrusive queues; only the queue that holds
/// the Runnable touches it.
class Runnable {
public:
    Runnable() = default;
    Runnable(const Runnable&) = delete;
    Runnable& operator=(const Runnable&) = delete;

    /// Runs on the loop's thread. A callback's exception escapes to the loop, which
    /// reports it through the exception handler.
    virtual void run() = 0;
    /// The loop closed with this still queued: release what the queue held.
    virtual void discard() noexcept = 0;
    /// A short description for reports ("Task-3", "callback main::{lambda()#1}").
    [[nodiscard]] virtual std::string describe() const = 0;

    Runnable* next_runnable_ = nullptr;

protected:
    ~Runnable() = default;
};

/// Implemented by the event loop. Every function is callable from any thread.
class Scheduler {
public:
    Scheduler() = default;
    Scheduler(const Scheduler&) = delete;
    Scheduler& operator=(const Scheduler&) = delete;

    virtual void add_ref() noexcept = 0;
    virtual void release() noexcept = 0;
    /// Queues `r` to run on the loop (the `call_soon_threadsafe` path when called from
    /// another thread). Returns false, without taking `r`, when the loop is closed.
    virtual bool schedule(Runnable* r) noexcept = 0;
    /// Queues a Task's next step. Callable from any thread. Returns false when the loop is
    /// closed (the Task is not taken).
    virtual bool schedule_task(TaskBase* t, TaskWake why) noexcept = 0;
    /// Tasks created on this loop, for `all_tasks()`; callable from any thread.
    virtual void register_task(TaskBase* t) noexcept = 0;
    virtual void unregister_task(TaskBase* t) noexcept = 0;
    /// `call_exception_handler(ctx)`.
    virtual void report(const ExceptionContext& ctx) noexcept = 0;
    [[nodiscard]] virtual bool debug() const noexcept = 0;

protected:
    ~Scheduler() = default;
};

/// The loop running on this thread right now (set by `run_forever` for its duration).
inline thread_local Scheduler* running_scheduler = nullptr;
/// The thread's current event loop (`set_event_loop`), used when none is running.
inline thread_local Scheduler* thread_scheduler = nullptr;
/// The Task whose step is running on this thread right now.
inline thread_local TaskBase* current_task = nullptr;

/// The loop a new Future binds to: the running loop, else the thread's current loop, else none
/// (then its done callbacks run inline, on the thread that completes it).
inline Scheduler* default_scheduler() noexcept {
    return running_scheduler != nullptr ? running_scheduler : thread_scheduler;
}

} // namespace detail
} // namespace eddy
