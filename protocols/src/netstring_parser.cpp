// protocols/src/netstring_parser.cpp — the netstring decoder's state machine.
// Tests: tests/cpp/protocols/test_netstring_parser.cpp
#include "treadle/protocols/netstring_parser.hpp"

#include <algorithm>

#include "bounded_buffer.hpp"
#include "treadle/core/error.hpp"

namespace treadle {

namespace {

std::size_t decimal_digits(std::size_t value) noexcept {
  std::size_t digits = 1;
  while (value >= 10) {
    value /= 10;
    ++digits;
  }
  return digits;
}

}  // namespace

NetstringParser::NetstringParser(std::size_t max_length) noexcept
    : max_length_(max_length), max_digits_(decimal_digits(max_length)) {}

std::optional<std::string_view> NetstringParser::parse(ConstBuffer& input, std::error_code& ec) {
  const std::string_view in = as_chars(input);
  std::size_t i = 0;
  while (i < in.size()) {
    switch (state_) {
      case State::length: {
        const char c = in[i];
        if (c == ':') {
          if (digits_ == 0) return fail(ec, errc::malformed_frame);
          ++i;
          state_ = length_ == 0 ? State::comma : State::payload;
          break;
        }
        if (c < '0' || c > '9') return fail(ec, errc::malformed_frame);
        // "0" is the only length that may start with a zero: one spelling per length.
        if (digits_ == 1 && length_ == 0) return fail(ec, errc::malformed_frame);
        // More digits than the cap has cannot be a length we accept, and would let the
        // running value overflow for a cap near SIZE_MAX.
        if (digits_ == max_digits_) return fail(ec, errc::malformed_frame);
        const auto digit = static_cast<std::size_t>(c - '0');
        // Refuse as soon as the value passes the cap, before any payload is stored. Later
        // digits could only make it larger.
        if (digit > max_length_ || length_ > (max_length_ - digit) / 10) {
          return fail(ec, errc::frame_too_large);
        }
        length_ = length_ * 10 + digit;
        ++digits_;
        ++i;
        break;
      }
      case State::payload: {
        if (buffer_.empty() && in.size() - i > length_) {
          // Fast path: payload and comma are both in `input`; hand out a view, no copy.
          if (in[i + length_] != ',') return fail(ec, errc::malformed_frame);
          const std::string_view payload = in.substr(i, length_);
          input = input.subspan(i + length_ + 1);
          start_frame();
          return payload;
        }
        const std::size_t take = std::min(length_ - buffer_.size(), in.size() - i);
        detail::append_bounded(buffer_, in.substr(i, take), length_);
        i += take;
        if (buffer_.size() == length_) state_ = State::comma;
        break;
      }
      case State::comma: {
        if (in[i] != ',') return fail(ec, errc::malformed_frame);
        input = input.subspan(i + 1);
        start_frame();
        return hand_out_buffer();
      }
    }
  }
  input = input.subspan(i);
  return std::nullopt;
}

}  // namespace treadle
