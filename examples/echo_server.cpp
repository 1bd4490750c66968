// examples/echo_server.cpp — serves treadle::Echo on 127.0.0.1 with the chosen backend.
//
//   echo_server [--backend reactor|proactor] [--port P]
//
// Prints "listening on 127.0.0.1:P" once the socket listens (port 0 picks one), and exits
// cleanly on SIGINT or SIGTERM. Used by `make demo` and by bench/run_echo_bench.py.
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>

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
  // Signals are taken by a thread with sigwait: Loop::stop() is safe from any thread.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  auto loop = treadle::make_loop(backend);
  std::thread waiter([&] {
    int sig = 0;
    sigwait(&signals, &sig);
    loop->stop();
  });

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
  pthread_kill(waiter.native_handle(), SIGTERM);  // harmless if it already returned
  waiter.join();
  loop->close();
  return ok ? 0 : 1;
}
