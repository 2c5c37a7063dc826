#pragma once

/// The loop's timers, ordered by (deadline, insertion sequence).
///
/// Three containers behind one interface:
/// * `run_`: a FIFO of timers whose deadlines arrived in non-decreasing order. Most programs
///   schedule many timers with the same delay (timeouts, keep-alives, `call_later(0)`), and
///   each such timer's deadline is at or after the previous one's: it joins the run in O(1)
///   and leaves it in O(1).
/// * `near_`: a binary min-heap of the other timers due before `horizon_`.
/// * `buckets_`: a ring of `bucket_count` buckets, each `granularity` wide, for timers due in
///   the window [horizon_, horizon_ + bucket_count * granularity); `far_`, a heap, for later
///   ones. Inserting there is O(1) (a vector push); a bucket moves into `near_` (one
///   make_heap) only when the near heap runs dry, so the heap that is popped per firing stays
///   small and in cache however many timers are pending (1,000,000 timers over a second: a
///   few thousand per bucket).
/// Invariant: every timer in `near_` is due before `horizon_`; every timer in a bucket or in
/// `far_` is due at or after it. So the next timer is the earlier of `run_`'s front and
/// `near_`'s top, once `near_` has been refilled if it was empty. Entries carry their
/// deadline, so ordering never chases a pointer. Loop thread only.

#include <algorithm>
#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <vector>

#include <eddy/scheduler/handle.hpp>

namespace eddy::detail {

class TimerQueue {
public:
    using clock = std::chrono::steady_clock;
    struct Entry {
        clock::time_point when;
        std::uint64_t seq;
        TimerBase* timer;
    };

    static constexpr std::size_t bucket_count = 256;
    static constexpr clock::duration granularity = std::chrono::milliseconds(4);

    [[nodiscard]] bool empty() const noexcept { return size_ == 0; }
    [[nodiscard]] std::size_t size() const noexcept { return size_; }

    void push(const Entry& e) {
        if (size_ == 0) {
            rebase(e.when); // an empty queue: start the window here
        }
        ++size_;
        if (run_.empty() || !earlier(e, run_.back())) {
            run_.push_back(e);
        } else if (e.when < horizon_) {
            heap_push(near_, e);
        } else if (e.when < window_end()) {
            buckets_[bucket_of(e.when)].push_back(e);
            ++in_buckets_;
        } else {
            heap_push(far_, e);
        }
    }

    /// The next timer to fire. Precondition: not empty.
    [[nodiscard]] const Entry& top() {
        refill();
        if (near_.empty()) {
            return run_.front();
        }
        if (run_.empty()) {
            return near_.front();
        }
        return earlier(near_.front(), run_.front()) ? near_.front() : run_.front();
    }

    /// Removes and returns the next timer. Precondition: not empty.
    Entry pop() {
        refill();
        --size_;
        if (!near_.empty() && (run_.empty() || earlier(near_.front(), run_.front()))) {
            std::pop_heap(near_.begin(), near_.end(), Later{});
            Entry e = near_.back();
            near_.pop_back();
            return e;
        }
        Entry e = run_.front();
        run_.pop_front();
        return e;
    }

    /// Removes every entry for which `drop(entry)` is true; returns how many.
    template <class Drop>
    std::size_t remove_if(Drop drop) {
        std::size_t removed = 0;
        auto erase_from = [&](auto& c) {
            const std::size_t before = c.size();
            c.erase(std::remove_if(c.begin(), c.end(), drop), c.end());
            return before - c.size();
        };
        removed += erase_from(run_);
        removed += erase_from(near_);
        std::make_heap(near_.begin(), near_.end(), Later{});
        for (auto& b : buckets_) {
            const std::size_t n = erase_from(b);
            in_buckets_ -= n;
            removed += n;
        }
        removed += erase_from(far_);
        std::make_heap(far_.begin(), far_.end(), Later{});
        size_ -= removed;
        return removed;
    }

    template <class F>
    void for_each(F f) {
        std::for_each(run_.begin(), run_.end(), f);
        std::for_each(near_.begin(), near_.end(), f);
        for (auto& b : buckets_) {
            std::for_each(b.begin(), b.end(), f);
        }
        std::for_each(far_.begin(), far_.end(), f);
    }

    void clear() noexcept {
        run_.clear();
        near_.clear();
        for (auto& b : buckets_) {
            b.clear();
        }
        far_.clear();
        size_ = 0;
        in_buckets_ = 0;
    }

private:
    static bool earlier(const Entry& a, const Entry& b) noexcept {
        return a.when != b.when ? a.when < b.when : a.seq < b.seq;
    }
    struct Later {
        bool operator()(const Entry& a, const Entry& b) const noexcept { return earlier(b, a); }
    };
    static void heap_push(std::vector<Entry>& h, const Entry& e) {
        h.push_back(e);
        std::push_heap(h.begin(), h.end(), Later{});
    }

    [[nodiscard]] clock::time_point window_end() const noexcept {
        return horizon_ + granularity * static_cast<long>(bucket_count - first_);
    }
    /// The bucket of a deadline inside the window (ring index).
    [[nodiscard]] std::size_t bucket_of(clock::time_point when) const noexcept {
        const auto offset = static_cast<std::size_t>((when - horizon_) / granularity);
        return (first_index_ + offset) % bucket_count;
    }

    /// Keeps the invariant while making `near_` non-empty if any timer is in a bucket or
    /// `far_`: moves the next non-empty bucket into `near_`, advancing `horizon_` past it.
    void refill() {
        if (!near_.empty() || (in_buckets_ == 0 && far_.empty())) {
            return;
        }
        if (in_buckets_ == 0) {
            // Everything left is beyond the window: start a new window at the earliest.
            rebase(far_.front().when);
        }
        while (near_.empty() && in_buckets_ > 0) {
            auto& b = buckets_[first_index_];
            horizon_ += granularity;
            first_index_ = (first_index_ + 1) % bucket_count;
            ++first_;
            if (!b.empty()) {
                in_buckets_ -= b.size();
                near_.swap(b);
                std::make_heap(near_.begin(), near_.end(), Later{});
            }
            if (first_ == bucket_count) {
                rebase(horizon_);
            }
        }
    }

    /// A fresh window starting at `start` (all buckets empty); moves `far_` timers into it.
    void rebase(clock::time_point start) {
        horizon_ = start;
        first_ = 0;
        std::vector<Entry> later;
        for (const Entry& e : far_) {
            if (e.when < window_end()) {
                buckets_[bucket_of(e.when)].push_back(e);
                ++in_buckets_;
            } else {
                later.push_back(e);
            }
        }
        far_.swap(later);
        std::make_heap(far_.begin(), far_.end(), Later{});
    }

    std::deque<Entry> run_;
    std::vector<Entry> near_;
    std::array<std::vector<Entry>, bucket_count> buckets_{};
    std::vector<Entry> far_;
    clock::time_point horizon_{}; // near_ holds what is due before this
    std::size_t first_index_ = 0; // ring index of the bucket starting at horizon_
    std::size_t first_ = 0;       // buckets consumed since the window started
    std::size_t in_buckets_ = 0;
    std::size_t size_ = 0;
};

} // namespace eddy::detail
