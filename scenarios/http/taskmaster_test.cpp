// The taskmasters on loopback sockets, in this process: the request timeout against a
// trickled or stalled body under every taskmaster.
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>
#include <vector>

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

}  // namespace
}  // namespace sy::http
