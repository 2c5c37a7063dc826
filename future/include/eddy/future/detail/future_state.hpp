#pragma once

/// The shared state behind a Future (and, inside the coroutine frame, a Task).
///
/// Design
/// ------
/// * Roles. Any thread may complete a future (set_result, set_exception, cancel) or add and
///   remove callbacks; any thread may read it. Handles (`Future<T>`, `Task<T>`) hold one
///   reference each; the state is destroyed when the last reference goes.
/// * State. `status_` is pending, then exactly once finished or cancelled. The value slot and
///   `exc_` are written before `status_` leaves pending, under `lock_`, and are read only by
///   someone who has seen a non-pending status with acquire ordering: they never change again.
/// * Callbacks. Done callbacks and waiting Tasks share one FIFO list of nodes (asyncio keeps
///   them in one list, so their order is asyncio's). Completion takes the whole list under the
///   lock and fires each node after releasing it. A node added after completion fires at once.
/// * Threads. A waiter node wakes its Task (which then runs on its loop); a callback node is
///   scheduled on the future's loop, as asyncio's `call_soon(callback, fut)`; a future bound to
///   no loop runs its callbacks inline on the completing thread.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <exception>
#include <memory>
#include <mutex>
#include <new>
#include <string>
#include <type_traits>
#include <utility>

#include <eddy/future/detail/scheduler.hpp>
#include <eddy/future/detail/small_alloc.hpp>
#include <eddy/future/detail/spin_lock.hpp>
#include <eddy/future/error.hpp>

namespace eddy::detail {

enum class FutureStatus : std::uint8_t { pending, finished, cancelled };

class FutureStateBase;

/// One entry of a future's done list: a waiting Task (node inside the awaiter) or a user
/// callback (node on the heap).
class CallbackNode {
public:
    CallbackNode() = default;
    CallbackNode(const CallbackNode&) = delete;
    CallbackNode& operator=(const CallbackNode&) = delete;

    /// Called once, without the future's lock, after the future is done. May free the node.
    virtual void fire(FutureStateBase& state) noexcept = 0;
    /// Removed by `remove_done_callback` (or the future died) without firing. May free the node.
    virtual void drop() noexcept = 0;

    CallbackNode* next_ = nullptr;
    std::uint64_t id_ = 0;

protected:
    ~CallbackNode() = default;
};

class FutureStateBase : public SmallAllocated {
public:
    FutureStateBase(const FutureStateBase&) = delete;
    FutureStateBase& operator=(const FutureStateBase&) = delete;

    // Reference counting. Relaxed increment: a new reference is made from an existing one,
    // so no ordering is needed to publish anything. acq_rel decrement: the release half
    // orders this owner's last uses before the destruction; the acquire half, taken by the
    // owner that reaches zero, sees every other owner's uses.
    void add_ref() noexcept { refs_.fetch_add(1, std::memory_order_relaxed); }
    /// A new reference unless the count already reached zero (the state is being destroyed:
    /// a registry may still list it until its destructor unlinks it). Relaxed, as add_ref.
    [[nodiscard]] bool try_add_ref() noexcept {
        std::uint32_t r = refs_.load(std::memory_order_relaxed);
        while (r != 0) {
            if (refs_.compare_exchange_weak(r, r + 1, std::memory_order_relaxed)) {
                return true;
            }
        }
        return false;
    }
    void release() noexcept {
        if (refs_.fetch_sub(1, std::memory_order_acq_rel) == 1) {
            destroy();
        }
    }

    /// Acquire: pairs with the release store in `finish_locked`, so a reader that sees a
    /// done status also sees the value or exception written before it.
    [[nodiscard]] FutureStatus status() const noexcept {
        return status_.load(std::memory_order_acquire);
    }
    [[nodiscard]] bool done() const noexcept { return status() != FutureStatus::pending; }
    [[nodiscard]] bool cancelled() const noexcept { return status() == FutureStatus::cancelled; }
    [[nodiscard]] bool is_task() const noexcept { return is_task_; }
    [[nodiscard]] Scheduler* loop() const noexcept { return loop_; }
    /// The `ValueSlot<T>` of the derived state (null for `void`).
    [[nodiscard]] virtual void* value_slot() noexcept { return nullptr; }

    /// asyncio's `Future.cancel(msg)`: false if already done. A Task overrides it with
    /// asyncio's `Task.cancel`, which requests cancellation of the coroutine instead.
    virtual bool cancel(std::string msg);

    /// Stores `e` as the outcome. Throws InvalidStateError if already done.
    void set_exception(std::exception_ptr e);

    /// Completes the future after `store()` writes the value; returns false (and does not call
    /// `store`) if the future was already done.
    template <class Store>
    bool try_finish(Store&& store) {
        CallbackNode* list = nullptr;
        {
            std::lock_guard guard(lock_);
            if (status_.load(std::memory_order_relaxed) != FutureStatus::pending) {
                return false;
            }
            std::forward<Store>(store)();
            list = finish_locked(FutureStatus::finished);
        }
        fire_all(list);
        return true;
    }

    /// Two-phase completion, for synchronisation primitives that decide under their own lock
    /// which waiter wins: like `try_finish`, but returns the callback list in `list` instead
    /// of firing it. The caller fires it with `fire_claimed` after dropping its lock.
    template <class Store>
    bool try_finish_deferred(Store&& store, CallbackNode*& list) {
        std::lock_guard guard(lock_);
        if (status_.load(std::memory_order_relaxed) != FutureStatus::pending) {
            return false;
        }
        std::forward<Store>(store)();
        list = finish_locked(FutureStatus::finished);
        return true;
    }
    /// Fires a list that `try_finish_deferred` returned.
    void fire_claimed(CallbackNode* list) noexcept { fire_all(list); }

    /// For `result()` and `co_await`: throws InvalidStateError when pending, the
    /// CancelledError when cancelled, the stored exception when failed. Marks it retrieved.
    void check_result();
    /// asyncio's `exception()`: InvalidStateError when pending, CancelledError when cancelled,
    /// else the exception (null when the future has a value). Marks it retrieved.
    std::exception_ptr exception();

    /// Appends a user callback; fires it at once when already done. Returns its id.
    std::uint64_t add_callback(CallbackNode* node);
    /// Appends a waiter node; returns false (and does not take the node) when already done.
    bool add_waiter(CallbackNode* node);
    /// Removes the callback with this id; returns how many were removed (0 or 1).
    std::size_t remove_callback(std::uint64_t id);
    /// Blocks the calling thread until the future is done or `deadline` passes (no deadline:
    /// `time_point::max()`); returns whether it is done. Throws RuntimeError when it would
    /// block the event loop running on this thread.
    bool wait_blocking(std::chrono::steady_clock::time_point deadline);

    /// Unlinks `node` if it is still in the list (a waiter abandoned before completion).
    /// Returns false when it was not there (completion already took it, to fire it).
    bool remove_node(CallbackNode* node) noexcept;

protected:
    FutureStateBase(Scheduler* loop, bool is_task) noexcept;
    virtual ~FutureStateBase();
    /// Called when the last reference goes.
    virtual void destroy() noexcept = 0;

    /// Moves to `status` under the lock; returns the callback list for `fire_all`.
    /// Release store: publishes the value/exception written before it (see `status()`).
    CallbackNode* finish_locked(FutureStatus status) noexcept;
    void fire_all(CallbackNode* list) noexcept;
    /// Appends to the done list. Caller holds the lock.
    void append_locked(CallbackNode* node) noexcept;
    /// Reports "exception was never retrieved" through the loop, as asyncio does.
    void report_unretrieved(const char* what, const std::string& task_name) noexcept;
    /// Binds a not-yet-bound state to `loop` (a Task, when it is created on a loop).
    void bind_loop(Scheduler* loop) noexcept;

    mutable SpinLock lock_;
    /// Written under lock_ with release (finish_locked), read with acquire by status(): see
    /// the design block.
    std::atomic<FutureStatus> status_{FutureStatus::pending};
    const bool is_task_;
    /// Set when an exception is stored, cleared when someone reads it (`exception()`,
    /// `result()`, `co_await`). Relaxed: a diagnostic flag, read when the state dies.
    std::atomic<bool> exception_unretrieved_{false};
    std::atomic<std::uint32_t> refs_{1}; // handles + a Task's alive reference; see release()
    std::uint32_t next_callback_id_ = 0; // guarded by lock_
    Scheduler* loop_ = nullptr;          // strong reference; fixed once bound
    std::exception_ptr exc_;             // the failure, or the CancelledError when cancelled
    CallbackNode* head_ = nullptr;       // guarded by lock_
    CallbackNode* tail_ = nullptr;       // guarded by lock_
};

/// Storage for a Future's value. The value is written once, before the status leaves pending.
template <class T>
class ValueSlot {
public:
    ValueSlot() noexcept {} // NOLINT(modernize-use-equals-default): the union stays inactive
    ValueSlot(const ValueSlot&) = delete;
    ValueSlot& operator=(const ValueSlot&) = delete;
    ~ValueSlot() {
        if (has_value_) {
            value_.~T();
        }
    }
    template <class... A>
    void emplace(A&&... args) {
        ::new (static_cast<void*>(std::addressof(value_))) T(std::forward<A>(args)...);
        has_value_ = true;
    }
    T& get() noexcept { return value_; }

private:
    union {
        T value_;
    };
    bool has_value_ = false;
};

template <class T>
class ValueSlot<T&> {
public:
    void emplace(T& v) noexcept { ptr_ = std::addressof(v); }
    T& get() noexcept { return *ptr_; }

private:
    T* ptr_ = nullptr;
};

template <>
class ValueSlot<void> {};

/// The state of a plain `Future<T>` (not a Task): one heap allocation.
template <class T>
class FutureState final : public FutureStateBase, public ValueSlot<T> {
public:
    explicit FutureState(Scheduler* loop) noexcept : FutureStateBase(loop, false) {}
    [[nodiscard]] void* value_slot() noexcept override { return static_cast<ValueSlot<T>*>(this); }

private:
    ~FutureState() override = default;
    void destroy() noexcept override {
        if (exception_unretrieved_.load(std::memory_order_relaxed)) {
            report_unretrieved("Future exception was never retrieved", {});
        }
        delete this;
    }
};

/// A user done callback: a heap node that, once fired, runs on the future's loop as a
/// Runnable (asyncio's `loop.call_soon(cb, fut)`), holding a reference to the future.
class DoneCallback final : public CallbackNode, public Runnable, public SmallAllocated {
public:
    using Fn = void (*)(void* fn, FutureStateBase& state);

    template <class F>
    static DoneCallback* make(F&& f);

    void fire(FutureStateBase& state) noexcept override;
    void drop() noexcept override { delete this; }
    void run() override;
    void discard() noexcept override;
    [[nodiscard]] std::string describe() const override { return "done callback"; }

private:
    DoneCallback() = default;
    ~DoneCallback();

    FutureStateBase* state_ = nullptr;
    void* fn_ = nullptr;
    void (*call_)(void* fn, FutureStateBase& state) = nullptr;
    void (*free_)(void* fn) noexcept = nullptr;
};

/// An internal callback that runs inline, on the thread that completes the future, right
/// after completion (composition helpers: gather, wait, TaskGroup). `f(state)` must be
/// thread-safe and must not throw.
template <class F>
class InlineCallback final : public CallbackNode, public SmallAllocated {
public:
    explicit InlineCallback(F f) : f_(std::move(f)) {}
    void fire(FutureStateBase& state) noexcept override {
        f_(state);
        delete this;
    }
    void drop() noexcept override { delete this; }

private:
    ~InlineCallback() = default;
    F f_;
};

/// Adds `f` as an inline callback of `state` (fired at once, here, when already done).
/// Returns its id for `remove_callback`.
template <class F>
std::uint64_t add_inline_callback(FutureStateBase* state, F&& f) {
    return state->add_callback(new InlineCallback<std::decay_t<F>>(std::forward<F>(f)));
}

template <class F>
DoneCallback* DoneCallback::make(F&& f) {
    using D = std::decay_t<F>;
    auto fn = std::make_unique<D>(std::forward<F>(f));
    auto* node = new DoneCallback();
    node->fn_ = fn.release();
    node->call_ = [](void* p, FutureStateBase& s) { (*static_cast<D*>(p))(s); };
    node->free_ = [](void* p) noexcept { delete static_cast<D*>(p); };
    return node;
}

} // namespace eddy::detail
