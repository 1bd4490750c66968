// core/src/error.cpp — the treadle error category, generated from TREADLE_ERRC_TABLE.
// Tests: tests/cpp/core/test_error.cpp
#include "treadle/core/error.hpp"

#include <netdb.h>

namespace treadle {
namespace {

class Category final : public std::error_category {
 public:
  const char* name() const noexcept override { return "treadle"; }
  std::string message(int value) const override {
    switch (static_cast<errc>(value)) {
#define TREADLE_ERRC_MESSAGE(name, value, message) \
  case errc::name:                                 \
    return message;
      TREADLE_ERRC_TABLE(TREADLE_ERRC_MESSAGE)
#undef TREADLE_ERRC_MESSAGE
    }
    return "unknown treadle error " + std::to_string(value);
  }
};

class ResolverCategory final : public std::error_category {
 public:
  const char* name() const noexcept override { return "resolver"; }
  std::string message(int value) const override { return ::gai_strerror(value); }
};

}  // namespace

const std::error_category& resolver_category() noexcept {
  static const ResolverCategory category;
  return category;
}

const std::error_category& treadle_category() noexcept {
  static const Category category;
  return category;
}

void Error::raise(errc code, const std::string& what) { raise(make_error_code(code), what); }

void Error::raise(std::error_code code, const std::string& what) {
  if (what.empty()) throw Error(code);
  throw Error(code, what);
}

}  // namespace treadle
