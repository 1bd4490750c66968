// core/src/extra_info.cpp — the extra-info lookup chain.
// Tests: tests/cpp/core/test_extra_info.cpp
#include "treadle/core/extra_info.hpp"

#include <algorithm>

namespace treadle {

void ExtraInfo::set(std::string_view key, std::any value) {
  for (auto& [k, v] : items_) {
    if (k == key) {
      v = std::move(value);
      return;
    }
  }
  items_.emplace_back(std::string(key), std::move(value));
}

void ExtraInfo::erase(std::string_view key) {
  std::erase_if(items_, [&](const auto& item) { return item.first == key; });
}

std::any ExtraInfo::get(std::string_view key) const {
  for (const auto& [k, v] : items_) {
    if (k == key) return v;
  }
  return next_ ? next_(key) : std::any{};
}

}  // namespace treadle
