#include <eddy/io/socket.hpp>

#include <fcntl.h>
#include <netdb.h>
#include <sys/epoll.h>
#include <unistd.h>

#include <cerrno>
#include <memory>
#include <unordered_map>
#include <utility>

#include <eddy/io/detail/socket_core.hpp>
#include <eddy/scheduler/event_loop.hpp>
#include <eddy/scheduler/executor.hpp>

namespace eddy {

// --- Socket ----------------------------------------------------------------------------------

namespace {
void make_nonblocking(int fd) {
    const int flags = ::fcntl(fd, F_GETFL);
    if (flags < 0 || ::fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0) {
        throw_os_error(errno, "fcntl(O_NONBLOCK)");
    }
    (void)::fcntl(fd, F_SETFD, FD_CLOEXEC);
}
} // namespace

Socket::Socket(int fd) : fd_(fd) {
    if (fd_ >= 0) {
        make_nonblocking(fd_);
    }
}

Socket Socket::create(int family, int type, int protocol) {
    const int fd = ::socket(family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, protocol);
    if (fd < 0) {
        throw_os_error(errno, "socket");
    }
    Socket s;
    s.fd_ = fd;
    return s;
}

Socket::Socket(Socket&& o) noexcept
    : fd_(std::exchange(o.fd_, -1)), core_(std::exchange(o.core_, nullptr)) {}

Socket& Socket::operator=(Socket&& o) noexcept {
    if (this != &o) {
        close();
        fd_ = std::exchange(o.fd_, -1);
        core_ = std::exchange(o.core_, nullptr);
    }
    return *this;
}

Socket::~Socket() {
    close();
}

void Socket::close() noexcept {
    if (core_ != nullptr) {
        core_->close(); // unregisters and closes the fd, wakes waiters
        core_->release();
        core_ = nullptr;
    } else if (fd_ >= 0) {
        ::close(fd_);
    }
    fd_ = -1;
}

int Socket::detach() noexcept {
    if (core_ != nullptr) {
        // Unregister without closing: the caller keeps the descriptor.
        core_->loop()->poller().remove(fd_);
        core_->release();
        core_ = nullptr;
    }
    return std::exchange(fd_, -1);
}

void Socket::bind(const SockAddr& addr) {
    if (::bind(fd_, addr.data(), addr.size()) != 0) {
        throw_os_error(errno, "bind " + addr.to_string());
    }
}

void Socket::listen(int backlog) {
    if (::listen(fd_, backlog) != 0) {
        throw_os_error(errno, "listen");
    }
}

void Socket::setsockopt(int level, int name, int value) {
    if (::setsockopt(fd_, level, name, &value, sizeof value) != 0) {
        throw_os_error(errno, "setsockopt");
    }
}

int Socket::getsockopt(int level, int name) const {
    int value = 0;
    socklen_t len = sizeof value;
    if (::getsockopt(fd_, level, name, &value, &len) != 0) {
        throw_os_error(errno, "getsockopt");
    }
    return value;
}

SockAddr Socket::getsockname() const {
    SockAddr a;
    socklen_t len = SockAddr::capacity();
    if (::getsockname(fd_, a.data(), &len) != 0) {
        throw_os_error(errno, "getsockname");
    }
    a.set_size(len);
    return a;
}

SockAddr Socket::getpeername() const {
    SockAddr a;
    socklen_t len = SockAddr::capacity();
    if (::getpeername(fd_, a.data(), &len) != 0) {
        throw_os_error(errno, "getpeername");
    }
    a.set_size(len);
    return a;
}

void Socket::shutdown(int how) {
    if (::shutdown(fd_, how) != 0 && errno != ENOTCONN) {
        throw_os_error(errno, "shutdown");
    }
}

detail::SocketCore* Socket::core(detail::LoopCore* loop) {
    if (fd_ < 0) {
        throw OSError(EBADF, "the socket is closed");
    }
    if (core_ == nullptr) {
        core_ = detail::SocketCore::create(fd_, loop);
        // create() returned two references: ours and the registration's.
    }
    return core_;
}

// --- add_reader / add_writer -----------------------------------------------------------------

namespace {

/// One watched descriptor (level-triggered, as asyncio's selector loop). Loop thread only.
class FdWatch final : public detail::IoSource {
public:
    /// One direction's callback, queued on the loop when the fd is ready.
    class Side final : public detail::Runnable {
    public:
        explicit Side(FdWatch* w) noexcept : w_(w) {}
        void run() override {
            queued_ = false;
            if (active_) {
                // The callback may replace or remove itself (or kill the watch) while it
                // runs: run a moved-out copy and put it back only if nobody did.
                running_ = true;
                replaced_ = false;
                detail::UniqueFunction<void()> fn = std::move(fn_);
                std::exception_ptr error;
                try {
                    fn();
                } catch (...) {
                    error = std::current_exception();
                }
                if (!replaced_) {
                    fn_ = std::move(fn);
                }
                running_ = false;
                if (error) {
                    FdWatch* w = w_;
                    w->maybe_free();               // may delete this Side: touch nothing after
                    std::rethrow_exception(error); // the loop reports it
                }
            }
            w_->maybe_free(); // may delete this Side: touch nothing after
        }
        void discard() noexcept override {
            queued_ = false;
            w_->maybe_free();
        }
        [[nodiscard]] std::string describe() const override { return "fd callback"; }
        void set(detail::UniqueFunction<void()> fn) {
            active_ = static_cast<bool>(fn);
            fn_ = std::move(fn);
            if (running_) {
                replaced_ = true;
            }
        }
        bool active_ = false;
        bool queued_ = false;
        bool running_ = false;

    private:
        detail::UniqueFunction<void()> fn_;
        bool replaced_ = false;
        FdWatch* w_;
    };

    FdWatch(detail::LoopCore* loop, int fd) : loop_(loop), fd_(fd), reader_(this), writer_(this) {}
    FdWatch(const FdWatch&) = delete;
    FdWatch& operator=(const FdWatch&) = delete;
    ~FdWatch() = default;

    void on_events(std::uint32_t ev) noexcept override {
        if (dead_) {
            return;
        }
        if ((ev & (EPOLLIN | EPOLLHUP | EPOLLERR)) != 0) {
            queue(reader_);
        }
        if ((ev & (EPOLLOUT | EPOLLHUP | EPOLLERR)) != 0) {
            queue(writer_);
        }
    }

    /// Sets (or clears, with an empty function) one side and updates the registration.
    void set(bool writer, detail::UniqueFunction<void()> fn) {
        (writer ? writer_ : reader_).set(std::move(fn));
        const std::uint32_t want =
            (reader_.active_ ? EPOLLIN : 0U) | (writer_.active_ ? EPOLLOUT : 0U);
        if (want == interest_) {
            return;
        }
        if (interest_ == 0) {
            loop_->poller().add(fd_, this, want);
        } else if (want == 0) {
            loop_->poller().remove(fd_);
        } else {
            loop_->poller().modify(fd_, this, want);
        }
        interest_ = want;
    }
    [[nodiscard]] bool has(bool writer) const { return (writer ? writer_ : reader_).active_; }
    [[nodiscard]] bool idle() const noexcept { return interest_ == 0; }

    /// Unregisters for good; freed once no side is queued.
    void kill() noexcept {
        if (interest_ != 0) {
            loop_->poller().remove(fd_);
            interest_ = 0;
        }
        dead_ = true;
        reader_.set(nullptr);
        writer_.set(nullptr);
        maybe_free();
    }

private:
    void queue(Side& s) noexcept {
        if (s.active_ && !s.queued_) {
            s.queued_ = true;
            (void)loop_->schedule(&s);
        }
    }
    void maybe_free() noexcept {
        if (dead_ && !reader_.queued_ && !writer_.queued_ && !reader_.running_ &&
            !writer_.running_) {
            delete this;
        }
    }

    detail::LoopCore* loop_;
    int fd_;
    Side reader_;
    Side writer_;
    std::uint32_t interest_ = 0;
    bool dead_ = false;
};

/// io/'s per-loop state: the watched descriptors.
class LoopIo final : public detail::LoopExtension {
public:
    ~LoopIo() override { on_close(); }
    void on_close() noexcept override {
        for (auto& [fd, w] : watches_) {
            w->kill();
        }
        watches_.clear();
    }
    static LoopIo& of(detail::LoopCore* loop) {
        if (loop->io_extension() == nullptr) {
            loop->set_io_extension(std::make_unique<LoopIo>());
        }
        return static_cast<LoopIo&>(*loop->io_extension());
    }
    std::unordered_map<int, FdWatch*> watches_;
};

bool remove_side(detail::LoopCore* loop, int fd, bool writer) {
    auto& io = LoopIo::of(loop);
    auto it = io.watches_.find(fd);
    if (it == io.watches_.end() || !it->second->has(writer)) {
        return false;
    }
    it->second->set(writer, nullptr);
    if (it->second->idle()) {
        it->second->kill();
        io.watches_.erase(it);
    }
    return true;
}

} // namespace

void EventLoop::add_fd_callback(int fd, bool writer, detail::UniqueFunction<void()> fn) {
    core_->check_open();
    core_->check_thread();
    auto& io = LoopIo::of(core_);
    FdWatch*& w = io.watches_[fd];
    if (w == nullptr) {
        w = new FdWatch(core_, fd);
    }
    try {
        w->set(writer, std::move(fn));
    } catch (...) {
        if (w->idle()) {
            w->kill();
            io.watches_.erase(fd);
        }
        throw;
    }
}

bool EventLoop::remove_reader(int fd) {
    core_->check_thread();
    return remove_side(core_, fd, false);
}

bool EventLoop::remove_writer(int fd) {
    core_->check_thread();
    return remove_side(core_, fd, true);
}

// --- sock_* ------------------------------------------------------------------------------------
// Each operation: try the system call; on EAGAIN wait for the next edge after the sequence
// number read before the call (detail/socket_core.hpp explains why nothing is lost).

namespace {
using detail::SocketCore;

SocketCore* core_of(Socket& sock) {
    return sock.core(get_running_loop().core());
}

void check_open(const SocketCore* c) {
    if (c->closed()) {
        throw OSError(EBADF, "the socket was closed");
    }
}
} // namespace

Coro<std::size_t> EventLoop::sock_recv_into(Socket& sock, char* data, std::size_t size) {
    SocketCore* c = core_of(sock);
    for (;;) {
        check_open(c);
        const std::uint64_t seq = c->seq(SocketCore::read_dir);
        const ssize_t n = ::recv(c->fd(), data, size, 0);
        if (n >= 0) {
            co_return static_cast<std::size_t>(n);
        }
        if (errno == EINTR) {
            continue;
        }
        if (errno != EAGAIN && errno != EWOULDBLOCK) {
            throw_os_error(errno, "recv");
        }
        co_await c->wait(SocketCore::read_dir, seq);
    }
}

Coro<std::string> EventLoop::sock_recv(Socket& sock, std::size_t n) {
    std::string buf(n, '\0');
    const std::size_t got = co_await sock_recv_into(sock, buf.data(), n);
    buf.resize(got);
    co_return buf;
}

Coro<void> EventLoop::sock_sendall(Socket& sock, std::string_view data) {
    SocketCore* c = core_of(sock);
    while (!data.empty()) {
        check_open(c);
        const std::uint64_t seq = c->seq(SocketCore::write_dir);
        const ssize_t n = ::send(c->fd(), data.data(), data.size(), MSG_NOSIGNAL);
        if (n >= 0) {
            data.remove_prefix(static_cast<std::size_t>(n));
            continue;
        }
        if (errno == EINTR) {
            continue;
        }
        if (errno != EAGAIN && errno != EWOULDBLOCK) {
            throw_os_error(errno, "send");
        }
        co_await c->wait(SocketCore::write_dir, seq);
    }
}

Coro<std::pair<Socket, SockAddr>> EventLoop::sock_accept(Socket& sock) {
    SocketCore* c = core_of(sock);
    for (;;) {
        check_open(c);
        const std::uint64_t seq = c->seq(SocketCore::read_dir);
        SockAddr peer;
        socklen_t len = SockAddr::capacity();
        const int fd = ::accept4(c->fd(), peer.data(), &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd >= 0) {
            peer.set_size(len);
            co_return std::pair<Socket, SockAddr>(Socket(fd), peer);
        }
        if (errno == EINTR || errno == ECONNABORTED) {
            continue;
        }
        if (errno != EAGAIN && errno != EWOULDBLOCK) {
            throw_os_error(errno, "accept");
        }
        co_await c->wait(SocketCore::read_dir, seq);
    }
}

Coro<void> EventLoop::sock_connect(Socket& sock, SockAddr address) {
    SocketCore* c = core_of(sock);
    check_open(c);
    const std::uint64_t seq = c->seq(SocketCore::write_dir);
    if (::connect(c->fd(), address.data(), address.size()) == 0) {
        co_return;
    }
    if (errno != EINPROGRESS && errno != EINTR) {
        throw_os_error(errno, "connect " + address.to_string());
    }
    std::uint64_t s = seq;
    for (;;) {
        co_await c->wait(SocketCore::write_dir, s);
        check_open(c);
        s = c->seq(SocketCore::write_dir);
        int err = 0;
        socklen_t len = sizeof err;
        if (::getsockopt(c->fd(), SOL_SOCKET, SO_ERROR, &err, &len) != 0) {
            throw_os_error(errno, "getsockopt(SO_ERROR)");
        }
        if (err == 0) {
            // Writable and no error: connected (a spurious edge leaves it still in progress).
            SockAddr peer;
            socklen_t plen = SockAddr::capacity();
            if (::getpeername(c->fd(), peer.data(), &plen) == 0) {
                co_return;
            }
            continue;
        }
        throw_os_error(err, "connect " + address.to_string());
    }
}

// --- getaddrinfo ------------------------------------------------------------------------------

namespace {
std::vector<AddrInfo> resolve(const std::string& host, const std::string& port,
                              const AddrInfoHints& hints) {
    addrinfo want{};
    want.ai_family = hints.family;
    want.ai_socktype = hints.type;
    want.ai_protocol = hints.protocol;
    want.ai_flags = hints.flags;
    addrinfo* res = nullptr;
    const int rc = ::getaddrinfo(host.empty() ? nullptr : host.c_str(),
                                 port.empty() ? nullptr : port.c_str(), &want, &res);
    if (rc != 0) {
        if (rc == EAI_SYSTEM) {
            throw_os_error(errno, "getaddrinfo " + host);
        }
        throw GaiError(rc, "getaddrinfo " + host);
    }
    std::unique_ptr<addrinfo, void (*)(addrinfo*)> guard(res, ::freeaddrinfo);
    std::vector<AddrInfo> out;
    for (addrinfo* p = res; p != nullptr; p = p->ai_next) {
        out.push_back(AddrInfo{p->ai_family, p->ai_socktype, p->ai_protocol,
                               p->ai_canonname != nullptr ? p->ai_canonname : "",
                               SockAddr(p->ai_addr, p->ai_addrlen)});
    }
    return out;
}
} // namespace

Coro<std::vector<AddrInfo>> EventLoop::getaddrinfo(std::string host, std::string port,
                                                   AddrInfoHints hints) {
    // A numeric host needs no resolver (and no thread): answer at once.
    AddrInfoHints numeric = hints;
    numeric.flags |= AI_NUMERICHOST | AI_NUMERICSERV;
    bool is_numeric = true;
    std::vector<AddrInfo> out;
    try {
        out = resolve(host, port, numeric);
    } catch (const GaiError&) {
        is_numeric = false;
    }
    if (is_numeric) {
        co_return out;
    }
    co_return co_await run_in_executor(nullptr,
                                       [host, port, hints] { return resolve(host, port, hints); });
}

Coro<std::vector<AddrInfo>> EventLoop::getaddrinfo(std::string host, int port) {
    return getaddrinfo(std::move(host), std::to_string(port), AddrInfoHints{0, SOCK_STREAM, 0, 0});
}

} // namespace eddy
