// core/include/treadle/core/clock.hpp — the monotonic clock every loop schedules against.
// Tests: tests/cpp/core/test_clock.cpp
#pragma once

#include <cmath>
#include <cstdint>
#include <ctime>

namespace treadle {

/// @brief The loop clock: `CLOCK_MONOTONIC`, integer nanoseconds underneath.
///
/// It is the clock Python's `time.monotonic()` reads, so a loop's `time()` agrees with
/// asyncio code that mixes the two. Seconds-as-double is for the asyncio-shaped API; the
/// scheduler itself compares integer nanoseconds, so no timer is ever rounded to fire early.
///
/// Thread safety: all functions are safe to call from any thread.
struct Clock {
  /// @brief Nanoseconds since an unspecified epoch (system boot); never goes backwards.
  static std::int64_t now_ns() noexcept {
    timespec ts;
    ::clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<std::int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
  }

  /// @brief `now_ns()` in seconds.
  static double now() noexcept { return to_seconds(now_ns()); }

  /// @brief Converts nanoseconds to seconds.
  static constexpr double to_seconds(std::int64_t ns) noexcept {
    return static_cast<double>(ns) * 1e-9;
  }

  /// @brief Converts a time in seconds to the first nanosecond not before it.
  ///
  /// Rounding up is what makes "a timer never fires early" hold: a deadline of `t` seconds is
  /// due only once `now_ns() >= from_seconds(t)`, hence `now() >= t`. Non-finite inputs
  /// saturate to the representable range.
  static std::int64_t from_seconds(double seconds) noexcept {
    const double ns = std::ceil(seconds * 1e9);
    if (!(ns < 9.2e18)) return INT64_MAX;  // also catches NaN and +inf
    if (ns < -9.2e18) return INT64_MIN;
    return static_cast<std::int64_t>(ns);
  }
};

}  // namespace treadle
