#pragma once

/// `eddy::Socket`: a non-blocking socket (Python's socket object as asyncio's `loop.sock_*`
/// functions take it), and those functions.
///
/// ```cpp
/// eddy::Socket s = eddy::Socket::create(AF_INET, SOCK_STREAM);
/// co_await loop.sock_connect(s, *eddy::SockAddr::numeric("127.0.0.1", 8080));
/// co_await loop.sock_sendall(s, "ping");
/// std::string reply = co_await loop.sock_recv(s, 1024);
/// ```
///
/// A Socket owns its descriptor (closed with the Socket). It is registered with the poller of
/// the loop that first awaits on it, once, for its whole life. One Task may read and another
/// write at the same time; two concurrent readers (or writers) get a RuntimeError.
/// Cancelling a Task in a `sock_*` call leaves the socket usable: no byte is lost or sent
/// twice (a partial `sock_sendall` has sent a prefix, as in asyncio).

#include <sys/socket.h>

#include <cstddef>
#include <string>
#include <utility>

#include <eddy/io/address.hpp>
#include <eddy/io/error.hpp>

namespace eddy {

namespace detail {
class SocketCore;
class LoopCore;
} // namespace detail

class Socket {
public:
    Socket() noexcept = default;
    /// Adopts `fd` (made non-blocking and close-on-exec).
    explicit Socket(int fd);
    /// socket(2), non-blocking. Throws OSError.
    static Socket create(int family = AF_INET, int type = SOCK_STREAM, int protocol = 0);
    Socket(Socket&& o) noexcept;
    Socket& operator=(Socket&& o) noexcept;
    Socket(const Socket&) = delete;
    Socket& operator=(const Socket&) = delete;
    ~Socket();

    /// The descriptor (-1 when closed or detached).
    [[nodiscard]] int fileno() const noexcept { return fd_; }
    [[nodiscard]] bool valid() const noexcept { return fd_ >= 0; }
    explicit operator bool() const noexcept { return valid(); }
    /// Closes it; Tasks waiting on it wake and see an error. Idempotent.
    void close() noexcept;
    /// Gives the descriptor up (unregistered, not closed).
    int detach() noexcept;

    void bind(const SockAddr& addr);
    void listen(int backlog = 100);
    void setsockopt(int level, int name, int value);
    [[nodiscard]] int getsockopt(int level, int name) const;
    [[nodiscard]] SockAddr getsockname() const;
    [[nodiscard]] SockAddr getpeername() const;
    /// shutdown(2): SHUT_RD, SHUT_WR, SHUT_RDWR.
    void shutdown(int how);

    /// Internal: the registration with `loop` (made on first use).
    detail::SocketCore* core(detail::LoopCore* loop);

private:
    int fd_ = -1;
    detail::SocketCore* core_ = nullptr; // one reference, once registered
};

} // namespace eddy
