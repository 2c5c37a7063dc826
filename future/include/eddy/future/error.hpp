#pragma once

/// \file
/// The exceptions eddy raises, named after asyncio's.
///
/// Every one derives from `eddy::Error`, which is a `std::runtime_error` (and so a
/// `std::exception`): `catch (const eddy::Error&)` catches anything eddy throws on purpose.

#include <cstddef>
#include <exception>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace eddy {

/// Base of every exception eddy throws.
class Error : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

/// asyncio.CancelledError: thrown at the pending `co_await` of a cancelled Task, and by
/// `result()` / `co_await` on a cancelled Future. `what()` is the message given to
/// `cancel(msg)`, or "CancelledError" when none was given; `message()` is the message as given.
class CancelledError : public Error {
public:
    explicit CancelledError(std::string msg = {})
        : Error(msg.empty() ? std::string("CancelledError") : msg), message_(std::move(msg)) {}
    /// The message passed to `cancel(msg)` (empty when none).
    [[nodiscard]] const std::string& message() const noexcept { return message_; }

private:
    std::string message_;
};

/// asyncio.TimeoutError (Python's built-in TimeoutError).
class TimeoutError : public Error {
public:
    explicit TimeoutError(const std::string& msg = "TimeoutError") : Error(msg) {}
};

/// asyncio.InvalidStateError: setting a Future twice, reading the result of a pending one.
class InvalidStateError : public Error {
public:
    using Error::Error;
};

/// Python's RuntimeError as asyncio raises it: running a running loop, scheduling on a
/// closed loop, `get_running_loop()` outside a loop, ...
class RuntimeError : public Error {
public:
    using Error::Error;
};

/// Python's ValueError as asyncio raises it: a negative Semaphore value, a BoundedSemaphore
/// released too often, `task_done()` called too many times, `wait()` on an empty set.
class ValueError : public Error {
public:
    using Error::Error;
};

/// asyncio.BrokenBarrierError: a Barrier was aborted or reset while a Task waited on it.
class BrokenBarrierError : public Error {
public:
    explicit BrokenBarrierError(const std::string& msg = "BrokenBarrierError") : Error(msg) {}
};

/// asyncio.QueueEmpty: `get_nowait()` on an empty queue.
class QueueEmpty : public Error {
public:
    explicit QueueEmpty(const std::string& msg = "QueueEmpty") : Error(msg) {}
};

/// asyncio.QueueFull: `put_nowait()` on a full bounded queue.
class QueueFull : public Error {
public:
    explicit QueueFull(const std::string& msg = "QueueFull") : Error(msg) {}
};

/// asyncio.QueueShutDown: putting into a shut-down queue, or getting from one that is shut
/// down and empty.
class QueueShutDown : public Error {
public:
    explicit QueueShutDown(const std::string& msg = "QueueShutDown") : Error(msg) {}
};

/// Python's ExceptionGroup, as a TaskGroup raises it: every error its children raised, in the
/// order they happened. `what()` is "unhandled errors in a TaskGroup (N sub-exceptions)".
class ExceptionGroup : public Error {
public:
    ExceptionGroup(const std::string& msg, std::vector<std::exception_ptr> exceptions)
        : Error(msg + " (" + std::to_string(exceptions.size()) +
                (exceptions.size() == 1 ? " sub-exception)" : " sub-exceptions)")),
          message_(msg), exceptions_(std::move(exceptions)) {}
    /// The message without the count (Python's `eg.message`).
    [[nodiscard]] const std::string& message() const noexcept { return message_; }
    /// The errors (Python's `eg.exceptions`).
    [[nodiscard]] const std::vector<std::exception_ptr>& exceptions() const noexcept {
        return exceptions_;
    }
    [[nodiscard]] std::size_t size() const noexcept { return exceptions_.size(); }

private:
    std::string message_;
    std::vector<std::exception_ptr> exceptions_;
};

} // namespace eddy
