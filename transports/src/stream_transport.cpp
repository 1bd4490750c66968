// transports/src/stream_transport.cpp — write queue, water marks, reads, the teardown path.
// Tests: tests/cpp/transports/test_stream_transport.cpp (every backend)
#include "treadle/transports/stream_transport.hpp"

#include <algorithm>
#include <boost/container/static_vector.hpp>
#include <cerrno>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "treadle/core/error.hpp"

namespace treadle {

namespace {
constexpr std::size_t kMaxGather = 64;             // buffers per gather write
constexpr std::size_t kCoalesceLimit = 64 * 1024;  // small writes join the last queued chunk
constexpr std::size_t kDeferLimit = 64 * 1024;     // writes are deferred up to this many bytes

// A gather write's buffers; only those used are constructed (64 spans cost 128 stores).
using Gather = boost::container::static_vector<ConstBuffer, kMaxGather>;

// The queue's chunks from its first unsent byte, as many as one gather write takes.
Gather gather(const std::deque<std::vector<std::byte>>& queue, std::size_t head_offset) {
  Gather iov;
  for (auto it = queue.begin(); it != queue.end() && iov.size() < kMaxGather; ++it) {
    iov.push_back(ConstBuffer(*it).subspan(iov.empty() ? head_offset : 0));
  }
  return iov;
}

bool would_block(std::error_code ec) {
  return ec == std::errc::resource_unavailable_try_again || ec == std::errc::operation_would_block;
}

// The receive buffer that every copying transport on this thread shares when its channel
// reads at completion time (see ByteChannel::reads_land_at_completion). One buffer stays in
// the cache; a buffer per connection was cold on every read, and the kernel's copy into it
// and the protocol's copy out of it cost twice what they cost into a hot one (aiohttp
// uploads: 1.5x stock asyncio's CPU per request with a buffer per connection).
std::byte* shared_read_buffer() {
  thread_local const std::unique_ptr<std::byte[]> buffer =
      std::make_unique_for_overwrite<std::byte[]>(StreamTransport::kReadBufferSize);
  return buffer.get();
}

// Receive buffers of transports that need one of their own (bytes held while paused, which
// asyncio streams' flow control does; a channel whose reads land before their completion
// runs), kept per thread for the next connection. Allocated afresh, each came from the top of
// the heap, which glibc hands back to the kernel as connections close: every connection then
// paid brk(2) and the page faults of a new block, a transparent huge page zeroed among them
// (150 µs of CPU per connection when the proactor read into buffers of its own, against the
// reactor's 90). At most kKeptReadBuffers (4 MiB) wait here.
constexpr std::size_t kKeptReadBuffers = 16;
using ReadBuffer = std::unique_ptr<std::byte[]>;

std::vector<ReadBuffer>& kept_read_buffers() {
  thread_local std::vector<ReadBuffer> kept;
  return kept;
}

ReadBuffer take_read_buffer() {
  std::vector<ReadBuffer>& kept = kept_read_buffers();
  if (kept.empty())
    return std::make_unique_for_overwrite<std::byte[]>(StreamTransport::kReadBufferSize);
  ReadBuffer b = std::move(kept.back());
  kept.pop_back();
  return b;
}

void give_back(ReadBuffer b) {
  std::vector<ReadBuffer>& kept = kept_read_buffers();
  if (kept.size() < kKeptReadBuffers) kept.push_back(std::move(b));
}
}  // namespace

std::shared_ptr<StreamTransport> StreamTransport::make(Loop& loop,
                                                       std::unique_ptr<ByteChannel> channel,
                                                       std::shared_ptr<StreamProtocol> protocol,
                                                       ExtraInfo extra) {
  std::shared_ptr<StreamTransport> t(new StreamTransport(loop, std::move(channel)));
  t->extra_ = std::move(extra);
  std::error_code ec;
  Endpoint peer = t->channel_->remote_endpoint(ec);
  if (!ec) t->extra_.set(extra::peername, peer);
  Endpoint local = t->channel_->local_endpoint(ec);
  if (!ec) t->extra_.set(extra::sockname, local);
  t->extra_.set(extra::socket, t->channel_->native_handle());
  t->set_protocol(std::move(protocol));
  // The callback owns the transport until it runs; from then on the transport owns itself.
  loop.call_soon([t] { t->start(); });
  return t;
}

StreamTransport::StreamTransport(Loop& loop, std::unique_ptr<ByteChannel> channel)
    : loop_(loop), channel_(std::move(channel)) {
  loop_.add_resource(this);
}

StreamTransport::~StreamTransport() {
  if (flush_deferred_ && !loop_gone_) loop_.cancel_flush(*this);
  if (channel_) channel_->close();
  if (!loop_gone_) loop_.remove_resource(this);
  // Closed, the channel reads into it no more: a channel reads with recv(2) calls made by
  // its loop, never left with the kernel, and closing it cancels the next.
  if (read_buffer_) give_back(std::move(read_buffer_));
}

void StreamTransport::loop_closed() noexcept {
  loop_gone_ = true;
  state_ = State::closed;
  queue_.clear();
  buffer_size_ = 0;
  held_.reset();
  channel_->close();
  protocol_.reset();
  read_lender_.reset();
  stream_ = nullptr;
  buffered_ = nullptr;
  self_.reset();  // may destroy this: nothing may follow
}

void StreamTransport::set_state(State next) {
  const bool allowed = (state_ == State::open && next != State::open) ||
                       (state_ == State::closing && next == State::closed);
  if (!allowed) Error::raise(errc::invalid_argument, "invalid StreamTransport state transition");
  state_ = next;
}

void StreamTransport::set_protocol(std::shared_ptr<BaseProtocol> protocol) {
  auto p = std::dynamic_pointer_cast<StreamProtocol>(protocol);
  if (!p) Error::raise(errc::invalid_argument, "StreamTransport needs a StreamProtocol");
  stream_ = dynamic_cast<Protocol*>(p.get());
  buffered_ = dynamic_cast<BufferedProtocol*>(p.get());
  if (stream_ == nullptr && buffered_ == nullptr) {
    Error::raise(errc::invalid_argument, "protocol is neither Protocol nor BufferedProtocol");
  }
  protocol_ = std::move(p);
}

template <class F>
bool StreamTransport::guard(F&& f, const char* what) {
  try {
    f();
    return true;
  } catch (const Interrupt&) {
    throw;
  } catch (...) {
    loop_.call_exception_handler({std::string("Fatal error: protocol.") + what + "() call failed.",
                                  std::current_exception(),
                                  {},
                                  {}});
    force_close(make_error_code(errc::protocol_error));
    return false;
  }
}

void StreamTransport::start() {
  self_ = shared_from_this();
  made_ = true;
  // Resolved once, here on the loop's thread: the shared buffer is per thread.
  if (channel_->reads_land_at_completion()) shared_read_buffer_ = shared_read_buffer();
  if (!guard([&] { protocol_->connection_made(*this); }, "connection_made")) return;
  start_read();
}

// ---- reading ------------------------------------------------------------------------------

void StreamTransport::pause_reading() {
  if (state_ != State::open || !reading_) return;
  reading_ = false;
}

void StreamTransport::resume_reading() {
  if (state_ != State::open || reading_) return;
  reading_ = true;
  if (!held_) {
    start_read();
    return;
  }
  // Held data is delivered on a later iteration: never inside the protocol's own call.
  loop_.call_soon([this, self = shared_from_this()] {
    if (!held_ || !reading_ || state_ != State::open) return;
    auto [ec, n] = *held_;
    held_.reset();
    deliver(ec, n);
  });
}

void StreamTransport::start_read() {
  if (state_ != State::open || !reading_ || read_in_flight_ || eof_seen_ || held_) return;
  MutableBuffer buffer;
  if (buffered_ != nullptr) {
    if (!guard([&] { buffer = buffered_->get_buffer(kReadBufferSize); }, "get_buffer")) return;
    if (buffer.empty()) {
      empty_buffer_error();
      return;
    }
    read_lender_ = protocol_;
  } else {
    buffer = shared_read_buffer_ != nullptr ? MutableBuffer{shared_read_buffer_, kReadBufferSize}
                                            : own_read_buffer();
    read_lender_.reset();
  }
  read_region_ = buffer;
  read_in_flight_ = true;
  channel_->async_read_some(buffer, [this](std::error_code ec, std::size_t n) { on_read(ec, n); });
}

MutableBuffer StreamTransport::own_read_buffer() {
  if (!read_buffer_) read_buffer_ = take_read_buffer();
  return {read_buffer_.get(), kReadBufferSize};
}

void StreamTransport::on_read(std::error_code ec, std::size_t n) {
  read_in_flight_ = false;
  if (state_ == State::closed) {
    read_lender_.reset();
    maybe_release();  // may destroy this: nothing may follow
    return;
  }
  if (state_ == State::closing) {
    read_lender_.reset();
    return;  // close() stops delivery; the bytes are discarded
  }
  if (!reading_) {
    // Paused while the read was in flight: keep the bytes for resume_reading, in a buffer of
    // the transport's own if they landed in the shared one (the next read reuses that).
    if (!ec && shared_read_buffer_ != nullptr && read_region_.data() == shared_read_buffer_) {
      const MutableBuffer own = own_read_buffer();
      std::memcpy(own.data(), read_region_.data(), n);
      read_region_ = own;
    }
    held_.emplace(ec, n);
    return;
  }
  deliver(ec, n);
}

void StreamTransport::deliver(std::error_code ec, std::size_t n) {
  // set_protocol() may have switched protocols since the read started: the bytes are in the
  // old protocol's buffer (kept alive by `lender` for this call) or in the transport's own,
  // and go to the current protocol, copied into its buffer if it is a BufferedProtocol.
  const std::shared_ptr<StreamProtocol> lender = std::move(read_lender_);
  if (!ec) {
    bool ok = false;
    if (buffered_ == nullptr) {
      ok = guard([&] { stream_->data_received(read_region_.first(n)); }, "data_received");
    } else if (lender != nullptr && lender == protocol_) {
      ok = guard([&] { buffered_->buffer_updated(n); }, "buffer_updated");
    } else {
      ok = copy_to_buffered(read_region_.first(n));
    }
    if (ok) start_read();
    return;
  }
  if (ec == errc::eof) {
    eof_seen_ = true;
    bool keep_open = false;
    if (!guard([&] { keep_open = protocol_->eof_received(); }, "eof_received")) return;
    if (!keep_open) close();
    return;
  }
  fatal_error(ec);
}

bool StreamTransport::copy_to_buffered(ConstBuffer data) {
  while (!data.empty() && state_ == State::open) {
    if (buffered_ == nullptr) {  // switched again, to a Protocol, by a callback below
      return guard([&] { stream_->data_received(data); }, "data_received");
    }
    MutableBuffer buffer;
    if (!guard([&] { buffer = buffered_->get_buffer(data.size()); }, "get_buffer")) return false;
    if (buffer.empty()) {
      empty_buffer_error();
      return false;
    }
    const std::size_t k = std::min(buffer.size(), data.size());
    std::memcpy(buffer.data(), data.data(), k);
    if (!guard([&] { buffered_->buffer_updated(k); }, "buffer_updated")) return false;
    data = data.subspan(k);
  }
  return true;
}

void StreamTransport::empty_buffer_error() {
  loop_.call_exception_handler({"Fatal error: protocol.get_buffer() returned an empty buffer",
                                {},
                                make_error_code(errc::invalid_argument),
                                {}});
  force_close(make_error_code(errc::protocol_error));
}

// ---- writing ------------------------------------------------------------------------------

void StreamTransport::write(ConstBuffer data) { writev({&data, 1}); }

void StreamTransport::writev(ConstBufferSequence buffers) {
  if (eof_pending_) Error::raise(errc::closed, "cannot write after write_eof()");
  if (state_ != State::open) return;  // as asyncio: writes to a closing transport are dropped
  std::size_t total = 0;
  for (const auto& b : buffers) total += b.size();
  if (total == 0) return;
  if (write_in_flight_) {  // the kernel took less than it was given: queue behind
    append(buffers, 0);
    maybe_pause_protocol();
    return;
  }
  // Writes wait for the end of the phase, to reach the kernel in one system call with what the
  // phase's other callbacks write (Loop::defer_flush), while the deferred bytes stay within
  // 64 KiB and the high-water mark (uvloop's rule too: a protocol that set the mark low asked
  // for its bytes to be handed over as they come). A write past that goes now, together with
  // the bytes waiting before it. Deferring costs a copy, which the batch repays up to tens of
  // KiB: an asyncio stream's 10 KiB replies, written from tasks, cost 1.03-1.09x uvloop's CPU
  // when each went at once, 0.93-0.97x deferred. Outside a run there is no phase to end, and
  // the bytes go at once, as on asyncio.
  if (buffer_size_ + total <= std::min(kDeferLimit, high_) && loop_.is_running()) {
    append(buffers, 0);
    if (!flush_deferred_) {
      flush_deferred_ = true;
      loop_.defer_flush(*this);
    }
    return;
  }
  send_now(buffers);
}

void StreamTransport::flush() {
  flush_deferred_ = false;
  if (state_ == State::closed || write_in_flight_ || queue_.empty()) return;
  send_now({});
}

void StreamTransport::send_now(ConstBufferSequence more) {
  Gather iov = gather(queue_, head_offset_);
  if (iov.size() < queue_.size() || iov.size() + more.size() > kMaxGather) {
    // Not one gather write: the queue takes `more`, and goes out in order from there.
    append(more, 0);
    more = {};
  } else {
    iov.insert(iov.end(), more.begin(), more.end());
  }
  const bool was_queued = !queue_.empty();
  std::error_code ec;
  const std::size_t sent = channel_->try_write_some(iov, ec);
  if (ec && !would_block(ec)) {
    fatal_error(ec);
    return;
  }
  const std::size_t from_queue = std::min(sent, buffer_size_);
  consume(from_queue);
  append(more, sent - from_queue);
  if (!queue_.empty()) {
    maybe_pause_protocol();
    start_write();
  } else if (was_queued) {
    after_drain();
  }
}

void StreamTransport::append(ConstBufferSequence buffers, std::size_t skip) {
  for (ConstBuffer b : buffers) {
    if (skip >= b.size()) {
      skip -= b.size();
      continue;
    }
    b = b.subspan(skip);
    skip = 0;
    buffer_size_ += b.size();
    // Coalesce into the last chunk unless a write in flight points into it.
    if (queue_.size() > in_flight_chunks_ && queue_.back().size() + b.size() <= kCoalesceLimit) {
      queue_.back().insert(queue_.back().end(), b.begin(), b.end());
    } else if (spare_.capacity() >= b.size()) {
      spare_.assign(b.begin(), b.end());
      queue_.push_back(std::move(spare_));
      spare_ = {};
    } else {
      queue_.emplace_back(b.begin(), b.end());
    }
  }
}

void StreamTransport::start_write() {
  if (write_in_flight_ || queue_.empty() || state_ == State::closed) return;
  const Gather iov = gather(queue_, head_offset_);
  in_flight_chunks_ = iov.size();
  write_in_flight_ = true;
  channel_->async_write_some(iov, [this](std::error_code ec, std::size_t n) { on_write(ec, n); });
}

void StreamTransport::on_write(std::error_code ec, std::size_t n) {
  write_in_flight_ = false;
  in_flight_chunks_ = 0;
  if (state_ == State::closed) {
    maybe_release();  // may destroy this: nothing may follow
    return;
  }
  if (ec) {
    fatal_error(ec);
    return;
  }
  consume(n);
  maybe_resume_protocol();
  if (state_ == State::closed) return;
  if (!queue_.empty()) {
    start_write();
    return;
  }
  after_drain();
}

void StreamTransport::after_drain() {
  if (drained_) notify_drained({});
  if (state_ == State::closing) {
    force_close({});
  } else if (eof_pending_ && !eof_written_) {
    eof_written_ = true;
    if (auto err = channel_->shutdown_send()) fatal_error(err);
  }
}

void StreamTransport::consume(std::size_t n) {
  buffer_size_ -= n;
  while (n > 0) {
    const std::size_t left = queue_.front().size() - head_offset_;
    if (n < left) {
      head_offset_ += n;
      return;
    }
    n -= left;
    // A chunk a connection of small writes keeps going back and forth through.
    if (spare_.capacity() == 0 && queue_.front().capacity() <= kCoalesceLimit) {
      spare_ = std::move(queue_.front());
    }
    queue_.pop_front();
    head_offset_ = 0;
  }
}

void StreamTransport::write_eof() {
  if (state_ != State::open || eof_pending_) return;
  eof_pending_ = true;
  if (queue_.empty() && !write_in_flight_) {
    eof_written_ = true;
    if (auto ec = channel_->shutdown_send()) fatal_error(ec);
  }
}

void StreamTransport::set_write_buffer_limits(std::optional<std::size_t> high,
                                              std::optional<std::size_t> low) {
  const std::size_t h = high ? *high : (low ? 4 * *low : 64 * 1024);
  const std::size_t l = low ? *low : h / 4;
  if (h < l) Error::raise(errc::invalid_argument, "high water mark must be >= low water mark");
  high_ = h;
  low_ = l;
  maybe_pause_protocol();
}

void StreamTransport::maybe_pause_protocol() {
  if (buffer_size_ <= high_ || protocol_paused_) return;
  protocol_paused_ = true;
  try {
    protocol_->pause_writing();
  } catch (const Interrupt&) {
    throw;
  } catch (...) {
    loop_.call_exception_handler(
        {"protocol.pause_writing() failed", std::current_exception(), {}, {}});
  }
}

void StreamTransport::maybe_resume_protocol() {
  if (!protocol_paused_ || buffer_size_ > low_) return;
  protocol_paused_ = false;
  try {
    protocol_->resume_writing();
  } catch (const Interrupt&) {
    throw;
  } catch (...) {
    loop_.call_exception_handler(
        {"protocol.resume_writing() failed", std::current_exception(), {}, {}});
  }
}

// ---- closing: one teardown path -----------------------------------------------------------

void StreamTransport::close() {
  if (state_ != State::open) return;
  set_state(State::closing);
  if (queue_.empty() && !write_in_flight_) force_close({});
}

void StreamTransport::abort() { force_close(make_error_code(errc::aborted)); }

void StreamTransport::fatal_error(std::error_code ec) { force_close(ec); }

void StreamTransport::force_close(std::error_code ec) {
  if (state_ == State::closed) return;
  set_state(State::closed);
  queue_.clear();
  head_offset_ = 0;
  buffer_size_ = 0;
  held_.reset();
  channel_->close();  // outstanding operations complete later with errc::aborted
  loop_.call_soon([this, ec] { call_connection_lost(ec); });
}

void StreamTransport::when_drained(std::function<void(std::error_code)> done) {
  drained_ = std::move(done);
  if (state_ == State::closed || lost_) {
    notify_drained(make_error_code(errc::aborted));
  } else if (queue_.empty() && !write_in_flight_) {
    notify_drained({});
  }
}

void StreamTransport::notify_drained(std::error_code ec) {
  loop_.call_soon([done = std::move(drained_), ec] { done(ec); });
  drained_ = nullptr;
}

void StreamTransport::call_connection_lost(std::error_code ec) {
  lost_ = true;
  if (drained_) notify_drained(ec ? ec : make_error_code(errc::aborted));
  // Dropping the protocol breaks the usual cycle (protocol holding its transport).
  std::shared_ptr<StreamProtocol> protocol = std::move(protocol_);
  stream_ = nullptr;
  buffered_ = nullptr;
  try {
    protocol->connection_lost(ec);
  } catch (const Interrupt&) {
    maybe_release();
    throw;
  } catch (...) {
    loop_.call_exception_handler(
        {"protocol.connection_lost() failed", std::current_exception(), {}, {}});
  }
  protocol.reset();
  maybe_release();  // may destroy this: nothing may follow
}

void StreamTransport::maybe_release() {
  if (lost_ && !read_in_flight_ && !write_in_flight_) self_.reset();
}

}  // namespace treadle
