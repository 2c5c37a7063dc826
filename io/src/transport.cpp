#include <eddy/io/transport.hpp>

#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <mutex>
#include <unordered_set>

#include <eddy/io/detail/socket_core.hpp>
#include <eddy/scheduler/compose.hpp>
#include <eddy/scheduler/detail/runtime_core.hpp>
#include <eddy/scheduler/detail/wait_list.hpp>
#include <eddy/scheduler/sleep.hpp>

namespace eddy::detail {

namespace {
/// Drops `what` on `loop`'s thread, after everything already queued there: an object that
/// may still be queued as a Runnable (a transport, a listener) is freed only after that run.
class DropLater final : public Runnable {
public:
    explicit DropLater(std::shared_ptr<void> what) noexcept : what_(std::move(what)) {}
    void run() override { delete this; }
    void discard() noexcept override { delete this; }
    [[nodiscard]] std::string describe() const override { return "deferred release"; }

private:
    ~DropLater() = default;
    std::shared_ptr<void> what_;
};

void drop_later(LoopCore* loop, std::shared_ptr<void> what) noexcept {
    auto* d = new DropLater(std::move(what)); // NOLINT(bugprone-unhandled-exception-at-new):
                                              // noexcept: out of memory ends the process
    if (!loop->schedule(d)) {
        d->discard(); // a closed loop runs nothing any more: drop it now
    }
}
} // namespace

// --- TransportImpl ---------------------------------------------------------------------------
//
// State machine (all under mu_ unless said otherwise):
//   open -> closing (close(): flush, then lose) -> lost (connection_lost delivered)
//   open/closing -> lost at once on abort() or a fatal error.
// Reads and protocol callbacks run on the loop (loop_), in `on_ready`, a Runnable the socket
// schedules after readiness. `self_` keeps the transport alive until connection_lost has run.

class TransportImpl final : public Runnable, public std::enable_shared_from_this<TransportImpl> {
public:
    TransportImpl(Socket sock, std::shared_ptr<Protocol> protocol, LoopCore* loop)
        : sock_(std::move(sock)), protocol_(std::move(protocol)), loop_(loop), handle_(this) {
        loop_->add_ref();
    }
    TransportImpl(const TransportImpl&) = delete;
    TransportImpl& operator=(const TransportImpl&) = delete;
    ~TransportImpl() { loop_->release(); }

    /// Registers the socket and schedules connection_made (and the first read).
    void start(const std::shared_ptr<ServerState>& server);

    // Runnable: the readiness callback (and the deferred calls below).
    void run() override;
    void discard() noexcept override {
        std::shared_ptr<TransportImpl> last;
        std::lock_guard guard(mu_);
        last = std::move(self_); // the loop closed with us queued: nothing will run us again
    }
    [[nodiscard]] std::string describe() const override { return "transport"; }

    void write(std::string_view data);
    void write_eof();
    void close();
    void abort(std::exception_ptr exc = nullptr);
    [[nodiscard]] bool is_closing() const {
        std::lock_guard guard(mu_);
        return closing_ || lost_;
    }
    void pause_reading();
    void resume_reading();
    [[nodiscard]] bool is_reading() const {
        std::lock_guard guard(mu_);
        return reading_ && !closing_ && !lost_;
    }
    [[nodiscard]] std::size_t buffer_size() const {
        std::lock_guard guard(mu_);
        return wbuf_.size() - wpos_;
    }
    void set_limits(std::optional<std::size_t> high, std::optional<std::size_t> low);
    [[nodiscard]] std::pair<std::size_t, std::size_t> limits() const {
        std::lock_guard guard(mu_);
        return {high_, low_};
    }
    [[nodiscard]] std::shared_ptr<Protocol> protocol() const {
        std::lock_guard guard(mu_);
        return protocol_;
    }
    void set_protocol(std::shared_ptr<Protocol> p) {
        std::lock_guard guard(mu_);
        protocol_ = std::move(p);
    }
    [[nodiscard]] LoopCore* loop() const noexcept { return loop_; }
    [[nodiscard]] int fd() const noexcept { return fd_; }
    [[nodiscard]] std::optional<SockAddr> peer() const { return peer_; }
    [[nodiscard]] std::optional<SockAddr> local() const { return local_; }
    Transport& handle() noexcept { return handle_; }

private:
    enum Pending : std::uint32_t { p_made = 1, p_lost = 2, p_read = 4, p_resume_writing = 8 };

    /// Queues this transport's Runnable on its loop with `what` to do (any thread).
    void kick_locked(std::uint32_t what);
    /// `hangup`: the peer closed or reset (EPOLLRDHUP/HUP/ERR): read on to the end.
    void do_read(bool hangup);
    void flush_locked(std::exception_ptr& fatal, bool& resume);
    void lose_locked(std::exception_ptr exc);

    mutable std::mutex mu_;
    Socket sock_; // registered with loop_ by start()
    SocketCore* core_ = nullptr;
    int fd_ = -1;
    std::shared_ptr<Protocol> protocol_; // guarded
    LoopCore* loop_;
    Transport handle_;
    std::shared_ptr<TransportImpl> self_;  // guarded: alive until connection_lost ran
    std::weak_ptr<ServerState> server_;    // the server that accepted it, if any
    std::optional<SockAddr> peer_, local_; // fixed at start

    // guarded by mu_
    std::string wbuf_;
    std::size_t wpos_ = 0;
    std::size_t high_ = std::size_t{64} * 1024;
    std::size_t low_ = std::size_t{16} * 1024;
    bool protocol_paused_ = false;
    bool eof_requested_ = false;
    bool eof_written_ = false;
    bool reading_ = true;
    bool closing_ = false;
    bool lost_ = false; // connection_lost is scheduled (or ran)
    std::exception_ptr lost_exc_;
    std::uint32_t pending_ = 0; // deferred work for run()
    std::size_t dropped_writes_ = 0;
};

} // namespace eddy::detail

namespace eddy::detail {

class ServerState : public std::enable_shared_from_this<ServerState> {
public:
    ServerState(ProtocolFactory factory, LoopCore* loop)
        : factory_(std::move(factory)), loop_(loop) {
        loop_->add_ref();
    }
    ServerState(const ServerState&) = delete;
    ServerState& operator=(const ServerState&) = delete;
    ~ServerState() {
        for (auto& l : listeners_) {
            l->stop();
        }
        // A listener may still be queued on the loop (stop() queues it to close its socket
        // there): free them after that run.
        auto listeners =
            std::make_shared<std::vector<std::unique_ptr<Listener>>>(std::move(listeners_));
        drop_later(loop_, std::move(listeners));
        loop_->release();
    }

    /// One listening socket. Its readiness runs `run()` on the loop, which accepts. The
    /// socket is used and closed only on the loop's thread; stop() (any thread) asks for it.
    class Listener final : public Runnable {
    public:
        Listener(std::weak_ptr<ServerState> s, LoopCore* loop, Socket sock)
            : server_(std::move(s)), loop_(loop), sock_(std::move(sock)) {
            loop_->add_ref();
        }
        Listener(const Listener&) = delete;
        Listener& operator=(const Listener&) = delete;
        ~Listener() {
            sock_.close();
            loop_->release();
        }
        void start() {
            core_ = sock_.core(loop_);
            core_->set_callback(this);
            kick();
        }
        /// Runs `run()` soon: to accept what is pending already, or to close after stop().
        void kick() noexcept {
            if (core_ != nullptr) {
                (void)core_->kick(EPOLLIN);
            }
        }
        void stop() noexcept {
            if (stopped_.exchange(true, std::memory_order_acq_rel)) {
                return;
            }
            if (core_ == nullptr) {
                return; // never started: the socket closes with the Listener
            }
            kick(); // run() closes the socket on the loop's thread
        }
        void run() override;
        void discard() noexcept override {}
        [[nodiscard]] std::string describe() const override { return "server accept"; }

    private:
        std::weak_ptr<ServerState> server_;
        LoopCore* loop_; // a reference of our own
        Socket sock_;
        SocketCore* core_ = nullptr; // fixed at start()
        /// Set by stop() (any thread, acq_rel); read by run() on the loop (acquire).
        std::atomic<bool> stopped_{false};
        bool backing_off_ = false;    // loop thread only
        std::size_t next_worker_ = 0; // loop thread only
    };

    ProtocolFactory factory_;
    LoopCore* loop_;
    bool spread_ = true; // fixed at creation: spread accepted connections over the workers
    std::vector<ServerSocket> sockets_;                // what sockets() shows (fixed at creation)
    std::vector<std::unique_ptr<Listener>> listeners_; // one per socket (fixed at creation)
    mutable std::mutex mu_;
    std::unordered_set<TransportImpl*> clients_;             // guarded
    std::vector<std::weak_ptr<TransportImpl>> clients_weak_; // guarded, parallel for close_clients
    bool serving_ = false;                                   // guarded
    bool closed_ = false;                                    // guarded
    std::vector<Future<void>> closed_waiters_;               // guarded
    std::vector<Future<void>> serve_waiters_;                // guarded

    void add_client(const std::shared_ptr<TransportImpl>& t) {
        std::lock_guard guard(mu_);
        clients_.insert(t.get());
        clients_weak_.push_back(t);
    }
    void remove_client(TransportImpl* t) {
        std::vector<Future<void>> wake;
        {
            std::lock_guard guard(mu_);
            clients_.erase(t);
            std::erase_if(clients_weak_, [t](const std::weak_ptr<TransportImpl>& w) {
                auto p = w.lock();
                return !p || p.get() == t;
            });
            if (closed_ && clients_.empty()) {
                wake.swap(closed_waiters_);
            }
        }
        for (auto& f : wake) {
            (void)FutureAccess<void>::state(f)->try_finish([] {});
        }
    }
    std::vector<std::shared_ptr<TransportImpl>> clients() {
        std::lock_guard guard(mu_);
        std::vector<std::shared_ptr<TransportImpl>> out;
        for (auto& w : clients_weak_) {
            if (auto p = w.lock()) {
                out.push_back(std::move(p));
            }
        }
        return out;
    }
    void start_serving() {
        {
            std::lock_guard guard(mu_);
            if (serving_ || closed_) {
                return;
            }
            serving_ = true;
        }
        for (auto& l : listeners_) {
            l->start();
        }
    }
    void close() {
        std::vector<Future<void>> wake;
        std::vector<Future<void>> serve;
        {
            std::lock_guard guard(mu_);
            if (closed_) {
                return;
            }
            closed_ = true;
            serving_ = false;
            serve.swap(serve_waiters_);
            if (clients_.empty()) {
                wake.swap(closed_waiters_);
            }
        }
        for (auto& l : listeners_) {
            l->stop();
        }
        for (auto& f : serve) {
            (void)FutureAccess<void>::state(f)->try_finish([] {});
        }
        for (auto& f : wake) {
            (void)FutureAccess<void>::state(f)->try_finish([] {});
        }
    }
};

// --- TransportImpl ---------------------------------------------------------------------------

void TransportImpl::start(const std::shared_ptr<ServerState>& server) {
    fd_ = sock_.fileno();
    try {
        peer_ = sock_.getpeername();
    } catch (const OSError&) { // NOLINT(bugprone-empty-catch): not connected (yet): no peer
    }
    try {
        local_ = sock_.getsockname();
    } catch (const OSError&) { // NOLINT(bugprone-empty-catch): no local address
    }
    if (peer_ && (peer_->family() == AF_INET || peer_->family() == AF_INET6)) {
        try {
            sock_.setsockopt(IPPROTO_TCP, TCP_NODELAY, 1); // asyncio's default for TCP
        } catch (const OSError&) { // NOLINT(bugprone-empty-catch): not TCP after all
        }
    }
    server_ = server;
    core_ = sock_.core(loop_);
    std::lock_guard guard(mu_);
    self_ = shared_from_this();
    core_->set_callback(this);
    kick_locked(p_made | p_read);
}

void TransportImpl::kick_locked(std::uint32_t what) {
    // The socket owns the "queued" flag (readiness schedules the same Runnable): record what
    // to do, then ask it to schedule us. run() takes the socket's events before reading
    // pending_, so a kick racing with a run is either seen by it or schedules another.
    pending_ |= what;
    if (core_ == nullptr || !core_->kick(0)) {
        self_.reset(); // the loop is closed: nobody will ever run us
    }
}

void TransportImpl::run() {
    std::shared_ptr<TransportImpl> keep = shared_from_this();
    const std::uint32_t events = core_ != nullptr ? core_->take_events() : 0U;
    std::uint32_t what = 0;
    {
        std::lock_guard guard(mu_);
        what = std::exchange(pending_, 0U);
    }
    std::shared_ptr<Protocol> proto = protocol();
    if ((what & p_made) != 0 && proto) {
        proto->connection_made(handle_);
    }
    // Writability: flush what was buffered.
    if ((events & (EPOLLOUT | EPOLLERR | EPOLLHUP)) != 0) {
        std::exception_ptr fatal;
        bool resume = false;
        {
            std::lock_guard guard(mu_);
            flush_locked(fatal, resume);
        }
        if (resume && proto) {
            proto->resume_writing();
        }
        if (fatal) {
            abort(fatal);
        }
    }
    if ((what & p_resume_writing) != 0 && proto) {
        proto->resume_writing();
    }
    if ((what & p_read) != 0 || (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) != 0) {
        do_read((events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) != 0);
    }
    std::exception_ptr lost_exc;
    bool deliver_lost = false;
    {
        std::lock_guard guard(mu_);
        if (lost_ && self_ && (what & p_lost) != 0) {
            deliver_lost = true;
            lost_exc = lost_exc_;
        }
    }
    if (deliver_lost) {
        sock_.close();
        if (proto) {
            proto->connection_lost(lost_exc);
        }
        if (auto server = server_.lock()) {
            server->remove_client(this);
        }
        std::shared_ptr<TransportImpl> last;
        {
            std::lock_guard guard(mu_);
            protocol_.reset(); // break protocol -> transport cycles
            last = std::move(self_);
        }
        // A readiness run may have been queued meanwhile: drop our reference after it.
        drop_later(loop_, std::move(last));
    }
}

void TransportImpl::do_read(bool hangup) {
    // One recv per run, as asyncio's selector loop reads once per readiness: a connection
    // that always has data (a fast ping-pong peer) then takes its turn like the others. A recv
    // that filled the whole buffer may have left more behind, and no new edge will say so:
    // queue another run, behind what is ready now. A shorter one drained the data; but when
    // the peer's FIN or RST came in the same edge, the next recv reports it (0 or an error)
    // and no edge will come for it either: then read on.
    constexpr std::size_t chunk = std::size_t{64} * 1024;
    thread_local std::string buf(chunk, '\0');
    for (;;) {
        {
            std::lock_guard guard(mu_);
            if (!reading_ || lost_ || closing_) {
                return;
            }
        }
        const ssize_t n = ::recv(fd_, buf.data(), buf.size(), 0);
        if (n > 0) {
            const bool full = static_cast<std::size_t>(n) == buf.size();
            if (full) {
                std::lock_guard guard(mu_);
                kick_locked(p_read);
            }
            if (auto p = protocol()) {
                p->data_received(std::string_view(buf.data(), static_cast<std::size_t>(n)));
            }
            if (full || !hangup) {
                return;
            }
            continue;
        }
        if (n == 0) {
            bool keep_open = false;
            {
                std::lock_guard guard(mu_);
                reading_ = false; // nothing more will come
            }
            if (auto p = protocol()) {
                keep_open = p->eof_received();
            }
            if (!keep_open) {
                close();
            }
            return;
        }
        if (errno == EINTR) {
            continue;
        }
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
            return;
        }
        abort(os_error(errno, "recv"));
        return;
    }
}

void TransportImpl::flush_locked(std::exception_ptr& fatal, bool& resume) {
    while (wpos_ < wbuf_.size()) {
        const ssize_t n = ::send(fd_, wbuf_.data() + wpos_, wbuf_.size() - wpos_, MSG_NOSIGNAL);
        if (n >= 0) {
            wpos_ += static_cast<std::size_t>(n);
            continue;
        }
        if (errno == EINTR) {
            continue;
        }
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
            break;
        }
        fatal = os_error(errno, "send");
        return;
    }
    if (wpos_ == wbuf_.size()) {
        wbuf_.clear();
        wpos_ = 0;
    } else if (wpos_ > std::size_t{64} * 1024 && wpos_ * 2 > wbuf_.size()) {
        wbuf_.erase(0, wpos_); // compact now and then, not per send
        wpos_ = 0;
    }
    const std::size_t size = wbuf_.size() - wpos_;
    if (protocol_paused_ && size <= low_) {
        protocol_paused_ = false;
        resume = true;
    }
    if (size == 0) {
        if (eof_requested_ && !eof_written_) {
            eof_written_ = true;
            (void)::shutdown(fd_, SHUT_WR);
        }
        if (closing_ && !lost_) {
            lose_locked(nullptr);
        }
    }
}

void TransportImpl::write(std::string_view data) {
    bool pause = false;
    std::exception_ptr fatal;
    {
        std::lock_guard guard(mu_);
        if (eof_requested_) {
            throw RuntimeError("Cannot call write() after write_eof()");
        }
        if (data.empty()) {
            return;
        }
        if (lost_ || closing_ || core_ == nullptr) {
            ++dropped_writes_; // asyncio logs after a few; the data goes nowhere either way
            return;
        }
        if (wpos_ == wbuf_.size()) {
            // Nothing buffered: straight to the socket.
            while (!data.empty()) {
                const ssize_t n = ::send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
                if (n >= 0) {
                    data.remove_prefix(static_cast<std::size_t>(n));
                    continue;
                }
                if (errno == EINTR) {
                    continue;
                }
                if (errno != EAGAIN && errno != EWOULDBLOCK) {
                    fatal = os_error(errno, "send");
                }
                break;
            }
        }
        if (!fatal && !data.empty()) {
            wbuf_.append(data.data(), data.size());
            if (!protocol_paused_ && wbuf_.size() - wpos_ > high_) {
                protocol_paused_ = true;
                pause = true;
            }
        }
    }
    if (fatal) {
        abort(fatal);
        return;
    }
    if (pause) {
        if (auto p = protocol()) {
            p->pause_writing();
        }
    }
}

void TransportImpl::write_eof() {
    std::lock_guard guard(mu_);
    if (closing_ || lost_ || eof_requested_) {
        return;
    }
    eof_requested_ = true;
    if (wpos_ == wbuf_.size()) {
        eof_written_ = true;
        (void)::shutdown(fd_, SHUT_WR);
    }
}

void TransportImpl::close() {
    std::lock_guard guard(mu_);
    if (closing_ || lost_) {
        return;
    }
    closing_ = true;
    if (wpos_ == wbuf_.size()) {
        lose_locked(nullptr);
    }
}

void TransportImpl::abort(std::exception_ptr exc) {
    std::lock_guard guard(mu_);
    if (lost_) {
        return;
    }
    closing_ = true;
    wbuf_.clear();
    wpos_ = 0;
    if (!exc) {
        // asyncio's abort: the peer sees a reset, not an orderly end.
        linger l{1, 0};
        (void)::setsockopt(fd_, SOL_SOCKET, SO_LINGER, &l, sizeof l);
    }
    lose_locked(std::move(exc));
}

void TransportImpl::lose_locked(std::exception_ptr exc) {
    lost_ = true;
    lost_exc_ = std::move(exc);
    kick_locked(p_lost);
}

void TransportImpl::pause_reading() {
    std::lock_guard guard(mu_);
    reading_ = false;
}

void TransportImpl::resume_reading() {
    std::lock_guard guard(mu_);
    if (reading_ || closing_ || lost_) {
        return;
    }
    reading_ = true;
    kick_locked(p_read); // data may be waiting with no edge to come
}

void TransportImpl::set_limits(std::optional<std::size_t> high, std::optional<std::size_t> low) {
    bool pause = false;
    bool resume = false;
    {
        std::lock_guard guard(mu_);
        std::size_t h = high ? *high : (low ? 4 * *low : std::size_t{64} * 1024);
        std::size_t l = low ? *low : h / 4;
        if (h < l) {
            throw ValueError("high must be >= low");
        }
        high_ = h;
        low_ = l;
        const std::size_t size = wbuf_.size() - wpos_;
        if (!protocol_paused_ && size > high_) {
            protocol_paused_ = pause = true;
        } else if (protocol_paused_ && size <= low_) {
            protocol_paused_ = false;
            resume = true;
        }
    }
    if (auto p = protocol()) {
        if (pause) {
            p->pause_writing();
        } else if (resume) {
            p->resume_writing();
        }
    }
}

// --- ServerState::Listener -------------------------------------------------------------------

void ServerState::Listener::run() {
    if (core_ == nullptr) {
        return;
    }
    (void)core_->take_events();
    std::shared_ptr<ServerState> server = server_.lock();
    if (stopped_.load(std::memory_order_acquire) || !server) {
        sock_.close(); // here, on the loop's thread: no accept can be using it
        return;
    }
    if (backing_off_) {
        return;
    }
    // Accept a bounded batch per run (asyncio's backlog-sized batches), then yield the loop.
    for (int i = 0; i < 128; ++i) {
        SockAddr peer;
        socklen_t len = SockAddr::capacity();
        const int fd = ::accept4(sock_.fileno(), peer.data(), &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED) {
                continue;
            }
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                return;
            }
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
                // Out of descriptors: say so, stop accepting for a second (asyncio's
                // ACCEPT_RETRY_DELAY), keep serving the connections we have.
                loop_->report({"socket.accept() out of system resource",
                               os_error(errno, "accept"),
                               {},
                               "server accept"});
                backing_off_ = true;
                EventLoop loop(loop_);
                std::weak_ptr<ServerState> weak = server;
                loop.call_later(1.0, [weak, this] {
                    if (auto s = weak.lock()) {
                        backing_off_ = false;
                        if (!stopped_.load(std::memory_order_acquire)) {
                            kick();
                        }
                    }
                });
                return;
            }
            loop_->report({"Error on accept", os_error(errno, "accept"), {}, "server accept"});
            return;
        }
        Socket conn(fd);
        std::shared_ptr<Protocol> proto;
        try {
            proto = server->factory_();
        } catch (...) {
            loop_->report(
                {"Error in the protocol factory", std::current_exception(), {}, "server accept"});
            continue;
        }
        // Spread connections over the runtime's workers, round-robin: each transport (and the
        // handler Task start_server makes for it) starts on its worker's loop, registered
        // with that worker's poller. A standalone loop keeps them all.
        LoopCore* target = loop_;
        if (Worker* w = target->worker(); w != nullptr && server->spread_) {
            RuntimeCore& rt = w->runtime();
            target = rt.workers_[next_worker_++ % rt.size()]->core_;
        }
        auto impl = std::make_shared<TransportImpl>(std::move(conn), std::move(proto), target);
        server->add_client(impl);
        impl->start(server);
    }
    kick(); // more may be pending: come back after the others had a turn
}

// --- creating connections and servers --------------------------------------------------------

std::shared_ptr<Transport> shared_transport(Transport& t) {
    std::shared_ptr<TransportImpl> impl = t.impl()->shared_from_this();
    return {impl, &impl->handle()};
}

std::shared_ptr<Transport> make_transport(Socket sock, std::shared_ptr<Protocol> protocol) {
    auto impl = std::make_shared<TransportImpl>(std::move(sock), std::move(protocol),
                                                get_running_loop().core());
    impl->start(nullptr);
    return {impl, &impl->handle()};
}

namespace {

Coro<Socket> connect_one(SockAddr addr, std::optional<SockAddr> local) {
    Socket s = Socket::create(addr.family(), SOCK_STREAM, 0);
    if (local) {
        s.setsockopt(SOL_SOCKET, SO_REUSEADDR, 1);
        s.bind(*local);
    }
    co_await get_running_loop().sock_connect(s, addr);
    co_return s;
}

} // namespace

Coro<Socket> connect_tcp(std::string host, int port, ConnectionOptions options) {
    EventLoop& loop = get_running_loop();
    AddrInfoHints hints{options.family, SOCK_STREAM, 0, 0};
    std::vector<AddrInfo> infos = co_await loop.getaddrinfo(host, std::to_string(port), hints);
    if (infos.empty()) {
        throw OSError(0, "getaddrinfo returned no addresses for " + host);
    }
    if (!options.happy_eyeballs_delay || infos.size() == 1) {
        std::exception_ptr last;
        for (const AddrInfo& ai : infos) {
            std::optional<Socket> s;
            try {
                s.emplace(co_await connect_one(ai.addr, options.local_addr));
            } catch (const CancelledError&) {
                throw;
            } catch (...) {
                last = std::current_exception();
            }
            if (s) {
                co_return std::move(*s);
            }
        }
        std::rethrow_exception(last);
    }
    // Happy eyeballs (RFC 8305, as asyncio staggers): start the next attempt every `delay`
    // while earlier ones are pending; the first to connect wins, the others are cancelled.
    std::vector<Task<Socket>> attempts;
    std::exception_ptr last;
    std::optional<Socket> winner;
    const auto delay = std::chrono::duration<double>(*options.happy_eyeballs_delay);
    for (std::size_t i = 0; i < infos.size() && !winner; ++i) {
        attempts.push_back(loop.create_task(connect_one(infos[i].addr, options.local_addr)));
        std::vector<Task<Socket>> pending;
        for (auto& t : attempts) {
            if (!t.done()) {
                pending.push_back(t);
            }
        }
        const bool last_one = i + 1 == infos.size();
        while (!pending.empty() && !winner) {
            WaitOptions wo;
            wo.return_when = FIRST_COMPLETED;
            if (!last_one) {
                wo.timeout = delay;
            }
            auto res = co_await eddy::wait(pending, wo);
            for (auto& t : res.done) {
                if (!t.cancelled() && !t.exception() && !winner) {
                    winner.emplace(std::move(t.result()));
                } else if (!t.cancelled() && t.exception()) {
                    last = t.exception();
                }
            }
            pending = std::move(res.pending);
            if (!last_one && res.done.empty()) {
                break; // the delay passed: start the next address too
            }
        }
    }
    for (auto& t : attempts) {
        t.cancel();
    }
    if (winner) {
        co_return std::move(*winner);
    }
    for (auto& t : attempts) {
        if (!t.done()) {
            continue;
        }
        if (!t.cancelled() && t.exception()) {
            last = t.exception();
        }
    }
    if (last) {
        std::rethrow_exception(last);
    }
    throw OSError(ETIMEDOUT, "connect " + host);
}

Coro<std::pair<std::shared_ptr<Transport>, std::shared_ptr<Protocol>>>
create_connection(ProtocolFactory factory, std::string host, int port, ConnectionOptions options) {
    Socket s = co_await connect_tcp(std::move(host), port, options);
    std::shared_ptr<Protocol> proto = factory();
    std::shared_ptr<Transport> t = make_transport(std::move(s), proto);
    co_return std::pair(std::move(t), std::move(proto));
}

Coro<std::pair<std::shared_ptr<Transport>, std::shared_ptr<Protocol>>>
create_unix_connection(ProtocolFactory factory, std::string path) {
    Socket s = Socket::create(AF_UNIX, SOCK_STREAM, 0);
    co_await get_running_loop().sock_connect(s, SockAddr::unix_path(path));
    std::shared_ptr<Protocol> proto = factory();
    std::shared_ptr<Transport> t = make_transport(std::move(s), proto);
    co_return std::pair(std::move(t), std::move(proto));
}

namespace {
Server finish_server(const std::shared_ptr<ServerState>& state, std::vector<Socket> socks,
                     const ServerOptions& options) {
    for (Socket& s : socks) {
        s.listen(options.backlog);
        state->sockets_.emplace_back(s.fileno(), s.getsockname());
        state->listeners_.push_back(
            std::make_unique<ServerState::Listener>(state, state->loop_, std::move(s)));
    }
    if (options.start_serving) {
        state->start_serving();
    }
    return Server(state);
}
} // namespace

Coro<Server> create_server(ProtocolFactory factory, std::string host, int port,
                           ServerOptions options) {
    EventLoop& loop = get_running_loop();
    AddrInfoHints hints{options.family, SOCK_STREAM, 0, AI_PASSIVE};
    std::vector<AddrInfo> infos = co_await loop.getaddrinfo(host, std::to_string(port), hints);
    std::vector<Socket> socks;
    for (const AddrInfo& ai : infos) {
        Socket s = Socket::create(ai.family, SOCK_STREAM, 0);
        if (options.reuse_address) {
            s.setsockopt(SOL_SOCKET, SO_REUSEADDR, 1);
        }
        if (options.reuse_port) {
            s.setsockopt(SOL_SOCKET, SO_REUSEPORT, 1);
        }
        if (ai.family == AF_INET6) {
            s.setsockopt(IPPROTO_IPV6, IPV6_V6ONLY, 1); // asyncio: one socket per family
        }
        s.bind(ai.addr);
        socks.push_back(std::move(s));
    }
    auto state = std::make_shared<ServerState>(std::move(factory), get_running_loop().core());
    co_return finish_server(state, std::move(socks), options);
}

Coro<Server> create_unix_server(ProtocolFactory factory, std::string path, ServerOptions options) {
    Socket s = Socket::create(AF_UNIX, SOCK_STREAM, 0);
    s.bind(SockAddr::unix_path(path));
    std::vector<Socket> socks;
    socks.push_back(std::move(s));
    auto state = std::make_shared<ServerState>(std::move(factory), get_running_loop().core());
    co_return finish_server(state, std::move(socks), options);
}

} // namespace eddy::detail

// --- Transport and Server handles -------------------------------------------------------------

namespace eddy {

void Transport::write(std::string_view data) {
    impl_->write(data);
}
void Transport::writelines(const std::vector<std::string>& lines) {
    std::string all;
    for (const auto& l : lines) {
        all += l;
    }
    impl_->write(all);
}
void Transport::write_eof() {
    impl_->write_eof();
}
void Transport::close() {
    impl_->close();
}
void Transport::abort() {
    impl_->abort();
}
bool Transport::is_closing() const {
    return impl_->is_closing();
}
void Transport::pause_reading() {
    impl_->pause_reading();
}
void Transport::resume_reading() {
    impl_->resume_reading();
}
bool Transport::is_reading() const {
    return impl_->is_reading();
}
std::size_t Transport::get_write_buffer_size() const {
    return impl_->buffer_size();
}
void Transport::set_write_buffer_limits(std::optional<std::size_t> high,
                                        std::optional<std::size_t> low) {
    impl_->set_limits(high, low);
}
std::pair<std::size_t, std::size_t> Transport::get_write_buffer_limits() const {
    return impl_->limits();
}
std::any Transport::get_extra_info(std::string_view name) const {
    if (name == "peername") {
        if (auto p = impl_->peer()) {
            return *p;
        }
    } else if (name == "sockname") {
        if (auto l = impl_->local()) {
            return *l;
        }
    } else if (name == "socket") {
        return impl_->fd();
    }
    return {};
}
std::optional<SockAddr> Transport::peername() const {
    return impl_->peer();
}
std::optional<SockAddr> Transport::sockname() const {
    return impl_->local();
}
std::shared_ptr<Protocol> Transport::get_protocol() const {
    return impl_->protocol();
}
void Transport::set_protocol(std::shared_ptr<Protocol> protocol) {
    impl_->set_protocol(std::move(protocol));
}
EventLoop Transport::get_loop() const {
    return EventLoop(impl_->loop());
}

const std::vector<ServerSocket>& Server::sockets() const {
    static const std::vector<ServerSocket> none;
    if (!s_) {
        return none;
    }
    std::lock_guard guard(s_->mu_);
    return s_->closed_ ? none : s_->sockets_; // asyncio: no sockets once closed
}

bool Server::is_serving() const {
    std::lock_guard guard(s_->mu_);
    return s_->serving_;
}

Coro<void> Server::start_serving() {
    s_->start_serving();
    co_return;
}

namespace {
Coro<void> serve_forever_impl(std::shared_ptr<detail::ServerState> s) {
    s->start_serving();
    Future<void> done = detail::detached_future<void>();
    {
        std::lock_guard guard(s->mu_);
        if (s->closed_) {
            throw RuntimeError("server is closed");
        }
        s->serve_waiters_.push_back(done);
    }
    bool cancelled = false;
    try {
        co_await done;
    } catch (const CancelledError&) {
        cancelled = true;
    }
    if (cancelled) {
        // asyncio: cancelling serve_forever closes the server.
        s->close();
        throw CancelledError();
    }
}
} // namespace

Coro<void> Server::serve_forever() {
    return serve_forever_impl(s_);
}

void Server::close() {
    s_->close();
}

namespace {
Coro<void> wait_closed_impl(std::shared_ptr<detail::ServerState> s) {
    Future<void> done = detail::detached_future<void>();
    {
        std::lock_guard guard(s->mu_);
        if (s->closed_ && s->clients_.empty()) {
            co_return;
        }
        s->closed_waiters_.push_back(done);
    }
    co_await done;
}
} // namespace

Coro<void> Server::wait_closed() {
    return wait_closed_impl(s_);
}

void Server::close_clients() {
    for (auto& c : s_->clients()) {
        c->close();
    }
}

void Server::abort_clients() {
    for (auto& c : s_->clients()) {
        c->abort();
    }
}

EventLoop Server::get_loop() const {
    return EventLoop(s_->loop_);
}

} // namespace eddy
