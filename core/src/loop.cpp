// core/src/loop.cpp — the loop-independent parts of Loop: current loop, exception handlers,
// deferred flushes.
// Tests: tests/cpp/loops/test_loop.cpp
#include "treadle/core/loop.hpp"

#include <cstdio>

namespace treadle {
namespace {
thread_local Loop* current_loop = nullptr;

std::string describe(const std::exception_ptr& e) {
  if (!e) return {};
  try {
    std::rethrow_exception(e);
  } catch (const std::exception& ex) {
    return ex.what();
  } catch (...) {
    return "non-standard exception";
  }
}
}  // namespace

Loop* Loop::current() noexcept { return current_loop; }
void Loop::set_current(Loop* loop) noexcept { current_loop = loop; }

void Loop::run_flushes() {
  // By index: flushes may queue more (they run in this pass) and cancel queued ones.
  for (std::size_t i = 0; i < flushes_.size(); ++i) {
    Flushable* f = std::exchange(flushes_[i], nullptr);
    if (f == nullptr) continue;
    try {
      f->flush();
    } catch (const Interrupt&) {
      flushes_.erase(flushes_.begin(), flushes_.begin() + static_cast<std::ptrdiff_t>(i) + 1);
      throw;
    } catch (...) {
      call_exception_handler({"Exception in a deferred flush", std::current_exception(), {}, {}});
    }
  }
  flushes_.clear();
}

void Loop::call_exception_handler(const ExceptionContext& context) noexcept {
  if (!handler_) {
    default_exception_handler(context);
    return;
  }
  try {
    handler_(*this, context);
  } catch (...) {
    // A failing handler must not take the loop down; report both, as asyncio does.
    ExceptionContext failure{
        "Unhandled error in exception handler", std::current_exception(), {}, context.handle};
    default_exception_handler(failure);
    default_exception_handler(context);
  }
}

void Loop::default_exception_handler(const ExceptionContext& context) noexcept {
  std::string line = "treadle: " + context.message;
  if (context.exception) line += "\n  exception: " + describe(context.exception);
  if (context.error) line += "\n  error: " + context.error.message();
  line += '\n';
  std::fputs(line.c_str(), stderr);
}

}  // namespace treadle
