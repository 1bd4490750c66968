// tests/cpp/support/backends.hpp — which backend a per-backend test runs on, and loop helpers.
#pragma once

#include <cstdlib>
#include <memory>
#include <string_view>

#include "treadle/core/loop.hpp"
#include "treadle/loops/backends.hpp"

namespace treadle::test {

/// The backend under test: $TREADLE_BACKEND (set by CTest, one run per backend), else default.
inline std::string_view backend() {
  const char* name = std::getenv("TREADLE_BACKEND");
  return name != nullptr && *name != '\0' ? std::string_view(name) : default_backend();
}

/// A fresh loop of the backend under test.
inline std::unique_ptr<Loop> make_test_loop() { return make_loop(backend()); }

/// Runs `loop` until `done()` holds or `timeout` seconds pass; returns `done()`.
template <class Pred>
bool run_until(Loop& loop, Pred done, double timeout = 10.0) {
  const double deadline = loop.time() + timeout;
  while (!done() && loop.time() < deadline) loop.run_once(deadline - loop.time());
  return done();
}

}  // namespace treadle::test
