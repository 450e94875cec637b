// Chase-Lev scheduler: a work-stealing deque per carrier plus a FIFO for yielded fibers.
// A scheduler policy: the `scheduler` dimension of a variant. The contract
// (SchedulerPolicy, concepts.h) lists the operations; registered in variants.def.
#pragma once

#include <atomic>
#include <string_view>

#include "switchyard/deque.h"
#include "switchyard/concepts.h"
#include "switchyard/detail/sync.h"
#include "switchyard/fiber.h"

namespace sy {

// Chase-Lev: a per-carrier deque. Spawned and woken fibers are pushed at the bottom and
// popped LIFO by the owner (hot caches, and the oldest work stays at the top for thieves).
// Yield rule: a plain push would pop the yielder straight back, so yielded fibers go to a
// FIFO consulted after the deque. At the 64-run backstop the yield FIFO is served first
// once, so a carrier whose deque never empties (a fiber spawning in a loop) still resumes
// yielded fibers: a yielder waits for at most 64 other runs. With several carriers the
// yield FIFO is stealable too (under a spin lock that is taken only then), or two fibers
// that only yield could never spread over two carriers.
struct ChaseLevSched {
  static constexpr std::string_view name = "chaselev";
  static constexpr bool breadth_first = false;  // the owner pops its newest spawn first
  using Fifo = detail::IntrusiveFifo<FiberBase, &FiberBase::next_run>;
  struct Shared {
    bool multi = false;
  };
  struct Local {
    ChaseLevDeque<FiberBase*> dq;
    Fifo yielded;
    detail::SpinLock ylock;  // guards `yielded` when Shared::multi
    // relaxed: a hint for thieves and parking; ylock orders the FIFO itself.
    std::atomic<std::size_t> ysize{0};
  };

  static void push(Shared& s, Local& l, FiberBase* f, PushKind kind) {
    if (kind != PushKind::yielded) {
      l.dq.push(f);
    } else if (!s.multi) {
      l.yielded.push_back(f);
    } else {
      l.ylock.lock();
      l.yielded.push_back(f);
      l.ysize.store(l.yielded.size(), std::memory_order_relaxed);
      l.ylock.unlock();
    }
  }
  static FiberBase* pop(Shared& s, Local& l, bool backstop) noexcept {
    if (backstop && !yield_empty(s, l)) return pop_yielded(s, l);
    if (FiberBase* f = l.dq.pop()) return f;
    return yield_empty(s, l) ? nullptr : pop_yielded(s, l);
  }
  // One carrier only: the yield fast path (Carrier::yield), pop(backstop=false) followed by
  // push(self, yielded): the deque first, otherwise the yield FIFO rotated in one step.
  // The deque's emptiness is exact here (no thief with one carrier); its pop is out of
  // line, so that the yield path stays small enough to inline.
  static FiberBase* hand_off(Local& l, FiberBase* self) noexcept {
    if (!l.dq.empty_approx()) [[unlikely]] return hand_off_deque(l, self);
    return l.yielded.rotate(self);
  }
  static FiberBase* steal(Shared& s, Local& victim) noexcept {
    if (FiberBase* f = victim.dq.steal()) return f;
    if (victim.ysize.load(std::memory_order_relaxed) == 0 || !victim.ylock.try_lock()) return nullptr;
    FiberBase* f = victim.yielded.pop_front();
    victim.ysize.store(victim.yielded.size(), std::memory_order_relaxed);
    victim.ylock.unlock();
    return f;
  }
  static bool maybe_work(const Shared& s, const Local& l) noexcept {
    return !l.dq.empty_approx() || !yield_empty(s, l);
  }
  static bool stealable(const Local& l) noexcept {
    return !l.dq.empty_approx() || l.ysize.load(std::memory_order_relaxed) != 0;
  }

 private:
  static bool yield_empty(const Shared& s, const Local& l) noexcept {
    return s.multi ? l.ysize.load(std::memory_order_relaxed) == 0 : l.yielded.empty();
  }
  [[gnu::noinline]] static FiberBase* hand_off_deque(Local& l, FiberBase* self) noexcept {
    if (FiberBase* f = l.dq.pop()) {
      l.yielded.push_back(self);
      return f;
    }
    return l.yielded.rotate(self);
  }
  static FiberBase* pop_yielded(Shared& s, Local& l) noexcept {
    if (!s.multi) return l.yielded.pop_front();
    l.ylock.lock();
    FiberBase* f = l.yielded.pop_front();
    l.ysize.store(l.yielded.size(), std::memory_order_relaxed);
    l.ylock.unlock();
    return f;
  }
};

static_assert(SchedulerPolicy<ChaseLevSched>);

}  // namespace sy
