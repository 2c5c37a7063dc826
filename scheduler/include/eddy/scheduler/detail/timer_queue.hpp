#pragma once

/// The loop's timers, ordered by (deadline, insertion sequence).
///
/// Two containers behind one interface:
/// * `run_`: a FIFO of timers whose deadlines arrived in non-decreasing order. Most programs
///   schedule many timers with the same delay (timeouts, keep-alives, `call_later(0)`), and
///   each such timer's deadline is at or after the previous one's: it joins the run in O(1)
///   and leaves it in O(1).
/// * `heap_`: a binary min-heap for the timers that arrive out of order.
/// The next timer is the earlier of the two fronts. Entries carry their deadline, so ordering
/// never chases a pointer. Loop thread only.

#include <algorithm>
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

    [[nodiscard]] bool empty() const noexcept { return run_.empty() && heap_.empty(); }
    [[nodiscard]] std::size_t size() const noexcept { return run_.size() + heap_.size(); }

    void push(const Entry& e) {
        if (run_.empty() || !earlier(e, run_.back())) {
            run_.push_back(e);
        } else {
            heap_.push_back(e);
            std::push_heap(heap_.begin(), heap_.end(), Later{});
        }
    }

    /// The next timer to fire. Precondition: not empty.
    [[nodiscard]] const Entry& top() const noexcept {
        if (heap_.empty()) {
            return run_.front();
        }
        if (run_.empty()) {
            return heap_.front();
        }
        return earlier(heap_.front(), run_.front()) ? heap_.front() : run_.front();
    }

    /// Removes and returns the next timer. Precondition: not empty.
    Entry pop() {
        if (!heap_.empty() && (run_.empty() || earlier(heap_.front(), run_.front()))) {
            std::pop_heap(heap_.begin(), heap_.end(), Later{});
            Entry e = heap_.back();
            heap_.pop_back();
            return e;
        }
        Entry e = run_.front();
        run_.pop_front();
        return e;
    }

    /// Removes every entry for which `drop(entry)` is true; returns how many.
    template <class Drop>
    std::size_t remove_if(Drop drop) {
        const std::size_t before = size();
        run_.erase(std::remove_if(run_.begin(), run_.end(), drop), run_.end());
        heap_.erase(std::remove_if(heap_.begin(), heap_.end(), drop), heap_.end());
        std::make_heap(heap_.begin(), heap_.end(), Later{});
        return before - size();
    }

    template <class F>
    void for_each(F f) {
        std::for_each(run_.begin(), run_.end(), f);
        std::for_each(heap_.begin(), heap_.end(), f);
    }

    void clear() noexcept {
        run_.clear();
        heap_.clear();
    }

private:
    static bool earlier(const Entry& a, const Entry& b) noexcept {
        return a.when != b.when ? a.when < b.when : a.seq < b.seq;
    }
    struct Later {
        bool operator()(const Entry& a, const Entry& b) const noexcept { return earlier(b, a); }
    };

    std::deque<Entry> run_;
    std::vector<Entry> heap_;
};

} // namespace eddy::detail
