// tests/cpp/transports/test_byte_channel.cpp — the ByteChannel contract, on every backend's
// channel (Loop::make_stream_channel over a socketpair).
#include "treadle/core/byte_channel.hpp"

#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <boost/test/unit_test.hpp>
#include <string>

#include "support/backends.hpp"
#include "support/fds.hpp"
#include "treadle/core/error.hpp"

using namespace treadle;
using namespace treadle::test;

namespace {
struct Pair {
  std::unique_ptr<Loop> loop = make_test_loop();
  std::unique_ptr<ByteChannel> a, b;
  Pair() {
    int fds[2];
    BOOST_REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) == 0);
    a = loop->make_stream_channel(fds[0]);
    b = loop->make_stream_channel(fds[1]);
  }
  /// Another connected pair on the same loop.
  std::pair<std::unique_ptr<ByteChannel>, std::unique_ptr<ByteChannel>> more() {
    int fds[2];
    BOOST_REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) == 0);
    return {loop->make_stream_channel(fds[0]), loop->make_stream_channel(fds[1])};
  }
};
/// A channel on one end of a fresh connection (TCP over loopback or Unix), a bare socket on
/// the other (`peer()`).
struct RawPeer {
  std::unique_ptr<Loop> loop = make_test_loop();
  FdPair fds;
  std::unique_ptr<ByteChannel> channel;
  explicit RawPeer(bool tcp) : fds(tcp ? FdPair::tcp() : FdPair::sockets()) {
    channel = loop->make_stream_channel(fds.take_a());
  }
  int peer() const { return fds.b; }
};
/// Writes `out` to `channel` until the kernel takes no more (at most 10,000 times), requires
/// that it then said so with EAGAIN, and returns the bytes it took.
std::size_t fill(ByteChannel& channel, ConstBuffer out) {
  std::error_code ec;
  std::size_t total = 0;
  for (int i = 0; i < 10'000 && !ec; ++i) total += channel.try_write_some({&out, 1}, ec);
  BOOST_REQUIRE((ec == std::errc::resource_unavailable_try_again));
  return total;
}
struct Result {
  bool done = false;
  std::error_code ec;
  std::size_t n = 0;
  int calls = 0;
  ByteChannel::Completion handler() {
    return [this](std::error_code e, std::size_t k) {
      ++calls;
      done = true;
      ec = e;
      n = k;
    };
  }
};
}  // namespace

BOOST_AUTO_TEST_SUITE(byte_channel)

BOOST_AUTO_TEST_CASE(completions_never_run_inside_the_initiating_call) {
  Pair p;
  std::array<std::byte, 16> buf{};
  Result r, w;
  const std::string msg = "ping";
  ConstBuffer out = as_bytes(msg);
  p.b->async_write_some({&out, 1}, w.handler());
  BOOST_TEST(!w.done);
  BOOST_REQUIRE(run_until(*p.loop, [&] { return w.done; }));
  BOOST_TEST(!w.ec);
  BOOST_TEST(w.n == 4u);
  p.a->async_read_some(buf, r.handler());  // data is already there
  BOOST_TEST(!r.done);
  BOOST_REQUIRE(run_until(*p.loop, [&] { return r.done; }));
  BOOST_TEST(!r.ec);
  BOOST_TEST(as_chars(ConstBuffer(buf).first(r.n)) == "ping");
}

BOOST_AUTO_TEST_CASE(gather_write_and_partial_read) {
  Pair p;
  const std::string x = "abc", y = "defgh";
  std::array<ConstBuffer, 2> parts{as_bytes(x), as_bytes(y)};
  Result w;
  p.a->async_write_some(parts, w.handler());
  BOOST_REQUIRE(run_until(*p.loop, [&] { return w.done; }));
  BOOST_TEST(w.n == 8u);
  std::string got;
  while (got.size() < 8) {
    std::array<std::byte, 3> small{};  // smaller than what is there: partial reads
    Result r;
    p.b->async_read_some(small, r.handler());
    BOOST_REQUIRE(run_until(*p.loop, [&] { return r.done; }));
    BOOST_REQUIRE(!r.ec);
    BOOST_TEST(r.n >= 1u);
    got.append(as_chars(ConstBuffer(small).first(r.n)));
  }
  BOOST_TEST(got == "abcdefgh");
}

BOOST_AUTO_TEST_CASE(cancel_completes_each_operation_once_with_aborted) {
  Pair p;
  std::array<std::byte, 16> buf{};
  Result r;
  p.a->async_read_some(buf, r.handler());  // nothing to read: stays pending
  p.loop->run_once(0.01);
  BOOST_TEST(!r.done);
  p.a->cancel();
  BOOST_TEST(!r.done);  // not inline
  BOOST_REQUIRE(run_until(*p.loop, [&] { return r.done; }));
  BOOST_TEST((r.ec == errc::aborted));
  p.loop->run_once(0.01);
  BOOST_TEST(r.calls == 1);
  // The channel is still usable after a cancel.
  Result again;
  p.a->async_read_some(buf, again.handler());
  const std::string msg = "after";
  ConstBuffer out = as_bytes(msg);
  std::error_code ec;
  BOOST_TEST(p.b->try_write_some({&out, 1}, ec) == 5u);
  BOOST_REQUIRE(run_until(*p.loop, [&] { return again.done; }));
  BOOST_TEST(!again.ec);
  BOOST_TEST(again.n == 5u);
}

BOOST_AUTO_TEST_CASE(close_aborts_pending_and_refuses_new_work) {
  Pair p;
  std::array<std::byte, 16> buf{};
  Result r;
  p.a->async_read_some(buf, r.handler());
  p.loop->run_once(0.01);
  p.a->close();
  BOOST_TEST(!p.a->is_open());
  BOOST_TEST(p.a->native_handle() == -1);
  BOOST_REQUIRE(run_until(*p.loop, [&] { return r.done; }));
  BOOST_TEST((r.ec == errc::aborted));
  std::error_code ec;
  ConstBuffer out = as_bytes("x");
  BOOST_TEST(p.a->try_write_some({&out, 1}, ec) == 0u);
  BOOST_TEST(static_cast<bool>(ec));
  p.a->close();  // idempotent
}

BOOST_AUTO_TEST_CASE(shutdown_send_gives_the_peer_eof) {
  Pair p;
  BOOST_TEST(!p.a->shutdown_send());
  std::array<std::byte, 16> buf{};
  Result r;
  p.b->async_read_some(buf, r.handler());
  BOOST_REQUIRE(run_until(*p.loop, [&] { return r.done; }));
  BOOST_TEST((r.ec == errc::eof));
  BOOST_TEST(r.n == 0u);
}

BOOST_AUTO_TEST_CASE(bytes_and_an_end_of_file_that_arrive_while_a_read_waits_are_both_read) {
  // Both arrive before the loop looks, so epoll reports them as one event. A read that
  // returned less than its buffer has not shown the socket empty: the end of file is still
  // there, and nothing will report it again (a backend whose next read waited for readability
  // without trying first would hang here).
  for (const bool tcp : {false, true}) {
    BOOST_TEST_CONTEXT((tcp ? "tcp" : "unix")) {
      RawPeer p(tcp);
      std::array<std::byte, 16> buf{};
      Result first, second;
      p.channel->async_read_some(buf, first.handler());
      p.loop->run_once(0.01);
      BOOST_TEST(!first.done);  // nothing to read yet: it waits
      put(p.peer(), "abc");
      BOOST_REQUIRE(::shutdown(p.peer(), SHUT_WR) == 0);
      BOOST_REQUIRE(run_until(*p.loop, [&] { return first.done; }));
      BOOST_TEST(!first.ec);
      BOOST_TEST(as_chars(ConstBuffer(buf).first(first.n)) == "abc");
      p.channel->async_read_some(buf, second.handler());
      BOOST_REQUIRE(run_until(*p.loop, [&] { return second.done; }));
      BOOST_TEST((second.ec == errc::eof));
    }
  }
}

BOOST_AUTO_TEST_CASE(a_read_after_one_that_emptied_the_socket_waits_for_more) {
  // Bytes that come after the read started, before it started (with or without the loop
  // having seen their edge meanwhile) or after a cancel must all be seen: the proactor's waits
  // rely on Asio's memory of edges (readable_op.hpp).
  for (const bool tcp : {false, true}) {
    BOOST_TEST_CONTEXT((tcp ? "tcp" : "unix")) {
      RawPeer p(tcp);
      std::array<std::byte, 16> buf{};
      auto read = [&](const char* expected) {
        Result r;
        p.channel->async_read_some(buf, r.handler());
        BOOST_REQUIRE(run_until(*p.loop, [&] { return r.done; }));
        BOOST_TEST(!r.ec);
        BOOST_TEST(as_chars(ConstBuffer(buf).first(r.n)) == expected);
      };
      put(p.peer(), "x");
      read("x");
      Result later;  // started with nothing there, answered afterwards
      p.channel->async_read_some(buf, later.handler());
      p.loop->run_once(0.01);
      BOOST_TEST(!later.done);
      put(p.peer(), "yz");
      BOOST_REQUIRE(run_until(*p.loop, [&] { return later.done; }));
      BOOST_TEST(as_chars(ConstBuffer(buf).first(later.n)) == "yz");
      p.loop->run_once(0.01);  // the loop sees no edge meanwhile
      put(p.peer(), "s");
      p.loop->run_once(0.01);  // the loop sees the edge with no read waiting
      read("s");
      Result cancelled;
      p.channel->async_read_some(buf, cancelled.handler());
      p.loop->run_once(0.01);
      p.channel->cancel();
      BOOST_REQUIRE(run_until(*p.loop, [&] { return cancelled.done; }));
      BOOST_TEST((cancelled.ec == errc::aborted));
      put(p.peer(), "q");
      read("q");
    }
  }
}

BOOST_AUTO_TEST_CASE(an_end_of_file_behind_bytes_is_read_however_the_read_learns_of_them) {
  // A read that leaves the socket empty makes the next one wait for an edge without trying
  // (the reactor's channel and the proactor's): an end of file that came with the bytes must
  // still be read, whether the loop saw their edge while a read waited, with no read waiting,
  // or while a write waited too (the proactor's epoll registration changes then).
  enum class Edge { while_the_read_waits, with_no_read_waiting, while_a_write_waits };
  for (const bool tcp : {false, true}) {
    for (const Edge edge :
         {Edge::while_the_read_waits, Edge::with_no_read_waiting, Edge::while_a_write_waits}) {
      static constexpr const char* kEdge[] = {"while the read waits", "with no read waiting",
                                              "while a write waits"};
      BOOST_TEST_CONTEXT((tcp ? "tcp, " : "unix, ") << kEdge[static_cast<int>(edge)]) {
        RawPeer p(tcp);
        std::array<std::byte, 16> buf{};
        auto read = [&](Result& r) {
          p.channel->async_read_some(buf, r.handler());
          BOOST_REQUIRE(run_until(*p.loop, [&] { return r.done; }));
        };
        Result write;
        if (edge == Edge::while_a_write_waits) {
          const std::string chunk(1 << 16, 'w');
          ConstBuffer out = as_bytes(chunk);
          fill(*p.channel, out);
          p.channel->async_write_some({&out, 1}, write.handler());
          p.loop->run_once(0.01);
          BOOST_REQUIRE(!write.done);
        }
        put(p.peer(), "x");
        Result short_read;  // leaves the socket empty
        read(short_read);
        BOOST_TEST(as_chars(ConstBuffer(buf).first(short_read.n)) == "x");
        Result bytes, end;
        if (edge == Edge::with_no_read_waiting) {
          put(p.peer(), "abc");
          BOOST_REQUIRE(::shutdown(p.peer(), SHUT_WR) == 0);
          p.loop->run_once(0.01);
          read(bytes);
        } else {
          p.channel->async_read_some(buf, bytes.handler());
          p.loop->run_once(0.01);
          BOOST_TEST(!bytes.done);
          put(p.peer(), "abc");
          BOOST_REQUIRE(::shutdown(p.peer(), SHUT_WR) == 0);
          BOOST_REQUIRE(run_until(*p.loop, [&] { return bytes.done; }));
        }
        BOOST_TEST(!bytes.ec);
        BOOST_TEST(as_chars(ConstBuffer(buf).first(bytes.n)) == "abc");
        read(end);
        BOOST_TEST((end.ec == errc::eof));
        p.channel->close();
        if (edge == Edge::while_a_write_waits) {
          BOOST_REQUIRE(run_until(*p.loop, [&] { return write.done; }));
        }
      }
    }
  }
}

BOOST_AUTO_TEST_CASE(try_write_some_reports_would_block_when_full) {
  Pair p;
  std::string chunk(1 << 16, 'f');
  ConstBuffer out = as_bytes(chunk);
  BOOST_TEST(fill(*p.a, out) > 0u);
  // Draining the peer makes the channel writable again: an async write then completes.
  Result w;
  p.a->async_write_some({&out, 1}, w.handler());
  std::array<std::byte, 1 << 16> sink{};
  while (!w.done) {
    Result r;
    p.b->async_read_some(sink, r.handler());
    BOOST_REQUIRE(run_until(*p.loop, [&] { return r.done; }));
  }
  BOOST_TEST(!w.ec);
  BOOST_TEST(w.n > 0u);
}

// A completion may close another channel whose read is ready in the same phase. That read
// then completes with errc::aborted, or with its bytes if the backend had already queued
// them; never with an error from the closed descriptor, and exactly once.
namespace {
enum class BytesArrive { before_the_reads, while_they_wait };
void close_the_other_from_a_completion(BytesArrive when) {
  Pair p;
  auto [c, d] = p.more();
  std::array<std::byte, 16> buf_a{}, buf_c{};
  std::error_code ec;
  ConstBuffer out = as_bytes("x");
  auto send_both = [&] {
    BOOST_REQUIRE(p.b->try_write_some({&out, 1}, ec) == 1u);
    BOOST_REQUIRE(d->try_write_some({&out, 1}, ec) == 1u);
  };
  if (when == BytesArrive::before_the_reads) send_both();
  Result ra, rc;
  p.loop->call_soon([] {});  // a ready callback: the proactor defers both reads a phase
  p.a->async_read_some(buf_a, [&](std::error_code e, std::size_t n) {
    ra.handler()(e, n);
    if (!rc.done) c->close();
  });
  c->async_read_some(buf_c, [&](std::error_code e, std::size_t n) {
    rc.handler()(e, n);
    if (!ra.done) p.a->close();
  });
  if (when == BytesArrive::while_they_wait) {
    for (int i = 0; i < 3; ++i) p.loop->run_once(0);  // both reads start and wait
    BOOST_REQUIRE(!ra.done && !rc.done);
    send_both();
  }
  BOOST_REQUIRE(run_until(*p.loop, [&] { return ra.done && rc.done; }));
  p.loop->run_once(0.01);
  BOOST_TEST(ra.calls == 1);
  BOOST_TEST(rc.calls == 1);
  for (const Result* r : {&ra, &rc}) {
    const bool aborted = r->ec == errc::aborted;
    const bool read = !r->ec && r->n == 1u;
    BOOST_TEST((aborted || read), "completion: " << r->ec.message() << ", " << r->n << " bytes");
  }
  BOOST_TEST((!ra.ec || !rc.ec));  // the first to complete read its byte
}
}  // namespace

// On the proactor both reads start together at the next phase and complete as they start:
// the first completion runs while the other read waits to start.
BOOST_AUTO_TEST_CASE(a_completion_may_close_another_channel_with_a_ready_read) {
  close_the_other_from_a_completion(BytesArrive::before_the_reads);
}

// On the proactor both reads wait for readability through Asio, and both waits complete in
// one epoll round: the first handler closes the other channel before its handler runs.
BOOST_AUTO_TEST_CASE(a_completion_may_close_another_channel_whose_read_waited) {
  close_the_other_from_a_completion(BytesArrive::while_they_wait);
}

// A write's completion may close its own channel while a read on it is ready too: the read
// completes with errc::aborted (or its bytes), never with an error from the closed
// descriptor. (On the proactor Asio completes a descriptor's write before its read-wait in
// one epoll round, and queues the second: by the time it runs, the channel is closed.)
BOOST_AUTO_TEST_CASE(a_write_completion_may_close_its_channel_with_a_read_ready) {
  Pair p;
  std::string chunk(1 << 16, 'f');
  ConstBuffer out = as_bytes(chunk);
  fill(*p.a, out);
  Result w, r;
  std::array<std::byte, 16> buf{};
  p.a->async_write_some({&out, 1}, [&](std::error_code e, std::size_t n) {
    w.handler()(e, n);
    if (!r.done) p.a->close();
  });
  p.a->async_read_some(buf, r.handler());
  for (int i = 0; i < 3; ++i) p.loop->run_once(0);  // both wait
  BOOST_REQUIRE(!w.done && !r.done);
  // Make a readable and writable at once: a byte for it, and its peer's buffer drained.
  ConstBuffer x = as_bytes("x");
  std::error_code ec;
  BOOST_REQUIRE(p.b->try_write_some({&x, 1}, ec) == 1u);
  std::array<char, 1 << 16> sink;
  while (::recv(p.b->native_handle(), sink.data(), sink.size(), MSG_DONTWAIT) > 0) {
  }
  BOOST_REQUIRE(run_until(*p.loop, [&] { return w.done && r.done; }));
  p.loop->run_once(0.01);
  BOOST_TEST(w.calls == 1);
  BOOST_TEST(r.calls == 1);
  const bool aborted = r.ec == errc::aborted;
  const bool read = !r.ec && r.n == 1u;
  BOOST_TEST((aborted || read), "read: " << r.ec.message() << ", " << r.n << " bytes");
}

BOOST_AUTO_TEST_CASE(endpoints_and_handle) {
  Pair p;
  std::error_code ec;
  BOOST_TEST(p.a->native_handle() >= 0);
  BOOST_TEST(p.a->local_endpoint(ec).family() == AF_UNIX);
  BOOST_TEST(!ec);
  BOOST_TEST(p.a->remote_endpoint(ec).family() == AF_UNIX);
  BOOST_TEST(&p.a->loop() == p.loop.get());
}

BOOST_AUTO_TEST_SUITE_END()
