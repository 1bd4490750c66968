// loops/src/reactor/socket_channel.cpp — speculative system calls, edge-triggered epoll.
// Tests: tests/cpp/transports/test_byte_channel.cpp (reactor)
#include "socket_channel.hpp"

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include "../common/socket_ops.hpp"

namespace treadle::detail {

/// What epoll points at. It outlives the channel until the loop's current batch ends.
struct SocketChannel::Source final : IoSource {
  SocketChannel* owner;
  explicit Source(SocketChannel* o) : owner(o) {}
  void on_events(std::uint32_t events) override {
    if (owner != nullptr) owner->on_events(events);
  }
};

namespace {
constexpr std::uint32_t kHangUp = EPOLLRDHUP | EPOLLHUP | EPOLLERR;

/// One buffer goes through send(2), which skips sendmsg's iovec import in the kernel (the
/// common echo case); several go through sendmsg(2) as one gather write.
ssize_t send_iov(int fd, const iovec* iov, std::size_t count) {
  ssize_t n;
  do {
    if (count == 1) {
      n = ::send(fd, iov[0].iov_base, iov[0].iov_len, MSG_NOSIGNAL);
    } else {
      msghdr msg{};
      msg.msg_iov = const_cast<iovec*>(iov);
      msg.msg_iovlen = count;
      n = ::sendmsg(fd, &msg, MSG_NOSIGNAL);
    }
  } while (n < 0 && errno == EINTR);
  return n;
}
}  // namespace

SocketChannel::SocketChannel(ReactorLoop& loop, int fd)
    : loop_(loop), fd_(fd), source_(new Source(this)) {
  const int flags = ::fcntl(fd, F_GETFL);
  std::error_code ec;
  if (flags < 0 || ::fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0) ec = errno_code(errno);
  if (!ec) ec = loop.poller().add(fd, EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET, source_);
  if (ec) {
    ::close(fd);
    delete source_;
    throw std::system_error(ec, "cannot register socket");
  }
}

SocketChannel::~SocketChannel() {
  close();
  source_->owner = nullptr;
  loop_.retire(std::unique_ptr<IoSource>(source_));
}

std::unique_ptr<ByteChannel> ReactorLoop::make_stream_channel(int fd) {
  if (is_closed()) {
    ::close(fd);
    Error::raise(errc::loop_closed);
  }
  watchers_.forget_parked(fd);
  return std::make_unique<SocketChannel>(*this, fd);
}

void SocketChannel::async_read_some(MutableBuffer buffer, Completion done) {
  read_buffer_ = buffer;
  read_done_ = std::move(done);
  if (fd_ < 0) read_aborted_ = true;
  if (readable_ || read_aborted_) {
    if (!deferred_) {
      deferred_ = true;
      loop_.defer(source_);
    }
  }
}

void SocketChannel::async_write_some(ConstBufferSequence buffers, Completion done) {
  write_iov_count_ = std::min(buffers.size(), kMaxIov);
  for (std::size_t i = 0; i < write_iov_count_; ++i) {
    write_iov_[i] = {const_cast<std::byte*>(buffers[i].data()), buffers[i].size()};
  }
  write_done_ = std::move(done);
  if (fd_ < 0) write_aborted_ = true;
  if (writable_ || write_aborted_) {
    if (!deferred_) {
      deferred_ = true;
      loop_.defer(source_);
    }
  }
}

std::size_t SocketChannel::try_write_some(ConstBufferSequence buffers, std::error_code& ec) {
  if (fd_ < 0) {
    ec = make_error_code(errc::closed);
    return 0;
  }
  // An asynchronous write in flight owns the byte order; the caller must queue behind it.
  if (!writable_ || write_done_) {
    ec = errno_code(EAGAIN);
    return 0;
  }
  const std::size_t count = std::min(buffers.size(), kMaxIov);
  if (count == 0) {
    ec.clear();
    return 0;
  }
  iovec iov[kMaxIov];  // not value-initialised: only `count` entries are used
  for (std::size_t i = 0; i < count; ++i) {
    iov[i] = {const_cast<std::byte*>(buffers[i].data()), buffers[i].size()};
  }
  const ssize_t n = send_iov(fd_, iov, count);
  if (n < 0) {
    if (errno == EAGAIN) writable_ = false;
    ec = errno_code(errno);
    return 0;
  }
  // The kernel took less than offered: its buffer is full. Wait for the EPOLLOUT edge (the
  // short write armed it) instead of paying for an EAGAIN on the next attempt.
  std::size_t offered = 0;
  for (std::size_t i = 0; i < count; ++i) offered += iov[i].iov_len;
  if (static_cast<std::size_t>(n) < offered) writable_ = false;
  ec.clear();
  return static_cast<std::size_t>(n);
}

std::error_code SocketChannel::shutdown_send() {
  if (fd_ < 0) return make_error_code(errc::closed);
  if (::shutdown(fd_, SHUT_WR) != 0) return errno_code(errno);
  return {};
}

void SocketChannel::cancel() {
  if (read_done_) read_aborted_ = true;
  if (write_done_) write_aborted_ = true;
  if ((read_aborted_ || write_aborted_) && !deferred_) {
    deferred_ = true;
    loop_.defer(source_);
  }
}

void SocketChannel::close() {
  if (fd_ < 0) return;
  cancel();
  loop_.poller().remove(fd_);
  ::close(fd_);
  fd_ = -1;
}

Endpoint SocketChannel::local_endpoint(std::error_code& ec) const {
  return socket_endpoint(fd_, false, ec);
}
Endpoint SocketChannel::remote_endpoint(std::error_code& ec) const {
  return socket_endpoint(fd_, true, ec);
}

void SocketChannel::on_events(std::uint32_t events) {
  if (events == 0) deferred_ = false;
  // After a hang-up or error the socket stays "readable" for good: recv reports it.
  if (events & kHangUp) hung_up_ = true;
  if (events & (EPOLLIN | kHangUp)) readable_ = true;
  if (events & (EPOLLOUT | EPOLLHUP | EPOLLERR)) writable_ = true;
  if (read_done_ && (read_aborted_ || readable_ || hung_up_)) {
    if (!perform_read()) return;
  }
  if (write_done_ && (write_aborted_ || writable_)) perform_write();
}

void SocketChannel::complete(Completion& slot, std::error_code ec, std::size_t n) {
  Completion done = std::move(slot);
  slot = nullptr;
  loop_.run_io_callback([&] { done(ec, n); });
}

bool SocketChannel::perform_read() {
  Source* self = source_;  // survives our destruction until the batch ends
  if (read_aborted_) {
    read_aborted_ = false;
    complete(read_done_, make_error_code(errc::aborted), 0);
    return self->owner != nullptr;
  }
  ssize_t n;
  do {
    n = ::recv(fd_, read_buffer_.data(), read_buffer_.size(), 0);
  } while (n < 0 && errno == EINTR);
  if (n < 0 && errno == EAGAIN) {
    readable_ = false;
    return true;
  }
  // A short read drained the socket: wait for the next edge instead of paying for an EAGAIN.
  if (n > 0 && static_cast<std::size_t>(n) < read_buffer_.size() && !hung_up_) readable_ = false;
  std::error_code ec;
  if (n == 0) ec = make_error_code(errc::eof);
  if (n < 0) ec = errno_code(errno);
  complete(read_done_, ec, n > 0 ? static_cast<std::size_t>(n) : 0);
  return self->owner != nullptr;
}

bool SocketChannel::perform_write() {
  Source* self = source_;
  if (write_aborted_) {
    write_aborted_ = false;
    complete(write_done_, make_error_code(errc::aborted), 0);
    return self->owner != nullptr;
  }
  const ssize_t n = send_iov(fd_, write_iov_.data(), write_iov_count_);
  if (n < 0 && errno == EAGAIN) {
    writable_ = false;
    return true;
  }
  if (n >= 0) {
    std::size_t offered = 0;
    for (std::size_t i = 0; i < write_iov_count_; ++i) offered += write_iov_[i].iov_len;
    if (static_cast<std::size_t>(n) < offered) writable_ = false;  // as in try_write_some
  }
  complete(write_done_, n < 0 ? errno_code(errno) : std::error_code{},
           n > 0 ? static_cast<std::size_t>(n) : 0);
  return self->owner != nullptr;
}

}  // namespace treadle::detail
