// core/include/treadle/core/handle.hpp — Handle and TimerHandle: scheduled callbacks.
// Tests: tests/cpp/core/test_handle.cpp, tests/cpp/loops/test_loop.cpp
#pragma once

#include <atomic>
#include <cstdint>
#include <utility>

#include "treadle/core/clock.hpp"

namespace treadle {

class Loop;

namespace detail {

/// @brief The scheduled unit every loop queues: a callback plus its cancelled flag.
///
/// Loops hold these by intrusive reference so that one allocation carries the callback, the
/// flag and the count (bindings derive their own, e.g. a Python callable plus its context).
/// The reference count is atomic because `call_soon_threadsafe` hands a handle back to a
/// foreign thread; everything else about a handle belongs to the loop's thread.
class HandleImpl {
 public:
  HandleImpl() = default;
  HandleImpl(const HandleImpl&) = delete;
  HandleImpl& operator=(const HandleImpl&) = delete;
  virtual ~HandleImpl() = default;

  /// Runs the callback. Called by the loop only, and only when not cancelled.
  virtual void invoke() = 0;

  /// Marks the handle cancelled and drops what the callback captured (so a cancelled
  /// handle that stays queued pins no resources). Idempotent.
  void cancel() noexcept {
    if (cancelled_) return;
    cancelled_ = true;
    on_cancel();
  }

  /// Drops the callback's captures; called at most once, by cancellation or by the loop
  /// when it discards a handle it will never run (`close()`).
  virtual void release_callback() noexcept {}
  bool cancelled() const noexcept { return cancelled_; }

  void add_ref() noexcept { refs_.fetch_add(1, std::memory_order_relaxed); }
  void release() noexcept {
    if (refs_.fetch_sub(1, std::memory_order_acq_rel) == 1) delete this;
  }

 protected:
  /// Called once by `cancel()`.
  virtual void on_cancel() noexcept { release_callback(); }

 private:
  std::atomic<std::uint32_t> refs_{0};
  bool cancelled_ = false;
};

/// @brief A handle with a deadline, kept in a loop's timer heap.
class TimerImpl : public HandleImpl {
 public:
  /// Interface through which a cancelled timer tells its heap (lazy cancellation bookkeeping).
  struct Owner {
    virtual void timer_cancelled() noexcept = 0;

   protected:
    ~Owner() = default;
  };

  std::int64_t when_ns = 0;    ///< Deadline on the `Clock`.
  std::uint64_t sequence = 0;  ///< Tie-break: equal deadlines run in scheduling order.
  Owner* owner = nullptr;      ///< The heap while queued, else null.

 protected:
  void on_cancel() noexcept override {
    if (owner != nullptr) owner->timer_cancelled();
    release_callback();
  }
};

/// @brief Intrusive pointer for `HandleImpl` and `TimerImpl`.
template <class T>
class Ref {
 public:
  Ref() noexcept = default;
  explicit Ref(T* p) noexcept : p_(p) {
    if (p_) p_->add_ref();
  }
  Ref(const Ref& o) noexcept : Ref(o.p_) {}
  Ref(Ref&& o) noexcept : p_(std::exchange(o.p_, nullptr)) {}
  template <class U>
  Ref(Ref<U> o) noexcept : p_(o.detach()) {}  // NOLINT(google-explicit-constructor)
  Ref& operator=(Ref o) noexcept {
    std::swap(p_, o.p_);
    return *this;
  }
  ~Ref() {
    if (p_) p_->release();
  }
  T* get() const noexcept { return p_; }
  T* operator->() const noexcept { return p_; }
  T& operator*() const noexcept { return *p_; }
  explicit operator bool() const noexcept { return p_ != nullptr; }
  /// Gives up ownership without releasing (the caller now owns one reference).
  T* detach() noexcept { return std::exchange(p_, nullptr); }

 private:
  T* p_ = nullptr;
};

/// @brief A `HandleImpl` running an arbitrary callable.
template <class F, class Base = HandleImpl>
class CallbackHandle final : public Base {
 public:
  explicit CallbackHandle(F&& f) : f_(std::move(f)), live_(true) {}
  explicit CallbackHandle(const F& f) : f_(f), live_(true) {}
  ~CallbackHandle() override { destroy(); }
  void invoke() override {
    if (live_) f_();
  }
  void release_callback() noexcept override { destroy(); }

 private:
  void destroy() noexcept {
    if (live_) {
      live_ = false;
      f_.~F();
    }
  }
  union {
    F f_;
  };
  bool live_;
};

}  // namespace detail

/// @brief A callback scheduled with `Loop::call_soon` or `Loop::call_soon_threadsafe`.
///
/// A cheap value: copies refer to the same scheduled callback. A default-constructed handle
/// refers to nothing; `cancel()` on it does nothing and `cancelled()` is false.
///
/// Thread safety: copying and destroying are safe from any thread. `cancel()` and
/// `cancelled()` must be called on the loop's thread (as in asyncio).
class Handle {
 public:
  Handle() noexcept = default;
  /// @brief Wraps a loop's internal handle (used by loops and bindings).
  explicit Handle(detail::Ref<detail::HandleImpl> impl) noexcept : impl_(std::move(impl)) {}

  /// @brief Prevents the callback from running, and releases what it captured at once.
  ///
  /// Cancelling a handle that already ran, or twice, does nothing.
  void cancel() noexcept {
    if (impl_) impl_->cancel();
  }
  /// @brief True once `cancel()` was called.
  bool cancelled() const noexcept { return impl_ && impl_->cancelled(); }
  /// @brief True if this handle refers to a scheduled callback.
  explicit operator bool() const noexcept { return static_cast<bool>(impl_); }
  /// @brief The underlying loop object (for bindings and loops).
  detail::HandleImpl* impl() const noexcept { return impl_.get(); }

 private:
  detail::Ref<detail::HandleImpl> impl_;
};

/// @brief A callback scheduled with `Loop::call_later` or `Loop::call_at`.
///
/// Adds the deadline to `Handle`. Cancelling costs O(1); the heap entry is discarded lazily
/// when it reaches the top, and the heap compacts itself when most entries are cancelled.
class TimerHandle : public Handle {
 public:
  TimerHandle() noexcept = default;
  /// @brief Wraps a loop's internal timer (used by loops and bindings).
  explicit TimerHandle(detail::Ref<detail::TimerImpl> impl) noexcept
      : Handle(detail::Ref<detail::HandleImpl>(impl.get())), timer_(impl.get()) {}

  /// @brief The deadline, in `Loop::time()` seconds.
  double when() const noexcept { return timer_ ? Clock::to_seconds(timer_->when_ns) : 0.0; }
  /// @brief The deadline, in `Clock::now_ns()` nanoseconds.
  std::int64_t when_ns() const noexcept { return timer_ ? timer_->when_ns : 0; }

 private:
  detail::TimerImpl* timer_ = nullptr;  // kept alive by Handle's reference
};

}  // namespace treadle
