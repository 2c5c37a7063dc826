#include <eddy/io/streams.hpp>

#include <sys/socket.h>

#include <algorithm>
#include <cstdint>
#include <mutex>

#include <eddy/future/task.hpp>
#include <eddy/scheduler/detail/wait_list.hpp>
#include <eddy/scheduler/sleep.hpp>

namespace eddy::detail {

namespace {
void finish(Future<void>& f, const std::exception_ptr& exc = nullptr) noexcept {
    FutureStateBase* s = FutureAccess<void>::state(f);
    if (exc) {
        try {
            f.set_exception(exc);
        } catch (...) { // NOLINT(bugprone-empty-catch): cancelled meanwhile
        }
    } else {
        (void)s->try_finish([] {});
    }
}
} // namespace

/// The reader's shared state: fed on the transport's loop, read from a Task anywhere.
class ReaderState {
public:
    explicit ReaderState(std::size_t limit) : limit_(limit) {
        if (limit == 0) {
            throw ValueError("Limit cannot be <= 0");
        }
    }

    mutable std::mutex mu_;
    std::string buffer_; // guarded
    const std::size_t limit_;
    bool eof_ = false;                   // guarded
    std::exception_ptr exc_;             // guarded
    std::optional<Future<void>> waiter_; // guarded
    std::weak_ptr<Transport> transport_; // guarded
    bool paused_ = false;                // guarded: we paused the transport's reading
    /// Counts feeds (data, EOF, error), guarded: a reader that decided to wait under the lock
    /// passes the count it saw, so a feed between that decision and the wait is not missed.
    std::uint64_t fed_ = 0;

    /// Wakes the reader waiting for data (call with mu_ held; fires after).
    std::optional<Future<void>> take_waiter_locked() {
        std::optional<Future<void>> w = std::move(waiter_);
        waiter_.reset();
        return w;
    }

    /// After consuming: resume a transport we paused once the buffer is back under the
    /// limit. Returns the transport to resume (outside the lock).
    std::shared_ptr<Transport> maybe_resume_locked() {
        if (paused_ && buffer_.size() <= limit_) {
            paused_ = false;
            return transport_.lock();
        }
        return nullptr;
    }

    /// Waits until something is fed (asyncio's _wait_for_data).
    Coro<void> wait_for_data(const char* func, std::uint64_t seen) {
        Future<void> f = detached_future<void>();
        std::shared_ptr<Transport> resume;
        {
            std::lock_guard guard(mu_);
            if (waiter_ && !waiter_->done()) {
                throw RuntimeError(std::string(func) +
                                   "() called while another coroutine is already waiting for "
                                   "incoming data");
            }
            if (fed_ != seen || eof_ || exc_) {
                co_return; // something came meanwhile: the caller looks again
            }
            if (paused_) {
                // The buffer went under the limit without resuming (asyncio does this too).
                paused_ = false;
                resume = transport_.lock();
            }
            waiter_ = f;
        }
        if (resume) {
            resume->resume_reading();
        }
        co_await f;
    }

    void rethrow_locked() const {
        if (exc_) {
            std::rethrow_exception(exc_);
        }
    }
};

/// asyncio's StreamReaderProtocol with its FlowControlMixin.
class StreamProtocol final : public Protocol, public std::enable_shared_from_this<StreamProtocol> {
public:
    StreamProtocol(StreamReader reader, ClientConnected cb)
        : reader_(std::move(reader)), cb_(std::move(cb)), closed_(detached_future<void>()) {}

    void connection_made(Transport& t) override {
        std::shared_ptr<Transport> shared = shared_transport(t);
        {
            std::lock_guard guard(reader_.state()->mu_);
            reader_.state()->transport_ = shared;
        }
        if (cb_) {
            StreamWriter writer(shared, shared_from_this(), reader_);
            EventLoop loop = t.get_loop();
            loop.create_task(run_client(cb_, reader_, std::move(writer), shared));
        }
    }
    void data_received(std::string_view data) override { reader_.feed_data(data); }
    bool eof_received() override {
        reader_.feed_eof();
        return true; // keep the transport open: the writer may still write (half-close)
    }
    void connection_lost(std::exception_ptr exc) override {
        if (exc) {
            reader_.set_exception(exc);
        } else {
            reader_.feed_eof();
        }
        std::vector<Future<void>> drains;
        {
            std::lock_guard guard(mu_);
            lost_ = true;
            lost_exc_ = exc;
            drains.swap(drain_waiters_);
        }
        for (auto& d : drains) {
            finish(d, exc);
        }
        finish(closed_, exc);
        if (exc) {
            (void)closed_.exception(); // retrieved: only wait_closed() reports it
        }
    }
    void pause_writing() override {
        std::lock_guard guard(mu_);
        paused_ = true;
    }
    void resume_writing() override {
        std::vector<Future<void>> drains;
        {
            std::lock_guard guard(mu_);
            paused_ = false;
            drains.swap(drain_waiters_);
        }
        for (auto& d : drains) {
            finish(d);
        }
    }

    /// asyncio's _drain_helper.
    Coro<void> drain_helper() {
        Future<void> f = detached_future<void>();
        {
            std::lock_guard guard(mu_);
            if (lost_) {
                throw ConnectionResetError(ECONNRESET, "Connection lost");
            }
            if (!paused_) {
                co_return;
            }
            drain_waiters_.push_back(f);
        }
        std::exception_ptr error;
        try {
            co_await f;
        } catch (...) {
            error = std::current_exception();
        }
        if (error) {
            std::lock_guard guard(mu_);
            std::erase(drain_waiters_, f);
        }
        if (error) {
            std::rethrow_exception(error);
        }
    }

    Future<void> closed() const { return closed_; }

private:
    static Coro<void> run_client(ClientConnected cb, StreamReader r, StreamWriter w,
                                 std::shared_ptr<Transport> t) {
        std::exception_ptr error;
        try {
            co_await cb(std::move(r), std::move(w));
        } catch (const CancelledError&) {
            error = std::current_exception();
        } catch (...) {
            // asyncio: an exception in client_connected_cb is reported and the connection closed.
            t->get_loop().call_exception_handler(
                {"Unhandled exception in client_connected_cb", std::current_exception(), {}, {}});
            t->close();
        }
        if (error) {
            t->close();
            std::rethrow_exception(error);
        }
    }

    StreamReader reader_;
    ClientConnected cb_;
    std::mutex mu_;
    bool paused_ = false;                     // guarded
    bool lost_ = false;                       // guarded
    std::exception_ptr lost_exc_;             // guarded
    std::vector<Future<void>> drain_waiters_; // guarded
    Future<void> closed_;
};

} // namespace eddy::detail

namespace eddy {

using detail::ReaderState;

StreamReader::StreamReader(std::size_t limit) : s_(std::make_shared<ReaderState>(limit)) {}

std::size_t StreamReader::limit() const {
    return s_->limit_;
}

void StreamReader::feed_data(std::string_view data) {
    if (data.empty()) {
        return;
    }
    std::optional<Future<void>> w;
    std::shared_ptr<Transport> pause;
    {
        std::lock_guard guard(s_->mu_);
        if (s_->eof_) {
            throw RuntimeError("feed_data after feed_eof");
        }
        s_->buffer_.append(data);
        ++s_->fed_;
        w = s_->take_waiter_locked();
        if (!s_->paused_ && s_->buffer_.size() > 2 * s_->limit_) {
            if ((pause = s_->transport_.lock())) {
                s_->paused_ = true;
            }
        }
    }
    if (w) {
        detail::finish(*w);
    }
    if (pause) {
        pause->pause_reading();
    }
}

void StreamReader::feed_eof() {
    std::optional<Future<void>> w;
    {
        std::lock_guard guard(s_->mu_);
        s_->eof_ = true;
        ++s_->fed_;
        w = s_->take_waiter_locked();
    }
    if (w) {
        detail::finish(*w);
    }
}

void StreamReader::set_exception(const std::exception_ptr& exc) {
    std::optional<Future<void>> w;
    {
        std::lock_guard guard(s_->mu_);
        s_->exc_ = exc;
        ++s_->fed_;
        w = s_->take_waiter_locked();
    }
    if (w) {
        detail::finish(*w, exc);
    }
}

bool StreamReader::at_eof() const {
    std::lock_guard guard(s_->mu_);
    return s_->eof_ && s_->buffer_.empty();
}

std::exception_ptr StreamReader::exception() const {
    std::lock_guard guard(s_->mu_);
    return s_->exc_;
}

namespace {
Coro<std::string> read_impl(std::shared_ptr<ReaderState> s, std::ptrdiff_t n) {
    if (n == 0) {
        co_return std::string();
    }
    if (n < 0) {
        // Until end of stream, in blocks of the limit (asyncio's loop of read(limit)).
        std::string all;
        for (;;) {
            std::string block =
                co_await StreamReader(s).read(static_cast<std::ptrdiff_t>(s->limit_));
            if (block.empty()) {
                break;
            }
            all += block;
        }
        co_return all;
    }
    for (;;) {
        std::uint64_t seen = 0;
        {
            std::lock_guard guard(s->mu_);
            s->rethrow_locked();
            if (!s->buffer_.empty() || s->eof_) {
                break;
            }
            seen = s->fed_;
        }
        co_await s->wait_for_data("read", seen);
    }
    std::string data;
    std::shared_ptr<Transport> resume;
    {
        std::lock_guard guard(s->mu_);
        const std::size_t take = std::min(s->buffer_.size(), static_cast<std::size_t>(n));
        data.assign(s->buffer_, 0, take);
        s->buffer_.erase(0, take);
        resume = s->maybe_resume_locked();
    }
    if (resume) {
        resume->resume_reading();
    }
    co_return data;
}
} // namespace

namespace {
Coro<std::string> readexactly_impl(std::shared_ptr<ReaderState> s, std::size_t n) {
    {
        std::lock_guard guard(s->mu_);
        s->rethrow_locked();
    }
    if (n == 0) {
        co_return std::string();
    }
    for (;;) {
        std::uint64_t seen = 0;
        {
            std::lock_guard guard(s->mu_);
            s->rethrow_locked();
            if (s->buffer_.size() >= n) {
                break;
            }
            if (s->eof_) {
                std::string partial = std::move(s->buffer_);
                s->buffer_.clear();
                throw IncompleteReadError(std::move(partial), n);
            }
            seen = s->fed_;
        }
        co_await s->wait_for_data("readexactly", seen);
    }
    std::string data;
    std::shared_ptr<Transport> resume;
    {
        std::lock_guard guard(s->mu_);
        data.assign(s->buffer_, 0, n);
        s->buffer_.erase(0, n);
        resume = s->maybe_resume_locked();
    }
    if (resume) {
        resume->resume_reading();
    }
    co_return data;
}
} // namespace

Coro<std::string> StreamReader::readuntil(std::string separator) {
    std::vector<std::string> seps;
    seps.push_back(std::move(separator));
    return readuntil(std::move(seps));
}

namespace {
Coro<std::string> readuntil_impl(std::shared_ptr<ReaderState> s,
                                 std::vector<std::string> separators) {
    if (separators.empty()) {
        throw ValueError("Separator should contain at least one element");
    }
    std::size_t min_len = separators.front().size();
    std::size_t max_len = min_len;
    for (const auto& sep : separators) {
        min_len = std::min(min_len, sep.size());
        max_len = std::max(max_len, sep.size());
    }
    if (min_len == 0) {
        throw ValueError("Separator should be at least one-byte string");
    }
    std::size_t offset = 0;
    std::size_t match_start = 0;
    std::size_t match_end = 0;
    for (;;) {
        bool found = false;
        std::uint64_t seen = 0;
        {
            std::lock_guard guard(s->mu_);
            seen = s->fed_;
            s->rethrow_locked();
            const std::size_t buflen = s->buffer_.size();
            if (buflen - std::min(offset, buflen) >= min_len) {
                for (const auto& sep : separators) {
                    const std::size_t i = s->buffer_.find(sep, offset);
                    if (i != std::string::npos && (!found || i + sep.size() < match_end)) {
                        found = true;
                        match_start = i;
                        match_end = i + sep.size();
                    }
                }
                if (!found) {
                    // Where the next search may start: a separator could straddle the end.
                    offset = buflen + 1 > max_len ? buflen + 1 - max_len : 0;
                    if (offset > s->limit_) {
                        throw LimitOverrunError(
                            "Separator is not found, and chunk exceed the limit", offset);
                    }
                }
            }
            if (!found && s->eof_) {
                std::string chunk = std::move(s->buffer_);
                s->buffer_.clear();
                throw IncompleteReadError(std::move(chunk), std::nullopt);
            }
        }
        if (found) {
            break;
        }
        co_await s->wait_for_data("readuntil", seen);
    }
    std::string chunk;
    std::shared_ptr<Transport> resume;
    {
        std::lock_guard guard(s->mu_);
        if (match_start > s->limit_) {
            throw LimitOverrunError("Separator is found, but chunk is longer than limit",
                                    match_start);
        }
        chunk.assign(s->buffer_, 0, match_end);
        s->buffer_.erase(0, match_end);
        resume = s->maybe_resume_locked();
    }
    if (resume) {
        resume->resume_reading();
    }
    co_return chunk;
}
} // namespace

namespace {
Coro<std::string> readline_impl(std::shared_ptr<ReaderState> s) {
    std::optional<std::string> line;
    std::string partial;
    bool incomplete = false;
    std::optional<LimitOverrunError> overrun;
    try {
        line.emplace(co_await StreamReader(s).readuntil("\n"));
    } catch (const IncompleteReadError& e) {
        incomplete = true;
        partial = e.partial();
    } catch (const LimitOverrunError& e) {
        overrun.emplace(e);
    }
    if (line) {
        co_return std::move(*line);
    }
    if (incomplete) {
        co_return partial;
    }
    std::shared_ptr<Transport> resume;
    {
        std::lock_guard guard(s->mu_);
        const std::size_t consumed = overrun->consumed();
        if (s->buffer_.compare(std::min(consumed, s->buffer_.size()), 1, "\n") == 0 &&
            consumed < s->buffer_.size()) {
            s->buffer_.erase(0, consumed + 1);
        } else {
            s->buffer_.clear();
        }
        resume = s->maybe_resume_locked();
    }
    if (resume) {
        resume->resume_reading();
    }
    throw ValueError(overrun->what());
}
} // namespace

// The members copy the shared state into the coroutine at once: a Coro is lazy, and the
// handle it was called on may be gone when it runs (`create_task(reader.read(10))`).
Coro<std::string> StreamReader::read(std::ptrdiff_t n) {
    return read_impl(s_, n);
}
Coro<std::string> StreamReader::readexactly(std::size_t n) {
    return readexactly_impl(s_, n);
}
Coro<std::string> StreamReader::readuntil(std::vector<std::string> separators) {
    return readuntil_impl(s_, std::move(separators));
}
Coro<std::string> StreamReader::readline() {
    return readline_impl(s_);
}

// --- StreamWriter ----------------------------------------------------------------------------

void StreamWriter::write(std::string_view data) {
    transport_->write(data);
}
void StreamWriter::writelines(const std::vector<std::string>& lines) {
    transport_->writelines(lines);
}
void StreamWriter::write_eof() {
    transport_->write_eof();
}
bool StreamWriter::can_write_eof() const {
    return transport_->can_write_eof();
}
void StreamWriter::close() {
    transport_->close();
}
bool StreamWriter::is_closing() const {
    return transport_->is_closing();
}
std::any StreamWriter::get_extra_info(std::string_view name) const {
    return transport_->get_extra_info(name);
}
Transport& StreamWriter::transport() const {
    return *transport_;
}

namespace {
Coro<void> drain_impl(std::shared_ptr<Transport> t, std::shared_ptr<detail::StreamProtocol> p,
                      StreamReader reader) {
    if (std::exception_ptr e = reader.exception()) {
        std::rethrow_exception(e);
    }
    if (t->is_closing()) {
        co_await yield_now(); // let connection_lost run, as asyncio does with sleep(0)
    }
    co_await p->drain_helper();
}
Coro<void> wait_closed_impl(Future<void> closed) {
    co_await closed;
}
} // namespace

Coro<void> StreamWriter::drain() {
    return drain_impl(transport_, protocol_, reader_);
}

Coro<void> StreamWriter::wait_closed() {
    return wait_closed_impl(protocol_->closed());
}

// --- opening -----------------------------------------------------------------------------------

namespace {
std::pair<StreamReader, StreamWriter> wrap(Socket sock, std::size_t limit) {
    StreamReader reader(limit);
    auto proto = std::make_shared<detail::StreamProtocol>(reader, nullptr);
    std::shared_ptr<Transport> t = detail::make_transport(std::move(sock), proto);
    {
        std::lock_guard guard(reader.state()->mu_);
        reader.state()->transport_ = t;
    }
    return {reader, StreamWriter(t, proto, reader)};
}

ProtocolFactory stream_factory(ClientConnected cb, std::size_t limit) {
    return [cb = std::move(cb), limit]() -> std::shared_ptr<Protocol> {
        return std::make_shared<detail::StreamProtocol>(StreamReader(limit), cb);
    };
}
} // namespace

Coro<std::pair<StreamReader, StreamWriter>> open_connection(std::string host, int port,
                                                            StreamOptions options) {
    Socket s = co_await detail::connect_tcp(std::move(host), port, options.connection);
    co_return wrap(std::move(s), options.limit);
}

Coro<std::pair<StreamReader, StreamWriter>> open_unix_connection(std::string path,
                                                                 StreamOptions options) {
    Socket s = Socket::create(AF_UNIX, SOCK_STREAM, 0);
    co_await get_running_loop().sock_connect(s, SockAddr::unix_path(path));
    co_return wrap(std::move(s), options.limit);
}

Coro<Server> start_server(ClientConnected cb, std::string host, int port,
                          StreamServerOptions options) {
    return detail::create_server(stream_factory(std::move(cb), options.limit), std::move(host),
                                 port, options.server);
}

Coro<Server> start_unix_server(ClientConnected cb, std::string path, StreamServerOptions options) {
    return detail::create_unix_server(stream_factory(std::move(cb), options.limit), std::move(path),
                                      options.server);
}

} // namespace eddy
