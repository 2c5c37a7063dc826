// The asyncio tutorials eddy was started from (the five texts in the project's seeds), every
// program and every behaviour they describe, written with eddy and checked for the same
// observable behaviour: what they print (captured into a Log instead of stdout, in order), the
// results, the exceptions. docs/guide.md walks through the same programs.
//
// Tutorials, in the order of the seeds:
//   1. "Future, Task and the event loop" (masnun): slow_operation + got_result, first with
//      run_until_complete, then with run_forever and a callback that stops the loop.
//   2. "Python standard module: asyncio": the concurrent downloader, call_soon with
//      functools.partial, call_soon_threadsafe, call_later, call_at with loop.time(), a task
//      that blocks in time.sleep, task.cancel().
//   3. "How to use asyncio's common functions": lazy coroutines, run_until_complete with a
//      coroutine or ensure_future, gather, run_until_complete again and again until close,
//      add_done_callback, the per-thread event loops of the default policy,
//      get_event_loop / new_event_loop / set_event_loop / get_running_loop.
//   4. "python 异步编程" (do_some_work): tasks pending then finished, Task is a Future, done
//      callbacks, functools.partial for extra callback arguments.
//   5. "Asyncio" overview: hello_world, stop() from a coroutine and run_forever, call_soon /
//      call_later / sleep(0), the hello/world chaining with ensure_future, Queue, debug mode.
//      (Its generator `double()` example is plain Python generators, not asyncio: nothing to
//      translate.)
// Then the places where the guide says eddy differs from asyncio, each checked.
//
// Every sleep is short (<= 50 ms; the tutorials' seconds become milliseconds). Tests that run
// a loop "forever" arm a Watchdog so that a lost wake-up fails the test instead of hanging it.

#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <deque>
#include <exception>
#include <functional>
#include <optional>
#include <ostream>
#include <stdexcept>
#include <string>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

#include <eddy/eddy.hpp>

#include "support/helpers.hpp"

using namespace std::chrono_literals;

namespace {

using Clock = std::chrono::steady_clock;

/// What a tutorial prints, in order: the test's stand-in for stdout. A type of this file's own
/// so that doctest can print it when a check fails.
struct Log : std::vector<std::string> {
    using std::vector<std::string>::vector;
};

std::ostream& operator<<(std::ostream& os, const Log& log) {
    os << '{';
    const char* sep = "";
    for (const std::string& line : log) {
        os << sep << '"' << line << '"';
        sep = ", ";
    }
    return os << '}';
}

double ms_since(Clock::time_point start) {
    return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

/// The tutorials' `loop = asyncio.get_event_loop()`: each test that uses the thread's current
/// loop starts with none (so get_event_loop() makes a fresh one) and clears it at the end, so
/// no test (of this suite or another in the binary) sees another's loop.
class FreshThreadLoop {
public:
    FreshThreadLoop() { eddy::set_event_loop(nullptr); }
    ~FreshThreadLoop() { eddy::set_event_loop(nullptr); }
    FreshThreadLoop(const FreshThreadLoop&) = delete;
    FreshThreadLoop& operator=(const FreshThreadLoop&) = delete;
};

/// Stops `loop` after `after` unless the test stopped it first: a lost wake-up or a missing
/// stop() fails the test (`fired()`) instead of hanging the binary.
class Watchdog {
public:
    explicit Watchdog(eddy::EventLoop& loop, std::chrono::milliseconds after = 2s)
        : timer_(loop.call_later(after, [this, &loop] {
              fired_ = true;
              loop.stop();
          })) {}
    ~Watchdog() { timer_.cancel(); }
    Watchdog(const Watchdog&) = delete;
    Watchdog& operator=(const Watchdog&) = delete;
    [[nodiscard]] bool fired() const noexcept { return fired_; }

private:
    bool fired_ = false;
    eddy::TimerHandle timer_;
};

// --- 1. "Future, Task and the event loop" ---------------------------------------------------

// async def slow_operation():
//     await asyncio.sleep(1)
//     return 'Future is done!'
eddy::Coro<std::string> slow_operation() {
    co_await eddy::sleep(20ms);
    co_return "Future is done!";
}

eddy::Coro<std::string> failing_operation() {
    co_await eddy::sleep(1ms);
    throw std::runtime_error("download failed");
}

// --- 2. "Python standard module: asyncio" ---------------------------------------------------

// async def download_coroutine(url): ... return "finished downloading {filename}"
// Without a network: each download takes `latency`, and says when it starts and ends.
eddy::Coro<std::string> download_coroutine(std::string url, std::chrono::milliseconds latency,
                                           Log& events) {
    const std::string filename = url.substr(url.rfind('/') + 1);
    events.push_back("start " + filename);
    co_await eddy::sleep(latency);
    events.push_back("done " + filename);
    co_return "finished downloading " + filename;
}

// async def main(urls):
//     coroutines = [download_coroutine(url) for url in urls]
//     completed, pending = await asyncio.wait(coroutines)
//     for item in completed: print(item.result())
// asyncio.wait (and gather) come with the composition issue (eddy::wait, eddy::gather). The
// same behaviour with what exists: one Task per download, all created first (so they run at
// once), then awaited in order. The first URL is the slowest, so completion order differs from
// creation order.
eddy::Coro<std::vector<std::string>> download_all(std::vector<std::string> urls, Log& events) {
    std::vector<eddy::Task<std::string>> tasks;
    auto latency = std::chrono::milliseconds(10 * static_cast<int>(urls.size()));
    for (const std::string& url : urls) {
        tasks.push_back(eddy::create_task(download_coroutine(url, latency, events)));
        latency -= 10ms;
    }
    std::vector<std::string> completed;
    for (eddy::Task<std::string>& task : tasks) {
        completed.push_back(co_await task);
    }
    co_return completed;
}

// async def my_task(seconds):
//     print("This task is take {} seconds to complete".format(seconds))
//     time.sleep(seconds)
//     return "task finished"
eddy::Coro<std::string> my_task(std::chrono::milliseconds seconds, Log& log) {
    log.push_back("This task is take " + std::to_string(seconds.count()) + " ms to complete");
    std::this_thread::sleep_for(seconds); // time.sleep: blocks the whole loop
    co_return "task finished";
}

/// Sleeps `d` and records when it woke up.
eddy::Coro<void> sleeper(std::chrono::milliseconds d, Clock::time_point& woke) {
    co_await eddy::sleep(d);
    woke = Clock::now();
}

eddy::Coro<std::string> cancellable_download(Log& log) {
    log.push_back("downloading");
    try {
        co_await eddy::sleep(50ms);
    } catch (const eddy::CancelledError& e) {
        log.push_back(std::string("cancelled: ") + e.what());
        throw;
    }
    log.push_back("finished");
    co_return "file";
}

/// Catches the cancellation, cleans up, and returns normally: asyncio lets a task do that.
eddy::Coro<std::string> cleans_up_when_cancelled() {
    try {
        co_await eddy::sleep(50ms);
    } catch (const eddy::CancelledError&) {
        co_return "cleaned up";
    }
    co_return "finished";
}

// --- 3. and 4. do_some_work ------------------------------------------------------------------

// async def do_some_work(x):
//     print('Waiting: ', x)
//     await asyncio.sleep(x)
//     return 'Done after {}s'.format(x)
eddy::Coro<std::string> do_some_work(int x, Log& log) {
    log.push_back("Waiting: " + std::to_string(x));
    co_await eddy::sleep(std::chrono::milliseconds(x));
    co_return "Done after " + std::to_string(x) + "ms";
}

// loop.run_until_complete(asyncio.gather(do_some_work(1), do_some_work(3))): gather comes
// with the composition issue; Tasks created together and awaited in argument order do the same.
eddy::Coro<std::vector<std::string>> gather_two(Log& log) {
    eddy::Task<std::string> first = eddy::create_task(do_some_work(1, log));
    eddy::Task<std::string> second = eddy::create_task(do_some_work(3, log));
    std::vector<std::string> results;
    results.push_back(co_await first);
    results.push_back(co_await second);
    co_return results;
}

eddy::Coro<int> numbered(int i) {
    co_await eddy::yield_now();
    co_return i;
}

/// `gather(*[main(i) for i in range(n)])`, with the Tasks created first and awaited in order.
/// Also reports how many Tasks were pending at once.
eddy::Coro<long long> gather_many(int n, std::size_t& pending_at_once) {
    std::vector<eddy::Task<int>> tasks;
    tasks.reserve(static_cast<std::size_t>(n));
    for (int i = 0; i < n; ++i) {
        tasks.push_back(eddy::create_task(numbered(i)));
    }
    pending_at_once = eddy::all_tasks().size();
    long long sum = 0;
    for (eddy::Task<int>& task : tasks) {
        sum += co_await task;
    }
    co_return sum;
}

eddy::Coro<int> forty_two() {
    co_return 42;
}

eddy::Coro<int> throws_value_error() {
    co_await eddy::yield_now();
    throw std::invalid_argument("bad value");
}

/// What a coroutine can do (tutorial 3): wait for a future's result, wait for another
/// coroutine and get its result or its exception.
eddy::Coro<std::string> awaits_everything(eddy::Future<int> fut) {
    const int from_future = co_await fut;
    const int from_coroutine = co_await forty_two();
    std::string error;
    try {
        (void)co_await throws_value_error();
    } catch (const std::invalid_argument& e) {
        error = e.what();
    }
    co_return std::to_string(from_future) + " " + std::to_string(from_coroutine) + " " + error;
}

eddy::Coro<std::string> awaits_task(eddy::Task<std::string> other) {
    co_return co_await other;
}

eddy::Coro<bool> runs_on(eddy::EventLoop expected) {
    co_await eddy::yield_now();
    co_return eddy::get_running_loop() == expected&& eddy::get_event_loop() == expected;
}

// --- 5. "Asyncio" overview ---------------------------------------------------------------------

// async def hello_world(): print('Hello world!')
eddy::Coro<void> hello_world(Log& log) {
    log.push_back("Hello world!");
    co_return;
}

/// "The loop itself can be passed to coroutines, which can call stop() on it."
eddy::Coro<void> stopper(eddy::EventLoop loop, Log& log) {
    co_await eddy::sleep(5ms);
    log.push_back("stopping");
    loop.stop();
}

eddy::Coro<void> long_worker(Log& log) {
    co_await eddy::sleep(40ms);
    log.push_back("long worker done");
}

/// Logs name0, name1, ... and lets the others run between steps, with sleep(0) or yield_now.
eddy::Coro<void> ticker(std::string name, int steps, bool use_sleep0, Log& log) {
    for (int i = 0; i < steps; ++i) {
        log.push_back(name + std::to_string(i));
        if (use_sleep0) {
            co_await eddy::sleep(0s);
        } else {
            co_await eddy::yield_now();
        }
    }
}

/// Schedules a callback, then yields with sleep(0): the callback runs before it continues.
eddy::Coro<void> yields_to_callback(Log& log) {
    log.push_back("task before sleep(0)");
    eddy::get_running_loop().call_soon([&log] { log.push_back("callback"); });
    co_await eddy::sleep(0.0);
    log.push_back("task after sleep(0)");
}

// async def world():
//     await asyncio.sleep(2)
//     return 'world!'
eddy::Coro<std::string> world(Log& log) {
    log.push_back("world started");
    co_await eddy::sleep(40ms);
    co_return "world!";
}

// async def hello():
//     w = asyncio.ensure_future(world())
//     await asyncio.sleep(1)          # world begins executing
//     print('Hello ', end='')
//     print(await w)
eddy::Coro<std::string> hello(Log& log, bool& world_pending_at_hello) {
    eddy::Task<std::string> w = eddy::ensure_future(world(log));
    co_await eddy::sleep(10ms);
    log.push_back("Hello ");
    world_pending_at_hello = !w.done();
    std::string rest = co_await w;
    log.push_back(rest);
    co_return "Hello " + rest;
}

/// asyncio.Queue comes with the composition issue (eddy::Queue<T>). A stand-in with what
/// exists, enough for the tutorial's behaviour: `put` never blocks, `get` waits on a Future
/// when the queue is empty.
class TinyQueue {
public:
    eddy::Coro<void> put(int v) {
        if (getter_ && !getter_->done()) {
            eddy::Future<int> waiting = *getter_;
            getter_.reset();
            waiting.set_result(v);
            co_return;
        }
        items_.push_back(v);
    }
    eddy::Coro<int> get() {
        if (!items_.empty()) {
            const int v = items_.front();
            items_.pop_front();
            co_return v;
        }
        eddy::Future<int> fut = eddy::get_running_loop().create_future<int>();
        getter_ = fut;
        co_return co_await fut;
    }
    [[nodiscard]] const std::deque<int>& items() const noexcept { return items_; }

private:
    std::deque<int> items_;
    std::optional<eddy::Future<int>> getter_;
};

eddy::Coro<int> consume(TinyQueue& q, Log& log) {
    const int v = co_await q.get(); // do_something(await q.get())
    log.push_back("got " + std::to_string(v));
    co_return v;
}

/// A Task whose one step blocks `d`: debug mode reports it as a slow step.
eddy::Coro<void> blocking_step(std::chrono::milliseconds d) {
    std::this_thread::sleep_for(d);
    co_return;
}

// --- "Where eddy differs from asyncio" ---------------------------------------------------------

eddy::Coro<void> waits_on(eddy::Future<int> fut, Log& log) {
    (void)co_await fut;
    log.push_back("task resumed");
}

/// The pattern the guide gives for a custom awaitable: complete an eddy::Future from wherever
/// the result comes from (here a plain thread), and `co_await` the Future.
eddy::Coro<int> doubled_in_thread(int x, std::thread& worker) {
    eddy::Future<int> fut = eddy::get_running_loop().create_future<int>();
    worker = std::thread([fut, x]() mutable { fut.set_result(2 * x); });
    co_return co_await fut;
}

/// Restores an environment variable on scope exit.
class EnvGuard {
public:
    explicit EnvGuard(const char* name) : name_(name) {
        if (const char* v = std::getenv(name)) { // NOLINT(concurrency-mt-unsafe): no threads here
            old_ = v;
        }
    }
    ~EnvGuard() {
        if (old_) {
            ::setenv(name_, old_->c_str(), 1); // NOLINT(concurrency-mt-unsafe)
        } else {
            ::unsetenv(name_); // NOLINT(concurrency-mt-unsafe)
        }
    }
    EnvGuard(const EnvGuard&) = delete;
    EnvGuard& operator=(const EnvGuard&) = delete;

private:
    const char* name_;
    std::optional<std::string> old_;
};

} // namespace

TEST_SUITE("scheduler/tutorials") {

    // =========================== 1. "Future, Task and the event loop" ===========================

    TEST_CASE("a done callback receives the finished task and its result") {
        FreshThreadLoop fresh;
        eddy::EventLoop& loop = eddy::get_event_loop();
        Log log;
        eddy::Task<std::string> task = loop.create_task(slow_operation());
        bool got_the_task = false;
        task.add_done_callback([&log, &got_the_task, task](eddy::Task<std::string>& future) {
            got_the_task = (future == task) && future.done();
            log.push_back(future.result()); // print(future.result())
        });
        CHECK_FALSE(task.done());
        const auto start = Clock::now();
        const std::string value = loop.run_until_complete(task);
        INFO("took " << ms_since(start) << " ms");
        CHECK(Clock::now() - start >= 20ms);
        CHECK(value == "Future is done!");
        // The callback ran before run_until_complete returned, with the task itself.
        CHECK(log == Log{"Future is done!"});
        CHECK(got_the_task);
        CHECK(task.done());
        CHECK(task.result() == "Future is done!");
    }

    TEST_CASE("run_forever runs until a done callback stops the loop") {
        FreshThreadLoop fresh;
        eddy::EventLoop& loop = eddy::get_event_loop();
        Watchdog dog(loop);
        Log log;
        eddy::Task<std::string> task = loop.create_task(slow_operation());
        task.add_done_callback([&log, &loop](eddy::Task<std::string>& future) {
            log.push_back(future.result());
            loop.stop(); // we have the result, so let's stop
        });
        loop.run_forever();
        CHECK_FALSE(dog.fired());
        CHECK(log == Log{"Future is done!"});
        CHECK(task.done());
        CHECK_FALSE(loop.is_running());
        CHECK_FALSE(loop.is_closed());
    }

    TEST_CASE("a task whose coroutine throws fails with that exception") {
        eddy::EventLoop loop = eddy::new_event_loop();
        eddy::Task<std::string> task = loop.create_task(failing_operation());
        std::string seen_by_callback;
        task.add_done_callback([&seen_by_callback](eddy::Task<std::string>& future) {
            seen_by_callback = eddy::test::what(future.exception());
        });
        CHECK_THROWS_WITH_AS(loop.run_until_complete(task), "download failed", std::runtime_error);
        CHECK(task.done());
        CHECK_FALSE(task.cancelled());
        CHECK(seen_by_callback == "download failed");
        CHECK_THROWS_AS(task.result(), std::runtime_error);
    }

    // =========================== 2. "Python standard module: asyncio" ===========================

    TEST_CASE("the concurrent downloader runs every download at once and collects each result") {
        FreshThreadLoop fresh;
        const std::vector<std::string> urls = {"http://www.irs.gov/pub/irs-pdf/f1040.pdf",
                                               "http://www.irs.gov/pub/irs-pdf/f1040a.pdf",
                                               "http://www.irs.gov/pub/irs-pdf/f1040ez.pdf",
                                               "http://www.irs.gov/pub/irs-pdf/f1040es.pdf",
                                               "http://www.irs.gov/pub/irs-pdf/f1040sb.pdf"};
        eddy::EventLoop& event_loop = eddy::get_event_loop();
        Log events;
        std::vector<std::string> completed;
        const auto start = Clock::now();
        try {
            completed = event_loop.run_until_complete(download_all(urls, events));
        } catch (...) {
            event_loop.close();
            throw;
        }
        event_loop.close(); // finally: event_loop.close()
        const double took = ms_since(start);

        CHECK(completed == std::vector<std::string>{"finished downloading f1040.pdf",
                                                    "finished downloading f1040a.pdf",
                                                    "finished downloading f1040ez.pdf",
                                                    "finished downloading f1040es.pdf",
                                                    "finished downloading f1040sb.pdf"});
        // Every download started before the first one finished; the fastest finished first.
        CHECK(events == Log{"start f1040.pdf", "start f1040a.pdf", "start f1040ez.pdf",
                            "start f1040es.pdf", "start f1040sb.pdf", "done f1040sb.pdf",
                            "done f1040es.pdf", "done f1040ez.pdf", "done f1040a.pdf",
                            "done f1040.pdf"});
        // Concurrent: about the slowest download (50 ms), not their sum (150 ms).
        INFO("took " << took << " ms");
        CHECK(took >= 50.0);
        CHECK(took < 150.0);
        CHECK(event_loop.is_closed());
    }

    TEST_CASE("call_soon runs handlers in FIFO order and one of them stops the loop") {
        FreshThreadLoop fresh;
        Log log;
        // def event_handler(loop, stop=False):
        //     print('Event handler called')
        //     if stop:
        //         print('stopping the loop')
        //         loop.stop()
        auto event_handler = [&log](eddy::EventLoop& target, bool stop) {
            log.push_back("event handler called");
            if (stop) {
                log.push_back("stopping the loop");
                target.stop();
            }
        };
        eddy::EventLoop& loop = eddy::get_event_loop();
        Watchdog dog(loop);
        try {
            // loop.call_soon(functools.partial(event_handler, loop)): a lambda binds the args.
            loop.call_soon([&loop, event_handler] { event_handler(loop, false); });
            log.push_back("starting event loop");
            // loop.call_soon(functools.partial(event_handler, loop, stop=True)): or pass them
            // to call_soon, as call_soon(cb, *args).
            loop.call_soon(event_handler, loop, true);
            loop.run_forever();
        } catch (...) {
            loop.close();
            throw;
        }
        log.push_back("closing event loop");
        loop.close();
        CHECK_FALSE(dog.fired());
        CHECK(log == Log{"starting event loop", "event handler called", "event handler called",
                         "stopping the loop", "closing event loop"});
        CHECK(loop.is_closed());
    }

    TEST_CASE("a slow callback defers the callbacks queued after it until it has finished") {
        eddy::EventLoop loop = eddy::new_event_loop();
        Watchdog dog(loop);
        Log log;
        Clock::time_point slow_end{};
        Clock::time_point next_start{};
        loop.call_soon([&log, &slow_end] {
            log.push_back("1");
            std::this_thread::sleep_for(20ms);
            slow_end = Clock::now();
        });
        loop.call_soon([&log, &next_start] {
            next_start = Clock::now();
            log.push_back("2");
        });
        for (int i = 3; i <= 10; ++i) {
            loop.call_soon([&log, i] { log.push_back(std::to_string(i)); });
        }
        loop.call_soon([&loop] { loop.stop(); });
        loop.run_forever();
        CHECK_FALSE(dog.fired());
        CHECK(log == Log{"1", "2", "3", "4", "5", "6", "7", "8", "9", "10"});
        CHECK(next_start >= slow_end);
    }

    TEST_CASE("call_later runs the handler no earlier than its delay, in deadline order") {
        eddy::EventLoop loop = eddy::new_event_loop();
        Watchdog dog(loop);
        Log log;
        Clock::time_point ran_20{};
        Clock::time_point ran_30{};
        const auto scheduled = Clock::now();
        // loop.call_later(1, event_handler, loop): a delay in seconds, the loop as argument.
        loop.call_later(
            0.03,
            [&log, &ran_30](eddy::EventLoop& target) {
                ran_30 = Clock::now();
                log.push_back("30 ms");
                target.stop();
            },
            loop);
        // Or as a std::chrono duration.
        loop.call_later(20ms, [&log, &ran_20] {
            ran_20 = Clock::now();
            log.push_back("20 ms");
        });
        eddy::TimerHandle cancelled = loop.call_later(10ms, [&log] { log.push_back("cancelled"); });
        cancelled.cancel();
        CHECK(cancelled.cancelled());
        loop.run_forever();
        CHECK_FALSE(dog.fired());
        CHECK(log == Log{"20 ms", "30 ms"});
        INFO("20 ms timer after "
             << std::chrono::duration<double, std::milli>(ran_20 - scheduled).count() << " ms");
        CHECK(ran_20 - scheduled >= 20ms);
        CHECK(ran_30 - scheduled >= 30ms);
    }

    TEST_CASE("call_at runs the handler at a loop time computed from loop.time()") {
        eddy::EventLoop loop = eddy::new_event_loop();
        Watchdog dog(loop);
        // loop.time() is seconds on a monotonic clock.
        const double before = loop.time();
        std::this_thread::sleep_for(5ms);
        CHECK(loop.time() - before >= 0.005);

        // current_time = loop.time(); loop.call_at(current_time + 300, event_handler, loop)
        const double current_time = loop.time();
        double ran_at = 0;
        eddy::TimerHandle handle = loop.call_at(
            current_time + 0.02,
            [&ran_at](eddy::EventLoop& target) {
                ran_at = target.time();
                target.stop();
            },
            loop);
        CHECK(std::abs(handle.when() - (current_time + 0.02)) < 1e-6);
        // The steady_clock overload names the same instants.
        Clock::time_point ran_tp{};
        const Clock::time_point due = loop.now() + 10ms;
        eddy::TimerHandle tp_handle = loop.call_at(due, [&ran_tp] { ran_tp = Clock::now(); });
        CHECK(tp_handle.when_time_point() == due);

        loop.run_forever();
        CHECK_FALSE(dog.fired());
        INFO("ran " << (ran_at - current_time) * 1000 << " ms after current_time");
        CHECK(ran_at >= handle.when());
        CHECK(ran_at >= current_time + 0.02 - 1e-6);
        CHECK(ran_tp >= due);
    }

    TEST_CASE("a task that blocks in sleep_for holds the loop, then returns its result") {
        FreshThreadLoop fresh;
        eddy::EventLoop& my_event_loop = eddy::get_event_loop();
        Log log;
        // A task that only wants 5 ms of sleep: it cannot wake while my_task blocks the loop.
        Clock::time_point sleeper_woke{};
        eddy::Task<void> other = my_event_loop.create_task(sleeper(5ms, sleeper_woke));
        eddy::Task<std::string> task_obj;
        const auto start = Clock::now();
        try {
            log.push_back("task creation started");
            task_obj = my_event_loop.create_task(my_task(30ms, log));
            my_event_loop.run_until_complete(task_obj);
            my_event_loop.run_until_complete(other);
        } catch (...) {
            my_event_loop.close();
            throw;
        }
        my_event_loop.close();
        // The result is still there after the loop is closed.
        log.push_back("The task's result was: " + task_obj.result());
        CHECK(log == Log{"task creation started", "This task is take 30 ms to complete",
                         "The task's result was: task finished"});
        // The blocked loop could wake the 5 ms sleeper only after the 30 ms block.
        CHECK(task_obj.done());
        CHECK(other.done());
        INFO("the 5 ms sleeper woke after "
             << std::chrono::duration<double, std::milli>(sleeper_woke - start).count() << " ms");
        CHECK(sleeper_woke - start >= 30ms);
    }

    TEST_CASE("a task cancelled while it sleeps raises CancelledError at its await") {
        eddy::EventLoop loop = eddy::new_event_loop();
        Log log;
        eddy::Task<std::string> task = loop.create_task(cancellable_download(log));
        bool cancel_returned = false;
        loop.call_later(
            5ms, [&task, &cancel_returned] { cancel_returned = task.cancel("user gave up"); });
        const auto start = Clock::now();
        CHECK_THROWS_AS(loop.run_until_complete(task), eddy::CancelledError);
        const double took = ms_since(start);
        CHECK(cancel_returned);
        CHECK(task.done());
        CHECK(task.cancelled());
        CHECK(log == Log{"downloading", "cancelled: user gave up"});
        try {
            (void)task.result();
            FAIL("result() of a cancelled task must throw");
        } catch (const eddy::CancelledError& e) {
            CHECK(e.message() == "user gave up");
        }
        CHECK_FALSE(task.cancel()); // already done
        // The 50 ms sleep was cut short.
        INFO("took " << took << " ms");
        CHECK(took < 45.0);
    }

    TEST_CASE("cancelling a task that awaits another task cancels both") {
        eddy::EventLoop loop = eddy::new_event_loop();
        Log log;
        eddy::Task<std::string> inner = loop.create_task(cancellable_download(log));
        eddy::Task<std::string> outer = loop.create_task(awaits_task(inner));
        loop.call_later(5ms, [&outer] { outer.cancel("stop it"); });
        const auto start = Clock::now();
        CHECK_THROWS_AS(loop.run_until_complete(outer), eddy::CancelledError);
        const double took = ms_since(start);
        CHECK(outer.cancelled());
        CHECK(inner.cancelled());
        CHECK(log == Log{"downloading", "cancelled: stop it"});
        INFO("took " << took << " ms");
        CHECK(took < 45.0);
    }

    TEST_CASE("a cancelled task may catch CancelledError and finish normally") {
        eddy::EventLoop loop = eddy::new_event_loop();
        eddy::Task<std::string> task = loop.create_task(cleans_up_when_cancelled());
        loop.call_later(2ms, [&task] { task.cancel(); });
        CHECK(loop.run_until_complete(task) == "cleaned up");
        CHECK_FALSE(task.cancelled());
        CHECK(task.cancelling() == 1);
    }

    TEST_CASE("a task cancelled before its first step never runs its body") {
        eddy::EventLoop loop = eddy::new_event_loop();
        Log log;
        eddy::Task<std::string> task = loop.create_task(cancellable_download(log));
        CHECK(task.cancel());
        CHECK_THROWS_AS(loop.run_until_complete(task), eddy::CancelledError);
        CHECK(task.cancelled());
        CHECK(log.empty());
    }

    // ===================== 3. "How to use asyncio's common functions" ==========================

    TEST_CASE("calling a coroutine function runs nothing until it is awaited or scheduled") {
        FreshThreadLoop fresh;
        Log log;
        eddy::Coro<std::string> coroutine = do_some_work(3, log);
        CHECK(log.empty()); // a coroutine object, not a running function
        eddy::EventLoop& loop = eddy::get_event_loop();
        // ensure_future works outside a running loop (it uses the current loop) ...
        eddy::Task<std::string> task = eddy::ensure_future(std::move(coroutine));
        CHECK(log.empty()); // scheduled, but only a running loop runs it
        CHECK_FALSE(task.done());
        // ... where asyncio.create_task needs a running one.
        CHECK_THROWS_AS((void)eddy::create_task(do_some_work(4, log)), eddy::RuntimeError);
        CHECK(loop.run_until_complete(task) == "Done after 3ms");
        CHECK(log == Log{"Waiting: 3"});
        // ensure_future of a Task (or a Future) is that same Task.
        CHECK(eddy::ensure_future(task) == task);
    }

    TEST_CASE("run_until_complete takes a coroutine or the task ensure_future made of it") {
        FreshThreadLoop fresh;
        eddy::EventLoop& loop = eddy::get_event_loop();
        Log log;
        // loop.run_until_complete(do_some_work(3)): wrapped in a Task internally
        CHECK(loop.run_until_complete(do_some_work(3, log)) == "Done after 3ms");
        // loop.run_until_complete(asyncio.ensure_future(do_some_work(3)))
        CHECK(loop.run_until_complete(eddy::ensure_future(do_some_work(1, log))) ==
              "Done after 1ms");
        CHECK(log == Log{"Waiting: 3", "Waiting: 1"});
    }

    TEST_CASE("a coroutine awaits a future, another coroutine, and that coroutine's exception") {
        eddy::EventLoop loop = eddy::new_event_loop();
        eddy::Future<int> fut = loop.create_future<int>();
        loop.call_later(2ms, [fut]() mutable { fut.set_result(7); });
        CHECK(loop.run_until_complete(awaits_everything(fut)) == "7 42 bad value");
    }

    TEST_CASE("tasks created together run together and give results in order, as gather does") {
        FreshThreadLoop fresh;
        eddy::EventLoop& loop = eddy::get_event_loop();
        Log log;
        CHECK(loop.run_until_complete(gather_two(log)) ==
              std::vector<std::string>{"Done after 1ms", "Done after 3ms"});
        CHECK(log == Log{"Waiting: 1", "Waiting: 3"});

        // coros_list = [main(i) for i in range(2000)]; run_until_complete(gather(*coros_list))
        std::size_t pending_at_once = 0;
        CHECK(loop.run_until_complete(gather_many(2000, pending_at_once)) == 1999LL * 2000 / 2);
        CHECK(pending_at_once == 2001); // the 2000 and the one gathering them
    }

    TEST_CASE("a loop runs run_until_complete again and again until closed, then refuses") {
        FreshThreadLoop fresh;
        eddy::EventLoop& loop = eddy::get_event_loop();
        Log log;
        loop.run_until_complete(do_some_work(1, log));
        loop.run_until_complete(do_some_work(3, log));
        CHECK(log == Log{"Waiting: 1", "Waiting: 3"});
        loop.close();
        CHECK(loop.is_closed());
        CHECK_THROWS_WITH_AS(loop.run_until_complete(do_some_work(3, log)), "Event loop is closed",
                             eddy::RuntimeError);
        CHECK(log.size() == 2); // the refused coroutine never ran
        CHECK_THROWS_AS(loop.run_forever(), eddy::RuntimeError);
        CHECK_THROWS_AS(loop.call_soon([] {}), eddy::RuntimeError);
        CHECK_THROWS_AS(loop.call_later(1ms, [] {}), eddy::RuntimeError);
        CHECK_THROWS_AS((void)loop.create_future<int>(), eddy::RuntimeError);
        CHECK_NOTHROW(loop.close()); // closing again is harmless
    }

    TEST_CASE("add_done_callback on ensure_future's task runs the callback when it is done") {
        FreshThreadLoop fresh;
        eddy::EventLoop& loop = eddy::get_event_loop();
        Log log;
        // def done_callback(futu): print('Done')
        eddy::Task<std::string> futu = eddy::ensure_future(do_some_work(3, log));
        futu.add_done_callback([&log](eddy::Task<std::string>&) { log.push_back("Done"); });
        loop.run_until_complete(futu);
        CHECK(log == Log{"Waiting: 3", "Done"});

        // A callback added to a future that is already done is scheduled at once, as asyncio's
        // call_soon: it runs when the loop next runs, ahead of what is queued after it.
        futu.add_done_callback([&log](eddy::Task<std::string>&) { log.push_back("late"); });
        CHECK(log == Log{"Waiting: 3", "Done"});
        loop.run_until_complete(do_some_work(0, log));
        CHECK(log == Log{"Waiting: 3", "Done", "late", "Waiting: 0"});
    }

    TEST_CASE("get_event_loop returns the same loop every time, creating it when there is none") {
        FreshThreadLoop fresh;
        eddy::EventLoop first = eddy::get_event_loop();
        CHECK(eddy::get_event_loop() == first);
        CHECK(&eddy::get_event_loop() == &eddy::get_event_loop());
        CHECK_FALSE(first.is_closed());

        // new_event_loop() makes a new loop each time; set_event_loop makes it the current one
        // (get_event_loop() when none is set is `loop = new_event_loop(); set_event_loop(loop)`).
        eddy::EventLoop mine = eddy::new_event_loop();
        CHECK(mine != first);
        CHECK(eddy::new_event_loop() != mine);
        eddy::set_event_loop(mine);
        CHECK(eddy::get_event_loop() == mine);
        CHECK_FALSE(first.is_closed()); // replacing it does not close a loop someone holds

        // Inside a running loop, get_event_loop and get_running_loop answer the running loop.
        eddy::EventLoop other = eddy::new_event_loop();
        CHECK(other.run_until_complete(runs_on(other)));
        CHECK(eddy::get_event_loop() == mine); // and the current loop is back afterwards

        eddy::set_event_loop(nullptr);
        CHECK(eddy::get_event_loop() != mine); // none set: a new one
    }

    TEST_CASE("get_running_loop answers the running loop inside a task and throws outside") {
        eddy::EventLoop loop = eddy::new_event_loop();
        CHECK_THROWS_WITH_AS((void)eddy::get_running_loop(), "no running event loop",
                             eddy::RuntimeError);
        CHECK(loop.run_until_complete(runs_on(loop)));
        CHECK_THROWS_AS((void)eddy::get_running_loop(), eddy::RuntimeError);
    }

    TEST_CASE("each thread gets its own event loop from get_event_loop") {
        FreshThreadLoop fresh;
        eddy::EventLoop main_loop = eddy::get_event_loop();
        struct PerThread {
            eddy::EventLoop loop = eddy::new_event_loop(); // replaced by the thread's own
            bool same_twice = false;
            bool runs_there = false;
            std::string result;
        };
        PerThread a;
        PerThread b;
        auto body = [](PerThread& out) {
            eddy::EventLoop& loop = eddy::get_event_loop(); // none set here: a new one
            out.same_twice = (eddy::get_event_loop() == loop);
            out.loop = loop;
            out.runs_there = loop.run_until_complete(runs_on(loop));
            Log ignored;
            out.result = loop.run_until_complete(do_some_work(5, ignored));
        };
        std::thread ta(body, std::ref(a));
        std::thread tb(body, std::ref(b));
        ta.join();
        tb.join();
        for (PerThread* t : {&a, &b}) {
            CHECK(t->same_twice);
            CHECK(t->runs_there);
            CHECK(t->result == "Done after 5ms");
            CHECK(t->loop != main_loop);
        }
        CHECK(a.loop != b.loop);
        CHECK(eddy::get_event_loop() == main_loop); // the main thread's loop is untouched
    }

    // ==================================== 4. do_some_work ====================================

    TEST_CASE("a task is pending before the loop runs it and finished after, and is a Future") {
        static_assert(std::is_base_of_v<eddy::Future<std::string>, eddy::Task<std::string>>,
                      "isinstance(task, asyncio.Future)");
        FreshThreadLoop fresh;
        Log log;
        const auto start = Clock::now();
        eddy::Coro<std::string> coroutine = do_some_work(2, log);
        eddy::EventLoop& loop = eddy::get_event_loop();
        eddy::Task<std::string> task = loop.create_task(std::move(coroutine));
        CHECK_FALSE(task.done()); // print(task): <Task pending name='Task-1' ...>
        CHECK(task.get_name().rfind("Task-", 0) == 0);
        eddy::Future<std::string>& as_future = task;
        loop.run_until_complete(task);
        CHECK(task.done()); // <Task finished ... result='Done after 2s'>
        CHECK(as_future.done());
        CHECK(as_future.result() == "Done after 2ms");
        CHECK(log == Log{"Waiting: 2"});
        CHECK(ms_since(start) >= 2.0); // print('TIME: ', now() - start)
    }

    TEST_CASE("done callbacks run in the order added, with extra arguments bound by a lambda") {
        FreshThreadLoop fresh;
        eddy::EventLoop& loop = eddy::get_event_loop();
        Log log;
        eddy::Task<std::string> task = eddy::ensure_future(do_some_work(2, log));
        // def callback(future): print('Callback: ', future.result())
        task.add_done_callback([&log](eddy::Task<std::string>& future) {
            log.push_back("Callback: " + future.result());
        });
        // def callback(t, future): print('Callback:', t, future.result())
        auto callback = [&log](int t, eddy::Task<std::string>& future) {
            log.push_back("Callback: " + std::to_string(t) + " " + future.result());
        };
        // task.add_done_callback(functools.partial(callback, 2)): a lambda capturing 2 ...
        task.add_done_callback(
            [callback, t = 2](eddy::Task<std::string>& future) { callback(t, future); });
        // ... or std::bind_front, C++'s functools.partial.
        task.add_done_callback(std::bind_front(callback, 3));
        loop.run_until_complete(task);
        CHECK(log == Log{"Waiting: 2", "Callback: Done after 2ms", "Callback: 2 Done after 2ms",
                         "Callback: 3 Done after 2ms"});
    }

    // ==================================== 5. "Asyncio" overview ================================

    TEST_CASE("hello_world runs to completion with run_until_complete, then the loop closes") {
        FreshThreadLoop fresh;
        Log log;
        eddy::EventLoop& loop = eddy::get_event_loop();
        loop.run_until_complete(hello_world(log));
        loop.close();
        CHECK(log == Log{"Hello world!"});
        CHECK(loop.is_closed());
        // asyncio.run(hello_world()) in one call.
        eddy::run(hello_world(log));
        CHECK(log == Log{"Hello world!", "Hello world!"});
    }

    TEST_CASE("a coroutine given the loop stops run_forever, and what is left runs next time") {
        eddy::EventLoop loop = eddy::new_event_loop();
        Watchdog dog(loop);
        Log log;
        eddy::Task<void> worker = loop.create_task(long_worker(log));
        eddy::Task<void> stopping = loop.create_task(stopper(loop, log));
        loop.run_forever();
        CHECK_FALSE(dog.fired());
        CHECK(log == Log{"stopping"});
        CHECK(stopping.done());
        CHECK_FALSE(worker.done()); // halted, not lost
        // run_until_complete stopped before its future is done says so, as asyncio does.
        eddy::Task<void> stopping_again = loop.create_task(stopper(loop, log));
        CHECK_THROWS_WITH_AS(loop.run_until_complete(worker),
                             "Event loop stopped before Future completed.", eddy::RuntimeError);
        CHECK(stopping_again.done());
        CHECK_FALSE(worker.done());
        loop.run_until_complete(worker);
        CHECK(log == Log{"stopping", "stopping", "long worker done"});
    }

    TEST_CASE("sleep(0) and yield_now let the other ready task run between steps") {
        eddy::EventLoop loop = eddy::new_event_loop();
        Log log;
        eddy::Task<void> a = loop.create_task(ticker("a", 3, true, log));
        eddy::Task<void> b = loop.create_task(ticker("b", 3, false, log));
        loop.run_until_complete(b);
        loop.run_until_complete(a);
        CHECK(log == Log{"a0", "b0", "a1", "b1", "a2", "b2"});
    }

    TEST_CASE("a callback scheduled with call_soon runs before a task that sleeps 0 continues") {
        eddy::EventLoop loop = eddy::new_event_loop();
        Log log;
        loop.run_until_complete(yields_to_callback(log));
        CHECK(log == Log{"task before sleep(0)", "callback", "task after sleep(0)"});
    }

    TEST_CASE("ensure_future chains hello and world: world starts while hello sleeps") {
        FreshThreadLoop fresh;
        eddy::EventLoop& loop = eddy::get_event_loop();
        Log log;
        bool world_pending_at_hello = false;
        const auto start = Clock::now();
        CHECK(loop.run_until_complete(hello(log, world_pending_at_hello)) == "Hello world!");
        loop.close();
        const double took = ms_since(start);
        // prints "Hello world!": world began executing during hello's sleep and was still
        // running when hello printed.
        CHECK(log == Log{"world started", "Hello ", "world!"});
        CHECK(world_pending_at_hello);
        INFO("took " << took << " ms");
        CHECK(took >= 40.0);
    }

    TEST_CASE("puts scheduled with ensure_future happen in order at the tasks' next chance") {
        FreshThreadLoop fresh;
        eddy::EventLoop& loop = eddy::get_event_loop();
        Log log;
        TinyQueue q;
        // asyncio.ensure_future(q.put(1)) ... (2) ... (3)
        eddy::Task<void> p1 = eddy::ensure_future(q.put(1));
        eddy::Task<void> p2 = eddy::ensure_future(q.put(2));
        eddy::Task<void> p3 = eddy::ensure_future(q.put(3));
        CHECK(q.items().empty()); // nothing is queued until the tasks run
        CHECK(loop.run_until_complete(consume(q, log)) == 1);
        CHECK(log == Log{"got 1"});
        CHECK(q.items() == std::deque<int>{2, 3});
        CHECK((p1.done() && p2.done() && p3.done()));

        // A getter that comes first waits until a put wakes it.
        eddy::Task<int> getter = loop.create_task(consume(q, log));
        eddy::Task<int> getter2 = loop.create_task(consume(q, log));
        loop.run_until_complete(getter2);
        loop.run_until_complete(getter);
        eddy::Task<int> waiting = loop.create_task(consume(q, log));
        eddy::Task<void> late_put = loop.create_task(q.put(4));
        CHECK(loop.run_until_complete(waiting) == 4);
        CHECK(log == Log{"got 1", "got 2", "got 3", "got 4"});
        CHECK(late_put.done());
    }

    TEST_CASE(
        "debug mode reports slow callbacks and task steps as 'Executing ... took X seconds'") {
        eddy::EventLoop loop = eddy::new_event_loop();
        CHECK_FALSE(loop.get_debug());
        loop.set_debug(true); // loop.set_debug(True)
        CHECK(loop.get_debug());
        CHECK(static_cast<double>(loop.slow_callback_duration) == doctest::Approx(0.1));
        loop.slow_callback_duration = 0.025;
        CHECK(static_cast<double>(loop.slow_callback_duration) == doctest::Approx(0.025));
        eddy::test::ReportLog log(loop);

        loop.call_soon([] { std::this_thread::sleep_for(40ms); }); // slow
        loop.call_soon([] {});                                     // fast: not reported
        loop.run_until_complete(
            loop.create_task(blocking_step(40ms), {.name = "blocker"})); // a slow step

        REQUIRE(log.reports.size() == 2);
        const std::string& callback = log.reports[0].message;
        const std::string& step = log.reports[1].message;
        INFO(callback);
        INFO(step);
        CHECK(callback.rfind("Executing callback ", 0) == 0);
        CHECK(step.rfind("Executing blocker took ", 0) == 0);
        for (const eddy::ExceptionContext& ctx : log.reports) {
            const std::string& msg = ctx.message;
            const auto took = msg.find(" took ");
            REQUIRE(took != std::string::npos);
            CHECK(msg.substr(msg.size() - 8) == " seconds");
            CHECK(std::stod(msg.substr(took + 6)) >= 0.025);
            CHECK_FALSE(ctx.exception);
        }
        CHECK(log.reports[1].handle == "blocker");
    }

    TEST_CASE("debug mode refuses call_soon from another thread; call_soon_threadsafe works") {
        eddy::EventLoop loop = eddy::new_event_loop();
        loop.set_debug(true);
        Watchdog dog(loop);
        std::atomic<bool> refused{false};
        std::thread other;
        loop.call_soon([&] {
            other = std::thread([&] {
                try {
                    loop.call_soon([] {});
                } catch (const eddy::RuntimeError&) {
                    refused = true;
                }
                loop.call_soon_threadsafe([&loop] { loop.stop(); });
            });
        });
        loop.run_forever();
        other.join();
        CHECK_FALSE(dog.fired());
        CHECK(refused);
    }

    TEST_CASE("EDDY_DEBUG=1 turns debug mode on for new loops, as PYTHONASYNCIODEBUG=1 does") {
        EnvGuard restore("EDDY_DEBUG");
        ::setenv("EDDY_DEBUG", "1", 1); // NOLINT(concurrency-mt-unsafe): no other thread runs
        eddy::EventLoop debugging = eddy::new_event_loop();
        ::unsetenv("EDDY_DEBUG"); // NOLINT(concurrency-mt-unsafe)
        eddy::EventLoop quiet = eddy::new_event_loop();
        CHECK(debugging.get_debug());
        CHECK_FALSE(quiet.get_debug());
    }

    // ================ call_soon_threadsafe (tutorial 2), across threads ==========================

    TEST_CASE("call_soon_threadsafe from another thread wakes a loop parked in run_forever") {
        eddy::EventLoop loop = eddy::new_event_loop();
        Watchdog dog(loop);
        Log log; // written on the loop's thread only
        std::thread::id ran_on{};
        std::thread poster([&loop, &log, &ran_on] {
            while (!loop.is_running()) {
                std::this_thread::yield();
            }
            std::this_thread::sleep_for(20ms); // long enough for the loop to park
            loop.call_soon_threadsafe([&loop, &log, &ran_on] {
                ran_on = std::this_thread::get_id();
                log.push_back("woken");
                loop.stop();
            });
        });
        const auto start = Clock::now();
        loop.run_forever();
        poster.join();
        const double took = ms_since(start);
        CHECK_FALSE(dog.fired());
        CHECK(log == Log{"woken"});
        CHECK(ran_on == std::this_thread::get_id()); // it ran on the loop's thread
        INFO("took " << took << " ms");
        CHECK(took < 1000.0);
    }

    // asyncio's stop() is not thread-safe: from another thread the tutorials' way is
    // call_soon_threadsafe(loop.stop), as the test above does. eddy's stop() may also be called
    // from any thread directly: it wakes a parked loop.
    TEST_CASE("stop() from another thread ends run_forever on a parked loop") {
        eddy::EventLoop loop = eddy::new_event_loop();
        Watchdog dog(loop, 200ms);
        std::thread stopper_thread([&loop] {
            while (!loop.is_running()) {
                std::this_thread::yield();
            }
            std::this_thread::sleep_for(10ms); // long enough for the loop to park
            loop.stop();
        });
        const auto start = Clock::now();
        loop.run_forever();
        stopper_thread.join();
        const double took = ms_since(start);
        INFO("took " << took << " ms");
        CHECK_FALSE(dog.fired());
        CHECK(took < 150.0);
    }

    TEST_CASE("callbacks posted from several threads each keep their own thread's order") {
        eddy::EventLoop loop = eddy::new_event_loop();
        Watchdog dog(loop);
        constexpr int threads = 4;
        constexpr int per_thread = 200;
        std::vector<std::vector<int>> seen(threads);
        int total = 0;
        eddy::test::StartBarrier barrier(threads);
        std::vector<std::thread> posters;
        for (int t = 0; t < threads; ++t) {
            posters.emplace_back([&, t] {
                barrier.arrive_and_wait();
                for (int i = 0; i < per_thread; ++i) {
                    loop.call_soon_threadsafe([&, t, i] {
                        seen[static_cast<std::size_t>(t)].push_back(i);
                        if (++total == threads * per_thread) {
                            loop.stop();
                        }
                    });
                }
            });
        }
        loop.run_forever();
        for (std::thread& p : posters) {
            p.join();
        }
        CHECK_FALSE(dog.fired());
        for (const std::vector<int>& s : seen) {
            REQUIRE(s.size() == static_cast<std::size_t>(per_thread));
            bool in_order = true;
            for (int i = 0; i < per_thread; ++i) {
                in_order = in_order && s[static_cast<std::size_t>(i)] == i;
            }
            CHECK(in_order);
        }
    }

    // ========================== Where eddy differs from asyncio (guide) ========================

    TEST_CASE("an EventLoop is a copyable handle, and the loop closes when the last one goes") {
        eddy::ExceptionContext orphan_report;
        bool handler_ran = false;
        Log log;
        eddy::Task<void> pending;
        {
            eddy::EventLoop loop = eddy::new_event_loop();
            loop.set_exception_handler([&](eddy::EventLoop&, const eddy::ExceptionContext& ctx) {
                orphan_report = ctx;
                handler_ran = true;
            });
            eddy::EventLoop copy = loop;
            // loop.x() and loop->x() both work, on the same loop.
            copy->call_soon([&log] { log.push_back("via ->"); });
            loop.call_soon([&log] { log.push_back("via ."); });
            copy.call_soon([&copy] { copy->stop(); });
            loop->run_forever();
            CHECK(log == Log{"via ->", "via ."});
            { eddy::EventLoop another = copy; }
            CHECK_FALSE(loop.is_closed()); // copies come and go
            pending = loop.create_task(long_worker(log), {.name = "left behind"});
        } // the last handle goes: the loop closes, and the pending Task is reported
        CHECK(handler_ran);
        CHECK(orphan_report.message == "Task was destroyed but it is pending!");
        CHECK(orphan_report.task == "left behind");
        CHECK_FALSE(pending.done());
        CHECK(log == Log{"via ->", "via ."});
    }

    // asyncio's TimerHandle holds its loop, and cancelling it after close() is harmless; so is
    // eddy's (a regression test: the handle once kept a dangling pointer to the loop).
    TEST_CASE("a TimerHandle can still be cancelled after its loop is gone") {
        eddy::TimerHandle timer;
        {
            eddy::EventLoop loop = eddy::new_event_loop();
            timer = loop.call_later(1s, [] {});
        } // the last handle: the loop closes and is freed
        timer.cancel();
        CHECK(timer.cancelled());
    }

    TEST_CASE("done callbacks and task wake-ups share one FIFO, in registration order") {
        eddy::EventLoop loop = eddy::new_event_loop();
        Log log;
        eddy::Future<int> fut = loop.create_future<int>();
        fut.add_done_callback([&log](eddy::Future<int>&) { log.push_back("callback 1"); });
        eddy::Task<void> task = loop.create_task(waits_on(fut, log)); // its wake-up is 2nd
        loop.call_soon([&log, fut]() mutable {
            fut.add_done_callback([&log](eddy::Future<int>&) { log.push_back("callback 2"); });
            fut.set_result(1);
        });
        loop.run_until_complete(task);
        loop.run_until_complete(loop.create_task(hello_world(log))); // one more turn
        CHECK(log == Log{"callback 1", "task resumed", "callback 2", "Hello world!"});
    }

    TEST_CASE("an exception nobody retrieved is reported through the handler when it dies") {
        eddy::EventLoop loop = eddy::new_event_loop();
        eddy::test::ReportLog reports(loop);
        {
            eddy::Future<int> fut = loop.create_future<int>();
            fut.set_exception(std::make_exception_ptr(std::runtime_error("lost")));
        }
        REQUIRE(reports.reports.size() == 1);
        CHECK(reports.reports[0].message == "Future exception was never retrieved");
        CHECK(eddy::test::what(reports.reports[0].exception) == "lost");
        {
            eddy::Task<std::string> task =
                loop.create_task(failing_operation(), {.name = "failing"});
            task.add_done_callback([&loop](eddy::Task<std::string>&) { loop.stop(); });
            loop.run_forever(); // done, and nobody reads its exception
        }
        REQUIRE(reports.reports.size() == 2);
        CHECK(reports.reports[1].message == "Task exception was never retrieved");
        CHECK(reports.reports[1].task == "failing");
        CHECK(eddy::test::what(reports.reports[1].exception) == "download failed");
    }

    TEST_CASE("Task::cancel from another thread cancels a sleeping task") {
        eddy::EventLoop loop = eddy::new_event_loop();
        Log log;
        eddy::Task<std::string> task = loop.create_task(cancellable_download(log));
        std::thread canceller;
        std::atomic<bool> cancel_returned{false};
        // Queued behind the task's first step, so the task is asleep when the thread cancels.
        loop.call_soon([&canceller, &cancel_returned, task] {
            canceller = std::thread([&cancel_returned, task]() mutable {
                cancel_returned = task.cancel("from a thread");
            });
        });
        const auto start = Clock::now();
        CHECK_THROWS_AS(loop.run_until_complete(task), eddy::CancelledError);
        const double took = ms_since(start);
        canceller.join();
        CHECK(cancel_returned);
        CHECK(task.cancelled());
        CHECK(log == Log{"downloading", "cancelled: from a thread"});
        INFO("took " << took << " ms");
        CHECK(took < 45.0);
    }

    TEST_CASE("a custom awaitable completes an eddy::Future, from any thread") {
        eddy::EventLoop loop = eddy::new_event_loop();
        std::thread worker;
        CHECK(loop.run_until_complete(doubled_in_thread(21, worker)) == 42);
        worker.join();
    }
}
