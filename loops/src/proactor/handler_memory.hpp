// loops/src/proactor/handler_memory.hpp — recycled memory for the proactor's Asio operations.
// Tests: tests/cpp/loops/test_handler_memory.cpp; every proactor I/O test runs through it
#pragma once

#include <cstddef>
#include <new>
#include <vector>

namespace treadle::detail {

/**
 * @brief A free list of equal blocks for the operation objects Asio allocates per
 * `async_read_some`/`async_write_some`.
 *
 * Asio recycles that memory itself only inside its own `run`/`poll` calls, where it keeps a
 * per-thread cache. The proactor starts most reads from its poll phase, outside them
 * (ProactorLoop::defer_read), so each read cost an `aligned_alloc` and a `free`: about 130
 * instructions per 1 KiB Python echo request, 4 % of the proactor's total (callgrind). Handlers
 * bound to a `HandlerAllocator` take their operation's memory from here instead.
 *
 * Thread safety: none. Only the loop thread touches Asio (see ProactorLoop).
 * Lifetime: must outlive the io_context, whose destructor frees the operations still queued.
 */
class HandlerMemory {
 public:
  /// Big enough for a read or write operation with its handler; a larger request goes to
  /// the heap, uncached.
  static constexpr std::size_t kBlock = 384;
  /// Blocks kept once their operations end; more are freed. Blocks in flight (one per
  /// outstanding read) are not counted: a burst of connections leaves at most this many.
  static constexpr std::size_t kMaxFree = 64;

  HandlerMemory() { free_.reserve(kMaxFree); }
  HandlerMemory(const HandlerMemory&) = delete;
  HandlerMemory& operator=(const HandlerMemory&) = delete;
  ~HandlerMemory() {
    for (void* block : free_) ::operator delete(block);
  }

  void* allocate(std::size_t size) {
    if (size > kBlock) return ::operator new(size);
    if (free_.empty()) return ::operator new(kBlock);
    void* block = free_.back();
    free_.pop_back();
    return block;
  }

  void deallocate(void* block, std::size_t size) noexcept {
    if (size > kBlock || free_.size() == kMaxFree) {
      ::operator delete(block);
      return;
    }
    free_.push_back(block);  // cannot throw: the constructor reserved kMaxFree
  }

  /// Blocks kept for reuse (for tests).
  std::size_t free_blocks() const noexcept { return free_.size(); }

 private:
  std::vector<void*> free_;
};

/// The standard allocator interface over a `HandlerMemory`, for `asio::bind_allocator`.
template <class T>
class HandlerAllocator {
 public:
  using value_type = T;

  explicit HandlerAllocator(HandlerMemory& memory) noexcept : memory_(&memory) {}
  template <class U>
  HandlerAllocator(const HandlerAllocator<U>& other) noexcept : memory_(other.memory()) {}

  T* allocate(std::size_t n) {
    static_assert(alignof(T) <= __STDCPP_DEFAULT_NEW_ALIGNMENT__,
                  "HandlerMemory's blocks have operator new's alignment");
    return static_cast<T*>(memory_->allocate(n * sizeof(T)));
  }
  void deallocate(T* p, std::size_t n) noexcept { memory_->deallocate(p, n * sizeof(T)); }

  HandlerMemory* memory() const noexcept { return memory_; }
  template <class U>
  bool operator==(const HandlerAllocator<U>& other) const noexcept {
    return memory_ == other.memory();
  }

 private:
  HandlerMemory* memory_;
};

}  // namespace treadle::detail
