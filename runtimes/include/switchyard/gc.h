// Fiber stacks as roots of a real conservative collector: the Boehm-Demers-Weiser collector
// (bdwgc 8.2, Debian's libgc-dev). DESIGN.md section 11.
//
// Using it (off unless you do this; an unattached runtime pays nothing):
//   sy::gc::Roots<V> roots({.design = sy::gc::Design::sp});   // initializes the collector
//   sy::Options o;  o.hooks = roots.hooks();
//   sy::Runtime<V> rt(o);  roots.attach(rt);                   // before rt.run() / start()
// Every fiber of rt may then keep GC_MALLOC'd objects in locals, across any suspension.
//
// What is scanned at each collection (the collector calls us with the world stopped, from
// its push_other_roots hook, holding its lock):
//   - every suspended fiber: from its saved stack pointer to its stack top (the used part;
//     the control block with the switch context sits at the top, so the ucontext backend's
//     saved registers are covered too). Scan::whole scans the whole usable region instead
//     (the naive comparison).
//   - every carrier: the stack it runs on, by the collector itself, from the stopped sp to
//     that stack's top: we set the thread's stack bottom (GC_set_stackbottom, legal there:
//     we hold the lock). When it runs a fiber, its own (suspended) stack from the
//     scheduler's saved sp, and the scheduler context object (ucontext keeps registers there).
//
// Two designs for knowing which stack a carrier runs on:
//   Design::sp (default): no work per switch. The collector's suspend signal is chained:
//     our handler records the interrupted rsp before bdwgc's handler parks the thread. At
//     collection time the stack containing that sp is the one running; everything else is
//     suspended. Why a stop in the middle of a switch still sees every root: the asm and
//     ucontext backends store the outgoing context (frame pointer / ucontext) before rsp
//     moves, so at every instruction the outgoing fiber is either still the one holding rsp
//     (scanned from the real sp) or suspended with a complete saved context. Boost's
//     jump_fcontext returns the outgoing fctx to the *incoming* side, which stores it a few
//     instructions after rsp moved (its saved_before_switch trait is false; every backend must
//     state it, see SwitchBackend in concepts.h): for the fiber in that window (Carrier::switching_out(),
//     set before the switch, cleared by after_switch) the whole usable stack is scanned. The
//     scheduler's own fctx is always saved at one call site, so a stale value points at the
//     same frame, except before the first save (null): then the carrier's stack is scanned
//     from 1 KiB below where its loop started.
//     (bdwgc 8.4 has GC_set_sp_corrector for this; 8.2.2, Debian 12's, does not.)
//   Design::locked: the straightforward one. Before every switch the carrier takes the
//     collector's lock and moves its stack bottom to the next stack's top; the resumed side
//     releases the lock. No collection can start while the lock is held, so none sees a
//     half-finished switch. Costs a lock round trip per switch.
//
// Limits (also the collector's usual rules): memory from malloc/new is not scanned, so
// fiber-locals (allocated with new) and a fiber's result after it ended (held in its control
// block, which is no longer registered) are not roots; keep GC pointers there in GC memory.
// Threads other than carriers that touch GC memory must be registered with the collector.
// Stack room: bdwgc's allocator zeroes up to 16 KiB of stack below its caller on every 13th
// slow-path allocation (GC_clear_stack, BIG_CLEAR_SIZE), and a collection runs on the
// stack of the fiber that triggers it: a fiber that allocates GC memory needs well over
// 16 KiB free below its deepest allocating frame (a 16 KiB stack overflows, measured).
// Not under ASan/TSan (bdwgc's conservative scan reads whole stacks and races by design).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string_view>
#include <type_traits>

#include "switchyard/runtime.h"

namespace sy::gc {

enum class Design : std::uint8_t { sp, locked };
enum class Scan : std::uint8_t { used, whole };
std::string_view to_string(Design) noexcept;
std::string_view to_string(Scan) noexcept;

struct Config {
  Design design = Design::sp;
  Scan scan = Scan::used;
};

// Initializes the collector once (GC_INIT, thread registration allowed, our suspend-signal
// handler and root pusher installed). Call it from the main thread, or let Roots do it;
// idempotent and thread-safe after the first call.
void init();

// What the last collection pushed through us (collector's lock held while written).
struct Stats {
  std::uint64_t collections = 0;   // times the collector called us (about one per collection)
  std::uint64_t stacks = 0;        // suspended fiber stacks pushed by the last one
  std::uint64_t bytes = 0;         // bytes pushed by the last one (stacks and carriers)
  std::uint64_t running = 0;       // fibers found running on a carrier by the last one
};
Stats last_stats() noexcept;

namespace detail {

// One per carrier of an attached runtime.
struct Slot {
  // relaxed: written by the carrier thread and read by the collector only while the
  // carrier is stopped or under the collector's lock; the stop handshake (bdwgc's sem_post
  // after our signal handler ran, sem_wait in the collector) orders them.
  std::atomic<bool> active{false};
  std::atomic<std::uintptr_t> stopped_sp{0};  // the interrupted rsp at the last stop
  void* handle = nullptr;                     // bdwgc's thread handle
  char* os_lo = nullptr;                      // the carrier thread's own stack
  char* os_hi = nullptr;                      //   (os_hi: bdwgc's stack bottom for it)
  char* start_sp = nullptr;                   // where its loop started (see Design::sp)
  bool registered_here = false;               // we registered the thread (so we unregister it)
  const Stack* cur = nullptr;                 // locked design: the stack it runs on (null: own)
  bool holding = false;                       // locked design: holds the lock across a switch
  // Per collection (collector only):
  std::uintptr_t sp = 0;
  const FiberBase* running = nullptr;
};

struct Source {
  Source* next = nullptr;
  Slot* slots = nullptr;
  unsigned nslots = 0;
  Config cfg;
  void* rt = nullptr;
  void (*push)(Source&) = nullptr;  // the runtime's fibers and carriers, world stopped
};

void attach(Source*);  // under the collector's lock
void detach(Source*);
void carrier_start(Slot&, char* sp);
void carrier_stop(Slot&);
void locked_before(Slot&, const Stack* next);
void locked_after(Slot&);
// For push(): GC_push_all_eager plus statistics; the thread's stack bottom; the sp of the
// carrier (stopped, or this thread when it is the collecting one).
void push_range(const void* lo, const void* hi, bool fiber_stack);
void set_bottom(Slot&, const void* hi);
std::uintptr_t carrier_sp(Slot&, std::uintptr_t here);
void count_running();
bool skip_suspended_for_test() noexcept;
// Test only: stop pushing suspended fibers (proves the survival test can fail).
void set_skip_suspended_for_test(bool on) noexcept;
[[noreturn]] void fatal(const char* what, unsigned carrier, std::uintptr_t sp);

template <class V>
void push_runtime(Source& s) {
  using Sw = typename V::Switch;
  using F = Fiber<V>;
  auto& rt = *static_cast<Runtime<V>*>(s.rt);
  const unsigned n = s.nslots;
  const bool sp_design = s.cfg.design == Design::sp;
  char here = 0;
  for (unsigned i = 0; i < n; ++i) {
    Slot& sl = s.slots[i];
    sl.running = nullptr;
    if (sl.active.load(std::memory_order_relaxed) && sp_design)
      sl.sp = carrier_sp(sl, reinterpret_cast<std::uintptr_t>(&here));
  }
  const bool skip = skip_suspended_for_test();
  for (unsigned i = 0; i < n; ++i) {
    // Lock-free walk: the owner may be stopped inside register/unregister (carrier.h).
    for (FiberBase* fb = rt.carrier(i).registry_head_unlocked(); fb; fb = fb->all_next) {
      F* f = static_cast<F*>(fb);
      const char* lo = static_cast<const char*>(f->stack.lo);
      const char* hi = f->stack.hi();
      bool running = false;
      for (unsigned j = 0; j < n && !running; ++j) {
        Slot& sl = s.slots[j];
        if (!sl.active.load(std::memory_order_relaxed)) continue;
        running = sp_design ? (sl.sp >= reinterpret_cast<std::uintptr_t>(lo) && sl.sp < reinterpret_cast<std::uintptr_t>(hi))
                            : sl.cur == &f->stack;
        if (running) sl.running = f;
      }
      if (running) {
        count_running();
        continue;  // the collector scans it as that carrier's stack
      }
      if (skip) continue;
      const char* from = lo;
      if (s.cfg.scan == Scan::used) {
        from = Sw::saved_lo(f->ctx);
        if constexpr (!Sw::saved_before_switch) {  // see Design::sp
          if (sp_design)
            for (unsigned j = 0; j < n; ++j)
              if (rt.carrier(j).switching_out() == f) from = lo;
        }
        if (from < lo || from > hi) from = lo;  // never trust a context outside its stack
      }
      push_range(from, hi, true);
    }
  }
  for (unsigned i = 0; i < n; ++i) {
    Slot& sl = s.slots[i];
    if (!sl.active.load(std::memory_order_relaxed)) continue;
    const auto& sched = rt.carrier(i).scheduler_context();
    push_range(&sched, &sched + 1, false);  // ucontext: the scheduler's registers live here
    if (sl.running) {
      if (sp_design) set_bottom(sl, sl.running->stack.hi());
      // The carrier's own stack is suspended: scan it from the scheduler's saved sp.
      const char* from = Sw::saved_lo(sched);
      if (from < sl.os_lo || from >= sl.os_hi) from = sl.start_sp - 1024;
      push_range(from, sl.os_hi, false);
    } else if (sp_design) {
      if (sl.sp < reinterpret_cast<std::uintptr_t>(sl.os_lo) || sl.sp >= reinterpret_cast<std::uintptr_t>(sl.os_hi))
        fatal("stopped on a stack that is neither its own nor a fiber's", i, sl.sp);
      set_bottom(sl, sl.os_hi);
    }
  }
}

}  // namespace detail

// Makes one runtime's fibers roots of the collector. Construct before the runtime (its
// hooks() go into Options), attach() before run()/start(), destroy after the runtime has
// finished (no carrier running).
template <class V>
class Roots {
 public:
  explicit Roots(Config cfg = {}) {
    init();
    src_.cfg = cfg;
    src_.push = &detail::push_runtime<V>;
    hooks_.arg = this;
    hooks_.start = [](CarrierBase& c, void* a) {
      char here = 0;
      detail::carrier_start(static_cast<Roots*>(a)->slot(c), &here);
    };
    hooks_.stop = [](CarrierBase& c, void* a) { detail::carrier_stop(static_cast<Roots*>(a)->slot(c)); };
    if (cfg.design == Design::locked) {
      hooks_.before_switch = [](CarrierBase& c, const Stack* next, void* a) {
        detail::locked_before(static_cast<Roots*>(a)->slot(c), next);
      };
      hooks_.after_switch = [](CarrierBase& c, void* a) { detail::locked_after(static_cast<Roots*>(a)->slot(c)); };
    }
  }
  ~Roots() {
    if (src_.rt) detail::detach(&src_);
  }
  Roots(const Roots&) = delete;
  Roots& operator=(const Roots&) = delete;

  const CarrierHooks* hooks() const noexcept { return &hooks_; }
  const Config& config() const noexcept { return src_.cfg; }

  void attach(Runtime<V>& rt) {
    if (src_.rt) throw FiberError("gc::Roots::attach: already attached to a runtime");
    if (rt.options().hooks != &hooks_)
      throw FiberError("gc::Roots::attach: the runtime was not built with this Roots' hooks() in Options::hooks");
    slots_ = std::make_unique<detail::Slot[]>(rt.carriers());
    src_.slots = slots_.get();
    src_.nslots = rt.carriers();
    src_.rt = &rt;
    detail::attach(&src_);
  }

 private:
  detail::Slot& slot(CarrierBase& c) {
    if (!src_.rt) [[unlikely]]
      detail::fatal("a runtime built with gc::Roots hooks started before Roots::attach", c.index, 0);
    return slots_[c.index];
  }

  detail::Source src_;
  std::unique_ptr<detail::Slot[]> slots_;
  CarrierHooks hooks_;
};

}  // namespace sy::gc
