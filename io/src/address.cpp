#include <eddy/io/address.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/un.h>

#include <algorithm>
#include <array>
#include <cstring>

namespace eddy {

std::optional<SockAddr> SockAddr::numeric(const std::string& host, std::uint16_t port) {
    SockAddr a;
    sockaddr_in v4{};
    if (::inet_pton(AF_INET, host.c_str(), &v4.sin_addr) == 1) {
        v4.sin_family = AF_INET;
        v4.sin_port = htons(port);
        std::memcpy(&a.storage_, &v4, sizeof v4);
        a.len_ = sizeof v4;
        return a;
    }
    sockaddr_in6 v6{};
    if (::inet_pton(AF_INET6, host.c_str(), &v6.sin6_addr) == 1) {
        v6.sin6_family = AF_INET6;
        v6.sin6_port = htons(port);
        std::memcpy(&a.storage_, &v6, sizeof v6);
        a.len_ = sizeof v6;
        return a;
    }
    return std::nullopt;
}

SockAddr SockAddr::unix_path(const std::string& path) {
    SockAddr a;
    sockaddr_un un{};
    un.sun_family = AF_UNIX;
    const std::size_t n = std::min(path.size(), sizeof(un.sun_path) - 1);
    std::memcpy(un.sun_path, path.data(), n);
    std::memcpy(&a.storage_, &un, sizeof un);
    a.len_ = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + n +
                                    (path.empty() || path[0] != '\0' ? 1 : 0));
    return a;
}

SockAddr::SockAddr(const sockaddr* sa, socklen_t len) {
    len_ = std::min<socklen_t>(len, sizeof storage_);
    std::memcpy(&storage_, sa, len_);
}

std::string SockAddr::host() const {
    std::array<char, INET6_ADDRSTRLEN> buf{};
    switch (family()) {
    case AF_INET: {
        sockaddr_in v4{};
        std::memcpy(&v4, &storage_, sizeof v4);
        return ::inet_ntop(AF_INET, &v4.sin_addr, buf.data(), buf.size()) != nullptr ? buf.data()
                                                                                     : "";
    }
    case AF_INET6: {
        sockaddr_in6 v6{};
        std::memcpy(&v6, &storage_, sizeof v6);
        return ::inet_ntop(AF_INET6, &v6.sin6_addr, buf.data(), buf.size()) != nullptr ? buf.data()
                                                                                       : "";
    }
    case AF_UNIX: {
        sockaddr_un un{};
        std::memcpy(&un, &storage_, std::min<std::size_t>(len_, sizeof un));
        const std::size_t off = offsetof(sockaddr_un, sun_path);
        if (len_ <= off) {
            return {};
        }
        std::string path(un.sun_path, len_ - off);
        if (!path.empty() && path[0] != '\0') {
            path.resize(path.find('\0') == std::string::npos ? path.size() : path.find('\0'));
        }
        return path;
    }
    default:
        return {};
    }
}

std::uint16_t SockAddr::port() const noexcept {
    if (family() == AF_INET) {
        sockaddr_in v4{};
        std::memcpy(&v4, &storage_, sizeof v4);
        return ntohs(v4.sin_port);
    }
    if (family() == AF_INET6) {
        sockaddr_in6 v6{};
        std::memcpy(&v6, &storage_, sizeof v6);
        return ntohs(v6.sin6_port);
    }
    return 0;
}

std::string SockAddr::to_string() const {
    switch (family()) {
    case AF_INET:
        return host() + ":" + std::to_string(port());
    case AF_INET6:
        return "[" + host() + "]:" + std::to_string(port());
    default:
        return host();
    }
}

bool SockAddr::operator==(const SockAddr& o) const noexcept {
    return len_ == o.len_ && std::memcmp(&storage_, &o.storage_, len_) == 0;
}

} // namespace eddy
