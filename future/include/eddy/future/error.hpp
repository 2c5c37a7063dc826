#pragma once

/// \file
/// The exceptions eddy raises, named after asyncio's.
///
/// Every one derives from `eddy::Error`, which is a `std::runtime_error` (and so a
/// `std::exception`): `catch (const eddy::Error&)` catches anything eddy throws on purpose.

#include <stdexcept>
#include <string>

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

} // namespace eddy
