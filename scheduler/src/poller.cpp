#include <eddy/scheduler/detail/poller.hpp>

#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <string>
#include <system_error>

namespace eddy::detail {

namespace {
/// epoll_pwait2 takes a nanosecond timeout (Linux 5.11). Where the kernel lacks it, fall
/// back to epoll_wait with the timeout rounded up to whole milliseconds, so timers never fire
/// early. Relaxed: every thread may find out independently; the value only ever goes false.
std::atomic<bool> have_pwait2{true};
} // namespace

Poller::Poller() {
    epfd_ = ::epoll_create1(EPOLL_CLOEXEC);
    if (epfd_ < 0) {
        throw std::system_error(errno, std::generic_category(), "epoll_create1");
    }
    evfd_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (evfd_ < 0) {
        const int err = errno;
        ::close(epfd_);
        throw std::system_error(err, std::generic_category(), "eventfd");
    }
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.ptr = nullptr; // the wake-up fd is the one entry with a null tag
    if (::epoll_ctl(epfd_, EPOLL_CTL_ADD, evfd_, &ev) != 0) {
        const int err = errno;
        ::close(evfd_);
        ::close(epfd_);
        throw std::system_error(err, std::generic_category(), "epoll_ctl");
    }
}

Poller::~Poller() {
    ::close(evfd_);
    ::close(epfd_);
}

int Poller::wait(std::chrono::nanoseconds timeout) {
    std::array<epoll_event, 64>
        events; // NOLINT(cppcoreguidelines-pro-type-member-init): filled by the kernel
    int n = 0;
    if (timeout.count() >= 0 && have_pwait2.load(std::memory_order_relaxed)) {
        const auto secs = std::chrono::duration_cast<std::chrono::seconds>(timeout);
        timespec ts{};
        ts.tv_sec = static_cast<time_t>(secs.count());
        ts.tv_nsec = static_cast<long>((timeout - secs).count());
        n = ::epoll_pwait2(epfd_, events.data(), static_cast<int>(events.size()), &ts, nullptr);
        if (n < 0 && errno == ENOSYS) {
            have_pwait2.store(false, std::memory_order_relaxed);
            return wait(timeout);
        }
    } else {
        int ms = -1;
        if (timeout.count() >= 0) {
            const auto ceil_ms = std::chrono::ceil<std::chrono::milliseconds>(timeout).count();
            ms = ceil_ms > 1'000'000'000 ? 1'000'000'000 : static_cast<int>(ceil_ms);
        }
        n = ::epoll_wait(epfd_, events.data(), static_cast<int>(events.size()), ms);
    }
    if (n < 0) {
        if (errno == EINTR) {
            return 0;
        }
        throw std::system_error(errno, std::generic_category(), "epoll_wait");
    }
    int others = 0;
    for (int i = 0; i < n; ++i) {
        if (events[static_cast<std::size_t>(i)].data.ptr == nullptr) {
            std::uint64_t count = 0;
            // Drain the counter; EAGAIN means another wait drained it already.
            [[maybe_unused]] const ssize_t r = ::read(evfd_, &count, sizeof count);
        } else {
            ++others;
            static_cast<IoSource*>(events[static_cast<std::size_t>(i)].data.ptr)
                ->on_events(events[static_cast<std::size_t>(i)].events);
        }
    }
    return others;
}

void Poller::add(int fd, IoSource* source, std::uint32_t events) {
    epoll_event ev{};
    ev.events = events;
    ev.data.ptr = source;
    if (::epoll_ctl(epfd_, EPOLL_CTL_ADD, fd, &ev) != 0) {
        throw std::system_error(errno, std::generic_category(), "epoll_ctl(ADD)");
    }
}

void Poller::modify(int fd, IoSource* source, std::uint32_t events) {
    epoll_event ev{};
    ev.events = events;
    ev.data.ptr = source;
    if (::epoll_ctl(epfd_, EPOLL_CTL_MOD, fd, &ev) != 0) {
        throw std::system_error(errno, std::generic_category(), "epoll_ctl(MOD)");
    }
}

void Poller::remove(int fd) noexcept {
    epoll_event ev{}; // ignored by DEL, but kernels before 2.6.9 wanted a non-null pointer
    (void)::epoll_ctl(epfd_, EPOLL_CTL_DEL, fd, &ev);
}

void Poller::wake() noexcept {
    const std::uint64_t one = 1;
    // An eventfd write only fails when the counter would overflow, which still leaves the
    // fd readable: the wake-up is not lost either way.
    [[maybe_unused]] const ssize_t r = ::write(evfd_, &one, sizeof one);
}

} // namespace eddy::detail
