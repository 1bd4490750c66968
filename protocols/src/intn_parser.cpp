// protocols/src/intn_parser.cpp — the length-prefix decoder.
// Tests: tests/cpp/protocols/test_intn_parser.cpp
#include "treadle/protocols/intn_parser.hpp"

#include <algorithm>

#include "bounded_buffer.hpp"
#include "treadle/core/error.hpp"

namespace treadle {

IntNParser::IntNParser(std::size_t prefix_length, std::size_t max_length)
    : prefix_length_(prefix_length), max_length_(max_length) {
  if (prefix_length != 1 && prefix_length != 2 && prefix_length != 4) {
    Error::raise(errc::invalid_argument, "IntNParser: prefix length must be 1, 2 or 4");
  }
  max_length_ = std::min(max_length, prefix_limit(prefix_length));
}

std::optional<std::string_view> IntNParser::parse(ConstBuffer& input, std::error_code& ec) {
  const std::string_view in = as_chars(input);
  std::size_t i = 0;
  while (i < in.size()) {
    if (prefix_read_ < prefix_length_) {
      // The prefix is read a byte at a time, so it may be split anywhere.
      length_ = (length_ << 8) | static_cast<unsigned char>(in[i]);
      ++prefix_read_;
      ++i;
      if (prefix_read_ < prefix_length_) continue;
      // Refuse before storing a byte of the payload.
      if (length_ > max_length_) return fail(ec, errc::frame_too_large);
      if (length_ == 0) {
        input = input.subspan(i);
        start_frame();
        return std::string_view();
      }
      continue;
    }
    if (buffer_.empty() && in.size() - i >= length_) {
      // Fast path: the whole payload is in `input`; hand out a view, no copy.
      const std::string_view payload = in.substr(i, length_);
      input = input.subspan(i + length_);
      start_frame();
      return payload;
    }
    const std::size_t take = std::min(length_ - buffer_.size(), in.size() - i);
    detail::append_bounded(buffer_, in.substr(i, take), length_);
    i += take;
    if (buffer_.size() == length_) {
      input = input.subspan(i);
      start_frame();
      return hand_out_buffer();
    }
  }
  input = input.subspan(i);
  return std::nullopt;
}

}  // namespace treadle
