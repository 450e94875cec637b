// A throwaway scheduler policy for variant_registration_test: not a strategy anyone
// measures, only proof that a policy written outside the library becomes a variant through
// its registry line (registry_extra.def) and is then tested and run like any other.
//
// LIFO: spawned and woken fibers are pushed on a stack and the newest runs first (depth
// first, like Chase-Lev's owner). Yielded fibers go to a FIFO consulted after the stack, or
// first at the 64-run backstop: pushed on the stack, a yielder would pop straight back.
// With several carriers both live in Shared under one spin lock (no stealing).
#pragma once

#include <atomic>
#include <cstddef>
#include <string_view>

#include "switchyard/concepts.h"
#include "switchyard/detail/sync.h"
#include "switchyard/fiber.h"

namespace sy::test {

struct LifoSched {
  static constexpr std::string_view name = "lifo";
  static constexpr bool breadth_first = false;  // the newest spawn runs first

  struct Queues {
    FiberBase* top = nullptr;  // the stack, linked through next_run
    std::size_t stacked = 0;
    detail::IntrusiveFifo<FiberBase, &FiberBase::next_run> yielded;
    bool empty() const noexcept { return top == nullptr && yielded.empty(); }
    std::size_t size() const noexcept { return stacked + yielded.size(); }
    void push(FiberBase* f, PushKind kind) noexcept {
      if (kind == PushKind::yielded) {
        yielded.push_back(f);
      } else {
        f->next_run = top;
        top = f;
        ++stacked;
      }
    }
    FiberBase* pop(bool backstop) noexcept {
      if (backstop && !yielded.empty()) return yielded.pop_front();
      if (FiberBase* f = top) {
        top = f->next_run;
        --stacked;
        return f;
      }
      return yielded.pop_front();
    }
  };
  struct Shared {
    bool multi = false;  // set once before carriers start
    detail::SpinLock lock;
    Queues q;
    // relaxed: a hint for parking decisions only; the lock orders the queues themselves.
    std::atomic<std::size_t> size{0};
  };
  struct Local {
    Queues q;
  };

  static void push(Shared& s, Local& l, FiberBase* f, PushKind kind) noexcept {
    if (!s.multi) return l.q.push(f, kind);
    s.lock.lock();
    s.q.push(f, kind);
    s.size.store(s.q.size(), std::memory_order_relaxed);
    s.lock.unlock();
  }
  static FiberBase* pop(Shared& s, Local& l, bool backstop) noexcept {
    if (!s.multi) return l.q.pop(backstop);
    if (s.size.load(std::memory_order_relaxed) == 0) return nullptr;
    s.lock.lock();
    FiberBase* f = s.q.pop(backstop);
    s.size.store(s.q.size(), std::memory_order_relaxed);
    s.lock.unlock();
    return f;
  }
  static FiberBase* steal(Shared&, Local&) noexcept { return nullptr; }  // one shared queue
  static bool maybe_work(const Shared& s, const Local& l) noexcept {
    return s.multi ? s.size.load(std::memory_order_relaxed) != 0 : !l.q.empty();
  }
  static bool stealable(const Local&) noexcept { return false; }
};

}  // namespace sy::test
