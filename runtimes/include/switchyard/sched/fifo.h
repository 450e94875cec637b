// FIFO scheduler: one run queue, shared under a lock when there are several carriers.
// A scheduler policy: the `scheduler` dimension of a variant. The contract
// (SchedulerPolicy, concepts.h) lists the operations; registered in variants.def.
#pragma once

#include <atomic>
#include <string_view>

#include "switchyard/concepts.h"
#include "switchyard/detail/sync.h"
#include "switchyard/fiber.h"

namespace sy {

// FIFO: one queue. With one carrier it is the carrier's own and takes no lock; with
// several it is shared by all of them under a spin lock (work sharing, the classic
// alternative that work stealing is measured against). Yield needs no special rule: a
// yielded fiber goes to the tail, after every other runnable fiber.
struct FifoSched {
  static constexpr std::string_view name = "fifo";
  static constexpr bool breadth_first = true;  // spawned fibers run in spawn order
  using Queue = detail::IntrusiveFifo<FiberBase, &FiberBase::next_run>;
  struct Shared {
    bool multi = false;  // set once before carriers start
    detail::SpinLock lock;
    Queue q;
    // relaxed: a hint for parking decisions only; the lock orders the queue itself.
    std::atomic<std::size_t> size{0};
  };
  struct Local {
    Queue q;
  };

  static void push(Shared& s, Local& l, FiberBase* f, PushKind) noexcept {
    if (!s.multi) {
      l.q.push_back(f);
      return;
    }
    s.lock.lock();
    s.q.push_back(f);
    s.size.store(s.q.size(), std::memory_order_relaxed);
    s.lock.unlock();
  }
  static FiberBase* pop(Shared& s, Local& l, bool /*backstop*/) noexcept {
    if (!s.multi) return l.q.pop_front();
    if (s.size.load(std::memory_order_relaxed) == 0) return nullptr;
    s.lock.lock();
    FiberBase* f = s.q.pop_front();
    s.size.store(s.q.size(), std::memory_order_relaxed);
    s.lock.unlock();
    return f;
  }
  // One carrier only: the yield fast path's pop of the next fiber and push of the yielder
  // at the tail, in one step (Carrier::yield).
  static FiberBase* hand_off(Local& l, FiberBase* self) noexcept { return l.q.rotate(self); }
  static FiberBase* steal(Shared&, Local&) noexcept { return nullptr; }  // shared queue: nothing to steal
  static bool maybe_work(const Shared& s, const Local& l) noexcept {
    return s.multi ? s.size.load(std::memory_order_relaxed) != 0 : !l.q.empty();
  }
  static bool stealable(const Local&) noexcept { return false; }
};

static_assert(SchedulerPolicy<FifoSched>);

}  // namespace sy
