// loops/src/proactor/proactor_loop.hpp — the Boost.Asio io_context backend.
// Tests: tests/cpp/loops/* (proactor)
#pragma once

#include <boost/asio/detail/epoll_reactor.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <deque>
#include <functional>
#include <memory>
#include <vector>

#include "../common/epoll_poller.hpp"
#include "../common/epoll_watchers.hpp"
#include "../common/loop_base.hpp"
#include "../common/waker.hpp"
#include "handler_memory.hpp"
#include "treadle/core/byte_channel.hpp"

namespace treadle::detail {

class AsioChannel;

/**
 * @brief The proactor backend: `LoopBase` over a Boost.Asio `io_context`.
 *
 * The poll phase runs the io_context's ready completion handlers (blocking for the first one
 * at most the poll timeout); `call_soon_threadsafe` wakes it through an eventfd in the
 * watchers' epoll set, so that no other thread ever touches Asio.
 * Readiness watchers are the reactor's (common/epoll_watchers.hpp), kept in an epoll set of
 * their own whose fd Asio watches: one `epoll_ctl` per one-shot wait, as on the reactor, where
 * Asio descriptors would cost a registration, a re-arm and a deregistration.
 */
class ProactorLoop final : public LoopBase {
 public:
  ProactorLoop();
  ~ProactorLoop() override;

  std::string_view backend() const noexcept override { return "proactor"; }

  std::unique_ptr<ByteChannel> make_stream_channel(int fd) override;

  /// The io_context, for the proactor's channels.
  boost::asio::io_context& io_context() noexcept { return io_; }
  /// Memory for the channels' operations (see handler_memory.hpp).
  HandlerAllocator<void> handler_allocator() noexcept { return HandlerAllocator<void>(memory_); }
  HandlerMemory& handler_memory() noexcept { return memory_; }
  /// The io_context's reactor, for the channels' waits (see readable_op.hpp).
  boost::asio::detail::epoll_reactor& asio_reactor() noexcept { return reactor_; }
  /// A read a channel asked for, started later (see asio_channel.cpp): by a handler of its
  /// own, queued behind those ready now, or at the start of the next poll phase if ready
  /// callbacks or flushes are queued.
  struct DeferredRead {
    AsioChannel* channel;  // null once aborted: then completes with errc::aborted
    MutableBuffer buffer;
    ByteChannel::Completion done;
  };
  void defer_read(DeferredRead read);
  /// Makes `channel`'s deferred read complete with `errc::aborted` (cancel, close).
  void abort_deferred_reads(const AsioChannel* channel) noexcept;

 protected:
  void poll_io(std::int64_t timeout_ns) override;
  void wakeup() noexcept override;
  void close_io() noexcept override;
  /// Watchers that may still be ready run in the next phase: the current one must end.
  bool has_deferred_io() const noexcept override { return watchers_again_; }

 private:
  EpollWatchers& watchers() noexcept override { return watchers_; }
  void arm_watchers();
  void run_watchers();
  std::size_t start_deferred();
  void finish_phase();
  bool start_read(DeferredRead& r);

  // One thread runs the context and is the only one to touch it: other threads wake the
  // loop through waker_, never through Asio. So Asio takes no locks at all (it took about
  // six mutex round trips per echo request).
  HandlerMemory memory_;  // before io_: outlives the operations io_ destroys
  boost::asio::io_context io_{BOOST_ASIO_CONCURRENCY_HINT_UNSAFE};
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work_{
      io_.get_executor()};
  // Looked up once: use_service() takes the registry's lock and searches it.
  boost::asio::detail::epoll_reactor& reactor_ =
      boost::asio::use_service<boost::asio::detail::epoll_reactor>(io_);
  EpollPoller poller_;  // the watchers' set, nested in Asio's epoll through watch_fd_
  EpollWatchers watchers_{*this, poller_};
  Waker waker_;  // in poller_: wakeup() from other threads
  boost::asio::posix::stream_descriptor watch_fd_{io_};
  bool watchers_armed_ = false;  // an async_wait on watch_fd_ is outstanding
  bool watchers_again_ = false;  // the set may hold ready watchers: poll it next phase
  std::uint64_t phase_ = 0;      // poll phases finished (see finish_phase())
  std::vector<DeferredRead> deferred_reads_, starting_;  // see defer_read(): next phase
  std::deque<DeferredRead> queued_reads_;                // one posted handler each

  static constexpr std::size_t kMaxHandlersPerPoll = 4096;
};

}  // namespace treadle::detail
