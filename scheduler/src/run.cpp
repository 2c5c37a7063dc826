#include <eddy/scheduler/run.hpp>

#include <memory>

namespace eddy::detail {

EventLoop begin_run(const Config& config) {
    if (running_scheduler != nullptr) {
        throw RuntimeError("eddy::run() cannot be called from a running event loop");
    }
    EventLoop loop = new_event_loop();
    if (config.debug) {
        loop.set_debug(true);
    }
    set_event_loop(loop);
    return loop;
}

void end_run(EventLoop& loop) noexcept {
    set_event_loop(nullptr);
    try {
        loop.close();
    } catch (...) { // NOLINT(bugprone-empty-catch): close() only throws while running
    }
}

void cancel_all_tasks(EventLoop& loop) {
    std::vector<Task<>> tasks = loop.all_tasks();
    if (tasks.empty()) {
        return;
    }
    for (Task<>& t : tasks) {
        t.cancel();
    }
    // Run until every one has finished cancelling (asyncio gathers them).
    Future<void> all = loop.create_future<void>();
    auto left = std::make_shared<std::size_t>(tasks.size());
    for (Task<>& t : tasks) {
        t.add_done_callback([all, left](Task<>&) mutable {
            if (--*left == 0) {
                all.set_result();
            }
        });
    }
    loop.run_until_complete(all);
    for (Task<>& t : tasks) {
        if (t.cancelled()) {
            continue;
        }
        if (std::exception_ptr e = t.exception()) {
            loop.call_exception_handler(
                {"unhandled exception during eddy::run() shutdown", e, t.get_name(), {}});
        }
    }
}

} // namespace eddy::detail
