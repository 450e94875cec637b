// The taskmasters on loopback sockets, in this process: the request timeout against a
// trickled body under every taskmaster, and the fibers taskmaster keeping a failure (a
// fiber that cannot start, a fiber that throws) to its one connection.
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>
#include <vector>

#include "switchyard/runtime.h"  // sy::Options: the fibers taskmaster's stack size
#include "taskmaster.h"

namespace sy::http {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

// A client socket, closed at scope exit (before the server it talks to is stopped).
class Fd {
 public:
  explicit Fd(int fd = -1) : fd_(fd) {}
  Fd(Fd&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
  Fd& operator=(Fd&& o) noexcept {
    reset();
    fd_ = std::exchange(o.fd_, -1);
    return *this;
  }
  ~Fd() { reset(); }
  void reset() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }
  operator int() const { return fd_; }

 private:
  int fd_;
};

Fd connect_to(unsigned port) {
  Fd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (fd < 0) throw std::system_error(errno, std::generic_category(), "socket");
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<std::uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&a), sizeof a) < 0)
    throw std::system_error(errno, std::generic_category(), "connect");
  return fd;
}

// False when the server has gone (EPIPE, ECONNRESET).
bool send_all(int fd, std::string_view s) {
  while (!s.empty()) {
    const ssize_t n = ::send(fd, s.data(), s.size(), MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    s.remove_prefix(static_cast<std::size_t>(n));
  }
  return true;
}

// What a client read, and how the reading ended.
struct Seen {
  enum How { response, eof, reset, timeout };
  std::string data;
  How how = timeout;
};

// Reads until the server closes (or the deadline); with one_response, stops as soon as a
// whole response (head and Content-Length body) is in.
Seen read_from(int fd, Clock::time_point until, bool one_response) {
  Seen s;
  s.data.reserve(4096);
  char buf[4096];
  for (;;) {
    if (one_response) {
      const std::size_t end = s.data.find("\r\n\r\n");
      if (end != std::string::npos) {
        const std::size_t cl = s.data.find("Content-Length: ");
        const std::size_t body = cl == std::string::npos ? 0 : std::stoul(s.data.substr(cl + 16));
        if (s.data.size() >= end + 4 + body) {
          s.how = Seen::response;
          return s;
        }
      }
    }
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - Clock::now()).count();
    if (left <= 0) return s;
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left)) == 0) return s;
    const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n > 0) {
      s.data.append(buf, static_cast<std::size_t>(n));
    } else if (n == 0) {
      s.how = Seen::eof;
      return s;
    } else if (errno != EINTR) {
      s.how = Seen::reset;
      return s;
    }
  }
}

const char* how_name(Seen::How h) {
  switch (h) {
    case Seen::response: return "a response";
    case Seen::eof: return "end of file";
    case Seen::reset: return "a reset";
    case Seen::timeout: return "nothing before the deadline";
  }
  return "?";
}

bool wait_until(const std::function<bool()>& cond, std::chrono::milliseconds limit = 5s) {
  const auto until = Clock::now() + limit;
  while (!cond()) {
    if (Clock::now() >= until) return false;
    std::this_thread::sleep_for(1ms);
  }
  return true;
}

constexpr std::string_view kGet = "GET / HTTP/1.1\r\nHost: t\r\n\r\n";
constexpr std::string_view kHello =
    "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 13\r\n\r\nHello, World!";

// A taskmaster serving a Server on a loopback port. The destructor stops it; a test that
// wants to see the stop succeed calls stop() itself.
struct Running {
  Server srv;
  std::unique_ptr<Taskmaster> tm;
  unsigned port = 0;
  int lfd = -1;  // the taskmaster's from start() on
  bool stopped = false;

  Running(const ServerConfig& cfg, const TaskmasterOptions& o) : srv(cfg), tm(make_taskmaster(srv, o)) {
    ::signal(SIGPIPE, SIG_IGN);  // a client that went away is an EPIPE here too
    lfd = listen_socket("127.0.0.1", 0, 128, &port);
    if (lfd < 0) throw std::system_error(errno, std::generic_category(), "listen");
    tm->start(lfd);
  }
  ~Running() {
    if (!stopped) stop();
  }
  bool stop() {
    stopped = true;
    srv.drain();
    tm->stop_accepting();
    if (tm->wait_done(5s)) return true;
    srv.force();
    return tm->wait_done(5s);
  }
  long live() { return srv.stats().connections_live.load(std::memory_order_relaxed); }
  // A fresh connection gets "Hello, World!".
  bool serves() {
    Fd c = connect_to(port);
    if (!send_all(c, kGet)) return false;
    const Seen s = read_from(c, Clock::now() + 3s, true);
    return s.how == Seen::response && s.data == kHello;
  }
};

// ---- The request timeout bounds the body too ---------------------------------------------

struct TimeoutCase {
  const char* name;
  TaskmasterOptions tm;
  int idle_timeout_ms;
};

class RequestTimeout : public testing::TestWithParam<TimeoutCase> {};

// A body trickled a byte every 20 ms (each byte well inside the idle timeout) is cut off
// by the request timeout (200 ms): 408, then a close.
TEST_P(RequestTimeout, BoundsATrickledBody) {
  ServerConfig cfg;
  cfg.idle_timeout_ms = GetParam().idle_timeout_ms;
  cfg.request_timeout_ms = 200;
  Running r(cfg, GetParam().tm);
  {
    Fd c = connect_to(r.port);
    const auto t0 = Clock::now();
    ASSERT_TRUE(send_all(c, "POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 100000\r\n\r\n"));
    bool answered = false;
    while (!answered && Clock::now() - t0 < 3s) {
      if (!send_all(c, "x")) break;  // the server closed
      pollfd p{c, POLLIN, 0};
      answered = ::poll(&p, 1, 20) > 0;  // the pace of the trickle, and a look for the answer
    }
    const auto took = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t0);
    ASSERT_LT(took, 3s) << "a body trickled for 3 s held the connection (request timeout 200 ms)";
    const Seen s = read_from(c, Clock::now() + 2s, false);
    EXPECT_EQ(s.data.substr(0, 13), "HTTP/1.1 408 ") << s.data;
    EXPECT_TRUE(s.how == Seen::eof || s.how == Seen::reset) << how_name(s.how);
    EXPECT_GE(took, 180ms);  // the request timeout, not something earlier
  }
  EXPECT_TRUE(wait_until([&] { return r.live() == 0; })) << r.live() << " connections still live";
  EXPECT_TRUE(r.serves());
  EXPECT_TRUE(r.stop());
}

// A head and the start of its body in one write, then nothing: the request timeout (200
// ms, the idle timeout 5 s or none) ends it. With no idle timeout the event loop armed no
// timer for a request that had begun within the read that brought it.
TEST_P(RequestTimeout, BoundsAStalledBody) {
  ServerConfig cfg;
  cfg.idle_timeout_ms = GetParam().idle_timeout_ms;
  cfg.request_timeout_ms = 200;
  Running r(cfg, GetParam().tm);
  {
    Fd c = connect_to(r.port);
    const auto t0 = Clock::now();
    ASSERT_TRUE(send_all(c, "POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\nab"));
    const Seen s = read_from(c, t0 + 3s, false);
    const auto took = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t0);
    EXPECT_EQ(s.data.substr(0, 13), "HTTP/1.1 408 ") << s.data;
    ASSERT_TRUE(s.how == Seen::eof || s.how == Seen::reset) << how_name(s.how) << " after " << took.count() << " ms";
    EXPECT_GE(took, 180ms);
  }
  EXPECT_TRUE(wait_until([&] { return r.live() == 0; })) << r.live() << " connections still live";
  EXPECT_TRUE(r.serves());
  EXPECT_TRUE(r.stop());
}

TaskmasterOptions tm_options(const char* name) {
  TaskmasterOptions o;
  o.name = name;
  o.carriers = 2;
  return o;
}

INSTANTIATE_TEST_SUITE_P(
    EveryTaskmaster, RequestTimeout,
    testing::Values(TimeoutCase{"threads", tm_options("threads"), 5000},
                    TimeoutCase{"threads_no_idle_timeout", tm_options("threads"), 0},
                    TimeoutCase{"eventloop", tm_options("eventloop"), 5000},
                    TimeoutCase{"eventloop_no_idle_timeout", tm_options("eventloop"), 0},
                    TimeoutCase{"fibers", tm_options("fibers"), 5000},
                    TimeoutCase{"fibers_no_idle_timeout", tm_options("fibers"), 0}),
    [](const testing::TestParamInfo<TimeoutCase>& i) { return std::string(i.param.name); });

// ---- The fibers taskmaster: a failure stays with its connection -------------------------

// The process's first thrown exception makes libunwind (the unwinder this build links)
// open a pipe that it keeps for good (it validates addresses by writing them to it). A
// test that counts fds throws one first, so that pipe is in its baseline.
void open_unwinders_pipe() {
  try {
    throw std::runtime_error("the first exception");
  } catch (const std::runtime_error&) {
  }
}

// Captures stderr for the scope (the taskmaster's failure lines); text() ends the capture.
class StderrCapture {
 public:
  StderrCapture() { testing::internal::CaptureStderr(); }
  ~StderrCapture() { text(); }
  std::string text() {
    if (active_) {
      text_ = testing::internal::GetCapturedStderr();
      active_ = false;
      std::fputs(text_.c_str(), stderr);  // still shown in the test's output
    }
    return text_;
  }

 private:
  bool active_ = true;
  std::string text_;
};

int count(const std::string& hay, std::string_view needle) {
  int n = 0;
  for (std::size_t p = hay.find(needle); p != std::string::npos; p = hay.find(needle, p + 1)) ++n;
  return n;
}

// This process's open fds and what they are, for a failure message.
std::string list_fds() {
  std::string out;
  for (int fd = 0; fd < 1024; ++fd) {
    char path[64], target[256];
    std::snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    const ssize_t n = ::readlink(path, target, sizeof target - 1);
    if (n < 0) continue;
    target[n] = 0;
    out += std::to_string(fd) + " -> " + target + "\n";
  }
  return out;
}

long vm_size_bytes() {
  std::FILE* f = std::fopen("/proc/self/status", "r");
  if (!f) return -1;
  char line[256];
  long kib = -1;
  while (std::fgets(line, sizeof line, f))
    if (std::sscanf(line, "VmSize: %ld kB", &kib) == 1) break;
  std::fclose(f);
  return kib < 0 ? -1 : kib * 1024;
}

// Lowers this process's address-space limit for the scope, so that mapping a fiber stack
// fails (StackError) as it does at vm.max_map_count; restores it at scope exit.
class AddressSpaceLimit {
 public:
  explicit AddressSpaceLimit(long bytes) {
    if (::getrlimit(RLIMIT_AS, &old_) != 0) throw std::system_error(errno, std::generic_category(), "getrlimit");
    rlimit lim = old_;
    lim.rlim_cur = static_cast<rlim_t>(bytes);
    if (::setrlimit(RLIMIT_AS, &lim) != 0) throw std::system_error(errno, std::generic_category(), "setrlimit");
  }
  ~AddressSpaceLimit() { restore(); }
  void restore() {
    if (active_) ::setrlimit(RLIMIT_AS, &old_);
    active_ = false;
  }

 private:
  rlimit old_{};
  bool active_ = true;
};

// One carrier (so every stack is taken from and given back to one pool) and room in the
// address space for kStacks more fiber stacks: later connections cannot get a fiber. Each
// is refused (a 503 or a bare close), the server keeps accepting, and once the served
// connections close their pooled stacks serve new ones. max_conns is below the number of
// connections made: a semaphore unit lost per refusal would stop the accept loop.
TEST(FibersTaskmaster, RefusesAConnectionWhoseFiberCannotStartAndKeepsServing) {
  constexpr long kStacks = 6;
  constexpr int kConnections = 30;
  ServerConfig cfg;
  cfg.max_conns = 16;
  cfg.idle_timeout_ms = 5000;  // bounds the teardown if the test fails with connections open
  TaskmasterOptions o;
  o.name = "fibers";
  o.variant = "asm-pooled-chaselev";
  o.carriers = 1;
  Running r(cfg, o);
  ASSERT_TRUE(r.serves());  // the carrier's malloc arena and the pool's first stack exist now
  ASSERT_TRUE(wait_until([&] { return r.live() == 0; }));

  open_unwinders_pipe();
  StderrCapture err;
  const long fds = count_open_fds();
  std::vector<Fd> served;
  served.reserve(kConnections);
  int refused = 0, saw_503 = 0;
  const long vm = vm_size_bytes();
  ASSERT_GT(vm, 0) << "no VmSize in /proc/self/status";
  {
    // The taskmaster's stacks: sy::Options' default size, and a guard page.
    const long stack = static_cast<long>(sy::Options{}.stack_size) + ::sysconf(_SC_PAGESIZE);
    AddressSpaceLimit as(vm + kStacks * stack + stack / 2);
    for (int i = 0; i < kConnections; ++i) {
      Fd c = connect_to(r.port);
      send_all(c, kGet);  // may fail: a refused connection may be closed already; what it reads tells
      const Seen s = read_from(c, Clock::now() + 3s, true);
      if (s.how == Seen::response && s.data == kHello) {
        served.push_back(std::move(c));
        continue;
      }
      ASSERT_NE(s.how, Seen::timeout) << "connection " << i << " got no answer within 3 s: the server stopped "
                                      << "accepting (" << served.size() << " served, " << refused << " refused)";
      if (s.how == Seen::response) {
        EXPECT_EQ(s.data.substr(0, 13), "HTTP/1.1 503 ") << s.data;
        ++saw_503;
      }
      ++refused;
    }
    as.restore();
  }
  const std::size_t n_served = served.size();
  EXPECT_GE(n_served, 2u);
  EXPECT_GE(refused, 10) << served.size() << " served";
  EXPECT_EQ(r.srv.stats().connections_refused.load(), refused);
  EXPECT_EQ(r.live(), static_cast<long>(served.size())) << "refused connections are not live";

  served.clear();  // their fibers end and give their stacks back to the pool
  ASSERT_TRUE(wait_until([&] { return r.live() == 0; })) << r.live() << " connections still live";
  // New connections, two at once, with no room for another stack: pooled stacks serve them.
  {
    AddressSpaceLimit as(vm_size_bytes() + 64 * 1024);  // no room for a new stack now
    for (int i = 0; i < 2; ++i) {
      Fd c = connect_to(r.port);
      ASSERT_TRUE(send_all(c, kGet));
      const Seen s = read_from(c, Clock::now() + 3s, true);
      ASSERT_EQ(s.data, kHello) << "connection " << i << " after the refusals: " << how_name(s.how);
      served.push_back(std::move(c));
    }
    as.restore();
  }
  served.clear();
  ASSERT_TRUE(wait_until([&] { return r.live() == 0; }));
  EXPECT_TRUE(wait_until([&] { return count_open_fds() == fds; })) << count_open_fds() << " fds, " << fds
                                                                  << " before\n" << list_fds();
  const std::string log = err.text();
  EXPECT_EQ(count(log, "cannot start a fiber for a new connection"), 2) << log;  // the run's start and end
  EXPECT_EQ(count(log, ": " + std::to_string(refused) + " times, then it succeeded again"), 1) << log;
  std::printf("served %zu, refused %d of %d connections (%d saw the 503)\n", n_served, refused, kConnections,
              saw_503);
  EXPECT_TRUE(r.stop());
  EXPECT_EQ(::fcntl(r.lfd, F_GETFD), -1) << "the listener is still open";
}

// A connection's fiber that throws (here: the /stats handler's live-task count) closes its
// connection and gives back its fd, its place among the live connections and its semaphore
// unit (max_conns 2, five failures: a lost unit would stop the accept loop).
TEST(FibersTaskmaster, ClosesAConnectionWhoseFiberThrowsAndKeepsServing) {
  ServerConfig cfg;
  cfg.max_conns = 2;
  cfg.idle_timeout_ms = 5000;
  TaskmasterOptions o;
  o.name = "fibers";
  o.carriers = 2;
  Running r(cfg, o);
  ASSERT_TRUE(r.serves());
  ASSERT_TRUE(wait_until([&] { return r.live() == 0; }));

  open_unwinders_pipe();
  StderrCapture err;
  const long fds = count_open_fds();
  // No request is in flight, so no carrier reads the function while it is replaced.
  r.srv.set_live_tasks("live_fibers", []() -> long { throw std::runtime_error("injected fault"); });
  constexpr int kFailures = 5;
  for (int i = 0; i < kFailures; ++i) {
    Fd c = connect_to(r.port);
    ASSERT_TRUE(send_all(c, "GET /stats HTTP/1.1\r\nHost: t\r\n\r\n"));
    const Seen s = read_from(c, Clock::now() + 3s, false);
    ASSERT_TRUE(s.how == Seen::eof || s.how == Seen::reset)
        << "request " << i << ": " << how_name(s.how) << " (" << r.live() << " connections live)";
    EXPECT_EQ(s.data, "");
  }
  ASSERT_TRUE(wait_until([&] { return r.live() == 0; })) << r.live() << " connections still live";
  EXPECT_TRUE(wait_until([&] { return count_open_fds() == fds; })) << count_open_fds() << " fds, " << fds
                                                                  << " before\n" << list_fds();
  r.srv.set_live_tasks("live_fibers", [] { return 0L; });
  {
    std::vector<Fd> both;  // the cap's two units, at once
    for (int i = 0; i < 2; ++i) {
      both.push_back(connect_to(r.port));
      ASSERT_TRUE(send_all(both.back(), kGet));
      const Seen s = read_from(both.back(), Clock::now() + 3s, true);
      ASSERT_EQ(s.data, kHello) << "connection " << i << ": " << how_name(s.how);
    }
  }
  ASSERT_TRUE(wait_until([&] { return r.live() == 0; }));
  EXPECT_TRUE(wait_until([&] { return count_open_fds() == fds; })) << count_open_fds() << " fds, " << fds
                                                                  << " before\n" << list_fds();
  const std::string log = err.text();
  EXPECT_EQ(count(log, "a connection's fiber threw"), 2) << log;  // the run's start and end
  EXPECT_EQ(count(log, "injected fault"), 1) << log;
  EXPECT_EQ(count(log, ": " + std::to_string(kFailures) + " times, then it succeeded again"), 1) << log;
  EXPECT_TRUE(r.stop());
}

}  // namespace
}  // namespace sy::http
