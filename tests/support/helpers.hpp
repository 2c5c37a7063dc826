#pragma once

// Helpers shared by the suites: a lifetime counter, an exception-handler recorder, a start
// barrier for threads.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <eddy/eddy.hpp>

namespace eddy::test {

/// Counts live instances, to prove that values and frames are destroyed.
struct Counted {
    static inline std::atomic<int> alive{0};
    int value = 0;
    Counted() noexcept { alive.fetch_add(1); }
    explicit Counted(int v) noexcept : value(v) { alive.fetch_add(1); }
    Counted(const Counted& o) noexcept : value(o.value) { alive.fetch_add(1); }
    Counted(Counted&& o) noexcept : value(o.value) { alive.fetch_add(1); }
    Counted& operator=(const Counted&) = default;
    Counted& operator=(Counted&&) = default;
    ~Counted() { alive.fetch_sub(1); }
};

/// Installs an exception handler on `loop` that records every context it receives.
struct ReportLog {
    std::vector<ExceptionContext> reports;
    explicit ReportLog(EventLoop& loop) {
        loop.set_exception_handler(
            [this](EventLoop&, const ExceptionContext& ctx) { reports.push_back(ctx); });
    }
    [[nodiscard]] bool any_message_contains(const std::string& s) const {
        for (const auto& r : reports) {
            if (r.message.find(s) != std::string::npos) {
                return true;
            }
        }
        return false;
    }
};

/// Lets N threads start at the same moment.
class StartBarrier {
public:
    explicit StartBarrier(std::size_t n) : left_(n) {}
    void arrive_and_wait() {
        std::unique_lock lock(mu_);
        if (--left_ == 0) {
            cv_.notify_all();
        } else {
            cv_.wait(lock, [this] { return left_ == 0; });
        }
    }

private:
    std::mutex mu_;
    std::condition_variable cv_;
    std::size_t left_;
};

/// Polls `pred` until it holds or `limit` passes; returns its last value. For counters that
/// are updated just after the event a test waits for (a pool counts a job after it ran).
template <class Pred>
bool eventually(Pred pred, std::chrono::milliseconds limit = std::chrono::seconds(10)) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (!pred()) {
        if (std::chrono::steady_clock::now() > deadline) {
            return pred();
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    return true;
}

/// The message of the exception in `e`, or "" when there is none.
inline std::string what(const std::exception_ptr& e) {
    if (!e) {
        return {};
    }
    try {
        std::rethrow_exception(e);
    } catch (const std::exception& x) {
        return x.what();
    } catch (...) {
        return "?";
    }
}

} // namespace eddy::test
