// loops/src/proactor/proactor_loop.hpp — the Boost.Asio io_context backend.
// Tests: tests/cpp/loops/* (proactor)
#pragma once

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <functional>
#include <memory>
#include <unordered_map>
#include <vector>

#include "../common/loop_base.hpp"

namespace treadle::detail {

/**
 * @brief The proactor backend: `LoopBase` over a Boost.Asio `io_context`.
 *
 * The poll phase runs the io_context's ready completion handlers (blocking for the first one
 * at most the poll timeout); `call_soon_threadsafe` wakes it by posting an empty handler.
 * Readiness watchers use `posix::stream_descriptor::async_wait`, re-armed after every
 * callback so they are persistent.
 */
class ProactorLoop final : public LoopBase {
 public:
  ProactorLoop();
  ~ProactorLoop() override;

  std::string_view backend() const noexcept override { return "proactor"; }

  void add_reader(int fd, std::function<void()> callback) override;
  bool remove_reader(int fd) override;
  void add_writer(int fd, std::function<void()> callback) override;
  bool remove_writer(int fd) override;
  void wait_readable(int fd, std::function<void()> callback) override;
  void wait_writable(int fd, std::function<void()> callback) override;

  std::unique_ptr<ByteChannel> make_stream_channel(int fd) override;

  /// The io_context, for the proactor's channels.
  boost::asio::io_context& io_context() noexcept { return io_; }
  /// Runs `start` at the beginning of the next poll phase, before waiting: how channels
  /// start reads late enough for Asio's speculative attempt to find data (asio_channel.cpp).
  void defer_start(std::function<void()> start) { deferred_starts_.push_back(std::move(start)); }

 protected:
  void poll_io(std::int64_t timeout_ns) override;
  void wakeup() noexcept override;
  void close_io() noexcept override;

 private:
  class Watcher;
  using Callback = std::shared_ptr<std::function<void()>>;

  void set_callback(int fd, bool reading, bool once, Callback cb);
  void release_if_idle(int fd) noexcept;
  bool clear_callback(int fd, bool reading);

  // The hint promises a single thread runs the context, which lets Asio skip some locking.
  boost::asio::io_context io_{1};
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work_{
      io_.get_executor()};
  std::unordered_map<int, std::shared_ptr<Watcher>> watchers_;
  std::vector<std::function<void()>> level_ready_;  // watchers to run in the next poll phase
  std::vector<std::function<void()>> deferred_starts_, starting_;  // see defer_start()

  static constexpr std::size_t kMaxHandlersPerPoll = 4096;
};

}  // namespace treadle::detail
