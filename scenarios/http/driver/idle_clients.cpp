#include "idle_clients.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <stdexcept>

#include "common.h"

namespace sy::http::driver {

int check_hello_response(std::string_view b, std::string* why) {
  const std::size_t head_end = b.find("\r\n\r\n");
  if (head_end == std::string_view::npos) {
    if (b.size() > 16384) {
      *why = "no end of headers in 16 KiB";
      return -1;
    }
    return 0;
  }
  const std::string_view head = b.substr(0, head_end);
  const std::string_view status = head.substr(0, head.find("\r\n"));
  if (status.substr(0, 12) != "HTTP/1.1 200") {
    *why = "status line '" + std::string(status) + "'";
    return -1;
  }
  long long length = -1;
  std::size_t pos = status.size() + 2;
  while (pos < head.size()) {
    std::size_t end = head.find("\r\n", pos);
    if (end == std::string_view::npos) end = head.size();
    std::string line(head.substr(pos, end - pos));
    pos = end + 2;
    std::string key = line.substr(0, line.find(':'));
    std::transform(key.begin(), key.end(), key.begin(), [](unsigned char c) { return std::tolower(c); });
    if (key == "content-length" && line.find(':') != std::string::npos)
      length = std::strtoll(line.c_str() + line.find(':') + 1, nullptr, 10);
  }
  if (length < 0) {
    *why = "no Content-Length header";
    return -1;
  }
  const std::size_t body_at = head_end + 4;
  if (b.size() < body_at + static_cast<std::size_t>(length)) return 0;
  const std::string_view body = b.substr(body_at, static_cast<std::size_t>(length));
  if (body != kHello || b.size() != body_at + body.size()) {
    *why = "body '" + std::string(b.substr(body_at, 40)) + "' (want '" + kHello + "')";
    return -1;
  }
  return 1;
}

IdleClients::IdleClients(std::uint16_t port, int n, double timeout_s, int in_flight) {
  static const char kRequest[] = "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
  const int ep = epoll_create1(EPOLL_CLOEXEC);
  if (ep < 0) throw std::runtime_error(std::string("epoll_create1: ") + std::strerror(errno));
  struct Conn {
    int fd = -1;
    bool connected = false;
    std::string buf;
  };
  std::vector<Conn> conns;
  conns.reserve(static_cast<std::size_t>(n));
  fds_.reserve(static_cast<std::size_t>(n));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  inet_pton(AF_INET, kHost, &addr.sin_addr);
  int started = 0, active = 0;
  auto fail = [&](Conn& c, const std::string& why) {
    if (first_error_.empty()) first_error_ = why;
    ++failed_;
    --active;
    epoll_ctl(ep, EPOLL_CTL_DEL, c.fd, nullptr);
    close(c.fd);
    c.fd = -1;
  };
  const auto t0 = Clock::now();
  while (idle_ + failed_ < n) {
    while (started < n && active < in_flight) {
      ++started;
      Conn c;
      c.fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
      if (c.fd < 0) {
        if (first_error_.empty()) first_error_ = std::string("socket: ") + std::strerror(errno);
        ++failed_;
        continue;
      }
      conns.push_back(std::move(c));
      Conn& cc = conns.back();
      ++active;
      if (connect(cc.fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0 && errno != EINPROGRESS) {
        fail(cc, std::string("connect: ") + std::strerror(errno));
        continue;
      }
      epoll_event ev{};
      ev.events = EPOLLOUT;
      ev.data.u64 = conns.size() - 1;
      if (epoll_ctl(ep, EPOLL_CTL_ADD, cc.fd, &ev) != 0) fail(cc, std::string("epoll_ctl: ") + std::strerror(errno));
    }
    const double left = timeout_s - since(t0);
    if (left <= 0 || active == 0) break;
    epoll_event evs[256];
    const int got = epoll_wait(ep, evs, 256, static_cast<int>(std::min(100.0, left * 1000) + 1));
    for (int i = 0; i < got; ++i) {
      Conn& c = conns[evs[i].data.u64];
      if (c.fd < 0) continue;
      if (!c.connected) {
        int err = 0;
        socklen_t len = sizeof err;
        getsockopt(c.fd, SOL_SOCKET, SO_ERROR, &err, &len);
        if (err != 0) {
          fail(c, std::string("connect: ") + std::strerror(err));
          continue;
        }
        c.connected = true;
        // 35 bytes into an empty socket buffer: never a partial write.
        if (send(c.fd, kRequest, sizeof kRequest - 1, MSG_NOSIGNAL) != static_cast<ssize_t>(sizeof kRequest - 1)) {
          fail(c, std::string("send: ") + std::strerror(errno));
          continue;
        }
        epoll_event ev{};
        ev.events = EPOLLIN;
        ev.data.u64 = evs[i].data.u64;
        epoll_ctl(ep, EPOLL_CTL_MOD, c.fd, &ev);
        continue;
      }
      char buf[2048];
      bool closed = false;
      std::string error;
      for (;;) {
        ssize_t r = read(c.fd, buf, sizeof buf);
        if (r > 0) {
          c.buf.append(buf, static_cast<std::size_t>(r));
          continue;
        }
        if (r == 0) closed = true;
        else if (errno == EINTR) continue;
        else if (errno != EAGAIN) error = std::string("read: ") + std::strerror(errno);
        break;
      }
      std::string why;
      const int verdict = check_hello_response(c.buf, &why);
      if (verdict < 0) {
        fail(c, "bad response: " + why);
      } else if (verdict > 0) {
        epoll_ctl(ep, EPOLL_CTL_DEL, c.fd, nullptr);
        fds_.push_back(c.fd);  // kept open and idle
        c.fd = -1;
        c.buf.clear();
        c.buf.shrink_to_fit();
        ++idle_;
        --active;
      } else if (!error.empty()) {
        fail(c, error);
      } else if (closed) {
        fail(c, "closed by the server before a whole response");
      }
    }
  }
  for (Conn& c : conns)
    if (c.fd >= 0) {
      close(c.fd);
      ++unfinished_;
    }
  unfinished_ += n - started;
  close(ep);
}

IdleClients::~IdleClients() {
  for (int fd : fds_) close(fd);
}

}  // namespace sy::http::driver
