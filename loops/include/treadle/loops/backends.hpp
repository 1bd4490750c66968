// loops/include/treadle/loops/backends.hpp — choosing a loop backend by name at run time.
// Tests: tests/cpp/loops/test_backends.cpp
#pragma once

#include <memory>
#include <string_view>
#include <vector>

#include "treadle/core/loop.hpp"

namespace treadle {

/**
 * @brief Creates a new, open, not-running loop of the named backend.
 *
 * One binary carries every backend:
 * - `"reactor"` — treadle's own readiness loop on epoll (the default);
 * - `"proactor"` — Boost.Asio's `io_context` (completion handlers).
 *
 * @param backend a name from `list_backends()`; empty selects `default_backend()`.
 * @throws Error `errc::unknown_backend` for any other name; `std::system_error` if the OS
 *         refuses the loop's resources (epoll, eventfd).
 */
std::unique_ptr<Loop> make_loop(std::string_view backend = {});

/// @brief The names `make_loop` accepts, default first.
std::vector<std::string_view> list_backends();

/// @brief The backend `make_loop("")` creates: `"reactor"`.
std::string_view default_backend() noexcept;

}  // namespace treadle
