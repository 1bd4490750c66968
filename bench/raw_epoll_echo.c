/* bench/raw_epoll_echo.c — the baseline: the simplest fast echo server on raw epoll.
 *
 * One thread, level-triggered epoll, non-blocking sockets with TCP_NODELAY (as treadle sets by
 * default). One 256 KiB receive buffer for the whole process, reused for every read. Whatever is
 * read is written back at once with one send(); only a remainder the socket did not take is
 * copied into a per-connection queue, and while a connection has a queue it is not read from
 * (EPOLLOUT instead of EPOLLIN) until the queue drains: bounded memory, no reordering.
 *
 *   raw_epoll_echo --port P      binds 127.0.0.1:P (0 = any free port), prints
 *                                "listening on 127.0.0.1:<port>" and serves until SIGTERM/SIGINT.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#define RECV_BUF_SIZE (256 * 1024)

struct conn {
  int fd;
  char* pending; /* bytes read but not yet written back */
  size_t pending_len;
  size_t pending_off;
  size_t pending_cap;
};

static volatile sig_atomic_t stop_requested;
static char recv_buf[RECV_BUF_SIZE];
static int epfd;

static void on_signal(int sig) {
  (void)sig;
  stop_requested = 1;
}

static void conn_close(struct conn* c) {
  close(c->fd); /* also removes it from the epoll set */
  free(c->pending);
  free(c);
}

static int set_interest(struct conn* c, unsigned events) {
  struct epoll_event ev = {.events = events, .data.ptr = c};
  return epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &ev);
}

/* Queue buf[0..n) (what send() did not take) and switch the connection to EPOLLOUT. */
static int queue_rest(struct conn* c, const char* buf, size_t n) {
  if (c->pending_cap < n) {
    char* p = realloc(c->pending, n);
    if (!p) return -1;
    c->pending = p;
    c->pending_cap = n;
  }
  memcpy(c->pending, buf, n);
  c->pending_len = n;
  c->pending_off = 0;
  return set_interest(c, EPOLLOUT);
}

/* 0 = keep the connection, -1 = close it. */
static int on_readable(struct conn* c) {
  ssize_t n = recv(c->fd, recv_buf, sizeof recv_buf, 0);
  if (n == 0) return -1;
  if (n < 0) return (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) ? 0 : -1;
  size_t off = 0;
  while (off < (size_t)n) {
    ssize_t w = send(c->fd, recv_buf + off, (size_t)n - off, MSG_NOSIGNAL);
    if (w > 0) {
      off += (size_t)w;
    } else if (w < 0 && errno == EINTR) {
      continue;
    } else if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      return queue_rest(c, recv_buf + off, (size_t)n - off);
    } else {
      return -1;
    }
  }
  return 0;
}

static int on_writable(struct conn* c) {
  while (c->pending_off < c->pending_len) {
    ssize_t w = send(c->fd, c->pending + c->pending_off, c->pending_len - c->pending_off,
                     MSG_NOSIGNAL);
    if (w > 0) {
      c->pending_off += (size_t)w;
    } else if (w < 0 && errno == EINTR) {
      continue;
    } else if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      return 0;
    } else {
      return -1;
    }
  }
  c->pending_len = c->pending_off = 0;
  return set_interest(c, EPOLLIN);
}

static void on_acceptable(int lfd) {
  for (;;) {
    int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK) perror("raw_epoll_echo: accept4");
      return; /* EAGAIN, or EMFILE & co: try again on the next readiness */
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    struct conn* c = calloc(1, sizeof *c);
    if (!c) {
      close(fd);
      continue;
    }
    c->fd = fd;
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
    if (epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) < 0) conn_close(c);
  }
}

int main(int argc, char** argv) {
  long port = -1;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--port") && i + 1 < argc) {
      char* end;
      port = strtol(argv[++i], &end, 10);
      if (*end || port < 0 || port > 65535) port = -1;
    } else {
      port = -1;
      break;
    }
  }
  if (port < 0) {
    fprintf(stderr, "usage: raw_epoll_echo --port P\n");
    return 1;
  }

  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal; /* no SA_RESTART: epoll_wait returns EINTR */
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);
  signal(SIGPIPE, SIG_IGN);

  int lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  int one = 1;
  setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (lfd < 0 || bind(lfd, (struct sockaddr*)&addr, sizeof addr) < 0 || listen(lfd, 1024) < 0) {
    perror("raw_epoll_echo: listen");
    return 1;
  }
  socklen_t alen = sizeof addr;
  getsockname(lfd, (struct sockaddr*)&addr, &alen);

  epfd = epoll_create1(EPOLL_CLOEXEC);
  struct epoll_event lev = {.events = EPOLLIN, .data.ptr = NULL};
  if (epfd < 0 || epoll_ctl(epfd, EPOLL_CTL_ADD, lfd, &lev) < 0) {
    perror("raw_epoll_echo: epoll");
    return 1;
  }
  printf("listening on 127.0.0.1:%u\n", (unsigned)ntohs(addr.sin_port));
  fflush(stdout);

  enum { MAX_EVENTS = 256 };
  struct epoll_event events[MAX_EVENTS];
  while (!stop_requested) {
    int n = epoll_wait(epfd, events, MAX_EVENTS, -1);
    if (n < 0) {
      if (errno == EINTR) continue;
      perror("raw_epoll_echo: epoll_wait");
      return 1;
    }
    for (int i = 0; i < n; i++) {
      struct conn* c = events[i].data.ptr;
      if (!c) {
        on_acceptable(lfd);
        continue;
      }
      uint32_t evs = events[i].events;
      int rc;
      if (c->pending_len) rc = (evs & (EPOLLOUT | EPOLLERR | EPOLLHUP)) ? on_writable(c) : 0;
      else rc = (evs & (EPOLLIN | EPOLLERR | EPOLLHUP)) ? on_readable(c) : 0;
      if (rc < 0) conn_close(c);
    }
  }
  close(lfd);
  close(epfd);
  return 0;
}
