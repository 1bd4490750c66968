// loops/src/backends.cpp — the registry of backends.
// Tests: tests/cpp/loops/test_backends.cpp
#include "treadle/loops/backends.hpp"

#include <string>

#include "proactor/proactor_loop.hpp"
#include "reactor/reactor_loop.hpp"
#include "treadle/core/error.hpp"

namespace treadle {

std::unique_ptr<Loop> make_loop(std::string_view backend) {
  if (backend.empty()) backend = default_backend();
  if (backend == "reactor") return std::make_unique<detail::ReactorLoop>();
  if (backend == "proactor") return std::make_unique<detail::ProactorLoop>();
  Error::raise(errc::unknown_backend, "unknown backend '" + std::string(backend) + "'");
}

std::vector<std::string_view> list_backends() { return {"reactor", "proactor"}; }

std::string_view default_backend() noexcept { return "reactor"; }

}  // namespace treadle
