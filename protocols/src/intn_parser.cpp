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

void IntNParser::start_frame() noexcept {
  prefix_read_ = 0;
  length_ = 0;
}

std::optional<std::string_view> IntNParser::fail(std::error_code& ec, std::error_code error) {
  error_ = error;
  ec = error;
  release_ = false;
  detail::release(payload_);
  return std::nullopt;
}

std::optional<std::string_view> IntNParser::next_frame(ConstBuffer& input, std::error_code& ec) {
  if (error_) {
    ec = error_;
    return std::nullopt;
  }
  if (eof_) return fail(ec, errc::invalid_argument);
  ec.clear();
  if (release_) {
    // The payload returned last time lived in the buffer; its caller is done with it.
    payload_.clear();
    release_ = false;
  }

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
    if (payload_.empty() && in.size() - i >= length_) {
      // Fast path: the whole payload is in `input`; hand out a view, no copy.
      const std::string_view payload = in.substr(i, length_);
      input = input.subspan(i + length_);
      start_frame();
      return payload;
    }
    const std::size_t take = std::min(length_ - payload_.size(), in.size() - i);
    detail::append_bounded(payload_, in.substr(i, take), length_);
    i += take;
    if (payload_.size() == length_) {
      input = input.subspan(i);
      start_frame();
      release_ = true;
      return std::string_view(payload_.data(), payload_.size());
    }
  }
  input = input.subspan(i);
  return std::nullopt;
}

std::error_code IntNParser::feed_eof() {
  if (error_) return error_;
  if (release_) {
    payload_.clear();
    release_ = false;
  }
  eof_ = true;
  if (prefix_read_ != 0) {
    // The stream was cut inside a frame: a truncated payload must not pass for a whole one.
    std::error_code ec;
    fail(ec, errc::malformed_frame);
    return ec;
  }
  return {};
}

void IntNParser::reset() noexcept {
  detail::release(payload_);
  release_ = false;
  eof_ = false;
  error_.clear();
  start_frame();
}

}  // namespace treadle
