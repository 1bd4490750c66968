// A consumer of the installed package: runs a timer on every backend.
#include <treadle/loops/backends.hpp>

#include <cstdio>

int main() {
  for (auto name : treadle::list_backends()) {
    auto loop = treadle::make_loop(name);
    bool fired = false;
    loop->call_later(0.001, [&] {
      fired = true;
      loop->stop();
    });
    loop->run_forever();
    std::printf("consumer: %.*s timer %s\n", int(name.size()), name.data(),
                fired ? "fired" : "lost");
    if (!fired) return 1;
  }
  return 0;
}
