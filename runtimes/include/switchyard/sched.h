// Run-queue policies: the `scheduler` dimension of a variant.
//
// Each policy has per-runtime Shared state and per-carrier Local state, and these
// operations (static, so the variant's scheduler loop calls them directly):
//   push(S, L, f, kind)  kind = spawned | woken | yielded; caller is L's owner carrier
//   pop(S, L, backstop)  next fiber for L's owner, or nullptr; backstop = the 64-run
//                        maintenance point, where a policy may restore fairness
//   steal(S, victim)     take work from another carrier, or nullptr
//   maybe_work(S, L)     cheap hint (may be stale) used before parking
#pragma once

#include <atomic>
#include <string_view>

#include "switchyard/deque.h"
#include "switchyard/detail/sync.h"
#include "switchyard/fiber.h"

namespace sy {

enum class PushKind { spawned, woken, yielded };

// FIFO: one queue. With one carrier it is the carrier's own and takes no lock; with
// several it is shared by all of them under a spin lock (work sharing, the classic
// alternative that work stealing is measured against). Yield needs no special rule: a
// yielded fiber goes to the tail, after every other runnable fiber.
struct FifoSched {
  static constexpr std::string_view name = "fifo";
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
  static FiberBase* steal(Shared&, Local&) noexcept { return nullptr; }  // shared queue: nothing to steal
  static bool maybe_work(const Shared& s, const Local& l) noexcept {
    return s.multi ? s.size.load(std::memory_order_relaxed) != 0 : !l.q.empty();
  }
  static bool stealable(const Local&) noexcept { return false; }
};

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
  static FiberBase* pop_yielded(Shared& s, Local& l) noexcept {
    if (!s.multi) return l.yielded.pop_front();
    l.ylock.lock();
    FiberBase* f = l.yielded.pop_front();
    l.ysize.store(l.yielded.size(), std::memory_order_relaxed);
    l.ylock.unlock();
    return f;
  }
};

}  // namespace sy
