// loops/src/proactor/reactor_access.hpp — what the proactor reads and sets in Asio's epoll
// reactor beyond its interface: EPOLLRDHUP on a socket, the events epoll last reported, and
// whether Asio has seen an edge that no read has taken yet.
// Tests: tests/cpp/transports/test_byte_channel.cpp (proactor; the end-of-file cases)
#pragma once

#include <sys/epoll.h>

#include <boost/asio/detail/epoll_reactor.hpp>
#include <boost/asio/detail/scheduler_operation.hpp>
#include <cstdint>
#include <type_traits>
#include <utility>

namespace treadle::detail {

namespace reactor_access {

using boost::asio::detail::epoll_reactor;
using State = epoll_reactor::descriptor_state;

// Explicit instantiations may name private members (C++17 [temp.spec]/6): each one below
// defines a function that returns a pointer to one member. The member's type is checked here,
// so an Asio that changes it fails to compile instead of misbehaving.
template <auto Member, class Tag>
struct Expose {
  friend constexpr auto member(Tag) noexcept { return Member; }
};
struct EpollFd {
  friend constexpr auto member(EpollFd) noexcept;
};
struct RegisteredEvents {
  friend constexpr auto member(RegisteredEvents) noexcept;
};
struct TaskResult {
  friend constexpr auto member(TaskResult) noexcept;
};
struct TrySpeculative {
  friend constexpr auto member(TrySpeculative) noexcept;
};
template struct Expose<&epoll_reactor::epoll_fd_, EpollFd>;
template struct Expose<&State::registered_events_, RegisteredEvents>;
template struct Expose<&boost::asio::detail::scheduler_operation::task_result_, TaskResult>;
template struct Expose<&State::try_speculative_, TrySpeculative>;
static_assert(std::is_same_v<decltype(member(EpollFd{})), int epoll_reactor::*>);
static_assert(std::is_same_v<decltype(member(RegisteredEvents{})), std::uint32_t State::*>);
static_assert(std::is_same_v<decltype(member(TaskResult{})),
                             unsigned int boost::asio::detail::scheduler_operation::*>);
static_assert(
    std::is_same_v<decltype(member(TrySpeculative{})), bool (State::*)[epoll_reactor::max_ops]>);

}  // namespace reactor_access

/**
 * @brief Makes Asio's epoll reactor report a peer's end of file (`EPOLLRDHUP`) for the
 * socket `fd` whose registration is `state`: one `epoll_ctl`. Returns false if it could not
 * (then `reported_events` never holds `EPOLLRDHUP` for it).
 *
 * Asio registers a socket once, edge-triggered, for `EPOLLIN | EPOLLPRI | EPOLLERR |
 * EPOLLHUP`, and adds `EPOLLOUT` the first time a write must wait, from the events it
 * remembers: they are updated here too, so that re-registration keeps `EPOLLRDHUP`. Only the
 * loop's thread touches the io_context (it runs without locks), so nothing races with this.
 */
inline bool report_peer_shutdown(boost::asio::detail::epoll_reactor& reactor,
                                 boost::asio::detail::epoll_reactor::descriptor_state* state,
                                 int fd) noexcept {
  using namespace reactor_access;
  if (state == nullptr) return false;
  std::uint32_t& registered = state->*member(RegisteredEvents{});
  epoll_event ev{};
  ev.events = registered | EPOLLRDHUP;
  ev.data.ptr = state;
  if (::epoll_ctl(reactor.*member(EpollFd{}), EPOLL_CTL_MOD, fd, &ev) != 0) return false;
  registered = ev.events;
  return true;
}

/**
 * @brief The events epoll reported for the descriptor whose registration is `state`, at the
 * last `epoll_wait` that reported it (Asio keeps them in the descriptor's queued operation
 * until the next such wait).
 *
 * Epoll reports a socket's state at the time of the wait, not what woke it: an end of file
 * that arrived before that wait is in these events (`EPOLLRDHUP`, with `report_peer_shutdown`).
 */
inline std::uint32_t reported_events(
    const boost::asio::detail::epoll_reactor::descriptor_state* state) noexcept {
  using namespace reactor_access;
  // The descriptor state derives privately from the operation holding the events; only an
  // old-style cast converts to an inaccessible base (C++17 [expr.cast]/4).
  // NOLINTNEXTLINE(cppcoreguidelines-pro-type-cstyle-cast, google-readability-casting)
  const auto* op = (const boost::asio::detail::scheduler_operation*)state;
  return op->*member(TaskResult{});
}

/**
 * @brief Takes Asio's memory of a read edge for the descriptor whose registration is
 * `state`: true if epoll reported it readable (or failed) since a read operation last
 * reported it exhausted, and that memory is cleared, as such an operation would clear it.
 *
 * Asio keeps it so that a read started later tries the socket at once, and a read started
 * when it is clear waits for the next edge without a system call. A caller that finds it set
 * reads the socket itself, with `reported_events` telling whether the peer has shut down.
 * False for a closed socket (null `state`).
 */
inline bool take_read_edge(boost::asio::detail::epoll_reactor::descriptor_state* state) noexcept {
  using namespace reactor_access;
  if (state == nullptr) return false;  // closed: a read's start reports it
  bool& edge = (state->*member(TrySpeculative{}))[epoll_reactor::read_op];
  return std::exchange(edge, false);
}

}  // namespace treadle::detail
