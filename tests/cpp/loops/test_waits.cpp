// tests/cpp/loops/test_waits.cpp — one-shot readiness waits (wait_readable/wait_writable).
#include <unistd.h>

#include <array>
#include <atomic>
#include <boost/test/unit_test.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "support/backends.hpp"
#include "support/fds.hpp"
#include "treadle/core/byte_channel.hpp"

using namespace treadle;
using treadle::test::drain;
using treadle::test::FdPair;
using treadle::test::make_test_loop;
using treadle::test::put;
using treadle::test::run_until;

BOOST_AUTO_TEST_SUITE(waits)

BOOST_AUTO_TEST_CASE(wait_fires_once_although_the_fd_stays_readable) {
  auto loop = make_test_loop();
  FdPair p = FdPair::sockets();
  int calls = 0;
  loop->wait_readable(p.a, [&] { ++calls; });  // never drains: a persistent reader would spin
  loop->run_once(0.01);
  BOOST_TEST(calls == 0);
  put(p.b, "x");
  BOOST_REQUIRE(run_until(*loop, [&] { return calls == 1; }));
  for (int i = 0; i < 5; ++i) loop->run_once(0.01);
  BOOST_TEST(calls == 1);
  BOOST_TEST(!loop->remove_reader(p.a));  // the wait is over
}

BOOST_AUTO_TEST_CASE(a_callback_starts_the_next_wait) {
  for (bool use_socket : {false, true}) {
    auto loop = make_test_loop();
    FdPair p = use_socket ? FdPair::sockets() : FdPair::pipe();
    std::string got;
    int calls = 0;
    std::function<void()> on_readable = [&] {
      ++calls;
      got += drain(p.a);
      loop->wait_readable(p.a, on_readable);
    };
    loop->wait_readable(p.a, on_readable);
    for (const char* chunk : {"one ", "two ", "three"}) {
      put(p.b, chunk);
      const std::size_t want = got.size() + std::string(chunk).size();
      BOOST_REQUIRE(run_until(*loop, [&] { return got.size() == want; }));
    }
    BOOST_TEST(got == "one two three");
    BOOST_TEST(calls == 3);
    BOOST_TEST(loop->remove_reader(p.a));  // the last wait is still pending: cancelled
  }
}

BOOST_AUTO_TEST_CASE(remove_cancels_a_pending_wait) {
  auto loop = make_test_loop();
  FdPair p = FdPair::sockets();
  int calls = 0;
  loop->wait_readable(p.a, [&] { ++calls; });
  loop->run_once(0);
  BOOST_TEST(loop->remove_reader(p.a));
  put(p.b, "x");
  for (int i = 0; i < 3; ++i) loop->run_once(0.01);
  BOOST_TEST(calls == 0);
  // And a new wait after the cancelled one works.
  loop->wait_readable(p.a, [&] { ++calls; });
  BOOST_TEST(run_until(*loop, [&] { return calls == 1; }));
}

BOOST_AUTO_TEST_CASE(waits_and_watchers_share_the_slot) {
  auto loop = make_test_loop();
  FdPair p = FdPair::sockets();
  int once = 0, persistent = 0;
  loop->add_reader(p.a, [&] { ++persistent; });
  loop->wait_readable(p.a, [&] { ++once; });  // replaces the persistent reader
  put(p.b, "x");
  BOOST_REQUIRE(run_until(*loop, [&] { return once == 1; }));
  loop->run_once(0.01);
  BOOST_TEST(persistent == 0);
  BOOST_TEST(once == 1);
  loop->add_reader(p.a, [&] { ++persistent; });  // after a wait: persistent again
  BOOST_REQUIRE(run_until(*loop, [&] { return persistent >= 3; }));
  BOOST_TEST(loop->remove_reader(p.a));
}

BOOST_AUTO_TEST_CASE(one_shot_writer_beside_a_persistent_reader) {
  auto loop = make_test_loop();
  FdPair p = FdPair::sockets();
  int reads = 0, writes = 0;
  loop->add_reader(p.a, [&] {
    ++reads;
    drain(p.a);
  });
  loop->wait_writable(p.a, [&] { ++writes; });
  BOOST_REQUIRE(run_until(*loop, [&] { return writes == 1; }));
  // The reader must stay armed after the writer's one-shot fired, every time data comes.
  for (int i = 1; i <= 3; ++i) {
    put(p.b, "x");
    BOOST_REQUIRE(run_until(*loop, [&] { return reads == i; }));
  }
  BOOST_TEST(writes == 1);
  BOOST_TEST(!loop->remove_writer(p.a));
  BOOST_TEST(loop->remove_reader(p.a));
}

BOOST_AUTO_TEST_CASE(reader_and_writer_waits_on_one_fd) {
  auto loop = make_test_loop();
  FdPair p = FdPair::sockets();
  int reads = 0, writes = 0;
  loop->wait_readable(p.a, [&] { ++reads; });
  loop->wait_writable(p.a, [&] { ++writes; });
  BOOST_REQUIRE(run_until(*loop, [&] { return writes == 1; }));
  BOOST_TEST(reads == 0);  // the writer's event must not have consumed the reader's wait
  put(p.b, "x");
  BOOST_REQUIRE(run_until(*loop, [&] { return reads == 1; }));
  for (int i = 0; i < 3; ++i) loop->run_once(0.01);
  BOOST_TEST(reads == 1);
  BOOST_TEST(writes == 1);
}

BOOST_AUTO_TEST_CASE(fd_closed_between_waits_and_its_number_reused) {
  auto loop = make_test_loop();
  int first = -1;
  {
    FdPair p = FdPair::pipe();
    first = p.a;
    bool fired = false;
    loop->wait_readable(p.a, [&] { fired = true; });
    put(p.b, "x");
    BOOST_REQUIRE(run_until(*loop, [&] { return fired; }));
  }  // closed while the loop may still hold a disarmed registration
  FdPair q = FdPair::pipe();
  BOOST_TEST_MESSAGE("fd number reused: " << (q.a == first || q.b == first));
  bool fresh = false;
  loop->wait_readable(q.a, [&] { fresh = true; });
  put(q.b, "y");
  BOOST_TEST(run_until(*loop, [&] { return fresh; }));
}

BOOST_AUTO_TEST_CASE(old_file_kept_open_by_a_dup_cannot_reach_the_new_fd) {
  // The hazard of keeping registrations between waits: the fd is closed, but the file lives
  // on through a dup, so the kernel keeps the old registration; the number is then reused.
  auto loop = make_test_loop();
  FdPair p = FdPair::sockets();
  bool fired = false;
  loop->wait_readable(p.a, [&] { fired = true; });
  put(p.b, "x");
  BOOST_REQUIRE(run_until(*loop, [&] { return fired; }));
  const int number = p.a;
  const int keep = ::dup(p.a);
  BOOST_REQUIRE(keep >= 0);
  ::close(p.a);
  FdPair q = FdPair::sockets();
  if (q.a != number) {
    // Make the new file take the old number, whatever the allocator chose.
    BOOST_REQUIRE(::dup2(q.a, number) == number);
    ::close(q.a);
    q.a = number;
  }
  p.a = -1;
  int calls = 0;
  loop->wait_readable(q.a, [&] {
    ++calls;
    drain(q.a);
  });
  put(p.b, "for the old file");  // readable old file: must wake nobody
  const double start = loop->time();
  for (int i = 0; i < 5; ++i) loop->run_once(0.01);
  BOOST_TEST(calls == 0);
  BOOST_TEST(loop->time() - start >= 0.04);  // and the loop blocked: no stale event spinning
  put(q.b, "for the new file");
  BOOST_TEST(run_until(*loop, [&] { return calls == 1; }));
  ::close(keep);
}

BOOST_AUTO_TEST_CASE(a_wait_callback_may_hand_the_fd_to_a_channel) {
  // As a connect does: wait for writability, then adopt the socket, inside the callback.
  auto loop = make_test_loop();
  FdPair p = FdPair::sockets();
  std::unique_ptr<ByteChannel> channel;
  loop->wait_writable(p.a, [&] { channel = loop->make_stream_channel(std::exchange(p.a, -1)); });
  BOOST_REQUIRE(run_until(*loop, [&] { return channel != nullptr; }));
  std::array<std::byte, 16> buf{};
  std::size_t got = 0;
  channel->async_read_some(MutableBuffer(buf.data(), buf.size()),
                           [&](std::error_code ec, std::size_t n) {
                             BOOST_TEST(!ec);
                             got = n;
                           });
  put(p.b, "abc");
  BOOST_TEST(run_until(*loop, [&] { return got == 3; }));
}

BOOST_AUTO_TEST_CASE(a_throwing_callback_leaves_the_other_wait_armed) {
  auto loop = make_test_loop();
  FdPair p = FdPair::sockets();
  int reported = 0, reads = 0;
  loop->set_exception_handler([&](Loop&, const ExceptionContext&) { ++reported; });
  loop->wait_writable(p.a, [] { throw std::runtime_error("boom"); });
  loop->wait_readable(p.a, [&] { ++reads; });
  BOOST_REQUIRE(run_until(*loop, [&] { return reported == 1; }));
  put(p.b, "x");
  BOOST_TEST(run_until(*loop, [&] { return reads == 1; }));
}

BOOST_AUTO_TEST_CASE(more_ready_fds_than_one_epoll_batch) {
  // One epoll_wait reports at most 256 events. The rest must still run, also where the
  // watchers' epoll set is nested in another one (the proactor), whose edge-triggered
  // registration of the set need not signal the leftovers again.
  for (bool persistent : {false, true}) {
    auto loop = make_test_loop();
    constexpr int kPairs = 300;
    std::vector<std::unique_ptr<FdPair>> pairs;
    int calls = 0;
    for (int i = 0; i < kPairs; ++i) {
      pairs.emplace_back(new FdPair(FdPair::pipe()));
      const int fd = pairs.back()->a;
      if (persistent) {
        loop->add_reader(fd, [&calls, &loop, fd] {
          ++calls;
          loop->remove_reader(fd);
        });
      } else {
        loop->wait_readable(fd, [&calls] { ++calls; });
      }
    }
    for (auto& p : pairs) put(p->b, "x");
    BOOST_TEST(run_until(*loop, [&] { return calls == kPairs; }), "persistent=" << persistent);
  }
}

BOOST_AUTO_TEST_SUITE_END()

// A poll phase may go on waiting for I/O after running I/O callbacks (the proactor does, as
// Asio's run()): it must still end as soon as a callback gives the loop other work.
BOOST_AUTO_TEST_SUITE(poll_phase)

namespace {

/// Runs `loop` forever, with a watchdog thread that stops it after `seconds`; true if the
/// loop stopped by itself.
bool runs_to_its_own_stop(Loop& loop, double seconds = 10.0) {
  std::atomic<bool> done{false}, watchdog_fired{false};
  std::thread watchdog([&] {
    const auto until = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
    while (!done.load() && std::chrono::steady_clock::now() < until) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    if (!done.load()) {
      watchdog_fired = true;
      loop.stop();
    }
  });
  loop.run_forever();
  done = true;
  watchdog.join();
  return !watchdog_fired.load();
}

}  // namespace

BOOST_AUTO_TEST_CASE(ready_callback_scheduled_by_io_runs) {
  auto loop = make_test_loop();
  FdPair p = FdPair::sockets();
  loop->wait_readable(p.a, [&] { loop->call_soon([&] { loop->stop(); }); });
  put(p.b, "x");
  BOOST_TEST(runs_to_its_own_stop(*loop));
}

BOOST_AUTO_TEST_CASE(timer_scheduled_by_io_fires) {
  auto loop = make_test_loop();
  FdPair p = FdPair::sockets();
  loop->wait_readable(p.a, [&] { loop->call_later(0.02, [&] { loop->stop(); }); });
  put(p.b, "x");
  BOOST_TEST(runs_to_its_own_stop(*loop));
}

BOOST_AUTO_TEST_CASE(stop_from_io_ends_run_forever) {
  auto loop = make_test_loop();
  FdPair p = FdPair::sockets();
  loop->wait_readable(p.a, [&] { loop->stop(); });
  put(p.b, "x");
  BOOST_TEST(runs_to_its_own_stop(*loop));
}

BOOST_AUTO_TEST_CASE(run_once_returns_after_io_callbacks) {
  // One iteration: after a callback ran, run_once must not wait out its whole timeout.
  auto loop = make_test_loop();
  FdPair p = FdPair::sockets();
  int calls = 0;
  loop->wait_readable(p.a, [&] { ++calls; });
  put(p.b, "x");
  const double start = loop->time();
  while (calls == 0 && loop->time() - start < 10) loop->run_once(30.0);
  BOOST_TEST(calls == 1);
  BOOST_TEST(loop->time() - start < 10.0);  // a liveness bound, not a speed one
}

BOOST_AUTO_TEST_SUITE_END()
