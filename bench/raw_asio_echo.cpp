// bench/raw_asio_echo.cpp — the baseline for the proactor: idiomatic raw Boost.Asio echo.
//
// One io_context (concurrency hint 1, as treadle's proactor uses), one thread. Each session
// loops async_read_some -> async_write(what was read) -> async_read_some, with one 256 KiB buffer
// per session allocated once and reused. TCP_NODELAY on, as treadle sets by default.
//
//   raw_asio_echo --port P      binds 127.0.0.1:P (0 = any free port), prints
//                               "listening on 127.0.0.1:<port>" and serves until SIGTERM/SIGINT.
#ifndef BOOST_ASIO_NO_DEPRECATED
#define BOOST_ASIO_NO_DEPRECATED
#endif
#include <boost/asio/buffer.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/write.hpp>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

namespace asio = boost::asio;
using asio::ip::tcp;

namespace {

constexpr std::size_t kBufferSize = 256 * 1024;

class Session : public std::enable_shared_from_this<Session> {
 public:
  explicit Session(tcp::socket socket) : socket_(std::move(socket)), buffer_(kBufferSize) {}

  void start() { read(); }

 private:
  void read() {
    socket_.async_read_some(asio::buffer(buffer_),
                            [self = shared_from_this()](boost::system::error_code ec,
                                                        std::size_t n) {
                              if (!ec) self->write(n);
                            });
  }

  void write(std::size_t n) {
    asio::async_write(socket_, asio::buffer(buffer_.data(), n),
                      [self = shared_from_this()](boost::system::error_code ec, std::size_t) {
                        if (!ec) self->read();
                      });
  }

  tcp::socket socket_;
  std::vector<char> buffer_;
};

class Server {
 public:
  Server(asio::io_context& io, unsigned short port)
      : acceptor_(io, tcp::endpoint(asio::ip::address_v4::loopback(), port)) {
    accept();
  }

  unsigned short port() const { return acceptor_.local_endpoint().port(); }
  void close() {
    boost::system::error_code ignored;
    acceptor_.close(ignored);
  }

 private:
  void accept() {
    acceptor_.async_accept([this](boost::system::error_code ec, tcp::socket socket) {
      if (ec == asio::error::operation_aborted) return;
      if (!ec) {
        boost::system::error_code ignored;
        socket.set_option(tcp::no_delay(true), ignored);
        std::make_shared<Session>(std::move(socket))->start();
      }
      accept();
    });
  }

  tcp::acceptor acceptor_;
};

}  // namespace

int main(int argc, char** argv) {
  long port = -1;
  if (argc == 3 && std::strcmp(argv[1], "--port") == 0) {
    char* end = nullptr;
    port = std::strtol(argv[2], &end, 10);
    if (*end != '\0' || port < 0 || port > 65535) port = -1;
  }
  if (port < 0) {
    std::fprintf(stderr, "usage: raw_asio_echo --port P\n");
    return 1;
  }
  try {
    asio::io_context io{1};
    Server server(io, static_cast<unsigned short>(port));
    asio::signal_set signals(io, SIGINT, SIGTERM);
    signals.async_wait([&io](boost::system::error_code, int) { io.stop(); });
    std::printf("listening on 127.0.0.1:%u\n", static_cast<unsigned>(server.port()));
    std::fflush(stdout);
    io.run();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "raw_asio_echo: %s\n", e.what());
    return 1;
  }
  return 0;
}
