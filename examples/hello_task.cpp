// The first asyncio tutorial, in eddy: a task that sleeps and returns a value, a done
// callback that prints it, the loop run until the task is done.
#include <chrono>
#include <cstdio>
#include <string>

#include <eddy/eddy.hpp>

using namespace std::chrono_literals;

eddy::Coro<std::string> slow_operation() {
    co_await eddy::sleep(100ms);
    co_return "Future is done!";
}

int main() {
    eddy::EventLoop loop = eddy::new_event_loop();
    eddy::Task<std::string> task = loop.create_task(slow_operation());
    task.add_done_callback([](eddy::Task<std::string>& t) { std::puts(t.result().c_str()); });
    loop.run_until_complete(task);
    loop.close();
}
