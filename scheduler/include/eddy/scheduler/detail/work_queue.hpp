#pragma once

/// The queues a Runtime's workers take Tasks from.
///
/// LocalQueue: one per worker, a bounded ring of Task pointers.
///   Roles. The owner pushes at the tail and pops at the head; thieves (idle workers) take
///   half of the entries at the head. Only the owner writes `tail_`; `head_` moves by CAS
///   (owner pop and thieves alike), so a Task is taken exactly once.
///   State. Entries [head_, tail_) are queued (unsigned, wrapping arithmetic). A slot in that
///   range is never overwritten: the owner pushes only while tail_ - head_ < capacity.
///   Orderings. push: the slot store is relaxed, then `tail_` is stored with release, which
///   publishes the slot to pop/steal (they load `tail_` with acquire). pop/steal: read the
///   slots, then CAS `head_` (acq_rel). A thief that read slots with a stale head fails its
///   CAS and retries, so it never uses a value the owner overwrote. The owner loads `head_`
///   with acquire before reusing a slot: that pairs with the thieves' CAS, ordering their
///   reads of the slot before its reuse.
///   Departure from the design note: the owner's pop is a CAS (it competes with thieves at the
///   head, keeping the owner's order FIFO, as Tokio's queue does); its push has no
///   read-modify-write.
///
/// InjectQueue: one per runtime, unbounded, for Tasks queued from outside the workers (and a
///   full local queue's overflow). A mutex guards the list; `len_` lets workers skip the lock
///   when it is empty.

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <mutex>

#include <eddy/future/detail/task_base.hpp>

namespace eddy::detail {

class LocalQueue {
public:
    static constexpr std::uint32_t capacity = 256;

    /// Owner only. False when full (the Task is not taken).
    bool push(TaskBase* t) noexcept {
        const std::uint32_t tail = tail_.load(std::memory_order_relaxed); // our own writes
        const std::uint32_t head = head_.load(std::memory_order_acquire);
        if (tail - head >= capacity) {
            return false;
        }
        buf_[tail & mask].store(t, std::memory_order_relaxed);
        tail_.store(tail + 1, std::memory_order_release);
        return true;
    }

    /// Owner only. The oldest Task, or null.
    TaskBase* pop() noexcept {
        std::uint32_t head = head_.load(std::memory_order_acquire);
        for (;;) {
            const std::uint32_t tail = tail_.load(std::memory_order_relaxed);
            if (head == tail) {
                return nullptr;
            }
            TaskBase* t = buf_[head & mask].load(std::memory_order_relaxed);
            if (head_.compare_exchange_weak(head, head + 1, std::memory_order_acq_rel,
                                            std::memory_order_acquire)) {
                return t;
            }
        }
    }

    /// Owner only: takes up to `max` of the oldest Tasks into `out` (a full queue's overflow
    /// going to the inject queue). Returns how many.
    std::uint32_t pop_batch(TaskBase** out, std::uint32_t max) noexcept {
        std::uint32_t head = head_.load(std::memory_order_acquire);
        for (;;) {
            const std::uint32_t tail = tail_.load(std::memory_order_relaxed);
            std::uint32_t n = tail - head;
            n = n < max ? n : max;
            if (n == 0) {
                return 0;
            }
            for (std::uint32_t i = 0; i < n; ++i) {
                out[i] = buf_[(head + i) & mask].load(std::memory_order_relaxed);
            }
            if (head_.compare_exchange_weak(head, head + n, std::memory_order_acq_rel,
                                            std::memory_order_acquire)) {
                return n;
            }
        }
    }

    /// A thief: moves half (rounded up) of this queue's Tasks into `dst`, the thief's own
    /// queue, which must be empty. Returns how many moved.
    std::uint32_t steal_into(LocalQueue& dst) noexcept {
        const std::uint32_t dst_tail = dst.tail_.load(std::memory_order_relaxed);
        std::uint32_t head = head_.load(std::memory_order_acquire);
        for (;;) {
            // Acquire: pairs with the owner's release store of tail_, so the slots below it
            // are written.
            const std::uint32_t tail = tail_.load(std::memory_order_acquire);
            std::uint32_t n = tail - head;
            if (n == 0 || n > capacity) {
                if (n == 0) {
                    return 0;
                }
                head = head_.load(std::memory_order_acquire); // stale head: look again
                continue;
            }
            n -= n / 2;
            for (std::uint32_t i = 0; i < n; ++i) {
                dst.buf_[(dst_tail + i) & mask].store(
                    buf_[(head + i) & mask].load(std::memory_order_relaxed),
                    std::memory_order_relaxed);
            }
            if (head_.compare_exchange_weak(head, head + n, std::memory_order_acq_rel,
                                            std::memory_order_acquire)) {
                // Release: publishes the copied slots to dst's owner (ourselves) and its thieves.
                dst.tail_.store(dst_tail + n, std::memory_order_release);
                return n;
            }
        }
    }

    /// A snapshot, for metrics and for deciding whether to wake a helper. Any thread.
    [[nodiscard]] std::uint32_t size() const noexcept {
        const std::uint32_t tail = tail_.load(std::memory_order_acquire);
        const std::uint32_t head = head_.load(std::memory_order_acquire);
        const std::uint32_t n = tail - head;
        return n > capacity ? 0 : n;
    }
    [[nodiscard]] bool empty() const noexcept { return size() == 0; }

private:
    static constexpr std::uint32_t mask = capacity - 1;
    alignas(64) std::atomic<std::uint32_t> head_{0};
    alignas(64) std::atomic<std::uint32_t> tail_{0};
    /// Slots: atomics accessed relaxed (ordering comes from head_/tail_, see the design
    /// block); atomic so a thief's speculative read of a slot being reused is not a data race.
    std::array<std::atomic<TaskBase*>, capacity> buf_{};
};

class InjectQueue {
public:
    void push(TaskBase* t) noexcept {
        std::lock_guard guard(mu_);
        append_locked(t);
    }
    void push_batch(TaskBase* const* ts, std::size_t n) noexcept {
        std::lock_guard guard(mu_);
        for (std::size_t i = 0; i < n; ++i) {
            append_locked(ts[i]);
        }
    }
    /// Takes up to `max` Tasks into `out`; returns how many.
    std::size_t pop_batch(TaskBase** out, std::size_t max) noexcept {
        if (empty()) {
            return 0;
        }
        std::lock_guard guard(mu_);
        std::size_t n = 0;
        while (n < max && head_ != nullptr) {
            TaskBase* t = head_;
            head_ = next_of(t);
            out[n++] = t;
        }
        if (head_ == nullptr) {
            tail_ = nullptr;
        }
        // Relaxed: written under mu_; readers without the lock only use it as a hint.
        len_.store(len_.load(std::memory_order_relaxed) - n, std::memory_order_relaxed);
        return n;
    }
    /// Exact: looks under the lock (parking relies on it; see runtime_core.hpp).
    [[nodiscard]] bool nonempty_locked() noexcept {
        std::lock_guard guard(mu_);
        return head_ != nullptr;
    }
    /// A hint without the lock (exact under it).
    [[nodiscard]] bool empty() const noexcept { return len_.load(std::memory_order_relaxed) == 0; }
    [[nodiscard]] std::size_t size() const noexcept { return len_.load(std::memory_order_relaxed); }

private:
    static TaskBase* next_of(TaskBase* t) noexcept {
        return static_cast<TaskBase*>(t->next_runnable_);
    }
    void append_locked(TaskBase* t) noexcept {
        t->next_runnable_ = nullptr;
        if (tail_ != nullptr) {
            tail_->next_runnable_ = t;
        } else {
            head_ = t;
        }
        tail_ = t;
        len_.store(len_.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
    }

    std::mutex mu_;
    TaskBase* head_ = nullptr;        // guarded by mu_
    TaskBase* tail_ = nullptr;        // guarded by mu_
    std::atomic<std::size_t> len_{0}; // written under mu_; read relaxed without it as a hint
};

} // namespace eddy::detail
