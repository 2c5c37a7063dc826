#pragma once

/// asyncio's callback layer: `Protocol`, `Transport`, `Server`, and the loop functions that
/// make them (`create_connection`, `create_server`, and the Unix variants).
///
/// ```cpp
/// struct Echo : eddy::Protocol {
///     eddy::Transport* t = nullptr;
///     void connection_made(eddy::Transport& tr) override { t = &tr; }
///     void data_received(std::string_view data) override { t->write(data); }
/// };
/// eddy::Server server = co_await loop.create_server([] { return std::make_shared<Echo>(); },
///                                                   "127.0.0.1", 8888);
/// co_await server.serve_forever();
/// ```
///
/// Threads. A transport belongs to one loop (the one its socket is registered with): every
/// Protocol callback runs there, in order, never inside a poll batch. The Transport's methods
/// may be called from any thread (a Task on another worker writing to it, say); writes are
/// ordered by the transport's lock and go straight to the socket when it can take them,
/// buffered only when it cannot (then `pause_writing` at the high-water mark, as asyncio).
///
/// Lifetime. The loop keeps a transport alive until `connection_lost` has run; the Protocol
/// is kept alive by its transport. Handles (`std::shared_ptr<Transport>`) may outlive it:
/// after the connection is lost, writes are dropped and `is_closing()` is true.

#include <any>
#include <cstddef>
#include <exception>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <eddy/future/coro.hpp>
#include <eddy/io/address.hpp>
#include <eddy/io/error.hpp>
#include <eddy/io/socket.hpp>
#include <eddy/scheduler/event_loop.hpp>

namespace eddy {

class Transport;

/// asyncio.Protocol: override what you need.
class Protocol {
public:
    Protocol() = default;
    Protocol(const Protocol&) = delete;
    Protocol& operator=(const Protocol&) = delete;
    virtual ~Protocol() = default;

    virtual void connection_made(Transport& /*transport*/) {}
    virtual void data_received(std::string_view /*data*/) {}
    /// The peer closed its side. Return true to keep the transport open (half-close); false
    /// (the default) closes it.
    virtual bool eof_received() { return false; }
    /// The connection is gone: `exc` is null for a normal close, else why.
    // NOLINTNEXTLINE(performance-unnecessary-value-param): asyncio's signature, overridden
    virtual void connection_lost(std::exception_ptr /*exc*/) {}
    virtual void pause_writing() {}
    virtual void resume_writing() {}
};

using ProtocolFactory = std::function<std::shared_ptr<Protocol>()>;

namespace detail {
class TransportImpl;
class ServerState;
} // namespace detail

/// asyncio's socket transport (`asyncio.Transport`).
class Transport {
public:
    /// Writes `data`: sent at once when the socket takes it, else buffered. Dropped once the
    /// transport is closing. Throws RuntimeError after `write_eof()`.
    void write(std::string_view data);
    void writelines(const std::vector<std::string>& lines);
    /// Shuts the write side down once the buffer is flushed.
    void write_eof();
    [[nodiscard]] bool can_write_eof() const noexcept { return true; }
    /// Closes after flushing the buffer; `connection_lost(nullptr)` follows on the loop.
    void close();
    /// Closes at once, dropping the buffer.
    void abort();
    [[nodiscard]] bool is_closing() const;
    void pause_reading();
    void resume_reading();
    [[nodiscard]] bool is_reading() const;
    [[nodiscard]] std::size_t get_write_buffer_size() const;
    /// asyncio's defaults: high 64 KiB, low high/4; only `high` given: low = high/4.
    void set_write_buffer_limits(std::optional<std::size_t> high = std::nullopt,
                                 std::optional<std::size_t> low = std::nullopt);
    [[nodiscard]] std::pair<std::size_t, std::size_t> get_write_buffer_limits() const;
    /// "peername", "sockname" (SockAddr), "socket" (int, the descriptor); empty otherwise.
    [[nodiscard]] std::any get_extra_info(std::string_view name) const;
    [[nodiscard]] std::optional<SockAddr> peername() const;
    [[nodiscard]] std::optional<SockAddr> sockname() const;
    [[nodiscard]] std::shared_ptr<Protocol> get_protocol() const;
    void set_protocol(std::shared_ptr<Protocol> protocol);
    /// The loop the transport belongs to (where its callbacks run).
    [[nodiscard]] EventLoop get_loop() const;

    /// Internal.
    explicit Transport(detail::TransportImpl* impl) noexcept : impl_(impl) {}
    [[nodiscard]] detail::TransportImpl* impl() const noexcept { return impl_; }

private:
    detail::TransportImpl* impl_;
};

/// `create_connection` / `create_server` options (asyncio's keyword arguments).
struct ConnectionOptions {
    int family = 0; ///< AF_UNSPEC: try every address getaddrinfo gives
    std::optional<SockAddr> local_addr{};
    /// asyncio's happy_eyeballs_delay (seconds): when set, the next address is tried after
    /// this delay while the previous attempt is still pending; the first to connect wins.
    std::optional<double> happy_eyeballs_delay{};
};

struct ServerOptions {
    int family = 0;
    int backlog = 100;
    bool reuse_address = true;
    bool reuse_port = false;
    bool start_serving = true;
};

/// A listening socket of a Server, as `server.sockets()` shows it.
class ServerSocket {
public:
    ServerSocket(int fd, const SockAddr& address) noexcept : fd_(fd), address_(address) {}
    [[nodiscard]] int fileno() const noexcept { return fd_; }
    [[nodiscard]] const SockAddr& getsockname() const noexcept { return address_; }

private:
    int fd_;
    SockAddr address_;
};

/// asyncio.Server: listening sockets plus the connections they accepted.
class Server {
public:
    Server() = default;
    explicit Server(std::shared_ptr<detail::ServerState> s) noexcept : s_(std::move(s)) {}

    /// The listening sockets (their `getsockname()` gives the bound port); none once closed.
    [[nodiscard]] const std::vector<ServerSocket>& sockets() const;
    [[nodiscard]] bool is_serving() const;
    /// Starts accepting (when created with `.start_serving = false`).
    Coro<void> start_serving();
    /// Accepts until the Server is closed or the awaiting Task is cancelled (which closes it).
    Coro<void> serve_forever();
    /// Stops listening; connections already accepted stay open.
    void close();
    /// Waits until the Server is closed and every connection it accepted is gone.
    Coro<void> wait_closed();
    /// Closes every accepted connection (after flushing) / aborts them.
    void close_clients();
    void abort_clients();
    [[nodiscard]] EventLoop get_loop() const;
    explicit operator bool() const noexcept { return static_cast<bool>(s_); }

private:
    std::shared_ptr<detail::ServerState> s_;
};

namespace detail {
/// A shared handle to `t` (alive as long as the handle, like the one create_connection gives).
std::shared_ptr<Transport> shared_transport(Transport& t);
/// The transport for a connected socket, on the running loop; calls connection_made there.
std::shared_ptr<Transport> make_transport(Socket sock, std::shared_ptr<Protocol> protocol);
Coro<std::pair<std::shared_ptr<Transport>, std::shared_ptr<Protocol>>>
create_connection(ProtocolFactory factory, std::string host, int port, ConnectionOptions options);
Coro<std::pair<std::shared_ptr<Transport>, std::shared_ptr<Protocol>>>
create_unix_connection(ProtocolFactory factory, std::string path);
Coro<Server> create_server(ProtocolFactory factory, std::string host, int port,
                           ServerOptions options);
Coro<Server> create_unix_server(ProtocolFactory factory, std::string path, ServerOptions options);
/// Connects a socket to `host:port` (resolving; trying each address, happy eyeballs when
/// asked). Used by create_connection and open_connection.
Coro<Socket> connect_tcp(std::string host, int port, ConnectionOptions options);
} // namespace detail

/// `loop.create_connection(factory, host, port)`: the factory's protocol type is kept.
template <class F>
Coro<std::pair<std::shared_ptr<Transport>, std::invoke_result_t<F&>>>
create_connection(F factory, std::string host, int port, ConnectionOptions options = {}) {
    using P = std::invoke_result_t<F&>;
    auto [t, p] = co_await detail::create_connection(
        [factory]() mutable -> std::shared_ptr<Protocol> { return factory(); }, std::move(host),
        port, options);
    co_return std::pair<std::shared_ptr<Transport>, P>(
        std::move(t), std::static_pointer_cast<typename P::element_type>(p));
}

template <class F>
Coro<std::pair<std::shared_ptr<Transport>, std::invoke_result_t<F&>>>
create_unix_connection(F factory, std::string path) {
    using P = std::invoke_result_t<F&>;
    auto [t, p] = co_await detail::create_unix_connection(
        [factory]() mutable -> std::shared_ptr<Protocol> { return factory(); }, std::move(path));
    co_return std::pair<std::shared_ptr<Transport>, P>(
        std::move(t), std::static_pointer_cast<typename P::element_type>(p));
}

template <class F>
Coro<Server> create_server(F factory, const std::string& host, int port,
                           ServerOptions options = {}) {
    return detail::create_server(
        [factory]() mutable -> std::shared_ptr<Protocol> { return factory(); }, host, port,
        options);
}

template <class F>
Coro<Server> create_unix_server(F factory, const std::string& path, ServerOptions options = {}) {
    return detail::create_unix_server(
        [factory]() mutable -> std::shared_ptr<Protocol> { return factory(); }, path, options);
}

// EventLoop's members of the same names (declared in <eddy/scheduler/event_loop.hpp>).
template <class F>
auto EventLoop::create_connection(F factory, std::string host, int port) {
    return eddy::create_connection(std::move(factory), std::move(host), port);
}
template <class F>
auto EventLoop::create_connection(F factory, std::string host, int port,
                                  const ConnectionOptions& options) {
    return eddy::create_connection(std::move(factory), std::move(host), port, options);
}
template <class F>
auto EventLoop::create_unix_connection(F factory, std::string path) {
    return eddy::create_unix_connection(std::move(factory), std::move(path));
}
template <class F>
auto EventLoop::create_server(F factory, std::string host, int port) {
    return eddy::create_server(std::move(factory), std::move(host), port);
}
template <class F>
auto EventLoop::create_server(F factory, std::string host, int port, const ServerOptions& options) {
    return eddy::create_server(std::move(factory), std::move(host), port, options);
}
template <class F>
auto EventLoop::create_unix_server(F factory, std::string path) {
    return eddy::create_unix_server(std::move(factory), std::move(path));
}
template <class F>
auto EventLoop::create_unix_server(F factory, std::string path, const ServerOptions& options) {
    return eddy::create_unix_server(std::move(factory), std::move(path), options);
}

} // namespace eddy
