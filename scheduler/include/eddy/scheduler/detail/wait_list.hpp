#pragma once

/// The waiting machinery shared by Lock, Event, Condition, Semaphore, Barrier and the queues.
///
/// Design
/// ------
/// * A waiter is a loop-less `Future<void>` inside the waiting coroutine's frame, linked into
///   the primitive's FIFO list (as asyncio keeps a deque of futures). The Task awaits the
///   future, so cancelling the Task cancels the future, exactly as in asyncio.
/// * Every primitive guards its state and its list with one SpinLock. Whoever wakes a waiter
///   decides *which* one under that lock, by claiming its future (`try_finish_deferred`: the
///   future's own lock makes "claim" and "cancel" mutually exclusive, so a waiter is either
///   woken or cancelled, never both), and fires the wake-up after dropping the lock
///   (`Wakeups`), so a syscall to unpark a worker never happens inside the critical section.
/// * No wake-up is lost: a waker that finds a waiter already cancelled moves on to the next
///   one while still holding the lock. A waiter whose future was claimed but whose Task was
///   cancelled before it resumed (the cancellation then arrives as CancelledError at the
///   same `co_await`) sees `claimed()` and passes what it was given on (the lock, a permit, a
///   notification) before rethrowing.
/// * A waiter unlinks itself after it resumes, under the lock; a waker that pops it first
///   leaves it unlinked, so unlinking twice is harmless. A waiter destroyed while still
///   listed (its Task was destroyed suspended, when a loop closed under it) unlinks itself
///   in its destructor.

#include <atomic>
#include <coroutine>
#include <cstddef>
#include <mutex>
#include <optional>
#include <utility>
#include <vector>

#include <eddy/future/coro.hpp>
#include <eddy/future/detail/spin_lock.hpp>
#include <eddy/future/future.hpp>

namespace eddy::detail {

/// A pending future bound to no loop: only Task awaiters and inline callbacks attach to it.
template <class T = void>
Future<T> detached_future() {
    auto* s = new FutureState<T>(nullptr);
    Future<T> f = Future<T>::from_state(s);
    s->release(); // from_state took its own reference
    return f;
}

class WaiterList;

/// A waiting Task's node (lives in its coroutine frame).
class Waiter {
public:
    Waiter() : fut_(detached_future<void>()) {}
    Waiter(const Waiter&) = delete;
    Waiter& operator=(const Waiter&) = delete;
    inline ~Waiter();

    [[nodiscard]] Future<void>& future() noexcept { return fut_; }
    /// The future was completed by a waker (not cancelled): the waiter was given something.
    [[nodiscard]] bool claimed() const noexcept { return fut_.done() && !fut_.cancelled(); }
    [[nodiscard]] bool cancelled() const noexcept { return fut_.cancelled(); }

    Waiter* prev_ = nullptr; // guarded by the primitive's lock
    Waiter* next_ = nullptr;
    bool linked_ = false;
    /// The list holding this waiter, or null. Written under the list's lock (release);
    /// read without it (acquire) only by the destructor, which then takes the lock and
    /// checks again: a null it reads is final, as only the waiter itself links it again.
    std::atomic<WaiterList*> list_{nullptr};

private:
    Future<void> fut_;
};

/// Wake-ups decided under a primitive's lock and fired after it is dropped. Declare it
/// before the lock guard so that it is destroyed (and fires) after the guard releases.
class Wakeups {
public:
    Wakeups() = default;
    Wakeups(const Wakeups&) = delete;
    Wakeups& operator=(const Wakeups&) = delete;
    ~Wakeups() { fire(); }

    /// Claims `w`'s future; false when it is already done (cancelled). Caller holds the lock.
    bool claim(Waiter& w) {
        FutureStateBase* s = FutureAccess<void>::state(w.future());
        CallbackNode* list = nullptr;
        // Our reference first: once the future is done, its waiter may see it without
        // suspending (await_ready) and destroy it at once, before we fire. Until the claim
        // the waiter cannot go: it is listed, and unlinking needs the lock we hold.
        s->add_ref();
        if (!s->try_finish_deferred([] {}, list)) {
            s->release(); // never the last: the listed waiter holds one
            return false;
        }
        if (count_ < inline_capacity) {
            inline_[count_++] = {s, list};
        } else {
            more_.emplace_back(s, list);
        }
        return true;
    }

    /// Fires every claimed wake-up now (call without the primitive's lock).
    void fire() noexcept {
        for (std::size_t i = 0; i < count_; ++i) {
            fire_one(inline_[i]);
        }
        count_ = 0;
        for (auto& e : more_) {
            fire_one(e);
        }
        more_.clear();
    }

private:
    using Entry = std::pair<FutureStateBase*, CallbackNode*>;
    static void fire_one(Entry& e) noexcept {
        e.first->fire_claimed(e.second);
        e.first->release();
    }
    static constexpr std::size_t inline_capacity = 2;
    Entry inline_[inline_capacity]{};
    std::size_t count_ = 0;
    std::vector<Entry> more_;
};

/// An intrusive FIFO of waiters. Every member requires the primitive's lock, `mu`.
class WaiterList {
public:
    explicit WaiterList(SpinLock& mu) noexcept : mu_(&mu) {}
    WaiterList(const WaiterList&) = delete;
    WaiterList& operator=(const WaiterList&) = delete;
    ~WaiterList() = default;

    [[nodiscard]] SpinLock& mutex() const noexcept { return *mu_; }

    [[nodiscard]] bool empty() const noexcept { return head_ == nullptr; }
    [[nodiscard]] std::size_t size() const noexcept { return size_; }

    void push_back(Waiter& w) noexcept {
        w.prev_ = tail_;
        w.next_ = nullptr;
        (tail_ != nullptr ? tail_->next_ : head_) = &w;
        tail_ = &w;
        w.linked_ = true;
        w.list_.store(this, std::memory_order_release);
        ++size_;
    }

    /// Removes `w` if it is still listed.
    void unlink(Waiter& w) noexcept {
        if (!w.linked_) {
            return;
        }
        (w.prev_ != nullptr ? w.prev_->next_ : head_) = w.next_;
        (w.next_ != nullptr ? w.next_->prev_ : tail_) = w.prev_;
        w.prev_ = w.next_ = nullptr;
        w.linked_ = false;
        w.list_.store(nullptr, std::memory_order_release);
        --size_;
    }

    /// Pops waiters from the front until one is claimed; returns whether one was.
    bool wake_first(Wakeups& wakeups) {
        while (head_ != nullptr) {
            Waiter& w = *head_;
            unlink(w);
            if (wakeups.claim(w)) {
                return true;
            }
        }
        return false;
    }

    /// Claims up to `n` waiters (skipping cancelled ones); returns how many were claimed.
    std::size_t wake(std::size_t n, Wakeups& wakeups) {
        std::size_t woken = 0;
        while (woken < n && wake_first(wakeups)) {
            ++woken;
        }
        return woken;
    }

    /// Claims every waiter.
    void wake_all(Wakeups& wakeups) {
        while (wake_first(wakeups)) {
        }
    }

    /// True when a listed waiter has not been cancelled (asyncio's "someone is waiting").
    [[nodiscard]] bool any_pending() const noexcept {
        for (const Waiter* w = head_; w != nullptr; w = w->next_) {
            if (!w->cancelled()) {
                return true;
            }
        }
        return false;
    }

    /// The first waiter, still listed (null when none).
    [[nodiscard]] Waiter* front() const noexcept { return head_; }

private:
    SpinLock* mu_;
    Waiter* head_ = nullptr;
    Waiter* tail_ = nullptr;
    std::size_t size_ = 0;
};

Waiter::~Waiter() {
    if (WaiterList* list = list_.load(std::memory_order_acquire)) {
        std::lock_guard guard(list->mutex());
        list->unlink(*this);
    }
}

/// An awaitable with a fast path: `try_()` runs when the awaiter is awaited (not when it is
/// created) and, if it returns a value, the Task continues without suspending (asyncio does
/// not yield either); otherwise `slow_()` makes a Coro that is run inline.
template <class T, class Try, class Slow>
class [[nodiscard]] FastPath {
public:
    FastPath(Try t, Slow s) : try_(std::move(t)), slow_(std::move(s)) {}

    bool await_ready() {
        ready_ = try_();
        return ready_.has_value();
    }
    void await_suspend(std::coroutine_handle<> h) {
        coro_ = slow_();
        awaiter_.emplace(coro_.operator co_await());
        awaiter_->await_suspend(h);
    }
    T await_resume() {
        if (ready_) {
            return std::move(*ready_);
        }
        return awaiter_->await_resume();
    }

    /// The same operation as a Coro (for `create_task`, `gather`, ...).
    Coro<T> as_coro() && { return run(std::move(*this)); }

private:
    static Coro<T> run(FastPath self) { co_return co_await self; }

    Try try_;
    Slow slow_;
    std::optional<T> ready_;
    Coro<T> coro_;
    std::optional<typename Coro<T>::Awaiter> awaiter_;
};

/// `FastPath` for operations without a value: `try_()` returns whether it succeeded.
template <class Try, class Slow>
class [[nodiscard]] FastPath<void, Try, Slow> {
public:
    FastPath(Try t, Slow s) : try_(std::move(t)), slow_(std::move(s)) {}

    bool await_ready() { return ready_ = try_(); }
    void await_suspend(std::coroutine_handle<> h) {
        coro_ = slow_();
        awaiter_.emplace(coro_.operator co_await());
        awaiter_->await_suspend(h);
    }
    void await_resume() {
        if (!ready_) {
            awaiter_->await_resume();
        }
    }

    Coro<void> as_coro() && { return run(std::move(*this)); }

private:
    static Coro<void> run(FastPath self) { co_await self; }

    Try try_;
    Slow slow_;
    bool ready_ = false;
    Coro<void> coro_;
    std::optional<typename Coro<void>::Awaiter> awaiter_;
};

template <class T, class Try, class Slow>
FastPath<T, Try, Slow> fast_path(Try t, Slow s) {
    return FastPath<T, Try, Slow>(std::move(t), std::move(s));
}

} // namespace eddy::detail
