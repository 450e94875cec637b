// Fiber socket helpers: each call tries the system call first and, on EAGAIN, parks the
// fiber in Rt::wait_fd until the fd is ready (or the timeout passes), then retries. Called
// from an OS thread they block it in poll(2) instead. fds must be O_NONBLOCK.
//
//   using Rt = sy::Runtime<sy::AsmPooledChaseLev>;
//   int sv[2]; sy::io::socketpair_nonblocking(sv);
//   Rt::spawn([&] { char b[64]; ssize_t n = sy::io::read<Rt>(sv[0], b, sizeof b); ... });
//
// Errors come back as -1 with errno, as from the system calls: ETIMEDOUT when the timeout
// passed, ECANCELED when the fd was closed through close_fd while waiting. Read errno with
// sy::io::last_error() in a fiber that may migrate (see below).
#pragma once

#include <sys/socket.h>
#include <sys/types.h>

#include <cerrno>
#include <cstddef>
#include <cstdint>

#include "switchyard/io_core.h"
#include "switchyard/runtime.h"

namespace sy::io {

int set_nonblocking(int fd) noexcept;
// AF_UNIX SOCK_STREAM pair, both ends O_NONBLOCK|O_CLOEXEC. 0 or -1/errno.
int socketpair_nonblocking(int sv[2]) noexcept;
// A nonblocking listening TCP socket on host:port (port 0: ephemeral), SO_REUSEADDR;
// *bound_port (if given) receives the port. The fd, or -1/errno.
int listen_tcp(const char* host, std::uint16_t port, int backlog, std::uint16_t* bound_port) noexcept;
// A nonblocking TCP socket for connect. The fd, or -1/errno.
int tcp_socket() noexcept;

// errno lives in the carrier thread, and glibc declares __errno_location() const, so the
// compiler may reuse its address across a call that switched and migrated the fiber: a
// fiber that may run on several carriers must read errno through last_error(), which asks
// the thread it runs on. The helpers below never touch errno in between: the system-call
// halves return -errno, and the final errno is set out of line.
int last_error() noexcept;

namespace detail {
inline std::int64_t deadline_of(Duration timeout) noexcept {
  return timeout.count() < 0 ? -1 : sy::detail::now_ns() + timeout.count();
}
// The deadline of a call, taken from the clock at its first wait, not at its start: most
// calls never wait (an HTTP server's read after a readiness wait, its every write), and
// a clock read each would be spent for nothing. The timeout then counts from the first
// EAGAIN, one system call later than the call's start.
class LazyDeadline {
 public:
  explicit LazyDeadline(Duration timeout) noexcept : timeout_(timeout) {}
  std::int64_t get() noexcept {
    if (ns_ == kUnset) ns_ = deadline_of(timeout_);
    return ns_;
  }

 private:
  static constexpr std::int64_t kUnset = -2;  // deadline_of gives -1 (none) or a time
  Duration timeout_;
  std::int64_t ns_ = kUnset;
};
// Sets errno on the thread the fiber runs on now; returns -1.
int fail(int err) noexcept;
// After EAGAIN: waits. 0: try again; otherwise the errno to fail with.
template <class Rt>
int await(int fd, IoEvent ev, std::int64_t deadline_ns) noexcept {
  IoResult r = Rt::wait_fd_until(fd, ev, deadline_ns);
  if (r.status == IoStatus::ready) return 0;
  return r.status == IoStatus::timed_out ? ETIMEDOUT : r.error;
}
// The system calls, returning -errno on failure (errno itself is not read in templates).
ssize_t sys_read(int fd, void* buf, std::size_t n) noexcept;
ssize_t sys_write(int fd, const void* buf, std::size_t n) noexcept;
int sys_accept(int lfd, sockaddr* addr, socklen_t* len) noexcept;  // accept4, nonblocking, cloexec
int sys_connect(int fd, const sockaddr* addr, socklen_t len) noexcept;
int connect_result(int fd) noexcept;  // 0, or an errno (EINPROGRESS: not yet)
inline bool again(long e) noexcept { return e == EAGAIN || e == EWOULDBLOCK; }
}  // namespace detail

// >0 bytes, 0 at end of file, -1/errno.
template <class Rt>
ssize_t read(int fd, void* buf, std::size_t n, Duration timeout = Duration(-1)) {
  detail::LazyDeadline d(timeout);
  for (;;) {
    ssize_t r = detail::sys_read(fd, buf, n);
    if (r >= 0) return r;
    if (r == -EINTR) continue;
    if (!detail::again(-r)) return detail::fail(static_cast<int>(-r));
    if (int e = detail::await<Rt>(fd, IoEvent::read, d.get())) return detail::fail(e);
  }
}

// Like write(2): may write less than n. -1/errno.
template <class Rt>
ssize_t write(int fd, const void* buf, std::size_t n, Duration timeout = Duration(-1)) {
  detail::LazyDeadline d(timeout);
  for (;;) {
    ssize_t r = detail::sys_write(fd, buf, n);
    if (r >= 0) return r;
    if (r == -EINTR) continue;
    if (!detail::again(-r)) return detail::fail(static_cast<int>(-r));
    if (int e = detail::await<Rt>(fd, IoEvent::write, d.get())) return detail::fail(e);
  }
}

// All n bytes, or -1/errno (some may have been written).
template <class Rt>
ssize_t write_all(int fd, const void* buf, std::size_t n, Duration timeout = Duration(-1)) {
  detail::LazyDeadline d(timeout);
  const char* p = static_cast<const char*>(buf);
  std::size_t done = 0;
  while (done < n) {
    ssize_t r = detail::sys_write(fd, p + done, n - done);
    if (r > 0) {
      done += static_cast<std::size_t>(r);
      continue;
    }
    if (r == -EINTR) continue;
    if (r < 0 && !detail::again(-r)) return detail::fail(static_cast<int>(-r));
    if (int e = detail::await<Rt>(fd, IoEvent::write, d.get())) return detail::fail(e);
  }
  return static_cast<ssize_t>(n);
}

// A new connection, already O_NONBLOCK|O_CLOEXEC, or -1/errno.
template <class Rt>
int accept(int lfd, sockaddr* addr, socklen_t* len, Duration timeout = Duration(-1)) {
  detail::LazyDeadline d(timeout);
  for (;;) {
    int fd = detail::sys_accept(lfd, addr, len);
    if (fd >= 0) return fd;
    if (fd == -EINTR || fd == -ECONNABORTED) continue;
    if (!detail::again(-fd)) return detail::fail(-fd);
    if (int e = detail::await<Rt>(lfd, IoEvent::read, d.get())) return detail::fail(e);
  }
}

// Connects a nonblocking socket. 0 or -1/errno.
template <class Rt>
int connect(int fd, const sockaddr* addr, socklen_t len, Duration timeout = Duration(-1)) {
  const std::int64_t d = detail::deadline_of(timeout);
  int r = detail::sys_connect(fd, addr, len);
  if (r == 0) return 0;
  if (r != -EINPROGRESS && r != -EINTR) return detail::fail(-r);
  for (;;) {
    if (int e = detail::await<Rt>(fd, IoEvent::write, d)) return detail::fail(e);
    int err = detail::connect_result(fd);
    if (err == 0) return 0;
    if (err != EINPROGRESS && err != EALREADY) return detail::fail(err);
  }
}

}  // namespace sy::io
