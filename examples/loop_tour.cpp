// examples/loop_tour.cpp — a tour of the loop API, run on every backend by `make demo`.
//
// Schedules plain callbacks, timers (one cancelled), a callback from another thread and a
// pipe reader, and prints when each ran. The printed order is the same on every backend:
// that is the point of treadle's single scheduler.
#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <string>
#include <thread>

#include "treadle/loops/backends.hpp"

namespace {

void tour(std::string_view backend) {
  auto loop = treadle::make_loop(backend);
  const double t0 = loop->time();
  auto say = [&](const std::string& what) {
    std::printf("  [%-8.*s] +%6.2f ms  %s\n", int(backend.size()), backend.data(),
                (loop->time() - t0) * 1e3, what.c_str());
  };

  //! [schedule]
  loop->call_soon([&] { say("call_soon: first"); });
  loop->call_soon([&] { say("call_soon: second (FIFO)"); });
  loop->call_later(0.020, [&] { say("call_later(20 ms)"); });
  loop->call_later(0.010, [&] { say("call_later(10 ms) runs before the 20 ms timer"); });
  auto cancelled = loop->call_later(0.015, [&] { say("never printed: cancelled"); });
  cancelled.cancel();
  //! [schedule]

  // A pipe reader fires when another thread writes, and a thread-safe callback wakes the loop.
  int fds[2];
  if (::pipe2(fds, O_NONBLOCK | O_CLOEXEC) != 0) return;
  loop->add_reader(fds[0], [&] {
    char buf[64];
    const ssize_t n = ::read(fds[0], buf, sizeof buf);
    say("add_reader: pipe readable, read " + std::to_string(n) + " bytes");
    loop->remove_reader(fds[0]);
  });
  std::thread worker([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(30));
    loop->call_soon_threadsafe([&] { say("call_soon_threadsafe from a worker thread"); });
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    (void)!::write(fds[1], "hello", 5);
  });

  loop->call_later(0.060, [&] {
    say("call_later(60 ms): stop()");
    loop->stop();
  });
  loop->run_forever();
  worker.join();
  ::close(fds[0]);
  ::close(fds[1]);
  loop->close();
}

}  // namespace

int main() {
  std::printf("treadle loop tour: the same program on every backend\n");
  for (auto backend : treadle::list_backends()) {
    std::printf("\nbackend %.*s\n", int(backend.size()), backend.data());
    tour(backend);
  }
  return 0;
}
