// Blocking primitives that park the calling fiber instead of blocking its carrier: Mutex,
// CondVar, Semaphore and a bounded Channel in the style of Go's (DESIGN section 10).
//
// Every primitive keeps its own queue of waiters (a SpinLock + WaiterList) and wakes them
// explicitly; nothing is polled. A waiter is a fiber of runtime Rt (it parks through
// Rt::wait_locked), a plain OS thread, or a pinned fiber (both block their OS thread on a
// ThreadEvent; a pinned fiber first applies Options::pinned_policy). Wakers may run on any
// carrier or thread.
//
// They share one wait-queue protocol with join and fd waits: detail/wait_queue.h
// (park_on, wake_one).
//
// Lock order: CondVar's lock before the user's lock's internals (CondVar::wait releases the
// user lock while holding its own). Nothing else nests. Spin-locked sections hold no
// blocking call; a user type's move (Channel<T>) runs under the channel's lock.
#pragma once

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>

#include "switchyard/runtime.h"

namespace sy {

// send() on a closed channel (also raised in senders blocked when it closes), or a second close().
class ChannelClosed : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

namespace detail {

template <class Clk, class Dur>
std::int64_t to_deadline_ns(const std::chrono::time_point<Clk, Dur>& t) {
  if constexpr (std::is_same_v<Clk, Clock>) {
    return std::chrono::duration_cast<Duration>(t.time_since_epoch()).count();
  } else {  // another clock: measure the remaining time once, against steady_clock
    return now_ns() + std::chrono::duration_cast<Duration>(t - Clk::now()).count();
  }
}
inline std::int64_t deadline_after(Duration d) { return now_ns() + std::max<std::int64_t>(0, d.count()); }

}  // namespace detail

// ---------------------------------------------------------------------------------------
// Mutex. Ownership is handed directly to the first waiter that can be woken (FIFO, no
// barging): simple to reason about and starvation-free, at the price of a switch per
// contended hand-off. Lockable: works with std::lock_guard, std::unique_lock, std::scoped_lock.
template <class Rt>
class Mutex {
 public:
  Mutex() = default;
  Mutex(const Mutex&) = delete;
  Mutex& operator=(const Mutex&) = delete;

  void lock() {
    detail::SpinGuard g(lock_);
    if (!locked_) {
      locked_ = true;
      return;
    }
    for (;;) {
      Waiter w;
      // Woken means unlock() handed us the mutex (locked_ stayed true). Otherwise
      // (unparked): try again.
      if (detail::park_on<Rt>(g, waiters_, w, -1, "Mutex::lock") == detail::Parked::handed) return;
      if (!locked_) {
        locked_ = true;
        return;
      }
    }
  }
  bool try_lock() {
    detail::SpinGuard g(lock_);
    if (locked_) return false;
    locked_ = true;
    return true;
  }
  void unlock() {
    detail::SpinGuard g(lock_);
    if (!detail::wake_one<Rt>(waiters_)) locked_ = false;  // else: handed over, still locked
  }

 private:
  detail::SpinLock lock_;
  bool locked_ = false;  // guarded by lock_
  WaiterList waiters_;   // guarded by lock_
};

// ---------------------------------------------------------------------------------------
// Condition variable over any lock with lock()/unlock() (sy::Mutex, std::mutex, ...), like
// std::condition_variable_any. Spurious wakes happen only through Rt::unpark; wait_for and
// wait_until report them as no_timeout (std's rule: timeout means the time ran out).
//
// No lost wakeups: a waiter links itself into waiters_ (under lock_) *before* it releases
// the user's lock. A notifier that changed the condition did so holding the user's lock,
// so either it finished before the waiter checked the condition (and the waiter saw the
// change and never waited), or it notifies after the waiter released the user's lock, i.e.
// after the waiter was linked: notify takes lock_ and finds it. A notify without the
// user's lock held is ordered the same way through lock_ alone: it either precedes the
// link (the waiter misses it, as with std::condition_variable) or finds the waiter.
// A waiter that times out concurrently with a notify_one: exactly one of them wins the
// fiber's wake claim; if the timeout won, notify_one moves on to the next waiter, so the
// notification is delivered to someone who will act on it, or to no one if nobody waits.
template <class Rt>
class CondVar {
 public:
  CondVar() = default;
  CondVar(const CondVar&) = delete;
  CondVar& operator=(const CondVar&) = delete;

  template <class Lock>
  void wait(std::unique_lock<Lock>& ul) {
    wait_impl(ul, -1);
  }
  template <class Lock, class Pred>
  void wait(std::unique_lock<Lock>& ul, Pred pred) {
    while (!pred()) wait_impl(ul, -1);
  }
  template <class Lock, class Clk, class Dur>
  std::cv_status wait_until(std::unique_lock<Lock>& ul, const std::chrono::time_point<Clk, Dur>& t) {
    return wait_impl(ul, detail::to_deadline_ns(t));
  }
  template <class Lock, class Clk, class Dur, class Pred>
  bool wait_until(std::unique_lock<Lock>& ul, const std::chrono::time_point<Clk, Dur>& t, Pred pred) {
    const std::int64_t d = detail::to_deadline_ns(t);
    while (!pred())
      if (wait_impl(ul, d) == std::cv_status::timeout) return pred();
    return true;
  }
  template <class Lock, class Rep, class Per>
  std::cv_status wait_for(std::unique_lock<Lock>& ul, const std::chrono::duration<Rep, Per>& d) {
    return wait_impl(ul, detail::deadline_after(std::chrono::duration_cast<Duration>(d)));
  }
  template <class Lock, class Rep, class Per, class Pred>
  bool wait_for(std::unique_lock<Lock>& ul, const std::chrono::duration<Rep, Per>& d, Pred pred) {
    const std::int64_t dl = detail::deadline_after(std::chrono::duration_cast<Duration>(d));
    while (!pred())
      if (wait_impl(ul, dl) == std::cv_status::timeout) return pred();
    return true;
  }

  // Returns true if a waiter was woken (std's returns void; the count lets tests check
  // that every notification landed).
  bool notify_one() {
    detail::SpinGuard g(lock_);
    return detail::wake_one<Rt>(waiters_) != nullptr;
  }
  // Returns how many waiters were woken.
  std::size_t notify_all() {
    detail::SpinGuard g(lock_);
    std::size_t n = 0;
    while (detail::wake_one<Rt>(waiters_)) ++n;
    return n;
  }
  // Waiters blocked now (a snapshot). A fiber counted here has finished switching away:
  // its wait releases lock_ only after that.
  std::size_t waiting() {
    detail::SpinGuard g(lock_);
    return waiters_.count();
  }

 private:
  template <class Lock>
  std::cv_status wait_impl(std::unique_lock<Lock>& ul, std::int64_t deadline_ns) {
    if (!ul.owns_lock()) throw FiberError("CondVar::wait: the unique_lock does not own its lock");
    detail::Parked how;
    {
      detail::SpinGuard g(lock_);
      Waiter w;
      // Link, then release the user's lock (see the class comment), then sleep.
      how = detail::park_on<Rt>(g, waiters_, w, deadline_ns, "CondVar::wait", [&] { ul.unlock(); });
    }
    ul.lock();  // never under lock_: it may park
    return how == detail::Parked::timed_out ? std::cv_status::timeout : std::cv_status::no_timeout;
  }

  detail::SpinLock lock_;
  WaiterList waiters_;  // guarded by lock_
};

// ---------------------------------------------------------------------------------------
// Counting semaphore. release() hands units directly to waiters (FIFO), so a late arrival
// cannot take a unit a waiter was woken for.
template <class Rt>
class Semaphore {
 public:
  explicit Semaphore(std::ptrdiff_t initial = 0) : count_(initial) {
    if (initial < 0) throw std::invalid_argument("Semaphore: negative initial count");
  }
  Semaphore(const Semaphore&) = delete;
  Semaphore& operator=(const Semaphore&) = delete;

  void acquire() { (void)acquire_until_ns(-1); }
  bool try_acquire() {
    detail::SpinGuard g(lock_);
    if (count_ == 0) return false;
    --count_;
    return true;
  }
  template <class Rep, class Per>
  bool try_acquire_for(const std::chrono::duration<Rep, Per>& d) {
    return acquire_until_ns(detail::deadline_after(std::chrono::duration_cast<Duration>(d)));
  }
  template <class Clk, class Dur>
  bool try_acquire_until(const std::chrono::time_point<Clk, Dur>& t) {
    return acquire_until_ns(detail::to_deadline_ns(t));
  }
  void release(std::ptrdiff_t n = 1) {
    if (n < 0) throw std::invalid_argument("Semaphore::release: negative count");
    detail::SpinGuard g(lock_);
    for (; n > 0; --n)
      if (!detail::wake_one<Rt>(waiters_)) break;  // one unit handed to a woken waiter
    count_ += n;                                    // the rest, nobody could take
  }
  // Units available now (a snapshot).
  std::ptrdiff_t available() {
    detail::SpinGuard g(lock_);
    return count_;
  }
  // Waiters blocked in acquire now (a snapshot; see CondVar::waiting).
  std::size_t waiting() {
    detail::SpinGuard g(lock_);
    return waiters_.count();
  }

 private:
  bool acquire_until_ns(std::int64_t deadline_ns) {
    detail::SpinGuard g(lock_);
    for (;;) {
      if (count_ > 0) {
        --count_;
        return true;
      }
      if (deadline_ns >= 0 && detail::now_ns() >= deadline_ns) return false;
      Waiter w;
      if (detail::park_on<Rt>(g, waiters_, w, deadline_ns, "Semaphore::acquire") == detail::Parked::handed)
        return true;  // handed a unit
    }
  }

  detail::SpinLock lock_;
  std::ptrdiff_t count_;  // guarded by lock_
  WaiterList waiters_;    // guarded by lock_
};

// ---------------------------------------------------------------------------------------
// Bounded channel, Go's semantics: capacity 0 is a rendezvous (send returns once a receiver
// has the value); otherwise send blocks only while the buffer is full. A value goes
// straight from a sender to a waiting receiver (and from a waiting sender into the buffer
// a receiver just made room in), so FIFO order per sender holds. close() wakes every
// blocked receiver (they get nullopt) and sender (they throw ChannelClosed); values still
// buffered are received after close.
//
// A hand-off whose move throws (T's move constructor, or the buffer's allocation): the
// peer was already woken (the wake must be won before anything is handed over), so it is
// told nothing was handed and tries again, as after a spurious wake; it never takes that
// for "closed". The exception reaches the caller whose call made the move (send, or
// receive for the rendezvous), except for a receive that refills the buffer from a blocked
// sender: the receive has its value and returns it, and the sender, woken with nothing
// taken, retries the push itself and meets the error there. A value whose move threw is
// left as the move left it (for a throwing move, usually unchanged).
template <class T, class Rt>
class Channel {
 public:
  explicit Channel(std::size_t capacity = 0) : cap_(capacity) {}
  Channel(const Channel&) = delete;
  Channel& operator=(const Channel&) = delete;

  std::size_t capacity() const noexcept { return cap_; }

  void send(T v) {
    detail::SpinGuard g(lock_);
    for (;;) {
      if (closed_) throw ChannelClosed("send on a closed channel");
      if (Waiter* w = detail::wake_one<Rt>(recvq_)) {
        // Throws: the receiver, woken with its slot empty and the channel open, retries.
        static_cast<RecvWaiter*>(w)->slot->emplace(std::move(v));
        return;
      }
      if (cap_ != 0 && buf_.size() < cap_) {  // (an unbuffered channel skips the deque)
        buf_.push_back(std::move(v));
        return;
      }
      SendWaiter w;
      w.value = &v;
      if (detail::park_on<Rt>(g, sendq_, w, -1, "Channel::send") == detail::Parked::handed) {
        if (w.outcome == SendWaiter::taken) return;
        if (w.outcome == SendWaiter::closed) throw ChannelClosed("channel closed while send was blocked");
        g = detail::SpinGuard(lock_);  // woken, but the receiver's move threw: try again
      }
      // unparked: try again
    }
  }

  // The next value, or nullopt once the channel is closed and drained.
  std::optional<T> receive() {
    detail::SpinGuard g(lock_);
    for (;;) {
      if (cap_ != 0 && !buf_.empty()) {
        std::optional<T> out(std::move(buf_.front()));
        buf_.pop_front();
        // Room now: the first blocked sender's value takes it (it stays behind the rest).
        if (Waiter* w = detail::wake_one<Rt>(sendq_)) {
          auto* sw = static_cast<SendWaiter*>(w);
          try {
            buf_.push_back(std::move(*sw->value));
            sw->outcome = SendWaiter::taken;
          } catch (...) {
            // This receive has its value; the sender, woken with nothing taken, retries
            // the push itself and meets the error in its own call (see the class comment).
          }
        }
        return out;
      }
      if (Waiter* w = detail::wake_one<Rt>(sendq_)) {  // unbuffered rendezvous
        auto* sw = static_cast<SendWaiter*>(w);
        // Throws: the sender, woken with nothing taken, retries.
        std::optional<T> out(std::move(*sw->value));
        sw->outcome = SendWaiter::taken;
        return out;
      }
      if (closed_) return std::nullopt;
      std::optional<T> slot;
      RecvWaiter w;
      w.slot = &slot;
      if (detail::park_on<Rt>(g, recvq_, w, -1, "Channel::receive") == detail::Parked::handed) {
        if (slot || w.closed) return slot;  // a value, or nullopt: closed
        g = detail::SpinGuard(lock_);       // woken, but the sender's move threw: try again
      }
      // unparked: try again
    }
  }

  // Closes the channel; a second close throws ChannelClosed (as Go panics).
  void close() {
    detail::SpinGuard g(lock_);
    if (closed_) throw ChannelClosed("close of a closed channel");
    closed_ = true;
    while (Waiter* w = detail::wake_one<Rt>(recvq_)) static_cast<RecvWaiter*>(w)->closed = true;  // nullopt
    while (Waiter* w = detail::wake_one<Rt>(sendq_)) static_cast<SendWaiter*>(w)->outcome = SendWaiter::closed;
  }
  bool closed() {
    detail::SpinGuard g(lock_);
    return closed_;
  }
  // Blocked senders and receivers now (a snapshot; see CondVar::waiting).
  std::size_t waiting() {
    detail::SpinGuard g(lock_);
    return sendq_.count() + recvq_.count();
  }

 private:
  struct SendWaiter : Waiter {
    enum Outcome : std::uint8_t { pending, taken, closed } outcome = pending;
    T* value = nullptr;  // on the sender's stack
  };
  struct RecvWaiter : Waiter {
    std::optional<T>* slot = nullptr;  // on the receiver's stack
    bool closed = false;               // woken by close()
  };

  const std::size_t cap_;
  detail::SpinLock lock_;
  std::deque<T> buf_;    // guarded by lock_; never above cap_
  bool closed_ = false;  // guarded by lock_
  WaiterList sendq_;     // guarded by lock_; blocked senders (buffer full, or cap_ 0)
  WaiterList recvq_;     // guarded by lock_; blocked receivers (buffer empty)
};

}  // namespace sy
