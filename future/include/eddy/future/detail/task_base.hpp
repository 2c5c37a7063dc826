#pragma once

/// The header of a Task: lives in the promise of the Task's root coroutine frame, so a
/// Task is one allocation (frame + header + result).
///
/// Design
/// ------
/// * References. `refs_` (from FutureStateBase) counts the Task handles plus one "alive"
///   reference that the loop owns from `start()` until the Task completes (or the loop
///   closes under it). The frame is destroyed when the count reaches zero.
/// * Run state, one atomic word (`run_state_`):
///     idle      suspended, waiting for something to wake it;
///     scheduled in (or on its way to) its loop's ready queue;
///     running   a step is executing;
///     notified  woken while running: the runner queues it again when the step ends;
///     done      completed, or orphaned by a closed loop: wakes are ignored.
///   `wake()` moves idle -> scheduled (and queues the Task: exactly one waker wins the CAS)
///   or running -> notified; every other state already guarantees a future run. The runner
///   moves scheduled -> running, and at the end of the step running -> idle, or finds
///   notified and queues the Task again. So a wake racing with a run is never lost, and a
///   Task is never queued twice.
/// * Steps and the trampoline. A step resumes `resume_point_` and then, in a loop, whatever
///   `next_` names: awaiting a Coro sets `next_` to the callee and suspends the caller; a
///   Coro's end sets `next_` to its caller. Every transfer returns to `run()`, so chains of
///   a million synchronous awaits (or a million nested ones) use a constant amount of stack
///   with every compiler and optimisation level.
/// * A closed loop. Scheduling onto a closed loop fails; the waker (or the runner) then
///   leaves the Task as it is. close() orphans every registered Task: it exchanges the state
///   to done and drops the alive reference, so exactly one party ever drops it (start()'s
///   failure path uses the same exchange). The frame cannot vanish under a waker on another
///   thread: such wakers are awaiter nodes inside the frame, and an awaiter's destruction
///   waits until its fire() has returned.
/// * Cancellation, asyncio's: `cancel()` cancels the future the Task waits on (`waiting_on_`)
///   if it can, else sets `must_cancel_`, which the Task's next suspension point turns into
///   CancelledError. When the future it tried was already done and the Task has since begun
///   another wait (`wait_seq_` moved), cancel() tries that one, so a request is never left
///   pending on a Task blocked elsewhere. Fields marked "guarded" are read and written under
///   the state's lock.

#include <atomic>
#include <coroutine>
#include <cstdint>
#include <memory>
#include <string>

#include <eddy/future/detail/future_state.hpp>

namespace eddy::detail {

class TaskBase : public FutureStateBase, public Runnable {
public:
    enum RunState : std::uint32_t { st_idle, st_scheduled, st_running, st_notified, st_done };

    /// Binds the Task to `loop`, registers it, and queues its first step. A pinned Task
    /// always runs on `loop`; others may be stolen by the workers of loop's runtime.
    void start(Scheduler* loop, const std::string& name, bool pinned = false);
    [[nodiscard]] bool pinned() const noexcept { return pinned_; }

    // Runnable
    void run() override;
    void discard() noexcept override {}
    [[nodiscard]] std::string describe() const override { return get_name(); }

    /// Makes the Task run again (see the design block). Callable from any thread.
    void wake() noexcept;
    /// The loop closed with this Task pending: stop accepting wakes and drop the alive
    /// reference. Called on the loop's thread.
    void orphan() noexcept;

    bool cancel(std::string msg) override;
    [[nodiscard]] std::uint32_t cancelling() const;
    std::uint32_t uncancel();
    [[nodiscard]] std::string get_name() const;
    void set_name(std::string name);
    [[nodiscard]] std::uint64_t id() const noexcept { return id_; }

    // --- used by awaiters, on the thread running this Task's step -------------------------
    /// The Task suspends in `h` until `fut` completes. Delivers a pending cancellation to
    /// `fut` (asyncio cancels the future a cancelled Task yields on).
    void begin_wait(FutureStateBase* fut, std::coroutine_handle<> h);
    /// The wait begun by `begin_wait` is over; throws CancelledError if a cancellation is
    /// pending (and clears it).
    void end_wait();
    /// Throws CancelledError if a cancellation is pending (and clears it).
    void deliver_cancellation() {
        if (must_cancel_.load(std::memory_order_relaxed)) {
            deliver_cancellation_slow();
        }
    }
    /// The Task suspends in `h` and is queued again at once (`yield_now`).
    void yield_from(std::coroutine_handle<> h) noexcept;

    std::coroutine_handle<> next_;         // the coroutine this step resumes next
    std::coroutine_handle<> resume_point_; // where the next step starts
    TaskBase* registry_prev_ = nullptr;    // the home loop's task list (under its registry lock)
    TaskBase* registry_next_ = nullptr;

protected:
    TaskBase() noexcept;
    ~TaskBase() override;

    /// Called by the root coroutine's final suspend: completes the Task's future from the
    /// value or exception the coroutine left.
    void complete() noexcept;
    /// Unlinks the Task from its loop's registry; called when the frame is destroyed.
    void leave_registry() noexcept;

    std::coroutine_handle<> frame_; // the root coroutine (whose promise this is)

private:
    void after_step() noexcept;
    void deliver_cancellation_slow();

    /// See the design block. Written with CAS by wakers (any thread) and by the runner.
    std::atomic<std::uint32_t> run_state_{st_idle};
    bool completed_ = false; // runner's thread only
    bool pinned_ = false;    // fixed at start()
    /// Guarded for writes; also read without the lock (relaxed) as a fast "nothing to
    /// deliver" check at every suspension point. A cancel from another thread that the fast
    /// check misses is delivered at the Task's next suspension point.
    std::atomic<bool> must_cancel_{false};
    std::uint32_t num_cancels_requested_ = 0; // guarded
    FutureStateBase* waiting_on_ = nullptr;   // guarded
    std::uint32_t wait_seq_ = 0;              // guarded: counts begin_wait calls (see cancel)
    std::uint64_t id_;
    std::unique_ptr<std::string> name_;       // guarded; null until named
    std::unique_ptr<std::string> cancel_msg_; // guarded
};

} // namespace eddy::detail
