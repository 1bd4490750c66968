// tests/cpp/loops/test_handler_memory.cpp — the proactor's recycled operation memory, with
// a bare io_context: blocks are reused, oversize ones and surplus ones go back to the heap.
#define BOOST_TEST_MODULE treadle handler memory
#include "proactor/handler_memory.hpp"

#include <sys/socket.h>
#include <unistd.h>

#include <boost/asio/bind_allocator.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/generic/stream_protocol.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/test/unit_test.hpp>
#include <functional>
#include <system_error>
#include <vector>

namespace asio = boost::asio;
using treadle::detail::HandlerAllocator;
using treadle::detail::HandlerMemory;

BOOST_AUTO_TEST_CASE(a_freed_block_is_handed_out_again) {
  HandlerMemory memory;
  void* a = memory.allocate(100);
  BOOST_TEST(memory.free_blocks() == 0u);
  memory.deallocate(a, 100);
  BOOST_TEST(memory.free_blocks() == 1u);
  void* b = memory.allocate(HandlerMemory::kBlock);
  BOOST_TEST(b == a);
  BOOST_TEST(memory.free_blocks() == 0u);
  memory.deallocate(b, HandlerMemory::kBlock);
}

BOOST_AUTO_TEST_CASE(oversize_blocks_are_not_kept) {
  HandlerMemory memory;
  void* big = memory.allocate(HandlerMemory::kBlock + 1);
  memory.deallocate(big, HandlerMemory::kBlock + 1);
  BOOST_TEST(memory.free_blocks() == 0u);
}

BOOST_AUTO_TEST_CASE(at_most_kMaxFree_blocks_are_kept) {
  HandlerMemory memory;
  std::vector<void*> blocks;
  for (std::size_t i = 0; i < HandlerMemory::kMaxFree + 10; ++i) {
    blocks.push_back(memory.allocate(64));
  }
  for (void* b : blocks) memory.deallocate(b, 64);
  BOOST_TEST(memory.free_blocks() == HandlerMemory::kMaxFree);
}

// The proactor's read operations must fit in one block, or each would still cost a heap
// allocation. The handler has the shape of AsioChannel::start_read's: a pointer and a
// std::function completion.
BOOST_AUTO_TEST_CASE(asio_read_operations_reuse_one_block) {
  HandlerMemory memory;
  asio::io_context io{BOOST_ASIO_CONCURRENCY_HINT_UNSAFE};
  int fds[2];
  BOOST_REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM, 0, fds) == 0);
  asio::generic::stream_protocol::socket socket(io, asio::generic::stream_protocol(AF_UNIX, 0),
                                                fds[0]);
  char buffer[16];
  int completed = 0;
  std::size_t free_when_outstanding = 99;
  std::function<void(std::error_code, std::size_t)> read_again;
  auto start_read = [&] {
    socket.async_read_some(
        asio::buffer(buffer),
        asio::bind_allocator(
            HandlerAllocator<void>(memory),
            [count = &completed, done = read_again](boost::system::error_code ec, std::size_t n) {
              ++*count;
              done(std::error_code(ec.value(), std::generic_category()), n);
            }));
    free_when_outstanding = memory.free_blocks();
  };
  read_again = [&](std::error_code, std::size_t) {
    if (completed < 3) start_read();
  };
  start_read();
  for (int i = 0; i < 3; ++i) {
    BOOST_REQUIRE(::write(fds[1], "x", 1) == 1);
    BOOST_REQUIRE(io.run_one() == 1u);
  }
  BOOST_TEST(completed == 3);
  BOOST_TEST(free_when_outstanding == 0u);  // the outstanding read holds the one block
  // Asio frees an operation before its handler runs, so each read took the block the one
  // before gave back; a read too big for a block would have left none kept.
  BOOST_TEST(memory.free_blocks() == 1u);
  ::close(fds[1]);
}
