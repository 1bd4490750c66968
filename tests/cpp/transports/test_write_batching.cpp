// tests/cpp/transports/test_write_batching.cpp — writes wait for the end of the loop phase
// (Loop::defer_flush), up to 64 KiB, and leave together; nothing is lost or reordered on the way.
#include <sys/socket.h>

#include <boost/test/unit_test.hpp>
#include <string>

#include "support/fds.hpp"
#include "support/stream_fixtures.hpp"

using namespace treadle;
using namespace treadle::test;

namespace {

/// Write calls a transport made on its channel.
struct WriteCount {
  int calls = 0;
  std::size_t buffers = 0;  // in the last call
};

/// A ByteChannel that hands everything to a real one and counts the writes it is given: the
/// transport's system calls, seen from above the kernel (Beast's test streams do the same).
class CountingChannel final : public ByteChannel {
 public:
  CountingChannel(std::unique_ptr<ByteChannel> inner, std::shared_ptr<WriteCount> count)
      : inner_(std::move(inner)), count_(std::move(count)) {}

  Loop& loop() const noexcept override { return inner_->loop(); }
  void async_read_some(MutableBuffer buffer, Completion done) override {
    inner_->async_read_some(buffer, std::move(done));
  }
  void async_write_some(ConstBufferSequence buffers, Completion done) override {
    note(buffers);
    inner_->async_write_some(buffers, std::move(done));
  }
  std::size_t try_write_some(ConstBufferSequence buffers, std::error_code& ec) override {
    note(buffers);
    return inner_->try_write_some(buffers, ec);
  }
  std::error_code shutdown_send() override { return inner_->shutdown_send(); }
  void cancel() override { inner_->cancel(); }
  void close() override { inner_->close(); }
  bool is_open() const noexcept override { return inner_->is_open(); }
  Endpoint local_endpoint(std::error_code& ec) const override { return inner_->local_endpoint(ec); }
  Endpoint remote_endpoint(std::error_code& ec) const override {
    return inner_->remote_endpoint(ec);
  }
  int native_handle() const noexcept override { return inner_->native_handle(); }
  bool reads_land_at_completion() const noexcept override {
    return inner_->reads_land_at_completion();
  }

 private:
  void note(ConstBufferSequence buffers) {
    ++count_->calls;
    count_->buffers = buffers.size();
  }
  std::unique_ptr<ByteChannel> inner_;
  std::shared_ptr<WriteCount> count_;
};

/// A connected pair over a socketpair: `writer` counts its channel's writes, `reader` records.
struct Link {
  std::unique_ptr<Loop> loop = make_test_loop();
  std::shared_ptr<WriteCount> count = std::make_shared<WriteCount>();
  std::shared_ptr<Recorder> writer = std::make_shared<Recorder>();
  std::shared_ptr<Recorder> reader = std::make_shared<Recorder>();

  Link() {
    int fds[2];
    BOOST_REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) == 0);
    StreamTransport::make(
        *loop, std::make_unique<CountingChannel>(loop->make_stream_channel(fds[0]), count), writer,
        {});
    StreamTransport::make(*loop, loop->make_stream_channel(fds[1]), reader, {});
    BOOST_REQUIRE(run_until(*loop, [&] { return writer->made == 1 && reader->made == 1; }));
  }
  ~Link() { loop->close(); }

  Transport& out() const { return *writer->transport; }
  bool received(std::size_t n) {
    return run_until(*loop, [&] { return reader->data.size() >= n; });
  }
};

}  // namespace

BOOST_AUTO_TEST_SUITE(write_batching)

BOOST_AUTO_TEST_CASE(writes_of_one_callback_leave_in_one_call_at_the_end_of_its_phase) {
  Link l;
  int after_writes = -1;
  std::size_t buffered = 0;
  l.loop->call_soon([&] {
    l.out().write(as_bytes(std::string("GET / HTTP/1.1\r\n\r\n")));
    l.out().write(as_bytes(std::string("body")));
    l.out().write(as_bytes(std::string("!")));
    after_writes = l.count->calls;  // nothing handed over inside the callback
    buffered = l.out().get_write_buffer_size();
  });
  BOOST_REQUIRE(l.received(23));
  BOOST_TEST(after_writes == 0);
  BOOST_TEST(buffered == 23u);  // deferred bytes count as buffered, as on uvloop
  BOOST_TEST(l.count->calls == 1);
  BOOST_TEST(l.reader->data == "GET / HTTP/1.1\r\n\r\nbody!");
  BOOST_TEST(l.out().get_write_buffer_size() == 0u);
  BOOST_TEST(l.writer->paused == 0);  // deferring is not backing up
}

BOOST_AUTO_TEST_CASE(writes_of_several_callbacks_in_one_phase_leave_together) {
  Link l;
  for (int i = 0; i < 5; ++i) {
    l.loop->call_soon([&, i] { l.out().write(as_bytes(std::to_string(i))); });
  }
  BOOST_REQUIRE(l.received(5));
  BOOST_TEST(l.count->calls == 1);
  BOOST_TEST(l.reader->data == "01234");
}

BOOST_AUTO_TEST_CASE(writes_of_tens_of_kib_wait_for_the_end_of_the_phase_too) {
  // Three 20 KiB replies: 60 KiB deferred, within the 64 KiB cap.
  Link l;
  const std::string block(20 * 1024, 'x');
  int calls_after = -1;
  l.loop->call_soon([&] {
    for (int i = 0; i < 3; ++i) l.out().write(as_bytes(block));
    calls_after = l.count->calls;
  });
  BOOST_REQUIRE(l.received(3 * block.size()));
  BOOST_TEST(calls_after == 0);
  BOOST_TEST(l.count->calls == 1);
  BOOST_TEST((l.reader->data == block + block + block));
}

BOOST_AUTO_TEST_CASE(a_write_past_the_cap_goes_at_once_behind_the_deferred_bytes) {
  // 64 KiB: the deferred bytes would pass the cap with it; 100 KiB: past the cap on its own.
  for (const std::size_t size : {std::size_t{64 * 1024}, std::size_t{100 * 1024}}) {
    Link l;
    const std::string big(size, 'b');
    int calls_after = -1;
    std::size_t buffers = 0;
    l.loop->call_soon([&] {
      l.out().write(as_bytes(std::string("head")));
      l.out().write(as_bytes(big));
      calls_after = l.count->calls;
      buffers = l.count->buffers;
    });
    BOOST_REQUIRE(l.received(4 + big.size()));
    BOOST_TEST(calls_after == 1);  // one gather write, not one per buffer
    BOOST_TEST(buffers == 2u);
    BOOST_TEST((l.reader->data == "head" + big));
  }
}

BOOST_AUTO_TEST_CASE(a_zero_high_water_mark_hands_every_write_over_at_once) {
  Link l;
  int calls_after = -1;
  l.loop->call_soon([&] {
    l.out().set_write_buffer_limits(0);
    l.out().write(as_bytes(std::string("now")));
    calls_after = l.count->calls;
  });
  BOOST_REQUIRE(l.received(3));
  BOOST_TEST(calls_after == 1);
  BOOST_TEST(l.writer->paused == 0);  // the kernel took it all
}

BOOST_AUTO_TEST_CASE(close_and_write_eof_send_deferred_bytes_first) {
  Link l;
  l.reader->keep_open_on_eof = true;
  l.loop->call_soon([&] {
    l.out().write(as_bytes(std::string("last words")));
    l.out().write_eof();
  });
  BOOST_REQUIRE(run_until(*l.loop, [&] { return l.reader->eof; }));
  BOOST_TEST(l.reader->data == "last words");
  l.loop->call_soon([&] {
    l.reader->transport->write(as_bytes(std::string("reply")));
    l.reader->transport->close();
  });
  BOOST_REQUIRE(run_until(*l.loop, [&] { return l.reader->lost == 1 && l.writer->lost == 1; }));
  BOOST_TEST(l.writer->data == "reply");
  BOOST_TEST(!l.reader->lost_error);
  BOOST_TEST(!l.writer->lost_error);
}

BOOST_AUTO_TEST_CASE(when_drained_waits_for_deferred_bytes) {
  Link l;
  auto* t = static_cast<StreamTransport*>(&l.out());
  bool drained = false;
  std::size_t received_then = 0;
  l.loop->call_soon([&] {
    t->write(as_bytes(std::string("pending")));
    t->when_drained([&](std::error_code ec) {
      BOOST_TEST(!ec);
      drained = true;
      BOOST_TEST(t->get_write_buffer_size() == 0u);
      received_then = l.count->calls;
    });
  });
  BOOST_REQUIRE(run_until(*l.loop, [&] { return drained; }));
  BOOST_TEST(received_then == 1u);
  BOOST_REQUIRE(l.received(7));
}

BOOST_AUTO_TEST_CASE(abort_drops_deferred_bytes_unsent) {
  Link l;
  l.loop->call_soon([&] {
    l.out().write(as_bytes(std::string("never")));
    l.out().abort();
  });
  BOOST_REQUIRE(run_until(*l.loop, [&] { return l.writer->lost == 1 && l.reader->lost == 1; }));
  BOOST_TEST(l.count->calls == 0);
  BOOST_TEST(l.reader->data.empty());
}

BOOST_AUTO_TEST_CASE(a_write_outside_a_run_goes_at_once) {
  Link l;
  l.out().write(as_bytes(std::string("now")));  // no phase to end: asyncio's behaviour
  BOOST_TEST(l.count->calls == 1);
  BOOST_REQUIRE(l.received(3));
}

BOOST_AUTO_TEST_CASE(closing_the_loop_with_deferred_bytes_leaks_nothing) {
  struct Stop : Interrupt {};
  const int before = open_fds();
  {
    Link l;
    l.loop->call_soon([&] {
      l.out().write(as_bytes(std::string("unsent")));
      throw Stop{};  // ends the run before the phase's flushes
    });
    BOOST_CHECK_THROW(l.loop->run_forever(), Stop);
    BOOST_TEST(l.count->calls == 0);
  }  // the loop closes with the flush queued: it is dropped, the transport lets go
  BOOST_TEST(open_fds() == before);
}

BOOST_AUTO_TEST_CASE(a_flush_left_by_an_interrupt_runs_in_the_next_run) {
  struct Stop : Interrupt {};
  Link l;
  l.loop->call_soon([&] {
    l.out().write(as_bytes(std::string("later")));
    throw Stop{};
  });
  BOOST_CHECK_THROW(l.loop->run_forever(), Stop);
  BOOST_TEST(l.count->calls == 0);
  BOOST_REQUIRE(l.received(5));
  BOOST_TEST(l.count->calls == 1);
  BOOST_TEST(l.reader->data == "later");
}

BOOST_AUTO_TEST_CASE(an_answer_leaves_before_bytes_that_arrive_after_it_are_read) {
  // A poll phase looks at the kernel once, as the reactor's epoll_wait does, then sends what
  // its callbacks wrote. Here the first connection's answer makes bytes arrive on a second
  // connection: they are read in the next phase, after the answer has left. (The proactor
  // used to let Asio look again and again within a phase while requests kept arriving, and
  // held every answer until they stopped.)
  auto loop = make_test_loop();
  FdPair a = FdPair::sockets(), b = FdPair::sockets();
  bool answered_first = false, second_read = false;
  class Answer : public Recorder {
   public:
    int poke = -1;
    void data_received(ConstBuffer) override {
      transport->write(as_bytes(std::string("answer")));
      put(poke, "later");
    }
  };
  class Check : public Recorder {
   public:
    int answered_peer = -1;
    bool* answered = nullptr;
    bool* read = nullptr;
    void data_received(ConstBuffer) override {
      char c = 0;
      *answered = ::recv(answered_peer, &c, 1, MSG_PEEK | MSG_DONTWAIT) == 1;
      *read = true;
    }
  };
  auto answer = std::make_shared<Answer>();
  answer->poke = b.b;
  auto check = std::make_shared<Check>();
  check->answered_peer = a.b;
  check->answered = &answered_first;
  check->read = &second_read;
  StreamTransport::make(*loop, loop->make_stream_channel(a.take_a()), answer, {});
  StreamTransport::make(*loop, loop->make_stream_channel(b.take_a()), check, {});
  BOOST_REQUIRE(run_until(*loop, [&] { return answer->made == 1 && check->made == 1; }));
  run_until(
      *loop, [] { return false; }, 0.05);  // both reads have found nothing and wait
  put(a.b, "ask");
  BOOST_REQUIRE(run_until(*loop, [&] { return second_read; }));
  BOOST_TEST(answered_first);
  loop->close();
}

BOOST_AUTO_TEST_CASE(
    answers_to_one_batch_leave_together_on_the_reactor_one_by_one_on_the_proactor) {
  // Two requests that one look at the kernel finds. The reactor sends both answers after both
  // callbacks; the proactor sends each as its handler returns, since Asio looks at the kernel
  // again right after the last handler of the batch (doc/design/loop.rst, "Flushes").
  auto loop = make_test_loop();
  FdPair a = FdPair::sockets(), b = FdPair::sockets();
  class Answer : public Recorder {
   public:
    int other_peer = -1;
    int* saw_other_answer = nullptr;
    void data_received(ConstBuffer) override {
      char c = 0;
      if (::recv(other_peer, &c, 1, MSG_PEEK | MSG_DONTWAIT) == 1) ++*saw_other_answer;
      transport->write(as_bytes(std::string("answer")));
    }
  };
  int saw = 0;
  auto first = std::make_shared<Answer>(), second = std::make_shared<Answer>();
  first->other_peer = b.b;
  second->other_peer = a.b;
  first->saw_other_answer = second->saw_other_answer = &saw;
  StreamTransport::make(*loop, loop->make_stream_channel(a.take_a()), first, {});
  StreamTransport::make(*loop, loop->make_stream_channel(b.take_a()), second, {});
  BOOST_REQUIRE(run_until(*loop, [&] { return first->made == 1 && second->made == 1; }));
  run_until(
      *loop, [] { return false; }, 0.05);  // both reads have found nothing and wait
  put(a.b, "ask");
  put(b.b, "ask");
  std::string got_a, got_b;
  BOOST_REQUIRE(run_until(*loop, [&] {
    got_a += drain(a.b);
    got_b += drain(b.b);
    return got_a == "answer" && got_b == "answer";
  }));
  BOOST_TEST(saw == (loop->backend() == "proactor" ? 1 : 0));
  loop->close();
}

BOOST_AUTO_TEST_SUITE_END()
