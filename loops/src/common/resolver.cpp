// loops/src/common/resolver.cpp — the resolver thread and its hand-off to the loop.
// Tests: tests/cpp/loops/test_resolve.cpp
#include "resolver.hpp"

#include <netdb.h>

#include <cerrno>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>

#include "treadle/core/error.hpp"

namespace treadle::detail {

namespace {
struct Job {
  std::string host;
  std::uint16_t port;
  int family;
  int flags;
  Loop::ResolveCallback done;
};

std::pair<std::error_code, std::vector<Endpoint>> lookup(const Job& job) {
  addrinfo hints{};
  hints.ai_family = job.family;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = job.flags | AI_ADDRCONFIG;
  addrinfo* res = nullptr;
  const std::string port = std::to_string(job.port);
  const int rc =
      ::getaddrinfo(job.host.empty() ? nullptr : job.host.c_str(), port.c_str(), &hints, &res);
  if (rc != 0) {
    if (rc == EAI_SYSTEM) return {errno_code(errno), {}};
    return {std::error_code(rc, resolver_category()), {}};
  }
  std::vector<Endpoint> out;
  for (addrinfo* ai = res; ai != nullptr; ai = ai->ai_next) {
    Endpoint e(ai->ai_addr, ai->ai_addrlen);
    bool seen = false;
    for (const auto& o : out) seen = seen || o == e;
    if (!seen) out.push_back(e);
  }
  ::freeaddrinfo(res);
  return {{}, std::move(out)};
}
}  // namespace

struct Resolver::Shared {
  std::mutex mutex;
  std::condition_variable wake;
  std::deque<Job> jobs;
  Loop* loop = nullptr;  // null once the resolver is destroyed
};

Resolver::Resolver(Loop& loop) : shared_(std::make_shared<Shared>()) {
  shared_->loop = &loop;
  std::thread([shared = shared_] {
    std::unique_lock lock(shared->mutex);
    for (;;) {
      shared->wake.wait(lock, [&] { return !shared->jobs.empty() || shared->loop == nullptr; });
      if (shared->loop == nullptr) return;
      Job job = std::move(shared->jobs.front());
      shared->jobs.pop_front();
      lock.unlock();
      auto [ec, endpoints] = lookup(job);
      lock.lock();
      if (shared->loop == nullptr) return;
      try {
        shared->loop->call_soon_threadsafe(
            [done = std::move(job.done), ec = ec, eps = std::move(endpoints)]() mutable {
              done(ec, std::move(eps));
            });
      } catch (...) {
        return;  // the loop closed between the lookup and the hand-off
      }
    }
  }).detach();
}

Resolver::~Resolver() {
  std::deque<Job> dropped;
  {
    std::lock_guard lock(shared_->mutex);
    shared_->loop = nullptr;
    dropped.swap(shared_->jobs);  // destroyed here, on the loop's thread
  }
  shared_->wake.notify_all();
}

void Resolver::submit(std::string host, std::uint16_t port, int family, int flags,
                      Loop::ResolveCallback done) {
  {
    std::lock_guard lock(shared_->mutex);
    shared_->jobs.push_back({std::move(host), port, family, flags, std::move(done)});
  }
  shared_->wake.notify_one();
}

}  // namespace treadle::detail
