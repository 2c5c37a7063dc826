#pragma once

/// asyncio's queues: `Queue<T>` (FIFO), `PriorityQueue<T>` (smallest first, as heapq),
/// `LifoQueue<T>` (last in, first out), safe between Tasks on different workers.
///
/// Semantics are asyncio's: `maxsize` 0 means unbounded; `put` waits while a bounded queue is
/// full and `get` while it is empty; getters and putters are served in FIFO order. Where
/// asyncio wakes a getter and lets it take the item when it runs, eddy hands the item to the
/// first waiting getter directly (with several workers, a getter that never waited could
/// otherwise take it first; and it saves the woken getter a second trip through the lock):
/// such an item is never counted by `qsize()`. A getter cancelled just after being handed an
/// item gives it back (to the next getter, or the front of the queue); a putter woken and
/// then cancelled passes its wake-up on; so nothing is lost. `task_done` and
/// `join` count unfinished items; `shutdown(immediate)` makes blocked and later `put`s throw
/// QueueShutDown, and `get`s too once the queue is empty (at once with `immediate`, which
/// also drops what is queued).
///
/// Thread safety: every member may be called from any Task on any worker; the `_nowait`
/// members, `task_done`, `shutdown` and the observers also from plain threads. Items move
/// between threads through the queue's lock, which orders everything the producer wrote
/// before `put` before what the consumer reads after `get`.

#include <algorithm>
#include <atomic>
#include <coroutine>
#include <cstddef>
#include <deque>
#include <exception>
#include <functional>
#include <mutex>
#include <optional>
#include <utility>
#include <vector>

#include <eddy/future/coro.hpp>
#include <eddy/future/detail/spin_lock.hpp>
#include <eddy/future/error.hpp>
#include <eddy/future/future.hpp>
#include <eddy/scheduler/detail/wait_list.hpp>
#include <eddy/scheduler/sync.hpp>

namespace eddy {

namespace detail {

template <class T>
struct FifoStore {
    std::deque<T> items;
    void push(T&& v) { items.push_back(std::move(v)); }
    void push_front(T&& v) { items.push_front(std::move(v)); }
    T pop() {
        T v = std::move(items.front());
        items.pop_front();
        return v;
    }
    [[nodiscard]] std::size_t size() const noexcept { return items.size(); }
};

template <class T>
struct LifoStore {
    std::vector<T> items;
    void push(T&& v) { items.push_back(std::move(v)); }
    void push_front(T&& v) { push(std::move(v)); } // "next out" is the top
    T pop() {
        T v = std::move(items.back());
        items.pop_back();
        return v;
    }
    [[nodiscard]] std::size_t size() const noexcept { return items.size(); }
};

/// A binary min-heap under `Compare` (heapq's order: `get` returns the smallest).
template <class T, class Compare>
struct HeapStore {
    std::vector<T> items;
    // std::push_heap keeps the *largest* under its comparator on top: invert it.
    struct Greater {
        Compare less;
        bool operator()(const T& a, const T& b) const { return less(b, a); }
    };
    void push(T&& v) {
        items.push_back(std::move(v));
        std::push_heap(items.begin(), items.end(), Greater{});
    }
    void push_front(T&& v) { push(std::move(v)); } // the heap decides the order
    T pop() {
        std::pop_heap(items.begin(), items.end(), Greater{});
        T v = std::move(items.back());
        items.pop_back();
        return v;
    }
    [[nodiscard]] std::size_t size() const noexcept { return items.size(); }
};

} // namespace detail

/// The queue machinery; use `Queue<T>`, `PriorityQueue<T>` or `LifoQueue<T>`.
template <class T, class Store>
class BasicQueue {
public:
    using value_type = T;

    /// `maxsize` 0 (or negative in asyncio) means unbounded.
    explicit BasicQueue(std::size_t maxsize = 0) : maxsize_(maxsize) { finished_.set(); }
    BasicQueue(const BasicQueue&) = delete;
    BasicQueue& operator=(const BasicQueue&) = delete;
    ~BasicQueue() = default;

    [[nodiscard]] std::size_t maxsize() const noexcept { return maxsize_; }
    /// Items queued now (not counting one being handed to a waiting getter).
    [[nodiscard]] std::size_t qsize() const noexcept {
        return size_.load(std::memory_order_relaxed);
    }
    [[nodiscard]] bool empty() const noexcept { return qsize() == 0; }
    [[nodiscard]] bool full() const noexcept { return maxsize_ > 0 && qsize() >= maxsize_; }

    /// `co_await q.put(item)`: waits while the queue is full. Throws QueueShutDown.
    class [[nodiscard]] PutAwaiter {
    public:
        PutAwaiter(BasicQueue* q, T item) : q_(q), item_(std::move(item)) {}
        bool await_ready() { return ready_ = q_->try_put(item_); }
        void await_suspend(std::coroutine_handle<> h) {
            coro_ = q_->put_slow(std::move(item_));
            awaiter_.emplace(coro_.operator co_await());
            awaiter_->await_suspend(h);
        }
        void await_resume() {
            if (!ready_) {
                awaiter_->await_resume();
            }
        }

    private:
        BasicQueue* q_;
        T item_;
        bool ready_ = false;
        Coro<void> coro_;
        std::optional<typename Coro<void>::Awaiter> awaiter_;
    };
    PutAwaiter put(T item) { return PutAwaiter(this, std::move(item)); }
    /// Puts without waiting. Throws QueueFull when full, QueueShutDown after `shutdown()`.
    void put_nowait(T item) {
        detail::Wakeups wakeups;
        std::lock_guard guard(mu_);
        if (shutdown_) {
            throw QueueShutDown();
        }
        if (full_locked()) {
            throw QueueFull();
        }
        push_locked(std::move(item), wakeups);
    }

private:
    /// A getter's node: a putter moves the item into `slot` before waking it.
    struct GetWaiter : detail::Waiter {
        std::optional<T> slot; // guarded by mu_
    };

public:
    /// `co_await q.get()`: the next item; waits while the queue is empty. Throws
    /// QueueShutDown once the queue is shut down and empty.
    class [[nodiscard]] GetAwaiter {
    public:
        explicit GetAwaiter(BasicQueue* q) noexcept : q_(q) {}
        /// Movable until awaited (the waiter node is not moved: it is unused until then).
        GetAwaiter(GetAwaiter&& o) noexcept : q_(o.q_) {}
        GetAwaiter(const GetAwaiter&) = delete;
        GetAwaiter& operator=(const GetAwaiter&) = delete;
        GetAwaiter& operator=(GetAwaiter&&) = delete;
        ~GetAwaiter() = default;

        bool await_ready() {
            if (detail::current_task == nullptr) {
                throw RuntimeError("Queue.get() must be awaited inside a Task");
            }
            detail::Wakeups wakeups;
            std::lock_guard guard(q_->mu_);
            if (q_->store_.size() > 0) {
                item_.emplace(q_->pop_locked(wakeups));
                return true;
            }
            if (q_->shutdown_) {
                throw QueueShutDown();
            }
            q_->getters_.push_back(node_); // a putter hands its item to node_.slot
            return false;
        }
        bool await_suspend(std::coroutine_handle<> h) {
            awaiter_.emplace(detail::FutureAccess<void>::state(node_.future()), nullptr, false);
            return awaiter_->await_suspend(h);
        }
        T await_resume() {
            if (item_) {
                return std::move(*item_);
            }
            std::exception_ptr error;
            try {
                awaiter_->await_resume(); // CancelledError when the Task was cancelled
            } catch (...) {
                error = std::current_exception();
            }
            detail::Wakeups wakeups;
            std::lock_guard guard(q_->mu_);
            q_->getters_.unlink(node_);
            if (node_.slot) {
                if (!error) {
                    return std::move(*node_.slot);
                }
                // Handed an item, then cancelled: it goes to the next getter, or back to the
                // front of the queue, so nothing is lost.
                q_->give_back_locked(std::move(*node_.slot), wakeups);
                node_.slot.reset();
            }
            if (error) {
                std::rethrow_exception(error);
            }
            throw QueueShutDown(); // woken empty-handed: only shutdown() does that
        }

    private:
        BasicQueue* q_;
        std::optional<T> item_;
        typename BasicQueue::GetWaiter node_;
        std::optional<detail::FutureAwaiter<void>> awaiter_;
    };
    GetAwaiter get() { return GetAwaiter(this); }
    /// Gets without waiting. Throws QueueEmpty when empty, QueueShutDown when shut down
    /// and empty.
    T get_nowait() {
        detail::Wakeups wakeups;
        std::lock_guard guard(mu_);
        if (store_.size() == 0) {
            if (shutdown_) {
                throw QueueShutDown();
            }
            throw QueueEmpty();
        }
        return pop_locked(wakeups);
    }

    /// One item that was got is processed. Throws ValueError when called more often than
    /// items were put.
    void task_done() {
        std::lock_guard guard(mu_);
        if (unfinished_ == 0) {
            throw ValueError("task_done() called too many times");
        }
        if (--unfinished_ == 0) {
            finished_.set();
        }
    }
    /// Waits until every item put has been got and marked `task_done()`.
    Coro<void> join() { co_await finished_.wait(); }

    /// asyncio's `shutdown(immediate)`: see the file comment.
    void shutdown(bool immediate = false) {
        detail::Wakeups wakeups;
        std::lock_guard guard(mu_);
        shutdown_ = true;
        if (immediate) {
            while (store_.size() > 0) {
                (void)store_.pop();
                if (unfinished_ > 0) {
                    --unfinished_;
                }
            }
            size_.store(0, std::memory_order_relaxed);
            if (unfinished_ == 0) {
                finished_.set();
            }
        }
        getters_.wake_all(wakeups);
        putters_.wake_all(wakeups);
    }

private:
    [[nodiscard]] bool full_locked() const noexcept {
        return maxsize_ > 0 && store_.size() >= maxsize_;
    }
    void push_locked(T&& item, detail::Wakeups& wakeups) {
        if (unfinished_++ == 0) {
            finished_.clear();
        }
        give_back_locked(std::move(item), wakeups, false);
    }
    /// Hands `item` to the first getter still waiting, else queues it (at the front for a
    /// give-back: a FIFO getter that was cancelled returns its item where it came from).
    void give_back_locked(T&& item, detail::Wakeups& wakeups, bool front = true) {
        while (detail::Waiter* w = getters_.front()) {
            getters_.unlink(*w);
            auto& g = static_cast<GetWaiter&>(*w);
            g.slot.emplace(std::move(item));
            if (wakeups.claim(g)) {
                return;
            }
            item = std::move(*g.slot); // cancelled meanwhile: try the next one
            g.slot.reset();
        }
        if (front) {
            store_.push_front(std::move(item));
        } else {
            store_.push(std::move(item));
        }
        size_.store(store_.size(), std::memory_order_relaxed);
    }
    T pop_locked(detail::Wakeups& wakeups) {
        T item = store_.pop();
        size_.store(store_.size(), std::memory_order_relaxed);
        putters_.wake_first(wakeups);
        return item;
    }

    /// Fast path of put: false (item untouched) when it must wait.
    bool try_put(T& item) {
        detail::Wakeups wakeups;
        std::lock_guard guard(mu_);
        if (shutdown_) {
            throw QueueShutDown();
        }
        if (full_locked()) {
            return false;
        }
        push_locked(std::move(item), wakeups);
        return true;
    }
    Coro<void> put_slow(T item) {
        for (;;) {
            detail::Waiter w;
            {
                detail::Wakeups wakeups;
                std::lock_guard guard(mu_);
                if (shutdown_) {
                    throw QueueShutDown();
                }
                if (!full_locked()) {
                    push_locked(std::move(item), wakeups);
                    co_return;
                }
                putters_.push_back(w);
            }
            std::exception_ptr error;
            try {
                co_await w.future();
            } catch (...) {
                error = std::current_exception();
            }
            if (error) {
                detail::Wakeups wakeups;
                {
                    std::lock_guard guard(mu_);
                    putters_.unlink(w);
                    if (w.claimed() && !full_locked()) {
                        putters_.wake_first(wakeups); // woken, then cancelled: pass it on
                    }
                }
                std::rethrow_exception(error);
            }
        }
    }

    const std::size_t maxsize_;
    detail::SpinLock mu_;
    Store store_;                      // guarded by mu_
    std::atomic<std::size_t> size_{0}; // written under mu_; read relaxed by qsize() (a snapshot)
    std::size_t unfinished_ = 0;       // guarded by mu_
    bool shutdown_ = false;            // guarded by mu_
    detail::WaiterList getters_{mu_};  // guarded by mu_
    detail::WaiterList putters_{mu_};  // guarded by mu_
    Event finished_;                   // set while unfinished_ == 0
};

/// asyncio.Queue: first in, first out.
template <class T>
class Queue : public BasicQueue<T, detail::FifoStore<T>> {
public:
    using BasicQueue<T, detail::FifoStore<T>>::BasicQueue;
};

/// asyncio.PriorityQueue: `get` returns the smallest item under `Compare` (std::less: the
/// smallest value first, as heapq; use std::pair<priority, data> as asyncio's tuples).
template <class T, class Compare = std::less<T>>
class PriorityQueue : public BasicQueue<T, detail::HeapStore<T, Compare>> {
public:
    using BasicQueue<T, detail::HeapStore<T, Compare>>::BasicQueue;
};

/// asyncio.LifoQueue: last in, first out.
template <class T>
class LifoQueue : public BasicQueue<T, detail::LifoStore<T>> {
public:
    using BasicQueue<T, detail::LifoStore<T>>::BasicQueue;
};

} // namespace eddy
