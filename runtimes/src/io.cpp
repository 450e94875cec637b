// Fiber I/O, the variant-independent half: pollers and the fd waiter table (io_core.h).
#include "switchyard/io.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <mutex>
#include <stdexcept>
#include <string>
#include <system_error>

#include "switchyard/runtime.h"
#include "switchyard/sched_constants.h"

namespace sy {

const char* to_string(IoBackend b) noexcept { return b == IoBackend::epoll ? "epoll" : "poll"; }
const char* to_string(IoRegistration r) noexcept {
  switch (r) {
    case IoRegistration::oneshot: return "oneshot";
    case IoRegistration::persistent: return "persistent";
    case IoRegistration::level: return "level";
  }
  return "?";
}

namespace detail {
namespace {

constexpr std::uint8_t kRead = static_cast<std::uint8_t>(IoEvent::read);
constexpr std::uint8_t kWrite = static_cast<std::uint8_t>(IoEvent::write);

// One fd's waiters and registration. Guarded by `lock`.
struct FdEntry {
  SpinLock lock;
  bool armed = false;         // oneshot: registered and not fired since
  std::uint8_t ready = 0;     // persistent: edges seen while nobody waited (IoEvent bits)
  std::uint8_t registered = 0;  // IoEvent bits currently registered
  Poller* poller = nullptr;   // whose epoll/poll set holds the fd, nullptr = none
  WaiterList waiters;         // FdWaiter nodes
};

// The table: chunks allocated on first use, never freed (fd numbers are dense and reused).
constexpr std::size_t kChunkBits = 12, kChunk = std::size_t(1) << kChunkBits, kChunks = 1024;
std::atomic<FdEntry*> g_chunks[kChunks];
// Fibers waiting on fds, all runtimes: a hint for Carrier::maintenance's non-blocking poll.
// Every access is relaxed: a stale value delays or adds one poll, and orders nothing.
std::atomic<std::int64_t> g_waiters{0};

FdEntry* entry(int fd, bool create) {
  if (fd < 0) return nullptr;
  const std::size_t c = static_cast<std::size_t>(fd) >> kChunkBits;
  if (c >= kChunks) return nullptr;
  // acquire: pairs with the release CAS below, so the chunk's constructed entries are seen.
  FdEntry* chunk = g_chunks[c].load(std::memory_order_acquire);
  if (!chunk) {
    if (!create) return nullptr;
    FdEntry* fresh = new FdEntry[kChunk];
    // release on success: publishes the new chunk's constructed entries (pairs with the
    // acquire load above); nothing is read through the old value, so no acquire. acquire on
    // failure: `chunk` becomes the winner's array, whose entries its release published.
    if (g_chunks[c].compare_exchange_strong(chunk, fresh, std::memory_order_release, std::memory_order_acquire))
      chunk = fresh;
    else
      delete[] fresh;  // another thread won; `chunk` holds its array
  }
  return &chunk[static_cast<std::size_t>(fd) & (kChunk - 1)];
}

std::uint32_t epoll_bits(std::uint8_t ev) {
  std::uint32_t e = 0;
  if (ev & kRead) e |= EPOLLIN | EPOLLRDHUP;
  if (ev & kWrite) e |= EPOLLOUT;
  return e;
}

// Events the poller reports, as IoEvent bits: errors and hang-ups wake every waiter (the
// next read or write returns the error or EOF).
std::uint8_t ready_bits(std::uint32_t revents) {
  std::uint8_t r = 0;
  if (revents & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) r |= kRead;
  if (revents & (EPOLLOUT | EPOLLHUP | EPOLLERR)) r |= kWrite;
  return r;
}

std::uint8_t waiting_events(FdEntry& e) {
  std::uint8_t u = 0;
  for (Waiter* w = e.waiters.front(); w; w = w->next) u |= static_cast<FdWaiter*>(w)->events;
  return u;
}

// Unlinks and wakes every waiter of e whose events are in `ready`, with `result`. Returns
// the events that woke somebody.
std::uint8_t wake_waiters(FdEntry& e, std::uint8_t ready, IoResult result) {
  std::uint8_t served = 0;
  for (Waiter* w = e.waiters.front(); w;) {
    Waiter* next = w->next;
    auto* fw = static_cast<FdWaiter*>(w);
    if (fw->events & ready) {
      e.waiters.unlink(w);
      // relaxed: a polling hint only.
      g_waiters.fetch_sub(1, std::memory_order_relaxed);
      fw->result = result;
      served |= fw->events & ready;
      // A waiter that lost the claim (it timed out meanwhile) finds itself unlinked in
      // io_end_wait and returns this result.
      fw->wake(fw->fiber, WakeReason::ready);
    }
    w = next;
  }
  return served;
}

// The poll backend's events for a registration written in epoll bits.
short poll_bits(std::uint32_t events) {
  short pe = 0;
  if (events & EPOLLIN) pe |= POLLIN | POLLRDHUP;
  if (events & EPOLLOUT) pe |= POLLOUT;
  return pe;
}

timespec to_timespec(std::int64_t ns) {
  return timespec{static_cast<time_t>(ns / 1'000'000'000), static_cast<long>(ns % 1'000'000'000)};
}

}  // namespace

// relaxed: g_waiters is a polling hint (io_core.h); nothing is read through it.
std::int64_t io_waiters() noexcept { return g_waiters.load(std::memory_order_relaxed); }

// ---------------------------------------------------------------------------------------
Poller::Poller(IoBackend backend, IoRegistration registration)
    : backend_(backend),
      registration_(backend == IoBackend::poll && registration == IoRegistration::persistent
                        ? IoRegistration::oneshot
                        : registration) {
  evfd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (evfd_ < 0) throw std::system_error(errno, std::generic_category(), "eventfd for a carrier");
  if (backend_ == IoBackend::epoll) {
    epfd_ = ::epoll_create1(EPOLL_CLOEXEC);
    if (epfd_ < 0) {
      int err = errno;
      ::close(evfd_);
      throw std::system_error(err, std::generic_category(), "epoll_create1 for a carrier");
    }
    // Level-triggered: a kick stays visible until the owner reads the counter.
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = static_cast<std::uint64_t>(evfd_);
    if (::epoll_ctl(epfd_, EPOLL_CTL_ADD, evfd_, &ev) != 0) {
      int err = errno;
      ::close(epfd_);
      ::close(evfd_);
      throw std::system_error(err, std::generic_category(), "epoll_ctl(ADD) of the carrier's eventfd");
    }
  } else {
    set_ = new std::vector<pollfd>;
  }
}

Poller::~Poller() {
  // Drop table entries that still point here (the runtime is gone; their fds may live on).
  for (std::size_t c = 0; c < kChunks; ++c) {
    // acquire: as in entry(), so the chunk's entries are seen constructed.
    FdEntry* chunk = g_chunks[c].load(std::memory_order_acquire);
    if (!chunk) continue;
    for (std::size_t i = 0; i < kChunk; ++i) {
      FdEntry& e = chunk[i];
      if (e.poller != this) continue;  // racy read, confirmed under the lock
      std::lock_guard<SpinLock> g(e.lock);
      if (e.poller == this) {
        e.poller = nullptr;
        e.armed = false;
        e.registered = 0;
        e.ready = 0;
      }
    }
  }
  if (epfd_ >= 0) ::close(epfd_);
  ::close(evfd_);
  delete set_;
}

void Poller::kick() noexcept {
  const std::uint64_t one = 1;
  // EAGAIN only if the counter would overflow, which means kicks are already pending.
  [[maybe_unused]] ssize_t r = ::write(evfd_, &one, sizeof one);
}

int Poller::add(int fd, std::uint32_t events) noexcept {
  if (backend_ == IoBackend::epoll) {
    epoll_event ev{};
    ev.events = events;
    ev.data.u64 = static_cast<std::uint64_t>(fd);
    return ::epoll_ctl(epfd_, EPOLL_CTL_ADD, fd, &ev) == 0 ? 0 : errno;
  }
  if (::fcntl(fd, F_GETFD) < 0) return errno;  // as epoll_ctl would: EBADF
  std::lock_guard<SpinLock> g(set_lock_);
  if (pos_.size() <= static_cast<std::size_t>(fd)) pos_.resize(static_cast<std::size_t>(fd) + 1, -1);
  if (pos_[fd] >= 0) return EEXIST;
  pos_[fd] = static_cast<int>(set_->size());
  set_->push_back(pollfd{fd, poll_bits(events), 0});
  return 0;
}

int Poller::modify(int fd, std::uint32_t events) noexcept {
  if (backend_ == IoBackend::epoll) {
    epoll_event ev{};
    ev.events = events;
    ev.data.u64 = static_cast<std::uint64_t>(fd);
    return ::epoll_ctl(epfd_, EPOLL_CTL_MOD, fd, &ev) == 0 ? 0 : errno;
  }
  {
    std::lock_guard<SpinLock> g(set_lock_);
    if (static_cast<std::size_t>(fd) < pos_.size() && pos_[fd] >= 0) {
      (*set_)[pos_[fd]].events = poll_bits(events);
      return 0;
    }
  }
  return ENOENT;
}

int Poller::remove(int fd) noexcept {
  if (backend_ == IoBackend::epoll) {
    epoll_event ev{};
    return ::epoll_ctl(epfd_, EPOLL_CTL_DEL, fd, &ev) == 0 ? 0 : errno;
  }
  std::lock_guard<SpinLock> g(set_lock_);
  if (static_cast<std::size_t>(fd) >= pos_.size() || pos_[fd] < 0) return ENOENT;
  const int i = pos_[fd];
  const pollfd last = set_->back();
  (*set_)[i] = last;
  pos_[last.fd] = i;
  set_->pop_back();
  pos_[fd] = -1;
  return 0;
}

int Poller::wait_and_dispatch(std::int64_t timeout_ns) {
  return backend_ == IoBackend::epoll ? wait_epoll(timeout_ns) : wait_poll(timeout_ns);
}

int Poller::wait_epoll(std::int64_t timeout_ns) {
  epoll_event evs[sched_constants::kPollBatch];
  int handled = 0;
  // Bounded: with level-triggered registration, fds nobody reads stay ready, and a drain
  // that waited for a short batch could spin here forever with a full batch of them.
  for (int round = 0; round < sched_constants::kPollDrainRounds; ++round) {
    const bool first = round == 0;
    // epoll_pwait2 takes a timespec: sub-millisecond deadlines are not rounded up to 1 ms
    // as epoll_wait's millisecond timeout would.
    timespec ts = to_timespec(first ? std::max<std::int64_t>(timeout_ns, 0) : 0);
    int n = ::epoll_pwait2(epfd_, evs, sched_constants::kPollBatch, first && timeout_ns < 0 ? nullptr : &ts, nullptr);
    if (n < 0) {
      if (errno == EINTR) return handled;
      if (errno == ENOSYS) {  // kernel before 5.11: millisecond timeouts, rounded up
        int ms = !first ? 0 : timeout_ns < 0 ? -1 : static_cast<int>((timeout_ns + 999'999) / 1'000'000);
        n = ::epoll_wait(epfd_, evs, sched_constants::kPollBatch, ms);
        if (n < 0) return handled;
      } else {
        std::fprintf(stderr, "switchyard: epoll_pwait2: %s\n", std::strerror(errno));
        std::abort();  // a bad epoll fd is a runtime bug, not a user error
      }
    }
    for (int i = 0; i < n; ++i) {
      const int fd = static_cast<int>(evs[i].data.u64);
      if (fd == evfd_) {
        std::uint64_t v;
        [[maybe_unused]] ssize_t r = ::read(evfd_, &v, sizeof v);
        continue;
      }
      dispatch(fd, evs[i].events);
      ++handled;
    }
    if (n < sched_constants::kPollBatch) return handled;
  }
  return handled;
}

int Poller::wait_poll(std::int64_t timeout_ns) {
  std::vector<pollfd> fds;
  {
    std::lock_guard<SpinLock> g(set_lock_);
    fds.reserve(set_->size() + 1);
    fds.push_back(pollfd{evfd_, POLLIN, 0});
    fds.insert(fds.end(), set_->begin(), set_->end());
  }
  timespec ts = to_timespec(std::max<std::int64_t>(timeout_ns, 0));
  int n = ::ppoll(fds.data(), fds.size(), timeout_ns < 0 ? nullptr : &ts, nullptr);
  if (n <= 0) return 0;
  int handled = 0;
  for (const pollfd& p : fds) {
    if (!p.revents) continue;
    if (p.fd == evfd_) {
      std::uint64_t v;
      [[maybe_unused]] ssize_t r = ::read(evfd_, &v, sizeof v);
      continue;
    }
    std::uint32_t ev = 0;
    if (p.revents & (POLLIN | POLLRDHUP)) ev |= EPOLLIN;
    if (p.revents & POLLOUT) ev |= EPOLLOUT;
    if (p.revents & POLLHUP) ev |= EPOLLHUP;
    if (p.revents & (POLLERR | POLLNVAL)) ev |= EPOLLERR;
    dispatch(p.fd, ev);
    ++handled;
  }
  return handled;
}

void Poller::dispatch(int fd, std::uint32_t revents) {
  FdEntry* e = entry(fd, false);
  if (!e) return;
  std::lock_guard<SpinLock> g(e->lock);
  // The registration moved to another carrier (or was dropped) after the kernel queued
  // this event: the new owner has its own registration.
  if (e->poller != this) return;
  const std::uint8_t ready = ready_bits(revents);
  if (registration_ == IoRegistration::oneshot) {
    e->armed = false;  // EPOLLONESHOT disabled it (poll backend: drop it from the set)
    if (backend_ == IoBackend::poll) {
      remove(fd);
      e->poller = nullptr;
    }
  }
  const std::uint8_t served = wake_waiters(*e, ready, IoResult{IoStatus::ready, 0});
  if (registration_ == IoRegistration::persistent) {
    e->ready |= ready & ~served;  // an edge nobody consumed: the next wait takes it
  } else if (registration_ == IoRegistration::oneshot && !e->waiters.empty()) {
    // Waiters for the other direction remain: re-arm for them.
    const std::uint8_t want = waiting_events(*e);
    int err;
    if (backend_ == IoBackend::poll) {
      err = add(fd, epoll_bits(want));
      if (!err) e->poller = this;
    } else {
      err = modify(fd, epoll_bits(want) | EPOLLET | EPOLLONESHOT);
    }
    if (err) {
      wake_waiters(*e, 0xff, IoResult{IoStatus::error, err});
    } else {
      e->armed = true;
      e->registered = want;
    }
  }
}

// ---------------------------------------------------------------------------------------
// Registers `want` for fd with p according to the mode. Entry lock held. 0 or an errno.
static int register_interest(FdEntry& e, int fd, Poller& p, std::uint8_t ev) {
  const IoRegistration mode = p.registration();
  std::uint8_t want;
  std::uint32_t flags;
  switch (mode) {
    case IoRegistration::persistent:
      if (e.poller) return 0;  // registered once, for good (wherever the first wait was)
      want = kRead | kWrite;
      flags = EPOLLET;
      break;
    case IoRegistration::level:
      want = static_cast<std::uint8_t>(e.registered | ev);
      if (e.poller == &p && want == e.registered) return 0;
      flags = 0;
      break;
    case IoRegistration::oneshot:
    default:
      want = static_cast<std::uint8_t>(waiting_events(e) | ev);
      if (e.poller == &p && e.armed && (e.registered & want) == want) return 0;
      flags = p.backend() == IoBackend::epoll ? EPOLLET | EPOLLONESHOT : 0;
      break;
  }
  const std::uint32_t bits = epoll_bits(want) | flags;
  int err;
  if (e.poller == &p) {
    err = p.modify(fd, bits);
    // ENOENT: the fd was closed behind our back and its number reused; the old
    // registration vanished with the old file.
    if (err == ENOENT) err = p.add(fd, bits);
  } else {
    if (e.poller) e.poller->remove(fd);  // migrated waiter: move the registration here
    err = p.add(fd, bits);
    // EEXIST: registered here by a table entry we forgot (io_forget on a dup'ed file).
    if (err == EEXIST) err = p.modify(fd, bits);
  }
  if (err) {
    e.poller = nullptr;
    e.armed = false;
    e.registered = 0;
    return err;
  }
  e.poller = &p;
  e.armed = true;
  e.registered = want;
  return 0;
}

SpinLock* io_begin_wait(int fd, FdWaiter& w, Poller& p, IoResult& out) {
  FdEntry* e = entry(fd, true);
  if (!e) {
    out = IoResult{IoStatus::error, EBADF};
    return nullptr;
  }
  e->lock.lock();
  if (p.registration() == IoRegistration::persistent && e->poller && (e->ready & w.events)) {
    e->ready &= static_cast<std::uint8_t>(~w.events);  // an edge that came before us
    e->lock.unlock();
    out = IoResult{IoStatus::ready, 0};
    return nullptr;
  }
  if (int err = register_interest(*e, fd, p, w.events)) {
    e->lock.unlock();
    // EPERM: a regular file or directory, which epoll refuses: always ready, as poll says.
    out = err == EPERM ? IoResult{IoStatus::ready, 0} : IoResult{IoStatus::error, err};
    return nullptr;
  }
  e->waiters.push_back(&w);
  g_waiters.fetch_add(1, std::memory_order_relaxed);  // relaxed: a polling hint
  return &e->lock;
}

IoResult io_end_wait(int fd, FdWaiter& w, WakeReason why) {
  FdEntry* e = entry(fd, false);
  std::lock_guard<SpinLock> g(e->lock);
  if (!w.linked) return w.result;  // a dispatcher (or close_fd) got there first
  e->waiters.unlink(&w);
  g_waiters.fetch_sub(1, std::memory_order_relaxed);  // relaxed: a polling hint
  // oneshot: the registration is still armed, but the fd may be closed behind our back
  // before the next wait; re-arming then (MOD, ENOENT -> ADD) is what notices.
  if (e->waiters.empty()) e->armed = false;
  return why == WakeReason::unparked ? IoResult{IoStatus::error, EINTR} : IoResult{IoStatus::timed_out, 0};
}

IoResult io_block_thread(int fd, IoEvent ev, std::int64_t deadline_ns) noexcept {
  pollfd p{fd, static_cast<short>(ev == IoEvent::read ? POLLIN : POLLOUT), 0};
  for (;;) {
    std::int64_t left = deadline_ns < 0 ? -1 : std::max<std::int64_t>(0, deadline_ns - now_ns());
    timespec ts = to_timespec(left < 0 ? 0 : left);
    int n = ::ppoll(&p, 1, left < 0 ? nullptr : &ts, nullptr);
    if (n > 0) return (p.revents & POLLNVAL) ? IoResult{IoStatus::error, EBADF} : IoResult{IoStatus::ready, 0};
    if (n == 0) return IoResult{IoStatus::timed_out, 0};
    if (errno != EINTR) return IoResult{IoStatus::error, errno};
  }
}

void io_forget(int fd) noexcept {
  FdEntry* e = entry(fd, false);
  if (!e) return;
  std::lock_guard<SpinLock> g(e->lock);
  // Waiters on the old file would wait for their timeouts: wake them (EBADF).
  if (!e->waiters.empty()) wake_waiters(*e, 0xff, IoResult{IoStatus::error, EBADF});
  if (e->poller) e->poller->remove(fd);  // usually ENOENT: the old file took it along
  e->poller = nullptr;
  e->armed = false;
  e->registered = 0;
  e->ready = 0;
}

}  // namespace detail

namespace detail {
void (*close_fd_test_hook)(int fd) = nullptr;
}

int close_fd(int fd) noexcept {
  // Created if need be: a wait arriving now would create it, and must find it locked.
  detail::FdEntry* e = detail::entry(fd, true);
  if (!e) return ::close(fd);  // negative, or beyond the table: nobody can wait on it
  // The entry stays locked through close(2): a wait that registered after the waiters were
  // woken and before the close would have its registration dropped with the file and never
  // be woken. Locked, such a wait registers after the close instead, and fails (EBADF).
  std::lock_guard<detail::SpinLock> g(e->lock);
  detail::wake_waiters(*e, 0xff, IoResult{IoStatus::error, ECANCELED});
  if (e->poller) e->poller->remove(fd);
  e->poller = nullptr;
  e->armed = false;
  e->registered = 0;
  e->ready = 0;
  if (detail::close_fd_test_hook) [[unlikely]] detail::close_fd_test_hook(fd);
  return ::close(fd);
}

}  // namespace sy

// ---------------------------------------------------------------------------------------
// sy::io helpers (io.h): the system-call halves.
namespace sy::io {

int set_nonblocking(int fd) noexcept {
  int fl = ::fcntl(fd, F_GETFL);
  if (fl < 0 || ::fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0) return -1;
  return 0;
}

int socketpair_nonblocking(int sv[2]) noexcept {
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) != 0) return -1;
  sy::detail::io_forget(sv[0]);
  sy::detail::io_forget(sv[1]);
  return 0;
}

int tcp_socket() noexcept {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd >= 0) sy::detail::io_forget(fd);
  return fd;
}

int listen_tcp(const char* host, std::uint16_t port, int backlog, std::uint16_t* bound_port) noexcept {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  if (::inet_pton(AF_INET, host, &a.sin_addr) != 1) {
    errno = EINVAL;
    return -1;
  }
  int fd = tcp_socket();
  if (fd < 0) return -1;
  int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(fd, backlog) != 0) {
    int err = errno;
    ::close(fd);
    errno = err;
    return -1;
  }
  if (bound_port) {
    socklen_t len = sizeof a;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
    *bound_port = ntohs(a.sin_port);
  }
  return fd;
}

// Out of line on purpose (io.h): each call asks the thread it runs on for errno.
int last_error() noexcept { return errno; }

namespace detail {
int fail(int err) noexcept {
  errno = err;
  return -1;
}
ssize_t sys_read(int fd, void* buf, std::size_t n) noexcept {
  ssize_t r = ::read(fd, buf, n);
  return r >= 0 ? r : -errno;
}
ssize_t sys_write(int fd, const void* buf, std::size_t n) noexcept {
  // send with MSG_NOSIGNAL on sockets: a peer that went away is EPIPE, not SIGPIPE.
  ssize_t r = ::send(fd, buf, n, MSG_NOSIGNAL);
  if (r < 0 && errno == ENOTSOCK) r = ::write(fd, buf, n);
  return r >= 0 ? r : -errno;
}
int sys_accept(int lfd, sockaddr* addr, socklen_t* len) noexcept {
  int fd = ::accept4(lfd, addr, len, SOCK_NONBLOCK | SOCK_CLOEXEC);
  if (fd < 0) return -errno;
  sy::detail::io_forget(fd);
  return fd;
}
int sys_connect(int fd, const sockaddr* addr, socklen_t len) noexcept {
  return ::connect(fd, addr, len) == 0 ? 0 : -errno;
}
int connect_result(int fd) noexcept {
  int err = 0;
  socklen_t len = sizeof err;
  if (::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0) return errno;
  if (err) return err;
  sockaddr_storage peer;
  socklen_t plen = sizeof peer;
  // A spurious ready: not connected yet, and no error either.
  if (::getpeername(fd, reinterpret_cast<sockaddr*>(&peer), &plen) != 0) return errno == ENOTCONN ? EINPROGRESS : errno;
  return 0;
}
}  // namespace detail
}  // namespace sy::io
