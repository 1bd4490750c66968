// examples/echo_server.cpp — serves treadle::Echo on 127.0.0.1 with the chosen backend.
//
//   echo_server [--backend reactor|proactor] [--port P]
//
// Prints "listening on 127.0.0.1:P" once the socket listens (port 0 picks one), and exits
// cleanly on SIGINT or SIGTERM. Used by `make demo` and by bench/run_echo_bench.py.
#include <sys/signalfd.h>
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "treadle/loops/backends.hpp"
#include "treadle/protocols/echo.hpp"
#include "treadle/transports/tcp.hpp"

int main(int argc, char** argv) {
  std::string backend = "reactor";
  int port = 0;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (std::strcmp(argv[i], "--backend") == 0)
      backend = argv[i + 1];
    else if (std::strcmp(argv[i], "--port") == 0)
      port = std::atoi(argv[i + 1]);
  }
  // Signals arrive as readable data on a signalfd that the loop watches: no extra thread, so
  // the process stays single-threaded like the raw servers it is benchmarked against (a
  // second thread alone makes every socket syscall dearer: glibc's cancellation wrappers and
  // the kernel's shared file-table reference counting).
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  sigprocmask(SIG_BLOCK, &signals, nullptr);
  const int signal_fd = signalfd(-1, &signals, SFD_NONBLOCK | SFD_CLOEXEC);
  if (signal_fd < 0) {
    std::perror("echo_server: signalfd");
    return 1;
  }

  auto loop = treadle::make_loop(backend);
  loop->add_reader(signal_fd, [&] { loop->stop(); });

  //! [serve]
  std::shared_ptr<treadle::Server> server;
  treadle::create_server(
      *loop, "127.0.0.1", static_cast<std::uint16_t>(port),
      [] { return std::make_shared<treadle::Echo>(); },
      [&](treadle::Listening l) {
        if (l.error) {
          std::fprintf(stderr, "echo_server: %s\n", l.message.c_str());
          loop->stop();
          return;
        }
        server = l.server;
        std::printf("listening on 127.0.0.1:%u (%s backend)\n", server->sockets().at(0).port(),
                    backend.c_str());
        std::fflush(stdout);
      });
  loop->run_forever();
  //! [serve]
  const bool ok = server != nullptr;
  if (server) server->close();
  loop->remove_reader(signal_fd);
  loop->close();
  ::close(signal_fd);
  return ok ? 0 : 1;
}
