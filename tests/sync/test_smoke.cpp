#include <doctest/doctest.h>

#include <eddy/eddy.hpp>

using namespace std::chrono_literals;

namespace {
eddy::Coro<int> value_after(int v, std::chrono::milliseconds d) {
    co_await eddy::sleep(d);
    co_return v;
}
eddy::Coro<void> nothing() {
    co_return;
}
} // namespace

TEST_CASE("smoke: every composition and sync primitive compiles and runs") {
    int r = eddy::run([]() -> eddy::Coro<int> {
        auto [a, b, c] = co_await eddy::gather(value_after(1, 2ms), value_after(2, 1ms), nothing());
        (void)c;
        std::vector<eddy::Coro<int>> coros;
        coros.push_back(value_after(3, 1ms));
        coros.push_back(value_after(4, 1ms));
        std::vector<int> v = co_await eddy::gather(coros);
        auto outs = co_await eddy::gather(eddy::GatherOptions{.return_exceptions = true},
                                          value_after(5, 1ms));
        std::vector<eddy::Task<int>> tasks;
        tasks.push_back(eddy::create_task(value_after(6, 1ms)));
        tasks.push_back(eddy::create_task(value_after(7, 50ms)));
        auto [done, pending] = co_await eddy::wait(tasks, {.return_when = eddy::FIRST_COMPLETED});
        int w = co_await eddy::wait_for(value_after(8, 1ms), 1s);
        int sum = 0;
        for (auto next : eddy::as_completed(tasks)) {
            sum += co_await next;
        }
        int sh = co_await eddy::shield(value_after(9, 1ms));
        eddy::Lock lock;
        co_await lock.acquire();
        lock.release();
        { auto g = co_await lock.scoped(); }
        eddy::Event ev;
        ev.set();
        co_await ev.wait();
        eddy::Condition cond;
        {
            auto g = co_await cond.scoped();
            cond.notify_all();
        }
        eddy::Semaphore sem(2);
        co_await sem.acquire();
        sem.release();
        eddy::Queue<int> q;
        co_await q.put(10);
        int qv = co_await q.get();
        eddy::PriorityQueue<int> pq;
        pq.put_nowait(3);
        pq.put_nowait(1);
        int pv = pq.get_nowait();
        eddy::TaskGroup tg;
        auto t1 = tg.create_task(value_after(11, 1ms));
        co_await tg.join();
        int tv = co_await eddy::timeout(1s, value_after(12, 1ms));
        bool timed_out = false;
        try {
            co_await eddy::timeout(5ms, eddy::sleep(1s));
        } catch (const eddy::TimeoutError&) {
            timed_out = true;
        }
        CHECK(timed_out);
        co_return a + b + v[0] + v[1] + 1 + std::get<0>(outs).value() +
            static_cast<int>(done.size() + pending.size()) + w + sum + sh + qv + pv + t1.result() +
            tv;
    }());
    CHECK(r == 1 + 2 + 3 + 4 + 1 + 5 + 1 + 1 + 8 + 13 + 9 + 10 + 1 + 11 + 12);
}
