#pragma once

/// Socket addresses: `SockAddr` (IPv4, IPv6 or a Unix path) and what `getaddrinfo` returns.

#include <sys/socket.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace eddy {

/// A socket address, as Python's `(host, port)` tuples or a Unix path.
class SockAddr {
public:
    SockAddr() = default;
    /// A numeric IPv4 or IPv6 address (no name resolution); nullopt when `host` is not one.
    static std::optional<SockAddr> numeric(const std::string& host, std::uint16_t port);
    /// A Unix-domain socket path (a leading '\0' makes an abstract address).
    static SockAddr unix_path(const std::string& path);
    /// Wraps what the kernel returned.
    SockAddr(const sockaddr* sa, socklen_t len);

    [[nodiscard]] int family() const noexcept { return storage_.ss_family; }
    /// The host ("127.0.0.1", "::1"), or the path of a Unix address.
    [[nodiscard]] std::string host() const;
    /// The port (0 for Unix addresses).
    [[nodiscard]] std::uint16_t port() const noexcept;
    /// "127.0.0.1:8080", "[::1]:8080", or the Unix path.
    [[nodiscard]] std::string to_string() const;

    [[nodiscard]] const sockaddr* data() const noexcept {
        return reinterpret_cast<const sockaddr*>(&storage_); // NOLINT: the sockets API
    }
    [[nodiscard]] sockaddr* data() noexcept {
        return reinterpret_cast<sockaddr*>(&storage_); // NOLINT: the sockets API
    }
    [[nodiscard]] socklen_t size() const noexcept { return len_; }
    void set_size(socklen_t len) noexcept { len_ = len; }
    [[nodiscard]] static constexpr socklen_t capacity() noexcept {
        return sizeof(sockaddr_storage);
    }

    bool operator==(const SockAddr& o) const noexcept;

private:
    sockaddr_storage storage_{};
    socklen_t len_ = 0;
};

/// One result of `loop.getaddrinfo` (Python's 5-tuple).
struct AddrInfo {
    int family = 0;
    int type = 0;
    int protocol = 0;
    std::string canonname;
    SockAddr addr;
};

/// `getaddrinfo` hints (Python's keyword arguments).
struct AddrInfoHints {
    int family = 0; ///< AF_UNSPEC
    int type = 0;
    int protocol = 0;
    int flags = 0;
};

} // namespace eddy
