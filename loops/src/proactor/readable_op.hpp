// loops/src/proactor/readable_op.hpp — waiting for readability on Asio's reactor without a re-arm.
// Tests: tests/cpp/transports/test_byte_channel.cpp, test_write_batching.cpp (proactor)
#pragma once

#include <boost/asio/detail/epoll_reactor.hpp>
#include <boost/asio/detail/reactor.hpp>
#include <boost/asio/detail/reactor_op.hpp>
#include <boost/asio/generic/stream_protocol.hpp>
#include <cstdint>
#include <new>
#include <type_traits>
#include <utility>

#include "handler_memory.hpp"
#include "reactor_access.hpp"

namespace treadle::detail {

// Asio's public waits (async_wait, null_buffers) re-arm the descriptor with an epoll_ctl each
// time; the operation below goes through the same reactor entry point as Asio's own reads. It
// uses Asio's detail interface, so pin what it relies on.
static_assert(std::is_same_v<boost::asio::detail::reactor, boost::asio::detail::epoll_reactor>,
              "ReadableOp is written against Asio's epoll reactor");

/// A stream socket that hands its reactor registration to `ReadableOp`.
class ReactiveSocket : public boost::asio::generic::stream_protocol::socket {
 public:
  using boost::asio::generic::stream_protocol::socket::basic_stream_socket;

  /// Asio's per-descriptor state in its reactor (null once closed).
  boost::asio::detail::epoll_reactor::per_descriptor_data& reactor_data() {
    return impl_.get_implementation().reactor_data_;
  }
};

/**
 * @brief An Asio reactor operation that completes when Asio's epoll reactor sees the socket
 * become readable (or fail) after a `recv` found it empty, and reads nothing itself: the
 * handler reads.
 *
 * Asio registers every socket with its epoll set once, edge-triggered, and its own reads
 * need no system call to wait for the next edge. Its public waits (`async_wait`,
 * `null_buffers`) re-arm the descriptor with an `epoll_ctl` every time instead. This
 * operation is started the way Asio starts a read, so queueing it costs no system call.
 *
 * Start it only right after a `recv` on the socket failed with `EAGAIN`, with no event
 * processed in between, or when Asio remembers no edge that a read has not taken (see
 * `take_read_edge`): it then waits for the next edge even if Asio saw one earlier (that
 * edge's bytes are gone). An edge after the `recv` is reported by epoll, and only if the
 * socket is readable (bytes, end of file or an error) when Asio's `epoll_wait` runs. The
 * operation reports itself exhausted, which spares the next one a call to `perform` as it
 * starts until the next edge.
 *
 * The handler gets the events of the `epoll_wait` that reported the edge (see
 * reactor_access.hpp), 0 if none did (an error, or the socket is closed meanwhile).
 * Cancelling or closing the socket completes it with `operation_aborted`; an io_context
 * destroyed with it queued destroys it without calling the handler.
 * Memory comes from the loop's `HandlerMemory`, which outlives the io_context.
 *
 * @tparam Handler `void(boost::system::error_code, std::uint32_t events)`.
 */
template <class Handler>
class ReadableOp final : public boost::asio::detail::reactor_op {
 public:
  static void start(ReactiveSocket& socket, boost::asio::detail::epoll_reactor& reactor,
                    HandlerMemory& memory, Handler handler) {
    auto& state = socket.reactor_data();
    void* block = memory.allocate(sizeof(ReadableOp));
    auto* op = new (block) ReadableOp(memory, state, std::move(handler));
    op->starting_ = true;
    reactor.start_op(boost::asio::detail::epoll_reactor::read_op, socket.native_handle(), state, op,
                     /*is_continuation=*/false,
                     /*allow_speculative=*/true);
    // Asio never completes an operation inside start_op: op is queued or posted, alive.
    op->starting_ = false;
  }

 private:
  ReadableOp(HandlerMemory& memory, boost::asio::detail::epoll_reactor::descriptor_state* state,
             Handler handler)
      : reactor_op(boost::system::error_code(), &ReadableOp::do_perform, &ReadableOp::do_complete),
        memory_(memory),
        state_(state),
        handler_(std::move(handler)) {}

  // Asio performs an operation as it starts it if it has seen an edge since one last reported
  // the socket exhausted (the recv that just failed knows better); later, only for an edge.
  // The descriptor's state outlives its queued operations.
  static status do_perform(reactor_op* base) {
    auto* op = static_cast<ReadableOp*>(base);
    if (op->starting_) return not_done;
    op->events_ = reported_events(op->state_);
    return done_and_exhausted;
  }

  static void do_complete(void* owner, boost::asio::detail::operation* base,
                          const boost::system::error_code& /*unused*/, std::size_t /*unused*/) {
    // As Asio's own operations do: free the memory before the handler runs, so that a wait
    // the handler starts can reuse it.
    auto* op = static_cast<ReadableOp*>(base);
    const boost::system::error_code ec = op->ec_;
    const std::uint32_t events = op->events_;
    Handler handler(std::move(op->handler_));
    HandlerMemory& memory = op->memory_;
    op->~ReadableOp();
    memory.deallocate(op, sizeof(ReadableOp));
    if (owner != nullptr) handler(ec, events);  // null: the io_context is destroying its queue
  }

  HandlerMemory& memory_;
  boost::asio::detail::epoll_reactor::descriptor_state* state_;
  Handler handler_;
  std::uint32_t events_ = 0;
  bool starting_ = false;
};

}  // namespace treadle::detail
