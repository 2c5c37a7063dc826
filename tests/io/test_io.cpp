#include <doctest/doctest.h>

#include <eddy/eddy.hpp>

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "support/helpers.hpp"

using namespace std::chrono_literals;

namespace {

int port_of(const eddy::Server& server) {
    return server.sockets().at(0).getsockname().port();
}

eddy::Coro<void> echo_client(eddy::StreamReader r, eddy::StreamWriter w) {
    for (;;) {
        std::string line = co_await r.readline();
        if (line.empty()) {
            break;
        }
        w.write(line);
        co_await w.drain();
    }
    w.close();
}

struct EchoProtocol : eddy::Protocol {
    eddy::Transport* t = nullptr;
    void connection_made(eddy::Transport& tr) override { t = &tr; }
    void data_received(std::string_view data) override { t->write(data); }
};

struct CollectProtocol : eddy::Protocol {
    std::string got;
    bool eof = false;
    bool lost = false;
    std::exception_ptr lost_exc;
    eddy::Future<void> done = eddy::Future<void>();
    void data_received(std::string_view data) override { got.append(data); }
    bool eof_received() override {
        eof = true;
        return false;
    }
    void connection_lost(std::exception_ptr exc) override {
        lost = true;
        lost_exc = exc;
        if (!done.done()) {
            done.set_result();
        }
    }
};

} // namespace

TEST_SUITE("io/sockets") {
    TEST_CASE("sock_accept, sock_connect, sock_sendall and sock_recv move bytes both ways") {
        std::string got = eddy::run([]() -> eddy::Coro<std::string> {
            auto& loop = eddy::get_running_loop();
            eddy::Socket listener = eddy::Socket::create(AF_INET, SOCK_STREAM);
            listener.bind(*eddy::SockAddr::numeric("127.0.0.1", 0));
            listener.listen();
            const auto addr = listener.getsockname();
            auto server = loop.create_task([](eddy::Socket& l) -> eddy::Coro<void> {
                auto& lp = eddy::get_running_loop();
                auto [conn, peer] = co_await lp.sock_accept(l);
                CHECK(peer.host() == "127.0.0.1");
                std::string data = co_await lp.sock_recv(conn, 100);
                co_await lp.sock_sendall(conn, "re:" + data);
            }(listener));
            eddy::Socket client = eddy::Socket::create(AF_INET, SOCK_STREAM);
            co_await loop.sock_connect(client, addr);
            co_await loop.sock_sendall(client, "hello");
            std::string reply;
            while (reply.size() < 8) {
                std::string part = co_await loop.sock_recv(client, 100);
                if (part.empty()) {
                    break;
                }
                reply += part;
            }
            co_await server;
            co_return reply;
        }());
        CHECK(got == "re:hello");
    }

    TEST_CASE("sock_connect to a port nobody listens on raises ConnectionRefusedError") {
        bool refused = eddy::run([]() -> eddy::Coro<bool> {
            // Bind a port and close it again: nothing listens there now.
            eddy::Socket probe = eddy::Socket::create(AF_INET, SOCK_STREAM);
            probe.bind(*eddy::SockAddr::numeric("127.0.0.1", 0));
            const auto addr = probe.getsockname();
            probe.close();
            eddy::Socket s = eddy::Socket::create(AF_INET, SOCK_STREAM);
            try {
                co_await eddy::get_running_loop().sock_connect(s, addr);
            } catch (const eddy::ConnectionRefusedError&) {
                co_return true;
            }
            co_return false;
        }());
        CHECK(refused);
    }

    TEST_CASE("add_reader calls back while the descriptor is readable; remove_reader stops it") {
        eddy::EventLoop loop = eddy::new_event_loop();
        int fds[2];
        REQUIRE(::pipe(fds) == 0);
        std::string seen;
        loop.add_reader(fds[0], [&] {
            char c = 0;
            if (::read(fds[0], &c, 1) == 1) {
                seen.push_back(c);
            }
            if (seen.size() == 3) {
                CHECK(loop.remove_reader(fds[0]));
                loop.stop();
            }
        });
        REQUIRE(::write(fds[1], "abc", 3) == 3);
        loop.run_forever();
        CHECK(seen == "abc");
        CHECK_FALSE(loop.remove_reader(fds[0]));
        loop.close();
        ::close(fds[0]);
        ::close(fds[1]);
    }
}

TEST_SUITE("io/transports") {
    TEST_CASE("create_server and create_connection: an echo round trip, then connection_lost") {
        auto [reply, lost] = eddy::run([]() -> eddy::Coro<std::pair<std::string, bool>> {
            auto& loop = eddy::get_running_loop();
            eddy::Server server = co_await loop.create_server(
                [] { return std::make_shared<EchoProtocol>(); }, "127.0.0.1", 0);
            auto [transport, proto] = co_await loop.create_connection(
                [] { return std::make_shared<CollectProtocol>(); }, "127.0.0.1", port_of(server));
            CHECK(transport->get_extra_info("peername").has_value());
            transport->write("ping");
            for (int i = 0; i < 1000 && proto->got.size() < 4; ++i) {
                co_await eddy::sleep(1ms);
            }
            std::string got = proto->got;
            transport->close();
            co_await proto->done;
            server.close();
            co_await server.wait_closed();
            co_return std::pair(got, proto->lost && !proto->lost_exc);
        }());
        CHECK(reply == "ping");
        CHECK(lost);
    }
}

TEST_SUITE("io/streams") {
    TEST_CASE("start_server and open_connection echo lines; EOF ends the handler") {
        auto lines = eddy::run([]() -> eddy::Coro<std::vector<std::string>> {
            eddy::Server server = co_await eddy::start_server(echo_client, "127.0.0.1", 0);
            auto [reader, writer] = co_await eddy::open_connection("127.0.0.1", port_of(server));
            std::vector<std::string> out;
            for (int i = 0; i < 3; ++i) {
                writer.write("line " + std::to_string(i) + "\n");
                co_await writer.drain();
                out.push_back(co_await reader.readline());
            }
            writer.write_eof();
            CHECK((co_await reader.read()).empty()); // the server closes after our EOF
            CHECK(reader.at_eof());
            writer.close();
            co_await writer.wait_closed();
            server.close();
            co_await server.wait_closed();
            co_return out;
        }());
        REQUIRE(lines.size() == 3);
        CHECK(lines[0] == "line 0\n");
        CHECK(lines[2] == "line 2\n");
    }

    TEST_CASE("readexactly, readuntil with several separators, and IncompleteReadError") {
        eddy::run([]() -> eddy::Coro<void> {
            eddy::StreamReader r;
            r.feed_data("abcdef--x||y");
            r.feed_eof();
            CHECK(co_await r.readexactly(3) == "abc");
            std::vector<std::string> seps{"||", "--"};
            CHECK(co_await r.readuntil(seps) == "def--");
            CHECK(co_await r.readuntil(seps) == "x||");
            bool incomplete = false;
            try {
                (void)co_await r.readexactly(5);
            } catch (const eddy::IncompleteReadError& e) {
                incomplete = e.partial() == "y" && e.expected() == 5U;
            }
            CHECK(incomplete);
            CHECK(r.at_eof());
        }());
    }

    TEST_CASE("a line longer than the limit: readline raises ValueError and skips it") {
        eddy::run([]() -> eddy::Coro<void> {
            eddy::StreamReader r(8);
            r.feed_data("0123456789abcdef\nnext\n");
            bool too_long = false;
            try {
                (void)co_await r.readline();
            } catch (const eddy::ValueError&) {
                too_long = true;
            }
            CHECK(too_long);
            CHECK(co_await r.readline() == "next\n");
        }());
    }

    TEST_CASE("readuntil past the limit raises LimitOverrunError and keeps the data") {
        eddy::run([]() -> eddy::Coro<void> {
            eddy::StreamReader r(4);
            r.feed_data("abcdefgh\n");
            bool overrun = false;
            try {
                (void)co_await r.readuntil("\n");
            } catch (const eddy::LimitOverrunError&) {
                overrun = true;
            }
            CHECK(overrun);
            CHECK(co_await r.readexactly(9) == "abcdefgh\n");
        }());
    }

    TEST_CASE("cancelling a Task in readexactly loses no bytes for the next reader") {
        eddy::run([]() -> eddy::Coro<void> {
            eddy::StreamReader r;
            r.feed_data("abc");
            auto t = eddy::create_task([](eddy::StreamReader rr) -> eddy::Coro<std::string> {
                co_return co_await rr.readexactly(10);
            }(r));
            co_await eddy::sleep(5ms);
            t.cancel();
            bool cancelled = false;
            try {
                (void)co_await t;
            } catch (const eddy::CancelledError&) {
                cancelled = true;
            }
            CHECK(cancelled);
            r.feed_data("defghij");
            CHECK(co_await r.readexactly(10) == "abcdefghij");
        }());
    }

    TEST_CASE("wait_for on readline times out cleanly and the stream stays usable") {
        eddy::run([]() -> eddy::Coro<void> {
            eddy::StreamReader r;
            r.feed_data("partial");
            bool timed_out = false;
            try {
                (void)co_await eddy::wait_for(r.readline(), 20ms);
            } catch (const eddy::TimeoutError&) {
                timed_out = true;
            }
            CHECK(timed_out);
            r.feed_data(" line\n");
            CHECK(co_await r.readline() == "partial line\n");
        }());
    }

    TEST_CASE("a peer that resets mid-read makes the reader raise ConnectionResetError") {
        bool reset = eddy::run([]() -> eddy::Coro<bool> {
            eddy::Server server = co_await eddy::start_server(
                [](eddy::StreamReader r, eddy::StreamWriter w) -> eddy::Coro<void> {
                    (void)co_await r.readexactly(1); // the client is connected for sure
                    w.write("half");
                    co_await w.drain();
                    w.transport().abort(); // RST
                },
                "127.0.0.1", 0);
            auto [reader, writer] = co_await eddy::open_connection("127.0.0.1", port_of(server));
            writer.write("x");
            bool got_reset = false;
            try {
                (void)co_await reader.readexactly(100);
            } catch (const eddy::ConnectionResetError&) {
                got_reset = true;
            } catch (const eddy::IncompleteReadError&) {
                got_reset = true; // the RST may arrive as a plain end of stream after the data
            }
            writer.close();
            server.close();
            co_return got_reset;
        }());
        CHECK(reset);
    }

    TEST_CASE("open_connection to a closed port raises ConnectionRefusedError") {
        bool refused = eddy::run([]() -> eddy::Coro<bool> {
            eddy::Socket probe = eddy::Socket::create(AF_INET, SOCK_STREAM);
            probe.bind(*eddy::SockAddr::numeric("127.0.0.1", 0));
            const int port = probe.getsockname().port();
            probe.close();
            try {
                (void)co_await eddy::open_connection("127.0.0.1", port);
            } catch (const eddy::ConnectionRefusedError&) {
                co_return true;
            }
            co_return false;
        }());
        CHECK(refused);
    }
}

TEST_SUITE("io/servers") {
    TEST_CASE("accepted connections are spread over the runtime's workers") {
        eddy::Runtime rt{eddy::Config{.workers = 2}};
        std::set<eddy::detail::LoopCore*> loops =
            rt.run([]() -> eddy::Coro<std::set<eddy::detail::LoopCore*>> {
                std::set<eddy::detail::LoopCore*> seen;
                std::mutex mu;
                eddy::Server server = co_await eddy::start_server(
                    [&](eddy::StreamReader r, eddy::StreamWriter w) -> eddy::Coro<void> {
                        {
                            std::lock_guard guard(mu);
                            seen.insert(w.transport().get_loop().core());
                        }
                        std::string line = co_await r.readline();
                        w.write(line);
                        co_await w.drain();
                        w.close();
                    },
                    "127.0.0.1", 0);
                for (int i = 0; i < 4; ++i) {
                    auto [reader, writer] =
                        co_await eddy::open_connection("127.0.0.1", port_of(server));
                    writer.write("hi\n");
                    CHECK(co_await reader.readline() == "hi\n");
                    writer.close();
                    co_await writer.wait_closed();
                }
                server.close();
                co_await server.wait_closed();
                std::lock_guard guard(mu);
                co_return seen;
            }());
        CHECK(loops.size() == 2);
    }

    TEST_CASE("many concurrent clients each get every line echoed, on every worker count") {
        const int clients = 40;
        const int lines = 50;
        int ok = eddy::run([]() -> eddy::Coro<int> {
            eddy::Server server = co_await eddy::start_server(echo_client, "127.0.0.1", 0);
            const int port = port_of(server);
            std::vector<eddy::Coro<int>> all;
            for (int c = 0; c < clients; ++c) {
                all.push_back([](int p, int id) -> eddy::Coro<int> {
                    auto [reader, writer] = co_await eddy::open_connection("127.0.0.1", p);
                    int good = 0;
                    for (int i = 0; i < lines; ++i) {
                        const std::string line =
                            std::to_string(id) + ":" + std::to_string(i) + "\n";
                        writer.write(line);
                        co_await writer.drain();
                        if (co_await reader.readline() == line) {
                            ++good;
                        }
                    }
                    writer.close();
                    co_await writer.wait_closed();
                    co_return good;
                }(port, c));
            }
            int total = 0;
            for (int g : co_await eddy::gather(all)) {
                total += g;
            }
            server.close();
            co_await server.wait_closed();
            co_return total;
        }());
        CHECK(ok == clients * lines);
    }

    TEST_CASE("a writer that never drains: pause_writing holds the buffer near the limit") {
        eddy::run([]() -> eddy::Coro<void> {
            // A server that never reads.
            eddy::Event stop;
            eddy::Server server = co_await eddy::start_server(
                [&](eddy::StreamReader, eddy::StreamWriter) -> eddy::Coro<void> {
                    co_await stop.wait();
                },
                "127.0.0.1", 0);
            auto [reader, writer] = co_await eddy::open_connection("127.0.0.1", port_of(server));
            const std::string chunk(64 * 1024, 'x');
            bool blocked = false;
            for (int i = 0; i < 1000 && !blocked; ++i) {
                writer.write(chunk);
                try {
                    co_await eddy::wait_for(writer.drain(), 50ms);
                } catch (const eddy::TimeoutError&) {
                    blocked = true; // drain waits: the peer does not read
                }
            }
            CHECK(blocked);
            // Buffered: what the kernel would not take, at most a chunk past the high mark.
            CHECK(writer.transport().get_write_buffer_size() <= 64 * 1024 + chunk.size());
            writer.transport().abort();
            stop.set();
            server.close();
            server.close_clients();
        }());
    }
}
