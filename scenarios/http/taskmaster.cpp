#include "taskmaster.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>

namespace sy::http {

std::unique_ptr<Taskmaster> make_taskmaster(Server& srv, const TaskmasterOptions& o) {
  if (o.name == "threads") return make_threads(srv, o);
  if (o.name == "eventloop") return make_eventloop(srv, o);
  if (o.name == "fibers") return make_fibers(srv, o);
  throw UsageError("--taskmaster " + o.name + ": expected threads, eventloop or fibers");
}

void BurstLog::failed(const char* why) {
  std::lock_guard<std::mutex> g(mu_);
  ++failures_;
  if (open_.load(std::memory_order_relaxed)) return;
  open_.store(true, std::memory_order_relaxed);  // see succeeded()
  std::fprintf(stderr, "switchyard_http_server: %s (%s); counting until one succeeds\n", what_.c_str(), why);
}

void BurstLog::close_run() {
  std::lock_guard<std::mutex> g(mu_);
  if (!open_.load(std::memory_order_relaxed)) return;  // another thread closed it
  open_.store(false, std::memory_order_relaxed);
  std::fprintf(stderr, "switchyard_http_server: %s: %ld times, then it succeeded again\n", what_.c_str(), failures_);
  failures_ = 0;
}

int listen_socket(const std::string& host, unsigned port, int backlog, unsigned* bound_port) {
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<std::uint16_t>(port));
  if (port > 65535 || ::inet_pton(AF_INET, host.c_str(), &addr.sin_addr) != 1) {
    errno = EINVAL;
    return -1;
  }
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  const int one = 1;
  socklen_t len = sizeof addr;
  if (::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0 ||
      ::bind(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) < 0 || ::listen(fd, backlog) < 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) < 0) {
    const int e = errno;
    ::close(fd);
    errno = e;
    return -1;
  }
  *bound_port = ntohs(addr.sin_port);
  return fd;
}

}  // namespace sy::http
