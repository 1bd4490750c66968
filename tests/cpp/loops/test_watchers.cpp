// tests/cpp/loops/test_watchers.cpp — add_reader/add_writer on pipes and socketpairs.
#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <boost/test/unit_test.hpp>
#include <cerrno>
#include <cstdio>
#include <memory>
#include <string>

#include "support/backends.hpp"
#include "support/fds.hpp"

using namespace treadle;
using treadle::test::make_test_loop;
using treadle::test::run_until;

using treadle::test::drain;
using treadle::test::FdPair;
using treadle::test::put;

BOOST_AUTO_TEST_SUITE(watchers)

BOOST_AUTO_TEST_CASE(reader_on_pipe_is_persistent) {
  for (bool use_socket : {false, true}) {
    auto loop = make_test_loop();
    FdPair p = use_socket ? FdPair::sockets() : FdPair::pipe();
    std::string got;
    int calls = 0;
    loop->add_reader(p.a, [&] {
      ++calls;
      got += drain(p.a);
    });
    loop->run_once(0.01);
    BOOST_TEST(calls == 0);  // nothing to read yet
    for (const char* chunk : {"one ", "two ", "three"}) {
      put(p.b, chunk);
      const std::size_t want = got.size() + std::string(chunk).size();
      BOOST_REQUIRE(run_until(*loop, [&] { return got.size() == want; }));
    }
    BOOST_TEST(got == "one two three");
    BOOST_TEST(calls == 3);
    BOOST_TEST(loop->remove_reader(p.a));
    BOOST_TEST(!loop->remove_reader(p.a));
    put(p.b, "more");
    loop->run_once(0.02);
    BOOST_TEST(calls == 3);  // removed: no more calls
  }
}

BOOST_AUTO_TEST_CASE(reader_is_level_triggered) {
  auto loop = make_test_loop();
  FdPair p = FdPair::sockets();
  int calls = 0;
  loop->add_reader(p.a, [&] { ++calls; });  // never reads: stays readable
  put(p.b, "x");
  BOOST_REQUIRE(run_until(
      *loop, [&] { return calls >= 3; }, 5.0));
  loop->remove_reader(p.a);
}

BOOST_AUTO_TEST_CASE(writer_fires_while_writable_and_reader_writer_coexist) {
  auto loop = make_test_loop();
  FdPair p = FdPair::sockets();
  int writes = 0;
  std::string got;
  loop->add_reader(p.b, [&] { got += drain(p.b); });
  loop->add_writer(p.a, [&] {
    put(p.a, "w");
    if (++writes == 5) loop->remove_writer(p.a);  // remove itself from its own callback
  });
  BOOST_REQUIRE(run_until(*loop, [&] { return got.size() == 5; }));
  BOOST_TEST(writes == 5);
  loop->run_once(0.01);
  BOOST_TEST(writes == 5);
  BOOST_TEST(loop->remove_reader(p.b));
}

BOOST_AUTO_TEST_CASE(second_add_replaces_the_callback) {
  auto loop = make_test_loop();
  FdPair p = FdPair::pipe();
  std::string who;
  loop->add_reader(p.a, [&] {
    who = "first";
    drain(p.a);
  });
  loop->add_reader(p.a, [&] {
    who = "second";
    drain(p.a);
  });
  put(p.b, "x");
  BOOST_REQUIRE(run_until(*loop, [&] { return !who.empty(); }));
  BOOST_TEST(who == "second");
  loop->remove_reader(p.a);
}

BOOST_AUTO_TEST_CASE(callback_replacing_itself_and_removing_another) {
  auto loop = make_test_loop();
  FdPair p = FdPair::sockets();
  FdPair q = FdPair::sockets();
  int q_calls = 0, second = 0;
  loop->add_reader(q.a, [&] { ++q_calls; });
  loop->add_reader(p.a, [&] {
    loop->remove_reader(q.a);  // may have an event in this very batch
    loop->add_reader(p.a, [&] {
      ++second;
      drain(p.a);
    });
  });
  put(q.b, "q");
  put(p.b, "p");
  BOOST_REQUIRE(run_until(*loop, [&] { return second > 0; }));
  BOOST_TEST(q_calls <= 1);
  loop->run_once(0.01);
  const int frozen = q_calls;
  loop->run_once(0.01);
  BOOST_TEST(q_calls == frozen);
  loop->remove_reader(p.a);
}

BOOST_AUTO_TEST_CASE(hang_up_wakes_the_reader) {
  auto loop = make_test_loop();
  FdPair p = FdPair::pipe();
  bool eof = false;
  loop->add_reader(p.a, [&] {
    char c;
    if (::read(p.a, &c, 1) == 0) {
      eof = true;
      loop->remove_reader(p.a);
    }
  });
  ::close(p.b);
  p.b = -1;
  BOOST_TEST(run_until(*loop, [&] { return eof; }));
}

BOOST_AUTO_TEST_CASE(exception_in_watcher_is_reported_and_loop_continues) {
  auto loop = make_test_loop();
  FdPair p = FdPair::pipe();
  int reports = 0;
  loop->set_exception_handler([&](Loop&, const ExceptionContext&) { ++reports; });
  loop->add_reader(p.a, [&] {
    drain(p.a);
    throw std::runtime_error("reader failed");
  });
  put(p.b, "x");
  BOOST_REQUIRE(run_until(*loop, [&] { return reports == 1; }));
  put(p.b, "y");  // still registered, still runs
  BOOST_REQUIRE(run_until(*loop, [&] { return reports == 2; }));
  loop->remove_reader(p.a);
}

BOOST_AUTO_TEST_CASE(unpollable_and_invalid_fds_are_refused) {
  auto loop = make_test_loop();
  char path[] = "/tmp/treadle-watch-XXXXXX";
  const int file = ::mkstemp(path);
  BOOST_REQUIRE(file >= 0);
  ::unlink(path);
  try {
    loop->add_reader(file, [] {});
    BOOST_FAIL("regular file accepted");
  } catch (const std::system_error& e) {
    BOOST_TEST(e.code().value() == EPERM);
  }
  ::close(file);
  try {
    loop->add_writer(987654, [] {});
    BOOST_FAIL("invalid fd accepted");
  } catch (const std::system_error& e) {
    BOOST_TEST(e.code().value() == EBADF);
  }
  BOOST_TEST(!loop->remove_writer(987654));
}

BOOST_AUTO_TEST_CASE(close_removes_watchers_and_releases_callbacks) {
  auto loop = make_test_loop();
  FdPair p = FdPair::sockets();
  auto token = std::make_shared<int>(0);
  loop->add_reader(p.a, [token] {});
  loop->add_writer(p.a, [token] {});
  loop->run_once(0);
  loop->close();
  BOOST_TEST(token.use_count() == 1);
  BOOST_TEST(!loop->remove_reader(p.a));
  BOOST_CHECK_THROW(loop->add_reader(p.a, [] {}), std::exception);
}

BOOST_AUTO_TEST_CASE(fd_number_reused_after_close_without_remove) {
  auto loop = make_test_loop();
  int calls = 0;
  {
    FdPair p = FdPair::pipe();
    loop->add_reader(p.a, [&] { ++calls; });
    loop->run_once(0);
  }                           // closed behind the loop's back
  FdPair q = FdPair::pipe();  // likely reuses the numbers
  bool fresh = false;
  loop->remove_reader(q.a);  // forget whatever the loop still remembers for this number
  loop->add_reader(q.a, [&] {
    fresh = true;
    drain(q.a);
  });
  put(q.b, "x");
  BOOST_TEST(run_until(*loop, [&] { return fresh; }));
  loop->remove_reader(q.a);
}

BOOST_AUTO_TEST_SUITE_END()
