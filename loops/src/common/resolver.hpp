// loops/src/common/resolver.hpp — getaddrinfo on a thread the loop owns.
// Tests: tests/cpp/loops/test_resolve.cpp
#pragma once

#include <memory>
#include <string>

#include "treadle/core/loop.hpp"

namespace treadle::detail {

/**
 * @brief One worker thread that runs `getaddrinfo(3)` for a loop, one request at a time,
 * and hands each result back with `call_soon_threadsafe`.
 *
 * Destroying the resolver (when the loop closes) detaches the worker instead of joining it:
 * a lookup can block for seconds and `close()` must not. The worker and the resolver share a
 * small state block under a mutex; once the resolver is gone the worker delivers nothing,
 * drops the queued requests, and exits after its current lookup.
 */
class Resolver {
 public:
  explicit Resolver(Loop& loop);
  ~Resolver();
  Resolver(const Resolver&) = delete;
  Resolver& operator=(const Resolver&) = delete;

  void submit(std::string host, std::uint16_t port, int family, int flags,
              Loop::ResolveCallback done);

  struct Shared;

 private:
  std::shared_ptr<Shared> shared_;
};

}  // namespace treadle::detail
