#include <eddy/scheduler/sleep.hpp>

namespace eddy::detail {

Coro<void> sleep_for(EventLoop::clock::duration d) {
    if (d <= EventLoop::clock::duration::zero()) {
        co_await yield_now(); // asyncio: sleep(0) yields once and nothing more
        co_return;
    }
    EventLoop& loop = get_running_loop();
    Future<void> done = loop.create_future<void>();
    TimerHandle timer = loop.call_later(d, [done]() mutable {
        if (!done.done()) {
            done.set_result();
        }
    });
    try {
        co_await done;
    } catch (...) {
        timer.cancel(); // cancelled while sleeping: the timer must not outlive the sleep
        throw;
    }
}

} // namespace eddy::detail
