#include <doctest/doctest.h>

#include <eddy/scheduler/detail/timer_queue.hpp>

#include <algorithm>
#include <chrono>
#include <random>
#include <set>
#include <tuple>
#include <vector>

using eddy::detail::TimerQueue;

TEST_SUITE("scheduler/timer_queue") {
    TEST_CASE("timers come out in (deadline, sequence) order whatever order they went in") {
        std::mt19937 rng(3);
        TimerQueue q;
        std::vector<std::pair<long, std::uint64_t>> expected;
        const auto base = TimerQueue::clock::time_point{};
        std::uint64_t seq = 0;
        long last = 0;
        for (int i = 0; i < 5000; ++i) {
            // Mostly non-decreasing deadlines (the FIFO run), some out of order (the heap),
            // many ties (ordered by sequence).
            long when = last;
            switch (rng() % 4) {
            case 0:
                when = static_cast<long>(rng() % 1000);
                break;
            case 1:
                break;
            default:
                when = last + static_cast<long>(rng() % 3);
                break;
            }
            last = std::max(last, when);
            q.push({base + std::chrono::microseconds(when), seq, nullptr});
            expected.emplace_back(when, seq);
            ++seq;
        }
        std::sort(expected.begin(), expected.end());
        CHECK(q.size() == expected.size());
        std::vector<std::pair<long, std::uint64_t>> got;
        while (!q.empty()) {
            const auto top = q.top();
            const auto e = q.pop();
            CHECK(top.seq == e.seq);
            got.emplace_back(
                std::chrono::duration_cast<std::chrono::microseconds>(e.when - base).count(),
                e.seq);
        }
        CHECK(got == expected);
    }

    TEST_CASE("remove_if drops entries from both the run and the heap") {
        TimerQueue q;
        const auto base = TimerQueue::clock::time_point{};
        for (std::uint64_t i = 0; i < 100; ++i) {
            // even seq: in order; odd seq: earlier deadlines, out of order
            const long when = (i % 2 == 0) ? static_cast<long>(i) : static_cast<long>(100 - i);
            q.push({base + std::chrono::microseconds(when), i, nullptr});
        }
        const auto removed = q.remove_if([](const TimerQueue::Entry& e) { return e.seq % 3 == 0; });
        CHECK(removed == 34);
        CHECK(q.size() == 66);
        auto prev = q.pop();
        while (!q.empty()) {
            auto e = q.pop();
            CHECK(e.seq % 3 != 0);
            CHECK(std::tie(prev.when, prev.seq) < std::tie(e.when, e.seq));
            prev = e;
        }
    }
}

TEST_SUITE("scheduler/timer_queue") {
    TEST_CASE("pushes and pops interleaved over seconds (run, near heap, buckets, far) match a "
              "sorted model") {
        std::mt19937_64 rng(11);
        TimerQueue q;
        std::multiset<std::pair<long, std::uint64_t>> model;
        const auto base = TimerQueue::clock::time_point{} + std::chrono::hours(1);
        long now_us = 0;
        std::uint64_t seq = 0;
        for (int step = 0; step < 200'000; ++step) {
            const auto r = rng() % 10;
            if (r < 6 || model.empty()) {
                // Deadlines from now to 10 s ahead: some in order, many not, some far.
                long when = now_us;
                switch (rng() % 4) {
                case 0:
                    when += static_cast<long>(rng() % 10'000'000);
                    break;
                case 1:
                    when += static_cast<long>(rng() % 2'000);
                    break;
                case 2:
                    when += static_cast<long>(rng() % 300'000);
                    break;
                default:
                    break;
                }
                q.push({base + std::chrono::microseconds(when), seq, nullptr});
                model.emplace(when, seq);
                ++seq;
            } else {
                const auto expect = *model.begin();
                model.erase(model.begin());
                const auto top = q.top();
                const auto got = q.pop();
                CHECK(top.seq == got.seq);
                REQUIRE(got.seq == expect.second);
                now_us =
                    std::chrono::duration_cast<std::chrono::microseconds>(got.when - base).count();
            }
            REQUIRE(q.size() == model.size());
        }
        std::size_t dropped =
            q.remove_if([](const TimerQueue::Entry& e) { return e.seq % 2 == 0; });
        for (auto it = model.begin(); it != model.end();) {
            it = it->second % 2 == 0 ? model.erase(it) : std::next(it);
        }
        CHECK(q.size() == model.size());
        CHECK(dropped > 0);
        while (!model.empty()) {
            REQUIRE(q.pop().seq == model.begin()->second);
            model.erase(model.begin());
        }
        CHECK(q.empty());
    }
}
