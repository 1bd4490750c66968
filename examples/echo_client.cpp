// examples/echo_client.cpp — sends messages to an echo server and checks every byte comes back.
//
//   echo_client [--backend reactor|proactor] --port P [--messages N] [--size BYTES]
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "treadle/loops/backends.hpp"
#include "treadle/transports/tcp.hpp"

namespace {

/// Sends one message, waits for the whole echo, repeats; closes after the last.
class PingPong : public treadle::Protocol {
 public:
  PingPong(int messages, std::size_t size) : left_(messages), message_(size, '\0') {
    for (std::size_t i = 0; i < size; ++i) message_[i] = static_cast<char>('a' + i % 26);
  }
  void connection_made(treadle::Transport& t) override {
    transport_ = &t;
    send();
  }
  void data_received(treadle::ConstBuffer data) override {
    got_.append(treadle::as_chars(data));
    if (got_.size() < message_.size()) return;
    if (got_ != message_) mismatch = true;
    got_.clear();
    ++round_trips;
    if (--left_ > 0 && !mismatch)
      send();
    else
      transport_->close();
  }
  void connection_lost(std::error_code ec) override {
    error = ec;
    done = true;
  }
  int round_trips = 0;
  bool mismatch = false;
  bool done = false;
  std::error_code error;

 private:
  void send() { transport_->write(std::string_view(message_)); }
  treadle::Transport* transport_ = nullptr;
  int left_;
  std::string message_;
  std::string got_;
};

}  // namespace

int main(int argc, char** argv) {
  std::string backend = "reactor";
  int port = 0, messages = 1000;
  std::size_t size = 1024;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (std::strcmp(argv[i], "--backend") == 0)
      backend = argv[i + 1];
    else if (std::strcmp(argv[i], "--port") == 0)
      port = std::atoi(argv[i + 1]);
    else if (std::strcmp(argv[i], "--messages") == 0)
      messages = std::atoi(argv[i + 1]);
    else if (std::strcmp(argv[i], "--size") == 0)
      size = std::strtoul(argv[i + 1], nullptr, 10);
  }
  auto loop = treadle::make_loop(backend);
  std::shared_ptr<PingPong> client;
  std::string failure;
  const double start = loop->time();
  treadle::create_connection(
      *loop, "127.0.0.1", static_cast<std::uint16_t>(port),
      [&] { return client = std::make_shared<PingPong>(messages, size); },
      [&](treadle::Connection c) {
        if (c.error) {
          failure = c.message;
          loop->stop();
        }
      });
  loop->call_soon([] {});  // keep the first iteration short
  while (failure.empty() && !(client && client->done)) loop->run_once(1.0);
  const double seconds = loop->time() - start;
  if (!failure.empty()) {
    std::fprintf(stderr, "echo_client: %s\n", failure.c_str());
    return 1;
  }
  std::printf("echo_client (%s): %d round trips of %zu bytes in %.3f s (%.0f/s), %s\n",
              backend.c_str(), client->round_trips, size, seconds, client->round_trips / seconds,
              client->mismatch ? "MISMATCH" : "all bytes verified");
  return client->mismatch || client->round_trips != messages || client->error ? 1 : 0;
}
