// Fiber I/O's core: each carrier's readiness source (a Poller: epoll, or poll(2) for
// comparison), the process-wide fd-indexed waiter table, and the wait itself
// (wait_fd_until, which Runtime<V>::wait_fd calls); io.h has the socket helpers.
//
// How a wait works (DESIGN section 8):
//   1. wait_fd locks the fd's table entry, registers interest with the waiting fiber's
//      carrier's poller (per Options::io_registration), links a FdWaiter, and suspends
//      through wait_locked: the entry lock is released only after the fiber's context is
//      saved, so a dispatcher on another carrier cannot wake a half-switched fiber.
//   2. A carrier that finds the fd ready (in its idle block, or every 16th maintenance)
//      locks the entry, unlinks every waiter whose events are ready, and wakes each through
//      the wake claim. A wait with a deadline also sits in the deadline heap; whichever
//      claims first wins, and the loser's side is cleaned up by the waiter (io_end_wait).
//   3. close_fd wakes every waiter with ECANCELED, drops the registration, then closes,
//      all under the entry lock (a wait that comes after finds the fd closed: EBADF).
//
// Registration modes (Options::io_registration):
//   persistent  (the default) EPOLLIN|EPOLLOUT|EPOLLRDHUP|EPOLLET added once, never
//               modified (Go's netpoller, and what an epoll event loop does). Edges that
//               arrive with no waiter are remembered in `ready` and consumed by the next
//               wait, so none is lost. The fd stays in the epoll of the carrier that first
//               waited on it; a waiter that migrated is woken across carriers (the
//               dispatcher posts it to the waiter's carrier).
//   oneshot     EPOLLET|EPOLLONESHOT: ADD the first time, MOD to re-arm (one epoll_ctl per
//               wait), DEL when the fd moves to another carrier's epoll. MOD failing with
//               ENOENT means the fd number was closed behind our back and reused: ADD.
// Why persistent is the default: oneshot pays an epoll_ctl per wait, and two (DEL, ADD)
// whenever the waiter runs on another carrier than its last wait's, which with a shared
// run queue is about every other wait. The HTTP scenario (asm-pooled-fifo, 2 carriers, wrk at
// 1,000 connections, server counted with perf stat): oneshot 1.50 epoll_ctl and 3.8
// system calls per request, 22 us of server CPU per request; persistent 0.05 epoll_ctl
// (one ADD and one DEL per connection) and 2.4 system calls, 17.6 us; the epoll event loop
// 3.25 system calls (its read until EAGAIN), 15 us. Its one hazard: an fd closed with a
// plain close(2) and its number reused by an fd not made through sy::io keeps a stale
// entry (see below); oneshot notices that at its next MOD.
//   level       level-triggered, interest only grows, never unregistered: a ready fd nobody
//               waits for is reported on every epoll_wait. This reproduces the seed's
//               livelock at 10k connections; it is not a mode to use.
// The poll backend is level-triggered by nature; it emulates oneshot by dropping an fd
// from its set once it fires (persistent is treated as oneshot there).
//
// Closing an fd behind the runtime's back (plain close(2)): the kernel drops the epoll
// registration with the last reference to the file. Waiters are not woken (they wait for
// their timeout); with oneshot the next wait on a reused number re-registers (ENOENT ->
// ADD). With persistent, the table would think the reused number is registered: fds made
// by the sy::io helpers (accept, socketpair, listen, connect socket) reset the entry, and
// io_forget does it for fds made elsewhere. Close through close_fd.
#pragma once

#include <poll.h>

#include <atomic>
#include <cstdint>
#include <optional>
#include <vector>

#include "switchyard/detail/sync.h"
#include "switchyard/fiber.h"

namespace sy {

enum class IoEvent : std::uint8_t { read = 1, write = 2 };
enum class IoStatus : std::uint8_t { ready, timed_out, error };
struct IoResult {
  IoStatus status = IoStatus::ready;
  int error = 0;  // errno when status == error (ECANCELED: closed through close_fd)
  explicit operator bool() const noexcept { return status == IoStatus::ready; }
};
enum class IoBackend : std::uint8_t { epoll, poll };
enum class IoRegistration : std::uint8_t { oneshot, persistent, level };
const char* to_string(IoBackend) noexcept;
const char* to_string(IoRegistration) noexcept;

// Closes fd after waking every fiber waiting on it with ECANCELED. Any thread.
int close_fd(int fd) noexcept;

namespace detail {

class Poller;

// A fiber waiting for an fd; lives on the fiber's stack for the duration of the wait.
struct FdWaiter : Waiter {
  std::uint8_t events = 0;                              // IoEvent bits
  IoResult result{IoStatus::timed_out, 0};              // written by the dispatcher
  bool (*wake)(FiberBase*, WakeReason) = nullptr;       // the owning Runtime<V>::wake
};

// One carrier's readiness source. The owner thread waits on it; any thread may kick it or
// change registrations (epoll_ctl is thread-safe; the poll set has its own lock).
class Poller {
 public:
  Poller(IoBackend backend, IoRegistration registration);
  ~Poller();
  Poller(const Poller&) = delete;
  Poller& operator=(const Poller&) = delete;

  // Wakes the owner if it blocks in wait_and_dispatch (or makes its next block return).
  void kick() noexcept;
  // Blocks up to timeout_ns (-1: forever, 0: just look), then wakes the waiters of every
  // ready fd. Drains with a sched_constants::kPollBatch-event buffer: the first call with
  // the timeout, then 0, until a call returns a short batch (at most kPollDrainRounds
  // calls). Returns the number of fd events handled.
  int wait_and_dispatch(std::int64_t timeout_ns);

  IoBackend backend() const noexcept { return backend_; }
  IoRegistration registration() const noexcept { return registration_; }

  // Registration primitives (called with the fd's entry lock held). 0 or an errno.
  int add(int fd, std::uint32_t events) noexcept;
  int modify(int fd, std::uint32_t events) noexcept;
  int remove(int fd) noexcept;

 private:
  void dispatch(int fd, std::uint32_t revents);
  int wait_epoll(std::int64_t timeout_ns);
  int wait_poll(std::int64_t timeout_ns);

  IoBackend backend_;
  IoRegistration registration_;
  int epfd_ = -1;
  int evfd_ = -1;
  // poll backend: the registered set, guarded by set_lock_ (registrations come from any
  // carrier when a waiter migrates).
  SpinLock set_lock_;
  std::vector<::pollfd>* set_ = nullptr;
  std::vector<int> pos_;  // fd -> index in *set_, -1 if absent
};

// Begin a wait: lock fd's entry, register interest with `p`, link w. If the wait must
// happen, returns the entry's lock, still held (the caller passes it to wait_locked);
// otherwise (already ready, or an error) returns nullptr with `out` set and no lock held.
SpinLock* io_begin_wait(int fd, FdWaiter& w, Poller& p, IoResult& out);
// After a wait that ended other than through a dispatch (timeout, unpark): unlinks w and
// returns what the caller should see (the dispatcher's result if it got there first).
IoResult io_end_wait(int fd, FdWaiter& w, WakeReason why);
// Blocks the OS thread in poll(2) (outside fibers, or a pinned fiber). deadline -1: none.
IoResult io_block_thread(int fd, IoEvent ev, std::int64_t deadline_ns) noexcept;
// Forgets any registration of fd (a new fd whose number may have been used before).
void io_forget(int fd) noexcept;
// Fibers currently waiting on fds, all runtimes. relaxed (io.cpp): a hint for polling
// while busy (Carrier::maintenance); a stale value delays or adds one non-blocking poll.
std::int64_t io_waiters() noexcept;
// Runtime<V>::wait_fd_until: waits until fd is ready for ev, the deadline passes (-1:
// none), or close_fd closes it. A fiber of Rt parks (the wait-queue protocol of
// detail/wait_queue.h on the fd's entry: io_begin_wait links it under the entry lock,
// Rt::wait_locked releases the lock once its context is saved); an OS thread, or a pinned
// fiber (per Options::pinned_policy), blocks in poll(2).
template <class Rt>
IoResult wait_fd_until(int fd, IoEvent ev, std::int64_t deadline_ns) {
  auto* self = Rt::current();
  if (!self) return io_block_thread(fd, ev, deadline_ns);
  if (self->pins) [[unlikely]] {
    Rt::pinned_block("wait_fd");
    return io_block_thread(fd, ev, deadline_ns);
  }
  FdWaiter w;
  w.fiber = self;
  w.events = static_cast<std::uint8_t>(ev);
  w.wake = &Rt::wake;
  IoResult now;
  SpinLock* lock = io_begin_wait(fd, w, Rt::current_poller(), now);
  if (!lock) return now;
  const WakeReason r = Rt::wait_locked(*lock, deadline_ns);
  if (r == WakeReason::ready) return w.result;
  return io_end_wait(fd, w, r);
}

// Test only (io_test): called by close_fd after it woke the fd's waiters, just before
// close(2). nullptr otherwise; close_fd is no hot path, so the check costs nothing there.
extern void (*close_fd_test_hook)(int fd);

}  // namespace detail
}  // namespace sy
