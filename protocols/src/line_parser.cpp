// protocols/src/line_parser.cpp — the line splitter: a zero-copy path and a bounded buffer.
// Tests: tests/cpp/protocols/test_line_parser.cpp
#include "treadle/protocols/line_parser.hpp"

#include <algorithm>
#include <limits>
#include <utility>

#include "bounded_buffer.hpp"
#include "treadle/core/error.hpp"

namespace treadle {

LineParser::LineParser(std::string delimiter, std::size_t max_length)
    : delimiter_(std::move(delimiter)), max_length_(max_length) {
  if (delimiter_.empty()) Error::raise(errc::invalid_argument, "LineParser: empty delimiter");
}

std::size_t LineParser::partial_delimiter(std::string_view bytes) const noexcept {
  // The longest suffix of `bytes` that is a proper prefix of the delimiter: the earliest place
  // a delimiter could still begin once more bytes arrive. Delimiters are short, so the
  // quadratic scan costs nothing.
  const std::string_view delimiter = delimiter_;
  for (std::size_t k = std::min(bytes.size(), delimiter.size() - 1); k > 0; --k) {
    if (bytes.substr(bytes.size() - k) == delimiter.substr(0, k)) return k;
  }
  return 0;
}

std::optional<std::string_view> LineParser::parse(ConstBuffer& input, std::error_code& ec) {
  const std::size_t delimiter_size = delimiter_.size();
  // No line within the limit can need more than this many bytes, delimiter included; looking
  // further would only let a peer make us scan (or store) an unbounded stretch.
  const std::size_t window_max =
      max_length_ > std::numeric_limits<std::size_t>::max() - delimiter_size
          ? std::numeric_limits<std::size_t>::max()
          : max_length_ + delimiter_size;
  const std::string_view in = as_chars(input);

  if (buffer_.empty()) {
    // Fast path: the line starts in `input`; when it also ends there, hand out a view of it
    // without copying.
    const std::string_view window = in.substr(0, window_max);
    const std::size_t pos = window.find(delimiter_);
    if (pos != std::string_view::npos) {
      if (pos > max_length_) return fail(ec, errc::line_too_long);
      input = input.subspan(pos + delimiter_size);
      return window.substr(0, pos);
    }
    // No delimiter: the line is too long already if a delimiter could not start within the
    // limit. Otherwise the window is short of window_max, so it is all of `input`: keep it.
    if (window.size() - partial_delimiter(window) > max_length_) {
      return fail(ec, errc::line_too_long);
    }
    detail::append_bounded(buffer_, window, window_max);
    input = input.subspan(window.size());
    return std::nullopt;
  }

  // Slow path: a line began in earlier input. Append no more than a line can still need, and
  // look for the delimiter only where it can be, which includes straddling old and new bytes
  // (the old bytes hold no whole delimiter, or the line would have been returned).
  const std::size_t old_size = buffer_.size();
  const std::size_t take = std::min(in.size(), window_max - old_size);
  detail::append_bounded(buffer_, in.substr(0, take), window_max);
  const std::string_view buffered(buffer_.data(), buffer_.size());
  const std::size_t from = old_size >= delimiter_size - 1 ? old_size - (delimiter_size - 1) : 0;
  const std::size_t pos = buffered.find(delimiter_, from);
  if (pos != std::string_view::npos) {
    if (pos > max_length_) return fail(ec, errc::line_too_long);
    input = input.subspan(pos + delimiter_size - old_size);
    buffer_.resize(pos);
    return hand_out_buffer();
  }
  if (buffered.size() - partial_delimiter(buffered) > max_length_) {
    return fail(ec, errc::line_too_long);
  }
  input = input.subspan(take);
  return std::nullopt;
}

}  // namespace treadle
