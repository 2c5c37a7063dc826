#include <eddy/io/detail/socket_core.hpp>

#include <sys/epoll.h>
#include <unistd.h>

#include <mutex>
#include <string>

#include <eddy/future/error.hpp>
#include <eddy/scheduler/detail/wait_list.hpp>

namespace eddy::detail {

namespace {
/// Drops the registration's reference on the loop's thread, after any poll batch in flight.
class ReleaseLater final : public Runnable, public SmallAllocated {
public:
    explicit ReleaseLater(SocketCore* s) noexcept : s_(s) {}
    void run() override {
        s_->release();
        delete this;
    }
    void discard() noexcept override {
        s_->release();
        delete this;
    }
    [[nodiscard]] std::string describe() const override { return "socket release"; }

private:
    ~ReleaseLater() = default;
    SocketCore* s_;
};

void complete(std::optional<Future<void>>& f) noexcept {
    if (f) {
        (void)FutureAccess<void>::state(*f)->try_finish([] {});
        f.reset();
    }
}
} // namespace

SocketCore* SocketCore::create(int fd, LoopCore* loop) {
    auto* s = new SocketCore(fd, loop);
    try {
        loop->poller().add(fd, s, EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET);
    } catch (...) {
        s->refs_.store(1, std::memory_order_relaxed); // never registered
        s->release();
        throw;
    }
    return s;
}

SocketCore::SocketCore(int fd, LoopCore* loop) noexcept : fd_(fd), loop_(loop) {
    loop_->add_ref();
}

SocketCore::~SocketCore() {
    loop_->release();
}

void SocketCore::release() noexcept {
    if (refs_.fetch_sub(1, std::memory_order_acq_rel) == 1) {
        delete this;
    }
}

std::uint64_t SocketCore::seq(Direction dir) const {
    std::lock_guard guard(mu_);
    return seq_[dir];
}

Future<void> SocketCore::wait(Direction dir, std::uint64_t seq) {
    Future<void> f = detached_future<void>();
    std::lock_guard guard(mu_);
    if (seq_[dir] != seq || closed_.load(std::memory_order_relaxed)) {
        (void)FutureAccess<void>::state(f)->try_finish([] {});
        return f;
    }
    if (waiter_[dir] && !waiter_[dir]->done()) {
        throw RuntimeError(dir == read_dir
                               ? "another Task is already waiting to read this socket"
                               : "another Task is already waiting to write this socket");
    }
    waiter_[dir] = f;
    return f;
}

void SocketCore::set_callback(Runnable* r) noexcept {
    std::lock_guard guard(mu_);
    callback_ = r;
}

std::uint32_t SocketCore::take_events() noexcept {
    std::lock_guard guard(mu_);
    callback_queued_ = false;
    return std::exchange(pending_events_, 0U);
}

bool SocketCore::kick(std::uint32_t events) noexcept {
    Runnable* schedule = nullptr;
    {
        std::lock_guard guard(mu_);
        if (callback_ == nullptr) {
            return false;
        }
        pending_events_ |= events;
        if (!callback_queued_) {
            callback_queued_ = true;
            schedule = callback_;
        }
    }
    if (schedule != nullptr && !loop_->schedule(schedule)) {
        std::lock_guard guard(mu_);
        callback_queued_ = false;
        return false;
    }
    return true;
}

void SocketCore::on_events(std::uint32_t events) noexcept {
    std::optional<Future<void>> wake[2];
    Runnable* schedule = nullptr;
    {
        std::lock_guard guard(mu_);
        if (closed_.load(std::memory_order_relaxed)) {
            return;
        }
        if ((events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) != 0) {
            ++seq_[read_dir];
            wake[read_dir] = std::move(waiter_[read_dir]);
            waiter_[read_dir].reset();
        }
        if ((events & (EPOLLOUT | EPOLLHUP | EPOLLERR)) != 0) {
            ++seq_[write_dir];
            wake[write_dir] = std::move(waiter_[write_dir]);
            waiter_[write_dir].reset();
        }
        if (callback_ != nullptr) {
            pending_events_ |= events;
            if (!callback_queued_) {
                callback_queued_ = true;
                schedule = callback_;
            }
        }
    }
    complete(wake[read_dir]);
    complete(wake[write_dir]);
    if (schedule != nullptr) {
        (void)loop_->schedule(schedule);
    }
}

void SocketCore::close() noexcept {
    std::optional<Future<void>> wake[2];
    {
        std::lock_guard guard(mu_);
        if (closed_.load(std::memory_order_relaxed)) {
            return;
        }
        closed_.store(true, std::memory_order_release);
        wake[read_dir] = std::move(waiter_[read_dir]);
        wake[write_dir] = std::move(waiter_[write_dir]);
        waiter_[read_dir].reset();
        waiter_[write_dir].reset();
        callback_ = nullptr;
    }
    loop_->poller().remove(fd_);
    ::close(fd_);
    complete(wake[read_dir]);
    complete(wake[write_dir]);
    auto* later = new ReleaseLater(this); // NOLINT(bugprone-unhandled-exception-at-new): noexcept:
                                          // out of memory ends the process
    if (!loop_->schedule(later)) {
        later->discard(); // the loop is closed: no batch can name us any more
    }
}

} // namespace eddy::detail
