// The one wait-queue protocol of the runtime. Every blocking wait on something another
// fiber or thread ends uses it: JoinHandle::join (the joinee's joiners), Mutex, CondVar,
// Semaphore and Channel (primitives.h), and fd waits (io_core.h: the fd table entry's
// waiters; the dispatcher picks waiters by event instead of popping the front, and a
// waiter's wake goes through FdWaiter::wake).
//
// A queue is a WaiterList guarded by a SpinLock; a Waiter is a fiber of runtime Rt (it parks
// through Rt::wait_locked), a plain OS thread, or a pinned fiber (both block their OS thread
// on a ThreadEvent; a pinned fiber first applies Options::pinned_policy). Wakers may run on
// any carrier or thread.
//  - A waiter links a Waiter (on its own stack) into the queue under the primitive's lock
//    and sleeps; for a fiber the lock is released only after its context is saved.
//  - A waker pops waiters under the lock until one wake succeeds. A fiber's wake can fail
//    (it timed out or was unparked first: Rt::wake lost the claim); the waker then moves on
//    to the next, so a notify_one or a hand-off is never spent on a waiter that will not
//    see it. An OS thread's wake cannot fail: popped under the lock means woken.
//  - Whatever a waker hands over (mutex ownership, a semaphore unit, a channel value) is
//    written under the lock after the wake succeeded (Handoff::after_wake; a joinee's
//    result and an fd's readiness are written before the wake, see below). A woken fiber
//    waits until the lock is released (SpinLock::wait_unlocked: one acquire load, no
//    second lock round trip) before it looks, so the Waiter the waker writes lives on a stack that is still
//    waiting, and the waker has stopped touching the primitive by the time the woken side
//    may destroy it (POSIX's rule: lock, unlock, destroy, while the unlock that handed the
//    mutex over has not returned). Not covered: a woken fiber still reads the lock after
//    its waker returned, so destroying a primitive while any call on it (a blocked send
//    that was just received from) has not returned is a use after free.
//  - Wakes happen under the lock: a waiter that timed out must re-take the lock to unlink
//    itself, so it (and its stack) cannot go away while a waker still holds its Waiter.
//  - Join: the joinee's end (RuntimeState::entry) sets `finished` and wakes every joiner
//    (wake_all) under the join lock; a joiner that lost the claim re-takes the lock and
//    reads `finished`. A woken joiner does not wait for the lock (Handoff::before_wake).
//  - Fd waits: the dispatcher (io.cpp) wakes the waiters whose events are ready, writing
//    each one's result before its wake; one that lost the claim re-takes the entry lock in
//    io_end_wait, finds itself unlinked and returns that result.
//
// park_on is the waiting side, wake_one and wake_all the waking side.
#pragma once

#include <algorithm>
#include <cstdint>
#include <mutex>
#include <string>
#include <type_traits>
#include <utility>

#include "switchyard/detail/sync.h"
#include "switchyard/fiber.h"
#include "switchyard/handles.h"

namespace sy::detail {

using SpinGuard = std::unique_lock<SpinLock>;

template <class Rt>
[[noreturn, gnu::cold, gnu::noinline]] inline void foreign_fiber(const char* what) {
  throw FiberError(std::string(what) + ": called from a fiber of another runtime variant than the primitive's (" +
                   Rt::variant_name() + ")");
}

// How a park_on ended.
enum class Parked : std::uint8_t {
  handed,     // a waker popped the Waiter and woke it
  timed_out,  // the deadline passed
  spurious,   // Rt::unpark woke it (fibers only)
};

// What park_on does when called from a fiber of another variant's runtime: the primitives
// refuse (it would block that runtime's carrier unseen); a join blocks the thread, as a
// join from any OS thread does.
enum class Foreign : std::uint8_t { refuse, block_thread };

// When the waker writes what it hands over. after_wake (the primitives): under the lock,
// after its wake succeeded, so a woken fiber waits for the lock's release before it looks.
// before_wake (join): everything (the joinee's result, `finished`) is written before the
// wake, whose claim and run-queue hand-off order it before the woken fiber resumes; the
// woken fiber need not wait for the lock (the joinee's block, which holds it, outlives
// the joinee's last switch).
enum class Handoff : std::uint8_t { after_wake, before_wake };

// Blocks the caller on q until a waker pops it or the deadline passes. On entry g holds the
// queue's lock and w is not linked; on return w is not linked. after_link() runs once w is
// linked, still under the lock (CondVar releases the user's lock there). Returns handed
// when a waker popped w and woke it: whatever it handed over is visible and the waker has
// released the lock; g no longer owns the lock then (re-lock it to go on), and the caller
// reads its own Waiter. Returns timed_out or spurious (an unpark) with g holding the lock.
// Throws FiberError (before linking, so nothing changes) when a pinned fiber blocks under
// pinned_policy=error, or when called from a fiber of another variant.
//
// park_as is the same for a caller that already looked up Rt::current() (self: the calling
// fiber of Rt's variant, or nullptr).
template <class Rt, class AfterLink>
Parked park_as(typename std::remove_reference_t<decltype(*Rt::current())>* self, SpinGuard& g, WaiterList& q,
               Waiter& w, std::int64_t deadline_ns, const char* what, AfterLink&& after_link,
               Foreign foreign = Foreign::refuse, Handoff handoff = Handoff::after_wake) {
  // A fiber of another variant would block a carrier of another runtime.
  if (!self && foreign == Foreign::refuse && current_fiber()) foreign_fiber<Rt>(what);
  if (self && self->pins == 0) {
    w.fiber = self;
    w.thread = nullptr;
    q.push_back(&w);
    after_link();
    // The lock is released after the switch (post-switch hook), and reacquired here.
    const WakeReason r = Rt::wait_locked(*g.mutex(), deadline_ns);
    if (r == WakeReason::ready) {  // the waker popped w (only our wakers say ready)
      // It woke us under the lock and hands over before releasing it: wait for that
      // release instead of taking the lock (saves an atomic RMW per hand-off).
      if (handoff == Handoff::after_wake) g.mutex()->wait_unlocked();
      (void)g.release();  // not ours: nothing to unlock
      return Parked::handed;
    }
    g.mutex()->lock();
    // Timed out or unparked: we won the claim, so any waker that popped w lost it and moved
    // on; unlink is a no-op in that case.
    q.unlink(&w);
    return r == WakeReason::timeout ? Parked::timed_out : Parked::spurious;
  }
  if (self) pinned_blocking(self->rt->options().pinned_policy, what);  // may throw; w unlinked
  ThreadEvent ev;
  w.fiber = nullptr;
  w.thread = &ev;
  q.push_back(&w);
  after_link();
  g.unlock();
  if (self) Rt::will_block();  // what this fiber made runnable here may run elsewhere
  const bool signalled = ev.wait(deadline_ns < 0 ? -1 : std::max<std::int64_t>(0, deadline_ns - now_ns()));
  g.lock();
  if (signalled) return Parked::handed;
  // Timed out, but a waker may have popped and signalled us meanwhile: it did so under the
  // lock we now hold, so the signal (flag and futex wake) is complete and ev may die.
  if (!w.linked) return Parked::handed;
  q.unlink(&w);
  return Parked::timed_out;
}

template <class Rt, class AfterLink>
Parked park_on(SpinGuard& g, WaiterList& q, Waiter& w, std::int64_t deadline_ns, const char* what,
               AfterLink&& after_link) {
  return park_as<Rt>(Rt::current(), g, q, w, deadline_ns, what, std::forward<AfterLink>(after_link));
}
template <class Rt>
Parked park_on(SpinGuard& g, WaiterList& q, Waiter& w, std::int64_t deadline_ns, const char* what) {
  return park_as<Rt>(Rt::current(), g, q, w, deadline_ns, what, [] {});
}

// Pops waiters (caller holds the lock) until one is woken; returns it, or nullptr if none
// could be. The returned Waiter stays valid while the caller holds the lock.
template <class Rt>
Waiter* wake_one(WaiterList& q) {
  while (Waiter* w = q.pop_front()) {
    if (w->fiber) {
      if (Rt::wake(w->fiber, WakeReason::ready)) return w;
      // Lost the claim: it timed out or was unparked and will not look at what we hand
      // over. Try the next one.
    } else {
      w->thread->signal();
      return w;
    }
  }
  return nullptr;
}

// Pops and wakes every waiter (caller holds the lock): a joinee's end wakes all its joiners.
// A fiber whose wake fails (it timed out or was unparked first) is simply passed over.
// always_inline: on the spawn-join path (a fiber's end); out of line, with the wake it
// then did not inline, it cost 12 instructions per spawn-join (callgrind).
template <class Rt>
[[gnu::always_inline]] inline void wake_all(WaiterList& q) {
  while (Waiter* w = q.pop_front()) {
    if (w->fiber) (void)Rt::wake(w->fiber, WakeReason::ready);
    else w->thread->signal();
  }
}

}  // namespace sy::detail
