// transports/src/connect.cpp — create_connection: resolve, try each address, hand over.
// Tests: tests/cpp/transports/test_tcp.cpp (every backend)
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>

#include "socket_setup.hpp"
#include "treadle/core/error.hpp"
#include "treadle/transports/tcp.hpp"

namespace treadle {

namespace {

/// One create_connection in progress: the addresses left to try and what failed so far.
struct Attempt : std::enable_shared_from_this<Attempt> {
  Loop& loop;
  std::vector<Endpoint> endpoints;
  std::size_t next = 0;
  StreamProtocolFactory factory;
  ConnectCallback done;
  ConnectOptions options;
  Connection failure;

  Attempt(Loop& l, StreamProtocolFactory f, ConnectCallback d, ConnectOptions o)
      : loop(l), factory(std::move(f)), done(std::move(d)), options(std::move(o)) {}

  void fail(const Endpoint& e, std::error_code ec) {
    if (!failure.message.empty()) failure.message += "; ";
    failure.message += "connect to " + e.to_string() + ": " + ec.message();
    failure.error = ec;
  }

  void try_next() {
    while (next < endpoints.size()) {
      const Endpoint& e = endpoints[next++];
      std::error_code ec;
      const int fd = detail::open_socket(e.family(), ec);
      if (fd < 0) {
        fail(e, ec);
        continue;
      }
      if (options.local_address &&
          ::bind(fd, options.local_address->data(), options.local_address->size()) != 0) {
        fail(e, errno_code(errno));
        ::close(fd);
        continue;
      }
      if (::connect(fd, e.data(), e.size()) == 0) {
        connected(fd);
        return;
      }
      if (errno != EINPROGRESS) {
        fail(e, errno_code(errno));
        ::close(fd);
        continue;
      }
      // Wait for writability, then read the outcome from SO_ERROR.
      loop.wait_writable(fd, [self = shared_from_this(), fd, e] {
        int err = 0;
        socklen_t len = sizeof err;
        if (::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0) err = errno;
        if (err == 0) {
          self->connected(fd);
          return;
        }
        self->fail(e, errno_code(err));
        ::close(fd);
        self->try_next();
      });
      return;
    }
    if (!failure.error) failure.error = make_error_code(errc::no_address);
    if (failure.message.empty()) failure.message = failure.error.message();
    done(std::move(failure));
  }

  void connected(int fd) {
    if (options.no_delay) detail::set_no_delay(fd);
    Connection c;
    try {
      auto channel = loop.make_stream_channel(fd);
      c.protocol = factory();
      c.transport = StreamTransport::make(loop, std::move(channel), c.protocol);
    } catch (const std::system_error& e) {
      c = {e.code(), std::string("setting up the connection failed: ") + e.what(), {}, {}};
    } catch (const std::exception& e) {
      c = {make_error_code(errc::protocol_error),
           std::string("protocol factory failed: ") + e.what(),
           {},
           {}};
    }
    done(std::move(c));
  }
};

}  // namespace

void create_connection(Loop& loop, std::string host, std::uint16_t port,
                       StreamProtocolFactory factory, ConnectCallback done,
                       ConnectOptions options) {
  auto attempt = std::make_shared<Attempt>(loop, std::move(factory), std::move(done), options);
  const std::string target = host + ":" + std::to_string(port);
  loop.resolve(std::move(host), port, options.family, 0,
               [attempt, target](std::error_code ec, std::vector<Endpoint> endpoints) {
                 if (ec) {
                   attempt->done({ec, "resolve " + target + ": " + ec.message(), {}, {}});
                   return;
                 }
                 attempt->endpoints = std::move(endpoints);
                 attempt->try_next();
               });
}

void create_unix_connection(Loop& loop, std::string path, StreamProtocolFactory factory,
                            ConnectCallback done) {
  auto attempt = std::make_shared<Attempt>(loop, std::move(factory), std::move(done),
                                           ConnectOptions{AF_UNIX, std::nullopt, false});
  std::error_code ec;
  Endpoint e = Endpoint::from_unix_path(path, ec);
  if (ec) {
    loop.call_soon([attempt, ec, path] {
      attempt->done({ec, "connect to " + path + ": " + ec.message(), {}, {}});
    });
    return;
  }
  attempt->endpoints.push_back(e);
  // Even a Unix connect that succeeds at once reports on a later iteration.
  loop.call_soon([attempt] { attempt->try_next(); });
}

std::shared_ptr<StreamTransport> adopt_connection(Loop& loop, int fd,
                                                  std::shared_ptr<StreamProtocol> protocol) {
  return StreamTransport::make(loop, loop.make_stream_channel(fd), std::move(protocol));
}

}  // namespace treadle
