// W7 (TCP echo) and W8 (HTTP/1.1 keep-alive hello world) servers of BENCHMARKS.md on an eddy
// Runtime, in both of asyncio's styles, for ../shared/peers' harness (which drives them with
// its epoll echo client and wrk):
//
//   eddy_servers <w7|w8> <port> [--style protocol|streams] [--workers N]
//
// Serves on 127.0.0.1:<port> until killed. `protocol` is the callback layer (a Protocol
// per connection), `streams` is start_server with a StreamReader / StreamWriter handler.

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>

#include <eddy/eddy.hpp>

namespace {

constexpr std::string_view response =
    "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 13\r\n\r\nHello, World!";

// --- protocol style --------------------------------------------------------------------------

struct EchoProtocol final : eddy::Protocol {
    eddy::Transport* transport = nullptr;
    void connection_made(eddy::Transport& t) override { transport = &t; }
    void data_received(std::string_view data) override { transport->write(data); }
};

struct HttpProtocol final : eddy::Protocol {
    eddy::Transport* transport = nullptr;
    std::string pending;
    std::string out;
    void connection_made(eddy::Transport& t) override { transport = &t; }
    void data_received(std::string_view data) override {
        pending.append(data);
        std::size_t start = 0;
        for (std::size_t p; (p = pending.find("\r\n\r\n", start)) != std::string::npos;) {
            out.append(response);
            start = p + 4;
        }
        pending.erase(0, start);
        if (!out.empty()) {
            transport->write(out);
            out.clear();
        }
    }
};

// --- streams style ---------------------------------------------------------------------------

eddy::Coro<void> echo_stream(eddy::StreamReader reader, eddy::StreamWriter writer) {
    try {
        for (;;) {
            std::string data = co_await reader.read(4096);
            if (data.empty()) {
                break;
            }
            writer.write(data);
            co_await writer.drain();
        }
    } catch (const eddy::OSError&) { // NOLINT(bugprone-empty-catch): the client went away
    }
    writer.close();
}

eddy::Coro<void> http_stream(eddy::StreamReader reader, eddy::StreamWriter writer) {
    std::string pending;
    std::string out;
    try {
        for (;;) {
            std::string data = co_await reader.read(8192);
            if (data.empty()) {
                break;
            }
            pending += data;
            std::size_t start = 0;
            for (std::size_t p; (p = pending.find("\r\n\r\n", start)) != std::string::npos;) {
                out.append(response);
                start = p + 4;
            }
            pending.erase(0, start);
            if (!out.empty()) {
                writer.write(out);
                out.clear();
                co_await writer.drain();
            }
        }
    } catch (const eddy::OSError&) { // NOLINT(bugprone-empty-catch): the client went away
    }
    writer.close();
}

eddy::Coro<void> serve(std::string workload, std::string style, int port) {
    eddy::Server server;
    if (style == "streams") {
        server = co_await eddy::start_server(workload == "w7" ? echo_stream : http_stream,
                                             "127.0.0.1", port);
    } else if (workload == "w7") {
        server = co_await eddy::create_server([] { return std::make_shared<EchoProtocol>(); },
                                              "127.0.0.1", port);
    } else {
        server = co_await eddy::create_server([] { return std::make_shared<HttpProtocol>(); },
                                              "127.0.0.1", port);
    }
    std::fprintf(stderr, "listening %d (%s, %s)\n", port, workload.c_str(), style.c_str());
    co_await server.serve_forever();
}

} // namespace

int main(int argc, char** argv) {
    if (argc < 3) {
        std::fprintf(stderr,
                     "usage: eddy_servers w7|w8 <port> [--style protocol|streams] [--workers N]\n");
        return 2;
    }
    const std::string workload = argv[1];
    const int port = std::atoi(argv[2]);
    std::string style = "protocol";
    unsigned workers = 2;
    for (int i = 3; i + 1 < argc; i += 2) {
        if (std::strcmp(argv[i], "--style") == 0) {
            style = argv[i + 1];
        } else if (std::strcmp(argv[i], "--workers") == 0) {
            workers = static_cast<unsigned>(std::strtoul(argv[i + 1], nullptr, 10));
        }
    }
    if ((workload != "w7" && workload != "w8") || (style != "protocol" && style != "streams")) {
        std::fprintf(stderr, "unknown workload or style\n");
        return 2;
    }
    eddy::run(serve(workload, style, port), eddy::Config{.workers = workers});
    return 0;
}
