/* bench/loadgen.c — closed-loop echo load generator (epoll, non-blocking, one thread).
 *
 * Each of --conns connections sends one message of --size bytes, waits until exactly that many
 * bytes have come back (checking every byte against what it sent), then sends the next one.
 * After --warmup seconds a measured window of --duration seconds starts; only requests completed
 * inside that window are counted.
 *
 * With --server-pid PID the generator samples the server's CPU time (utime+stime from
 * /proc/PID/stat, all threads) at the exact instants the measured window opens and closes, so
 * the CPU-per-request figure covers exactly the requests counted.
 *
 * Output: one line, space-separated key=value pairs, flushed at the end, e.g.
 *   requests=123456 seconds=5.000112 rps=24691.2 conns=10 size=1024 client_cpu_s=4.98
 *   server_cpu_ticks=496 clk_tck=100 server_cpu_s=4.96 server_cpu_us_per_req=40.17
 * The lines "MEASURE_START <ns>" and "MEASURE_END <ns>" (CLOCK_MONOTONIC) are written and flushed
 * at the window's edges for anyone who wants to sample other things at those instants.
 *
 * Exit status: 0 ok; 1 usage; 2 connect/setup failure; 3 echo mismatch (bytes differ or the
 * server sent more than it was sent); 4 connection closed or I/O error during the run;
 * 5 no request completed inside the measured window.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

enum { EXIT_USAGE = 1, EXIT_SETUP = 2, EXIT_MISMATCH = 3, EXIT_IO = 4, EXIT_NOREQ = 5 };

#define RECV_BUF_SIZE (256 * 1024)
#define PATTERN_SLACK 256 /* message offsets into the pattern range over [0, PATTERN_SLACK) */

struct conn {
  int fd;
  int id;
  int want_out;        /* EPOLLOUT currently armed */
  uint64_t seq;        /* message number on this connection */
  const unsigned char* msg; /* the current message: a window into the shared pattern */
  size_t sent;         /* bytes of the current message written */
  size_t rcvd;         /* bytes of the current message echoed back and verified */
};

static const char* opt_host = "127.0.0.1";
static const char* opt_port = NULL;
static long opt_conns = 10;
static long opt_size = 1024;
static double opt_duration = 5.0;
static double opt_warmup = 1.0;
static long opt_cpu = -1;
static long opt_server_pid = -1;

static unsigned char* pattern;
static unsigned char recv_buf[RECV_BUF_SIZE];

static void usage(FILE* f) {
  fprintf(f,
          "usage: loadgen --port P [--host 127.0.0.1] [--conns 10] [--size 1024]\n"
          "               [--duration 5] [--warmup 1] [--cpu N] [--server-pid PID]\n");
}

static int64_t now_ns(clockid_t clk) {
  struct timespec ts;
  clock_gettime(clk, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* utime+stime of a whole process in clock ticks, or -1. */
static long long proc_cpu_ticks(long pid) {
  char path[64], buf[1024];
  snprintf(path, sizeof path, "/proc/%ld/stat", pid);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  if (n <= 0) return -1;
  buf[n] = '\0';
  char* p = strrchr(buf, ')'); /* comm may contain spaces and parentheses */
  if (!p) return -1;
  p++;
  /* Fields after ')' start at field 3 (state); utime is field 14, stime field 15. */
  unsigned long long utime = 0, stime = 0;
  int field = 2;
  char* save = NULL;
  for (char* tok = strtok_r(p, " ", &save); tok; tok = strtok_r(NULL, " ", &save)) {
    field++;
    if (field == 14) utime = strtoull(tok, NULL, 10);
    if (field == 15) {
      stime = strtoull(tok, NULL, 10);
      return (long long)(utime + stime);
    }
  }
  return -1;
}

static long parse_long(const char* name, const char* s, long lo, long hi) {
  char* end;
  errno = 0;
  long v = strtol(s, &end, 10);
  if (errno || *end || v < lo || v > hi) {
    fprintf(stderr, "loadgen: bad value for %s: %s\n", name, s);
    exit(EXIT_USAGE);
  }
  return v;
}

static double parse_double(const char* name, const char* s, double lo) {
  char* end;
  errno = 0;
  double v = strtod(s, &end);
  if (errno || *end || !(v >= lo)) {
    fprintf(stderr, "loadgen: bad value for %s: %s\n", name, s);
    exit(EXIT_USAGE);
  }
  return v;
}

static void parse_args(int argc, char** argv) {
  for (int i = 1; i < argc; i++) {
    const char* a = argv[i];
    if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
      usage(stdout);
      exit(0);
    }
    if (i + 1 >= argc) {
      fprintf(stderr, "loadgen: missing value for %s\n", a);
      usage(stderr);
      exit(EXIT_USAGE);
    }
    const char* v = argv[++i];
    if (!strcmp(a, "--host")) opt_host = v;
    else if (!strcmp(a, "--port")) opt_port = v;
    else if (!strcmp(a, "--conns")) opt_conns = parse_long(a, v, 1, 100000);
    else if (!strcmp(a, "--size")) opt_size = parse_long(a, v, 1, 1L << 30);
    else if (!strcmp(a, "--duration")) opt_duration = parse_double(a, v, 0.001);
    else if (!strcmp(a, "--warmup")) opt_warmup = parse_double(a, v, 0.0);
    else if (!strcmp(a, "--cpu")) opt_cpu = parse_long(a, v, 0, CPU_SETSIZE - 1);
    else if (!strcmp(a, "--server-pid")) opt_server_pid = parse_long(a, v, 1, 1L << 30);
    else {
      fprintf(stderr, "loadgen: unknown option %s\n", a);
      usage(stderr);
      exit(EXIT_USAGE);
    }
  }
  if (!opt_port) {
    fprintf(stderr, "loadgen: --port is required\n");
    usage(stderr);
    exit(EXIT_USAGE);
  }
}

/* Deterministic, non-periodic-looking bytes; message k of connection c starts at a different
 * offset, so a stale, duplicated or misrouted echo never matches. */
static void make_pattern(size_t n) {
  pattern = malloc(n);
  if (!pattern) {
    perror("loadgen: malloc");
    exit(EXIT_SETUP);
  }
  uint32_t x = 0x9e3779b9u;
  for (size_t i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    pattern[i] = (unsigned char)(x >> 24);
  }
}

static void start_message(struct conn* c) {
  size_t off = (size_t)((c->id * 37u + c->seq * 11u) % PATTERN_SLACK);
  c->msg = pattern + off;
  c->sent = 0;
  c->rcvd = 0;
}

static int epfd;

static void set_out_interest(struct conn* c, int want) {
  if (c->want_out == want) return;
  struct epoll_event ev = {.events = EPOLLIN | (want ? EPOLLOUT : 0), .data.ptr = c};
  if (epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &ev) < 0) {
    perror("loadgen: epoll_ctl");
    exit(EXIT_IO);
  }
  c->want_out = want;
}

/* Write as much of the current message as the socket takes; arm EPOLLOUT only for a remainder. */
static void pump_send(struct conn* c) {
  size_t size = (size_t)opt_size;
  while (c->sent < size) {
    ssize_t n = send(c->fd, c->msg + c->sent, size - c->sent, MSG_NOSIGNAL);
    if (n > 0) {
      c->sent += (size_t)n;
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      set_out_interest(c, 1);
      return;
    }
    fprintf(stderr, "loadgen: conn %d: send: %s\n", c->id, strerror(errno));
    exit(EXIT_IO);
  }
  set_out_interest(c, 0);
}

static int connect_one(const struct addrinfo* ai) {
  int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
  if (fd < 0) return -1;
  if (connect(fd, ai->ai_addr, ai->ai_addrlen) < 0) {
    int e = errno;
    close(fd);
    errno = e;
    return -1;
  }
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
  return fd;
}

int main(int argc, char** argv) {
  parse_args(argc, argv);
  signal(SIGPIPE, SIG_IGN);

  if (opt_cpu >= 0) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET((int)opt_cpu, &set);
    if (sched_setaffinity(0, sizeof set, &set) < 0) {
      fprintf(stderr, "loadgen: sched_setaffinity(cpu %ld): %s\n", opt_cpu, strerror(errno));
      return EXIT_SETUP;
    }
  }

  struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
  struct addrinfo* res = NULL;
  int gai = getaddrinfo(opt_host, opt_port, &hints, &res);
  if (gai != 0) {
    fprintf(stderr, "loadgen: getaddrinfo(%s, %s): %s\n", opt_host, opt_port, gai_strerror(gai));
    return EXIT_SETUP;
  }

  make_pattern((size_t)opt_size + PATTERN_SLACK);
  epfd = epoll_create1(EPOLL_CLOEXEC);
  if (epfd < 0) {
    perror("loadgen: epoll_create1");
    return EXIT_SETUP;
  }

  struct conn* conns = calloc((size_t)opt_conns, sizeof *conns);
  if (!conns) {
    perror("loadgen: calloc");
    return EXIT_SETUP;
  }
  for (long i = 0; i < opt_conns; i++) {
    int fd = -1;
    for (const struct addrinfo* ai = res; ai && fd < 0; ai = ai->ai_next) fd = connect_one(ai);
    if (fd < 0) {
      fprintf(stderr, "loadgen: connect %s:%s: %s\n", opt_host, opt_port, strerror(errno));
      return EXIT_SETUP;
    }
    struct conn* c = &conns[i];
    c->fd = fd;
    c->id = (int)i;
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
    if (epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
      perror("loadgen: epoll_ctl");
      return EXIT_SETUP;
    }
  }
  freeaddrinfo(res);

  const int64_t t0 = now_ns(CLOCK_MONOTONIC);
  const int64_t t_start = t0 + (int64_t)(opt_warmup * 1e9);
  const int64_t t_end = t_start + (int64_t)(opt_duration * 1e9);
  int measuring = 0;
  uint64_t completed = 0, completed_at_start = 0;
  int64_t w_start = 0, w_end = 0, cpu_start = 0, cpu_end = 0;
  long long srv_start = -1, srv_end = -1;

  for (long i = 0; i < opt_conns; i++) {
    start_message(&conns[i]);
    pump_send(&conns[i]);
  }

  enum { MAX_EVENTS = 256 };
  struct epoll_event events[MAX_EVENTS];
  const size_t size = (size_t)opt_size;
  for (;;) {
    int64_t now = now_ns(CLOCK_MONOTONIC);
    if (!measuring && now >= t_start) {
      measuring = 1;
      w_start = now;
      cpu_start = now_ns(CLOCK_PROCESS_CPUTIME_ID);
      if (opt_server_pid > 0) srv_start = proc_cpu_ticks(opt_server_pid);
      completed_at_start = completed;
      printf("MEASURE_START %lld\n", (long long)w_start);
      fflush(stdout);
    }
    if (measuring && now >= t_end) {
      w_end = now;
      if (opt_server_pid > 0) srv_end = proc_cpu_ticks(opt_server_pid);
      cpu_end = now_ns(CLOCK_PROCESS_CPUTIME_ID);
      printf("MEASURE_END %lld\n", (long long)w_end);
      fflush(stdout);
      break;
    }
    int64_t next = measuring ? t_end : t_start;
    int timeout_ms = (int)((next - now + 999999) / 1000000);
    int n = epoll_wait(epfd, events, MAX_EVENTS, timeout_ms);
    if (n < 0) {
      if (errno == EINTR) continue;
      perror("loadgen: epoll_wait");
      return EXIT_IO;
    }
    for (int e = 0; e < n; e++) {
      struct conn* c = events[e].data.ptr;
      uint32_t evs = events[e].events;
      if (evs & EPOLLOUT) pump_send(c);
      if (evs & (EPOLLIN | EPOLLERR | EPOLLHUP)) {
        ssize_t r = recv(c->fd, recv_buf, sizeof recv_buf, 0);
        if (r < 0) {
          if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) continue;
          fprintf(stderr, "loadgen: conn %d: recv: %s\n", c->id, strerror(errno));
          return EXIT_IO;
        }
        if (r == 0) {
          fprintf(stderr, "loadgen: conn %d: server closed the connection\n", c->id);
          return EXIT_IO;
        }
        size_t got = (size_t)r;
        if (got > c->sent - c->rcvd) {
          fprintf(stderr,
                  "loadgen: conn %d: echo mismatch: received %zu bytes with only %zu "
                  "outstanding (message %llu)\n",
                  c->id, got, c->sent - c->rcvd, (unsigned long long)c->seq);
          return EXIT_MISMATCH;
        }
        if (memcmp(recv_buf, c->msg + c->rcvd, got) != 0) {
          size_t k = 0;
          while (recv_buf[k] == c->msg[c->rcvd + k]) k++;
          fprintf(stderr,
                  "loadgen: conn %d: echo mismatch at byte %zu of message %llu "
                  "(got 0x%02x, expected 0x%02x)\n",
                  c->id, c->rcvd + k, (unsigned long long)c->seq, recv_buf[k],
                  c->msg[c->rcvd + k]);
          return EXIT_MISMATCH;
        }
        c->rcvd += got;
        if (c->rcvd == size) {
          completed++;
          c->seq++;
          start_message(c);
          pump_send(c);
        }
      }
    }
  }

  uint64_t requests = completed - completed_at_start;
  double seconds = (double)(w_end - w_start) / 1e9;
  double client_cpu = (double)(cpu_end - cpu_start) / 1e9;
  printf("requests=%llu seconds=%.6f rps=%.1f conns=%ld size=%ld client_cpu_s=%.4f",
         (unsigned long long)requests, seconds, seconds > 0 ? (double)requests / seconds : 0.0,
         opt_conns, opt_size, client_cpu);
  if (opt_server_pid > 0) {
    if (srv_start < 0 || srv_end < 0) {
      printf("\n");
      fflush(stdout);
      fprintf(stderr, "loadgen: could not read /proc/%ld/stat\n", opt_server_pid);
      return EXIT_SETUP;
    }
    long tck = sysconf(_SC_CLK_TCK);
    long long ticks = srv_end - srv_start;
    double srv_s = (double)ticks / (double)tck;
    printf(" server_cpu_ticks=%lld clk_tck=%ld server_cpu_s=%.4f server_cpu_us_per_req=%.4f",
           ticks, tck, srv_s, requests ? srv_s * 1e6 / (double)requests : 0.0);
  }
  printf("\n");
  fflush(stdout);

  for (long i = 0; i < opt_conns; i++) close(conns[i].fd);
  free(conns);
  free(pattern);
  close(epfd);
  if (requests == 0) {
    fprintf(stderr, "loadgen: no request completed in the measured window\n");
    return EXIT_NOREQ;
  }
  return 0;
}
