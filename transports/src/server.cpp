// transports/src/server.cpp — listening sockets, accept, and the EMFILE back-off.
// Tests: tests/cpp/transports/test_server.cpp (every backend)
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

#include "socket_setup.hpp"
#include "treadle/core/error.hpp"
#include "treadle/transports/tcp.hpp"

namespace treadle {

Server::Server(Loop& loop, std::vector<int> listeners, StreamProtocolFactory factory,
               ServerOptions options, std::string unix_path)
    : loop_(loop),
      listeners_(std::move(listeners)),
      factory_(std::move(factory)),
      options_(options),
      unix_path_(std::move(unix_path)) {
  loop_.add_resource(this);
  if (options_.start_serving) start_serving();
}

Server::~Server() {
  close();
  if (!loop_gone_) loop_.remove_resource(this);
}

void Server::loop_closed() noexcept {
  // The loop dropped its watchers already; the listening sockets are ours to close.
  loop_gone_ = true;
  serving_ = false;
  closed_ = true;
  for (int fd : listeners_) ::close(fd);
  listeners_.clear();
  // No connection can come any more. The factory may refer back to the server's owner (a
  // Python server's does): keeping it would keep that owner, and its sockets, forever.
  // Releasing it may destroy this server (the owner held it), so it is moved out first and
  // released last: assigning to factory_ would destroy the factory from inside its own
  // assignment, and a destroyed server must not be touched after.
  decltype(factory_) factory;
  factory.swap(factory_);
}

void Server::watch(bool on) {
  for (int fd : listeners_) {
    if (on) {
      loop_.add_reader(fd, [this, fd] { on_readable(fd); });
    } else {
      loop_.remove_reader(fd);
    }
  }
}

void Server::start_serving() {
  if (serving_ || closed_) return;
  serving_ = true;
  watch(true);
}

void Server::close() {
  if (closed_) return;
  closed_ = true;
  retry_.cancel();
  if (serving_ && !paused_ && !loop_gone_) watch(false);
  serving_ = false;
  for (int fd : listeners_) ::close(fd);
  listeners_.clear();
}

std::vector<Endpoint> Server::sockets() const {
  std::vector<Endpoint> out;
  for (int fd : listeners_) {
    Endpoint e;
    socklen_t len = Endpoint::capacity();
    if (::getsockname(fd, e.data(), &len) == 0) {
      e.resize(len);
      out.push_back(e);
    }
  }
  return out;
}

void Server::on_readable(int fd) {
  // Accept a bounded batch per readiness event so one busy listener cannot starve the loop.
  for (int i = 0; i < std::max(1, options_.backlog); ++i) {
    const int conn = ::accept4(fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (conn < 0) {
      const int err = errno;
      if (err == EINTR || err == ECONNABORTED || err == EPROTO) continue;
      if (err == EAGAIN) return;
      if (err == EMFILE || err == ENFILE || err == ENOBUFS || err == ENOMEM) {
        loop_.call_exception_handler(
            {"socket.accept() out of system resource; pausing accept", {}, errno_code(err), {}});
        paused_ = true;
        watch(false);
        retry_ = loop_.call_later(options_.accept_retry_delay, [this] {
          paused_ = false;
          if (serving_ && !closed_) watch(true);
        });
        return;
      }
      loop_.call_exception_handler({"socket.accept() failed", {}, errno_code(err), {}});
      return;
    }
    ++accepted_;
    if (options_.no_delay) detail::set_no_delay(conn);
    try {
      auto channel = loop_.make_stream_channel(conn);
      StreamTransport::make(loop_, std::move(channel), factory_());
    } catch (const Interrupt&) {
      throw;
    } catch (...) {
      // The channel (if made) closed the socket; the connection is refused, not the server.
      loop_.call_exception_handler(
          {"Error setting up an accepted connection", std::current_exception(), {}, {}});
    }
  }
}

namespace {

/// Opens, configures, binds and listens one socket; -1 with `ec` on failure.
int listen_on(const Endpoint& e, const ServerOptions& o, std::error_code& ec) {
  const int fd = detail::open_socket(e.family(), ec);
  if (fd < 0) return -1;
  int one = 1;
  if (e.family() != AF_UNIX) {
    if (o.reuse_address) (void)::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (o.reuse_port && ::setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0) {
      ec = errno_code(errno);
      ::close(fd);
      return -1;
    }
  }
  // v4 and v6 wildcard sockets on one port would collide without V6ONLY (as asyncio does).
  if (e.family() == AF_INET6) (void)::setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
  if (::bind(fd, e.data(), e.size()) != 0 || ::listen(fd, o.backlog) != 0) {
    ec = errno_code(errno);
    ::close(fd);
    return -1;
  }
  return fd;
}

}  // namespace

void create_server(Loop& loop, std::string host, std::uint16_t port, StreamProtocolFactory factory,
                   std::function<void(Listening)> done, ServerOptions options) {
  loop.resolve(
      std::move(host), port, options.family, AI_PASSIVE,
      [&loop, factory = std::move(factory), done = std::move(done), options](
          std::error_code ec, std::vector<Endpoint> endpoints) mutable {
        if (ec) {
          done({ec, "resolve: " + ec.message(), {}});
          return;
        }
        std::vector<int> fds;
        std::uint16_t chosen = 0;  // port 0: every address shares the first one's port
        for (Endpoint e : endpoints) {
          if (chosen != 0 && e.port() == 0) {
            std::error_code ignored;
            e = Endpoint::from_numeric(e.host(), chosen, ignored);
          }
          const int fd = listen_on(e, options, ec);
          if (fd < 0) {
            for (int f : fds) ::close(f);
            done({ec, "bind to " + e.to_string() + ": " + ec.message(), {}});
            return;
          }
          fds.push_back(fd);
          if (chosen == 0) {
            Endpoint bound;
            socklen_t len = Endpoint::capacity();
            if (::getsockname(fd, bound.data(), &len) == 0) {
              bound.resize(len);
              chosen = bound.port();
            }
          }
        }
        done({{}, {}, std::make_shared<Server>(loop, std::move(fds), std::move(factory), options)});
      });
}

void create_unix_server(Loop& loop, std::string path, StreamProtocolFactory factory,
                        std::function<void(Listening)> done, ServerOptions options) {
  std::error_code ec;
  Endpoint e = Endpoint::from_unix_path(path, ec);
  int fd = -1;
  if (!ec) {
    struct stat st;
    // A socket file left by an earlier run would make bind fail; asyncio removes it too.
    if (!path.empty() && path[0] != '\0' && ::stat(path.c_str(), &st) == 0 &&
        S_ISSOCK(st.st_mode)) {
      ::unlink(path.c_str());
    }
    fd = listen_on(e, options, ec);
  }
  Listening result;
  if (fd < 0) {
    result = {ec, "bind to " + path + ": " + ec.message(), {}};
  } else {
    result.server =
        std::make_shared<Server>(loop, std::vector<int>{fd}, std::move(factory), options, path);
  }
  loop.call_soon(
      [done = std::move(done), result = std::move(result)]() mutable { done(std::move(result)); });
}

std::shared_ptr<Server> adopt_server(Loop& loop, int listen_fd, StreamProtocolFactory factory,
                                     ServerOptions options) {
  return std::make_shared<Server>(loop, std::vector<int>{listen_fd}, std::move(factory), options);
}

}  // namespace treadle
