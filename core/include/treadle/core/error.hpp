// core/include/treadle/core/error.hpp — treadle's error codes and category.
// Tests: tests/cpp/core/test_error.cpp
#pragma once

#include <string>
#include <system_error>

namespace treadle {

/// @brief The one table of treadle's own error conditions.
///
/// Each row is `X(name, value, "message")`; the enum, the category's messages and the
/// documentation all come from it, so they cannot drift apart. Operating-system failures keep
/// their `std::system_category()` codes; these are the conditions that have no errno.
#define TREADLE_ERRC_TABLE(X)                                                                  \
  /* An operation was cancelled (by `cancel()`, `close()` or `abort()`) before completing. */  \
  X(aborted, 1, "operation aborted")                                                           \
  /* The loop has been closed; it accepts no more work. */                                     \
  X(loop_closed, 2, "event loop is closed")                                                    \
  /* `run_forever()` or `run_once()` was called while the loop was already running. */         \
  X(loop_running, 3, "event loop is already running")                                          \
  /* The transport or channel is closed or closing. */                                         \
  X(closed, 4, "transport is closed")                                                          \
  /* The peer closed its side of the stream in an orderly way. */                              \
  X(eof, 5, "end of stream")                                                                   \
  /* A deadline passed before the operation completed. */                                      \
  X(timed_out, 6, "operation timed out")                                                       \
  /* The object does not support the requested operation (e.g. `write_eof` over TLS). */       \
  X(not_supported, 7, "operation not supported")                                               \
  /* An argument is out of range or inconsistent (e.g. low water mark above high). */          \
  X(invalid_argument, 8, "invalid argument")                                                   \
  /* A line exceeded the protocol's maximum line length. */                                    \
  X(line_too_long, 9, "line too long")                                                         \
  /* A length-prefixed frame announced more bytes than the protocol's maximum. */              \
  X(frame_too_large, 10, "frame too large")                                                    \
  /* The peer sent bytes that do not follow the protocol's framing. */                         \
  X(malformed_frame, 11, "malformed frame")                                                    \
  /* No backend with the requested name is compiled into this binary. */                       \
  X(unknown_backend, 12, "unknown event loop backend")                                         \
  /* The operation needs to run on the loop's own thread. */                                   \
  X(wrong_thread, 13, "called from a thread that does not run the loop")                       \
  /* A protocol callback threw; the connection was closed (the exception went to the loop). */ \
  X(protocol_error, 14, "protocol callback failed")                                            \
  /* Name resolution returned no address of a usable family. */                                \
  X(no_address, 15, "no address to connect or bind to")

/// @brief treadle's own error conditions (see the table above for one line per code).
enum class errc : int {
#define TREADLE_ERRC_ENUM(name, value, message) name = value,
  TREADLE_ERRC_TABLE(TREADLE_ERRC_ENUM)
#undef TREADLE_ERRC_ENUM
};

/// @brief The category of `treadle::errc` codes; its name is `"treadle"`.
const std::error_category& treadle_category() noexcept;

/// @brief The category of `getaddrinfo(3)` results (`EAI_*` values; messages from
/// `gai_strerror`); its name is `"resolver"`.
const std::error_category& resolver_category() noexcept;

/// @brief Makes a `std::error_code` in `treadle_category()`; found by ADL.
inline std::error_code make_error_code(errc e) noexcept {
  return {static_cast<int>(e), treadle_category()};
}

/// @brief The exception thrown by treadle's throwing API edges.
///
/// Internals report failures as `std::error_code`; public synchronous calls that cannot return
/// one throw this, carrying the same code.
class Error : public std::system_error {
 public:
  using std::system_error::system_error;
  /// @brief Throws an `Error` built from a treadle code.
  [[noreturn]] static void raise(errc code, const std::string& what = {});
  /// @brief Throws an `Error` built from any error code.
  [[noreturn]] static void raise(std::error_code code, const std::string& what = {});
};

/// @brief Makes a `std::error_code` from an errno value (`std::system_category()`).
inline std::error_code errno_code(int err) noexcept { return {err, std::system_category()}; }

}  // namespace treadle

template <>
struct std::is_error_code_enum<treadle::errc> : std::true_type {};
