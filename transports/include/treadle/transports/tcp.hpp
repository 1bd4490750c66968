// transports/include/treadle/transports/tcp.hpp — connecting, listening, adopting sockets.
// Tests: tests/cpp/transports/test_tcp.cpp, test_server.cpp (every backend)
#pragma once

#include <sys/socket.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <system_error>
#include <vector>

#include "treadle/core/endpoint.hpp"
#include "treadle/core/loop.hpp"
#include "treadle/core/protocol.hpp"
#include "treadle/transports/stream_transport.hpp"

namespace treadle {

/// @brief Makes the protocol for one new connection (asyncio's `protocol_factory`).
using StreamProtocolFactory = std::function<std::shared_ptr<StreamProtocol>()>;

/// @brief Options of `create_connection`.
struct ConnectOptions {
  int family = AF_UNSPEC;                 ///< Restrict resolution to `AF_INET` or `AF_INET6`.
  std::optional<Endpoint> local_address;  ///< Bind to this address before connecting.
  bool no_delay = true;                   ///< `TCP_NODELAY` (on by default, as in asyncio).
};

/// @brief The outcome of a connection attempt.
struct Connection {
  std::error_code error;  ///< Empty on success; otherwise the last attempt's error.
  /// On failure, every attempt with its address, e.g.
  /// `"connect to 127.0.0.1:9: Connection refused; connect to [::1]:9: ..."`.
  std::string message;
  std::shared_ptr<StreamTransport> transport;  ///< The connected transport, on success.
  std::shared_ptr<StreamProtocol> protocol;    ///< The factory's protocol, on success.
};

/// @brief Receives the outcome of `create_connection`, on the loop's thread.
using ConnectCallback = std::function<void(Connection)>;

/**
 * @brief Opens a TCP connection (asyncio's `loop.create_connection`).
 *
 * `host` is resolved off the loop thread (numeric addresses at once, see `Loop::resolve`);
 * every resolved address is tried in order until one connects. Then the factory makes the
 * protocol, a `StreamTransport` is created, and `done` runs; `connection_made` follows on a
 * later iteration. `done` never runs inside this call.
 */
void create_connection(Loop& loop, std::string host, std::uint16_t port,
                       StreamProtocolFactory factory, ConnectCallback done,
                       ConnectOptions options = {});

/// @brief Opens a Unix stream connection to `path` (a leading NUL: abstract namespace).
void create_unix_connection(Loop& loop, std::string path, StreamProtocolFactory factory,
                            ConnectCallback done);

/// @brief Wraps an already-connected stream socket (ownership of `fd` passes to treadle).
std::shared_ptr<StreamTransport> adopt_connection(Loop& loop, int fd,
                                                  std::shared_ptr<StreamProtocol> protocol);

/// @brief Options of the server factories.
struct ServerOptions {
  int family = AF_UNSPEC;           ///< Restrict to `AF_INET` or `AF_INET6`.
  int backlog = 100;                ///< `listen(2)` backlog; also accepts per readiness event.
  bool reuse_address = true;        ///< `SO_REUSEADDR`.
  bool reuse_port = false;          ///< `SO_REUSEPORT`.
  bool start_serving = true;        ///< Accept at once; else call `Server::start_serving`.
  bool no_delay = true;             ///< `TCP_NODELAY` on accepted TCP connections.
  double accept_retry_delay = 1.0;  ///< Pause after EMFILE/ENFILE before accepting again.
};

/**
 * @brief Listening sockets that accept connections, each served by a new protocol.
 *
 * When `accept` fails for lack of resources (`EMFILE`, `ENFILE`, `ENOBUFS`, `ENOMEM`) the
 * server reports it to the loop's exception handler, stops accepting for
 * `accept_retry_delay` seconds and then resumes: it never closes its listeners and never
 * spins. `close()` stops listening; connections already accepted carry on (as in asyncio).
 * When the loop closes, the server closes its listening sockets and drops its protocol
 * factory (which may refer back to whoever owns the server).
 *
 * Thread safety: loop thread only.
 */
class Server : private LoopResource {
 public:
  Server(Loop& loop, std::vector<int> listeners, StreamProtocolFactory factory,
         ServerOptions options, std::string unix_path = {});
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  /// @brief Starts accepting (idempotent).
  void start_serving();
  /// @brief True while accepting (also during an EMFILE pause).
  bool is_serving() const noexcept { return serving_; }
  /// @brief Stops listening and closes the listening sockets. Idempotent.
  void close();
  /// @brief True once `close()` was called.
  bool is_closed() const noexcept { return closed_; }
  /// @brief The addresses listened on.
  std::vector<Endpoint> sockets() const;
  /// @brief Connections accepted so far.
  std::size_t accepted() const noexcept { return accepted_; }

 private:
  void on_readable(int fd);
  void watch(bool on);
  void loop_closed() noexcept override;

  Loop& loop_;
  std::vector<int> listeners_;
  StreamProtocolFactory factory_;
  ServerOptions options_;
  std::string unix_path_;
  TimerHandle retry_;
  bool serving_ = false;
  bool paused_ = false;
  bool closed_ = false;
  std::size_t accepted_ = 0;
  bool loop_gone_ = false;
};

/// @brief The outcome of a server factory.
struct Listening {
  std::error_code error;  ///< Empty on success.
  std::string message;    ///< On failure: which address failed and why.
  std::shared_ptr<Server> server;
};

/**
 * @brief Listens on every address `host` resolves to (asyncio's `loop.create_server`).
 *
 * An empty `host` means all interfaces (IPv4 and IPv6). Port 0 picks a free port (for the
 * first address; read it from `Server::sockets()`). IPv6 sockets are `IPV6_V6ONLY`, so v4 and
 * v6 can share the port. If any address fails, every socket opened so far is closed.
 */
void create_server(Loop& loop, std::string host, std::uint16_t port, StreamProtocolFactory factory,
                   std::function<void(Listening)> done, ServerOptions options = {});

/// @brief Listens on a Unix socket path; a stale socket file at `path` is removed first.
void create_unix_server(Loop& loop, std::string path, StreamProtocolFactory factory,
                        std::function<void(Listening)> done, ServerOptions options = {});

/// @brief Serves an already-listening socket (ownership of `fd` passes to the server).
std::shared_ptr<Server> adopt_server(Loop& loop, int listen_fd, StreamProtocolFactory factory,
                                     ServerOptions options = {});

}  // namespace treadle
