#pragma once

/// asyncio's streams: `open_connection`, `start_server` (and the Unix variants),
/// `StreamReader`, `StreamWriter`, built on the transport layer as asyncio builds them.
///
/// ```cpp
/// auto [reader, writer] = co_await eddy::open_connection("127.0.0.1", 8888);
/// writer.write("hello\n");
/// co_await writer.drain();
/// std::string line = co_await reader.readline();
/// writer.close();
/// co_await writer.wait_closed();
///
/// eddy::Server server = co_await eddy::start_server(
///     [](eddy::StreamReader r, eddy::StreamWriter w) -> eddy::Coro<void> {
///         std::string data = co_await r.read(100);
///         w.write(data);
///         co_await w.drain();
///         w.close();
///     }, "127.0.0.1", 8888);
/// ```
///
/// `StreamReader` and `StreamWriter` are handles (copies share the stream). The reader is fed
/// on the transport's loop; its methods may be awaited from a Task on any worker (one reader
/// at a time, as asyncio: a second concurrent read throws RuntimeError). Semantics are
/// asyncio's, including the 64 KiB default limit, `LimitOverrunError` from `readuntil`,
/// `ValueError` from `readline` on an over-long line, `IncompleteReadError` at end of stream,
/// and flow control (reading pauses while more than twice the limit is buffered). A Task
/// cancelled inside `readexactly` / `readuntil` leaves every byte in the buffer for the next
/// read.

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
#include <eddy/io/transport.hpp>

namespace eddy {

namespace detail {
class ReaderState;
class StreamProtocol;
} // namespace detail

inline constexpr std::size_t stream_default_limit =
    std::size_t{64} * 1024; ///< asyncio's _DEFAULT_LIMIT

class StreamReader {
public:
    explicit StreamReader(std::size_t limit = stream_default_limit);

    /// Up to `n` bytes (`n` < 0: until end of stream); "" at end of stream.
    Coro<std::string> read(std::ptrdiff_t n = -1);
    /// One line including "\n"; at end of stream the partial line (maybe ""). ValueError when
    /// the line is longer than the limit (the line is skipped).
    Coro<std::string> readline();
    /// Exactly `n` bytes; IncompleteReadError if the stream ends first.
    Coro<std::string> readexactly(std::size_t n);
    /// Up to and including `separator`; IncompleteReadError at end of stream,
    /// LimitOverrunError past the limit (the data stays buffered).
    Coro<std::string> readuntil(std::string separator = "\n");
    /// The same, with several separators: stops at the first that matches (the shortest
    /// match wins at equal positions, as asyncio).
    Coro<std::string> readuntil(std::vector<std::string> separators);
    /// End of stream reached and nothing buffered.
    [[nodiscard]] bool at_eof() const;
    [[nodiscard]] std::exception_ptr exception() const;

    // Feeding (the protocol's side; also usable to feed a reader by hand, as in asyncio).
    void feed_data(std::string_view data);
    void feed_eof();
    void set_exception(const std::exception_ptr& exc);
    [[nodiscard]] std::size_t limit() const;

    /// Internal.
    explicit StreamReader(std::shared_ptr<detail::ReaderState> s) noexcept : s_(std::move(s)) {}
    [[nodiscard]] const std::shared_ptr<detail::ReaderState>& state() const noexcept { return s_; }

private:
    std::shared_ptr<detail::ReaderState> s_;
};

class StreamWriter {
public:
    void write(std::string_view data);
    void writelines(const std::vector<std::string>& lines);
    void write_eof();
    [[nodiscard]] bool can_write_eof() const;
    /// Waits while the transport's buffer is above its high-water mark; raises the
    /// connection's error (ConnectionResetError when it was lost).
    Coro<void> drain();
    void close();
    [[nodiscard]] bool is_closing() const;
    /// Waits until the connection is closed.
    Coro<void> wait_closed();
    [[nodiscard]] std::any get_extra_info(std::string_view name) const;
    [[nodiscard]] Transport& transport() const;

    /// Internal.
    StreamWriter(std::shared_ptr<Transport> t, std::shared_ptr<detail::StreamProtocol> p,
                 StreamReader reader) noexcept
        : transport_(std::move(t)), protocol_(std::move(p)), reader_(std::move(reader)) {}

private:
    std::shared_ptr<Transport> transport_;
    std::shared_ptr<detail::StreamProtocol> protocol_;
    StreamReader reader_;
};

struct StreamOptions {
    std::size_t limit = stream_default_limit;
    ConnectionOptions connection{};
};

struct StreamServerOptions {
    std::size_t limit = stream_default_limit;
    ServerOptions server{};
};

using ClientConnected = std::function<Coro<void>(StreamReader, StreamWriter)>;

/// asyncio's `open_connection(host, port, limit=)`.
Coro<std::pair<StreamReader, StreamWriter>> open_connection(std::string host, int port,
                                                            StreamOptions options = {});
/// asyncio's `open_unix_connection(path, limit=)`.
Coro<std::pair<StreamReader, StreamWriter>> open_unix_connection(std::string path,
                                                                 StreamOptions options = {});
/// asyncio's `start_server(client_connected_cb, host, port)`: each connection runs
/// `cb(reader, writer)` as a Task, started on the loop that accepted it.
Coro<Server> start_server(ClientConnected cb, std::string host, int port,
                          StreamServerOptions options = {});
/// asyncio's `start_unix_server(client_connected_cb, path)`.
Coro<Server> start_unix_server(ClientConnected cb, std::string path,
                               StreamServerOptions options = {});

} // namespace eddy
