#include <eddy/io/error.hpp>

#include <netdb.h>

#include <array>
#include <cerrno>
#include <cstring>

namespace eddy {

namespace {
std::string describe(int err, const std::string& what) {
    std::array<char, 128> buf{};
    // GNU strerror_r: returns the message (maybe a static string, maybe buf).
    const char* msg = ::strerror_r(err, buf.data(), buf.size());
    return "[Errno " + std::to_string(err) + "] " + msg +
           (what.empty() ? std::string{} : ": " + what);
}
} // namespace

OSError::OSError(int err, const std::string& what) : Error(describe(err, what)), errno_(err) {}

GaiError::GaiError(int code, const std::string& what)
    : OSError(0, what + ": " + ::gai_strerror(code)), code_(code) {}

IncompleteReadError::IncompleteReadError(std::string partial, std::optional<std::size_t> expected)
    : Error(std::to_string(partial.size()) + " bytes read on a total of " +
            (expected ? std::to_string(*expected) : std::string("undefined")) + " expected bytes"),
      partial_(std::move(partial)), expected_(expected) {}

std::exception_ptr os_error(int err, const std::string& what) {
    switch (err) {
    case ECONNRESET:
        return std::make_exception_ptr(ConnectionResetError(err, what));
    case ECONNREFUSED:
        return std::make_exception_ptr(ConnectionRefusedError(err, what));
    case ECONNABORTED:
        return std::make_exception_ptr(ConnectionAbortedError(err, what));
    case EPIPE:
    case ESHUTDOWN:
        return std::make_exception_ptr(BrokenPipeError(err, what));
    default:
        return std::make_exception_ptr(OSError(err, what));
    }
}

void throw_os_error(int err, const std::string& what) {
    std::rethrow_exception(os_error(err, what));
}

} // namespace eddy
