#pragma once

/// The errors of io/, named after Python's (asyncio raises the built-in ones).
///
/// `OSError` carries the errno; `os_error(err, what)` makes the most specific subclass, so a
/// user can catch `ConnectionResetError` as in Python, or `OSError` for all of them.

#include <cstddef>
#include <exception>
#include <optional>
#include <string>

#include <eddy/future/error.hpp>

namespace eddy {

/// Python's OSError: a system call failed; `errno_value()` says why.
class OSError : public Error {
public:
    OSError(int err, const std::string& what);
    [[nodiscard]] int errno_value() const noexcept { return errno_; }

private:
    int errno_;
};

/// Python's ConnectionError and its subclasses.
class ConnectionError : public OSError {
public:
    using OSError::OSError;
};
class ConnectionResetError : public ConnectionError {
public:
    using ConnectionError::ConnectionError;
};
class ConnectionRefusedError : public ConnectionError {
public:
    using ConnectionError::ConnectionError;
};
class ConnectionAbortedError : public ConnectionError {
public:
    using ConnectionError::ConnectionError;
};
class BrokenPipeError : public ConnectionError {
public:
    using ConnectionError::ConnectionError;
};

/// socket.gaierror: name resolution failed (`code()` is the EAI_* value).
class GaiError : public OSError {
public:
    GaiError(int code, const std::string& what);
    [[nodiscard]] int code() const noexcept { return code_; }

private:
    int code_;
};

/// asyncio.IncompleteReadError: the stream ended before `expected` bytes (none: before the
/// separator); `partial` holds what was read.
class IncompleteReadError : public Error {
public:
    IncompleteReadError(std::string partial, std::optional<std::size_t> expected);
    [[nodiscard]] const std::string& partial() const noexcept { return partial_; }
    [[nodiscard]] std::optional<std::size_t> expected() const noexcept { return expected_; }

private:
    std::string partial_;
    std::optional<std::size_t> expected_;
};

/// asyncio.LimitOverrunError: a line (or separator search) went past the stream's limit;
/// `consumed()` is how many bytes may be consumed to skip it.
class LimitOverrunError : public Error {
public:
    LimitOverrunError(const std::string& msg, std::size_t consumed)
        : Error(msg), consumed_(consumed) {}
    [[nodiscard]] std::size_t consumed() const noexcept { return consumed_; }

private:
    std::size_t consumed_;
};

/// The most specific OSError subclass for `err`, as an exception_ptr.
std::exception_ptr os_error(int err, const std::string& what);
/// Throws it.
[[noreturn]] void throw_os_error(int err, const std::string& what);

} // namespace eddy
