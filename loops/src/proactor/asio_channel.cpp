// loops/src/proactor/asio_channel.cpp — Asio completions mapped onto the ByteChannel contract.
// Tests: tests/cpp/transports/test_byte_channel.cpp (proactor)
#include "asio_channel.hpp"

#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/asio/bind_allocator.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/error.hpp>
#include <boost/container/static_vector.hpp>

#include "../common/socket_ops.hpp"

namespace treadle::detail {

namespace asio = boost::asio;

namespace {

constexpr std::size_t kMaxIov = 64;
using Gather = boost::container::static_vector<asio::const_buffer, kMaxIov>;

Gather gather(ConstBufferSequence buffers) {
  Gather out;
  for (std::size_t i = 0; i < buffers.size() && i < kMaxIov; ++i) {
    out.emplace_back(buffers[i].data(), buffers[i].size());
  }
  return out;
}

std::error_code translate(const boost::system::error_code& ec) {
  if (!ec) return {};
  if (ec == asio::error::eof) return make_error_code(errc::eof);
  if (ec == asio::error::operation_aborted) return make_error_code(errc::aborted);
  if (ec.category() == boost::system::system_category()) return errno_code(ec.value());
  return std::error_code(ec);  // Boost.System codes convert to std::error_code
}

int socket_option(int fd, int name) {
  int value = 0;
  socklen_t len = sizeof value;
  if (::getsockopt(fd, SOL_SOCKET, name, &value, &len) != 0) return -1;
  return value;
}

}  // namespace

AsioChannel::AsioChannel(ProactorLoop& loop, int fd) : loop_(loop), socket_(loop.io_context()) {
  boost::system::error_code ec;
  const int family = socket_option(fd, SO_DOMAIN);
  const int protocol = socket_option(fd, SO_PROTOCOL);
  socket_.assign(asio::generic::stream_protocol(family, protocol), fd, ec);
  if (!ec) socket_.non_blocking(true, ec);
  if (ec) {
    if (!socket_.is_open()) ::close(fd);
    throw std::system_error(translate(ec), "cannot adopt socket");
  }
  // Without it a short read could not tell an end of file that arrived with the bytes, and
  // every read would start with an attempt (see start_read).
  reports_shutdown_ = report_peer_shutdown(loop.asio_reactor(), socket_.reactor_data(), fd);
}

AsioChannel::~AsioChannel() { close(); }

std::unique_ptr<ByteChannel> ProactorLoop::make_stream_channel(int fd) {
  if (is_closed()) {
    ::close(fd);
    Error::raise(errc::loop_closed);
  }
  watchers_.forget_parked(fd);  // as on the reactor: the channel owns the fd's events now
  return std::make_unique<AsioChannel>(*this, fd);
}

void AsioChannel::async_read_some(MutableBuffer buffer, Completion done) {
  // Asio attempts a read at once (speculatively) when it is started. A transport asks for
  // the next read as soon as the protocol has consumed the last one: before the protocol's
  // answer if that comes from a ready callback (asyncio streams answer from a task), and
  // always before the peer could reply to it. Started then, the attempt fails with EAGAIN: one
  // wasted recv(2) per message. The loop starts it later instead (ProactorLoop::defer_read),
  // when it finds the peer's reply about as often as raw Asio code's does, whose next read
  // starts from its write's completion.
  loop_.defer_read({this, buffer, std::move(done)});
}

bool AsioChannel::start_read(MutableBuffer buffer, Completion done) {
  // A read that left the socket empty (and saw no end of file) makes the next one try only if
  // Asio has seen an edge since, and else wait for the next without a system call, as the
  // reactor's does: an attempt would fail with EAGAIN about as often as the peer has not
  // answered yet (0.6 to 0.9 recv per 1 KiB Python echo request on the host of 2026-12-01).
  if (drained_) {
    if (!take_read_edge(socket_.reactor_data())) {
      wait_then_read(buffer, std::move(done));
      return false;
    }
    note_events(reported_events(socket_.reactor_data()));
  }
  // The attempt Asio's async_read_some would make, made here: if it succeeds, Asio would
  // post the completion behind its reactor task, which costs a non-blocking epoll_wait before
  // it runs and lets the bytes go cold meanwhile.
  if (read_now(buffer, done)) return true;
  wait_then_read(buffer, std::move(done));
  return false;
}

void AsioChannel::note_events(std::uint32_t events) noexcept {
  // For good: a socket whose peer has shut down stays readable (recv reports it).
  if ((events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) != 0) peer_shut_down_ = true;
}

bool AsioChannel::read_now(MutableBuffer buffer, Completion& done) {
  boost::system::error_code ec;
  const std::size_t n = socket_.read_some(asio::buffer(buffer.data(), buffer.size()), ec);
  if (ec == asio::error::would_block) return false;
  // A short read emptied the socket of bytes, but an end of file that arrived before it stays
  // behind them, and its edge may be one Asio has already reported: only the events of the
  // last epoll_wait tell (peer_shut_down_).
  drained_ = !ec && n < buffer.size() && reports_shutdown_ && !peer_shut_down_;
  loop_.run_io_callback([&] { done(translate(ec), n); });
  return true;
}

void AsioChannel::wait_then_read(MutableBuffer buffer, Completion done) {
  // Wait for readability, then read in the handler, as the reactor does: the bytes land only
  // when their completion runs (reads_land_at_completion()), so the transport can read every
  // connection into one shared buffer instead of a buffer of 256 KiB per connection. The
  // wait goes through Asio's reactor as its own reads do, with no epoll_ctl (an async_wait
  // would re-arm the descriptor each time). Called right after a recv failed with EAGAIN, or
  // when Asio remembers no edge since the last read.
  //
  // The channel may be gone when the handler runs: `flags` says whether `self` is still open
  // (a wait that completed before a close still runs its handler).
  auto handler = [self = this, loop = &loop_, flags = flags_, buffer, done = std::move(done)](
                     boost::system::error_code ec, std::uint32_t events) mutable {
    if (ec || !flags->open) {
      const std::error_code e = ec ? translate(ec) : make_error_code(errc::aborted);
      loop->run_io_callback([&] { done(e, 0); });
      return;
    }
    self->note_events(events);
    if (!self->read_now(buffer, done)) self->wait_then_read(buffer, std::move(done));
  };
  ReadableOp<decltype(handler)>::start(socket_, loop_.asio_reactor(), loop_.handler_memory(),
                                       std::move(handler));
}

void AsioChannel::async_write_some(ConstBufferSequence buffers, Completion done) {
  flags_->write_in_flight = true;
  // The flags are shared: the channel may be gone by the time the handler runs.
  auto handler = asio::bind_allocator(loop_.handler_allocator(),
                                      [flags = flags_, loop = &loop_, done = std::move(done)](
                                          boost::system::error_code ec, std::size_t n) {
                                        flags->write_in_flight = false;
                                        loop->run_io_callback([&] { done(translate(ec), n); });
                                      });
  // One buffer: Asio then uses send(2), a smaller operation object and no iovec import.
  if (buffers.size() == 1) {
    socket_.async_write_some(asio::buffer(buffers[0].data(), buffers[0].size()),
                             std::move(handler));
  } else {
    socket_.async_write_some(gather(buffers), std::move(handler));
  }
}

std::size_t AsioChannel::try_write_some(ConstBufferSequence buffers, std::error_code& ec) {
  if (!socket_.is_open()) {
    ec = make_error_code(errc::closed);
    return 0;
  }
  if (flags_->write_in_flight) {
    ec = errno_code(EAGAIN);
    return 0;
  }
  boost::system::error_code bec;
  const std::size_t n =
      buffers.size() == 1
          ? socket_.write_some(asio::buffer(buffers[0].data(), buffers[0].size()), bec)
          : socket_.write_some(gather(buffers), bec);
  ec = bec == asio::error::would_block ? errno_code(EAGAIN) : translate(bec);
  return n;
}

std::error_code AsioChannel::shutdown_send() {
  boost::system::error_code ec;
  socket_.shutdown(asio::socket_base::shutdown_send, ec);
  return translate(ec);
}

void AsioChannel::cancel() {
  loop_.abort_deferred_reads(this);
  boost::system::error_code ignored;
  socket_.cancel(ignored);
}

void AsioChannel::close() {
  flags_->open = false;
  loop_.abort_deferred_reads(this);
  boost::system::error_code ignored;
  socket_.close(ignored);  // outstanding operations complete with operation_aborted
}

Endpoint AsioChannel::local_endpoint(std::error_code& ec) const {
  return socket_endpoint(native_handle(), false, ec);
}
Endpoint AsioChannel::remote_endpoint(std::error_code& ec) const {
  return socket_endpoint(native_handle(), true, ec);
}

int AsioChannel::native_handle() const noexcept {
  return socket_.is_open() ? const_cast<decltype(socket_)&>(socket_).native_handle() : -1;
}

}  // namespace treadle::detail
