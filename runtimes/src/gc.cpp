// The collector side of switchyard/gc.h: initialization, the suspend-signal chain, the root
// pusher, carrier registration and the locked design's per-switch work.
#define GC_THREADS 1
#define GC_NO_THREAD_REDIRECTS 1
#include <gc/gc.h>
#include <gc/gc_mark.h>
#include <pthread.h>
#include <signal.h>
#include <ucontext.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <mutex>

#include "switchyard/gc.h"

namespace sy::gc {

std::string_view to_string(Design d) noexcept { return d == Design::sp ? "sp" : "locked"; }
std::string_view to_string(Scan s) noexcept { return s == Scan::used ? "used" : "whole"; }

namespace {

// All guarded by the collector's lock: attached runtimes, the chained callbacks, statistics.
detail::Source* g_sources = nullptr;
GC_push_other_roots_proc g_prev_push = nullptr;
GC_on_collection_event_proc g_prev_event = nullptr;
Stats g_stats;
Stats g_building;
// relaxed: a test knob, set while no collection runs.
std::atomic<bool> g_skip_suspended{false};

struct sigaction g_prev_suspend;  // bdwgc's own suspend handler, set once in init()

// The slot of the carrier running on this thread. initial-exec: the signal handler's read
// never goes through __tls_get_addr (which may allocate).
__attribute__((tls_model("initial-exec"))) thread_local detail::Slot* tl_slot = nullptr;

// Runs on a thread the collector stops, before bdwgc's handler parks it: records where the
// thread was (the interrupted rsp), which tells the collector which stack it runs on.
void suspend_chain(int sig, siginfo_t* info, void* ctx) {
  if (detail::Slot* s = tl_slot) {
    const auto* uc = static_cast<const ucontext_t*>(ctx);
    // relaxed: published by bdwgc's sem_post in the handler we call next.
#if defined(__x86_64__)
    const auto sp = static_cast<std::uintptr_t>(uc->uc_mcontext.gregs[REG_RSP]);
#elif defined(__aarch64__)
    const auto sp = static_cast<std::uintptr_t>(uc->uc_mcontext.sp);
#endif
    s->stopped_sp.store(sp, std::memory_order_relaxed);
  }
  g_prev_suspend.sa_sigaction(sig, info, ctx);
}

void GC_CALLBACK on_event(GC_EventType e) {
  if (e == GC_EVENT_PRE_STOP_WORLD) {
    // Forget the previous stop: every carrier that is stopped now records a fresh sp.
    for (detail::Source* s = g_sources; s; s = s->next)
      for (unsigned i = 0; i < s->nslots; ++i) s->slots[i].stopped_sp.store(0, std::memory_order_relaxed);
    g_building = Stats{};
  }
  if (g_prev_event) g_prev_event(e);
}

// The collector's push_other_roots: world stopped, collector's lock held. Our roots first,
// then the previous pusher (bdwgc's, which scans every registered thread's stack from its
// stopped sp to the stack bottom we just set).
void GC_CALLBACK push_roots() {
  for (detail::Source* s = g_sources; s; s = s->next) s->push(*s);
  g_building.collections = g_stats.collections + 1;  // calls: a mark-stack overflow repeats one
  g_stats = g_building;
  g_building = Stats{};
  if (g_prev_push) g_prev_push();
}

void* GC_CALLBACK link_source(void* p) {
  auto* s = static_cast<detail::Source*>(p);
  s->next = g_sources;
  g_sources = s;
  return nullptr;
}
void* GC_CALLBACK unlink_source(void* p) {
  auto* s = static_cast<detail::Source*>(p);
  for (detail::Source** q = &g_sources; *q; q = &(*q)->next)
    if (*q == s) {
      *q = s->next;
      break;
    }
  return nullptr;
}

void os_stack_bounds(char** lo, char** hi) {
  pthread_attr_t a;
  void* addr = nullptr;
  std::size_t size = 0;
  if (pthread_getattr_np(pthread_self(), &a) == 0) {
    pthread_attr_getstack(&a, &addr, &size);
    pthread_attr_destroy(&a);
  }
  *lo = static_cast<char*>(addr);
  *hi = static_cast<char*>(addr) + size;
}

}  // namespace

void init() {
  static std::once_flag once;
  std::call_once(once, [] {
    GC_INIT();
    GC_allow_register_threads();
    g_prev_push = GC_get_push_other_roots();
    if (!g_prev_push) {
      std::fputs("switchyard gc: the collector has no thread-stack pusher (built without threads?)\n", stderr);
      std::abort();
    }
    g_prev_event = GC_get_on_collection_event();
    GC_set_on_collection_event(&on_event);  // takes the collector's lock itself
    // This setter wants external synchronization: the collector's lock.
    GC_call_with_alloc_lock(
        [](void*) -> void* {
          GC_set_push_other_roots(&push_roots);
          return nullptr;
        },
        nullptr);
    const int sig = GC_get_suspend_signal();
    struct sigaction act;
    if (sigaction(sig, nullptr, &g_prev_suspend) != 0 || !(g_prev_suspend.sa_flags & SA_SIGINFO)) {
      std::fprintf(stderr, "switchyard gc: cannot chain the collector's suspend signal %d\n", sig);
      std::abort();
    }
    act = g_prev_suspend;
    act.sa_sigaction = &suspend_chain;
    sigaction(sig, &act, nullptr);
  });
}

Stats last_stats() noexcept {
  Stats out;
  GC_call_with_alloc_lock(
      [](void* o) -> void* {
        *static_cast<Stats*>(o) = g_stats;
        return nullptr;
      },
      &out);
  return out;
}

namespace detail {

void attach(Source* s) { GC_call_with_alloc_lock(&link_source, s); }
void detach(Source* s) { GC_call_with_alloc_lock(&unlink_source, s); }

void carrier_start(Slot& s, char* sp) {
  GC_stack_base sb;
  if (GC_get_stack_base(&sb) != GC_SUCCESS) fatal("GC_get_stack_base failed", 0, 0);
  const int r = GC_register_my_thread(&sb);  // GC_DUPLICATE: already known (the main thread)
  s.registered_here = r == GC_SUCCESS;
  s.handle = GC_get_my_stackbottom(&sb);
  os_stack_bounds(&s.os_lo, &s.os_hi);
  s.os_hi = static_cast<char*>(sb.mem_base);  // what the collector uses for this thread
  s.start_sp = sp;
  s.cur = nullptr;
  s.holding = false;
  tl_slot = &s;
  GC_call_with_alloc_lock(
      [](void* p) -> void* {
        static_cast<Slot*>(p)->active.store(true, std::memory_order_relaxed);
        return nullptr;
      },
      &s);
}

void carrier_stop(Slot& s) {
  // Give the collector its own view back (stack bottom = the thread's own stack) and stop
  // treating the thread as a carrier, atomically with respect to collections.
  GC_call_with_alloc_lock(
      [](void* p) -> void* {
        auto* sl = static_cast<Slot*>(p);
        GC_stack_base sb{sl->os_hi};
        GC_set_stackbottom(sl->handle, &sb);
        sl->active.store(false, std::memory_order_relaxed);
        return nullptr;
      },
      &s);
  tl_slot = nullptr;
  if (s.registered_here) GC_unregister_my_thread();
}

void locked_before(Slot& s, const Stack* next) {
  GC_alloc_lock();
  GC_stack_base sb{next ? static_cast<void*>(next->hi()) : static_cast<void*>(s.os_hi)};
  GC_set_stackbottom(s.handle, &sb);
  s.cur = next;
  s.holding = true;
}

void locked_after(Slot& s) {
  if (!s.holding) return;  // the loop's first pass: no switch happened
  s.holding = false;
  GC_alloc_unlock();
}

void push_range(const void* lo, const void* hi, bool fiber_stack) {
  if (lo >= hi) return;
  GC_push_all_eager(const_cast<void*>(lo), const_cast<void*>(hi));
  g_building.bytes += static_cast<std::uint64_t>(static_cast<const char*>(hi) - static_cast<const char*>(lo));
  if (fiber_stack) ++g_building.stacks;
}

void set_bottom(Slot& s, const void* hi) {
  GC_stack_base sb{const_cast<void*>(hi)};
  GC_set_stackbottom(s.handle, &sb);  // we hold the collector's lock (push_roots)
}

std::uintptr_t carrier_sp(Slot& s, std::uintptr_t here) {
  if (tl_slot == &s) return here;  // the collecting thread itself
  const std::uintptr_t sp = s.stopped_sp.load(std::memory_order_relaxed);
  if (sp == 0) fatal("was not stopped by the collector", 0, 0);
  return sp;
}

void count_running() { ++g_building.running; }

bool skip_suspended_for_test() noexcept { return g_skip_suspended.load(std::memory_order_relaxed); }

void fatal(const char* what, unsigned carrier, std::uintptr_t sp) {
  std::fprintf(stderr, "switchyard gc: carrier %u %s (sp %#lx)\n", carrier, what, static_cast<unsigned long>(sp));
  std::abort();
}

void set_skip_suspended_for_test(bool on) noexcept { g_skip_suspended.store(on, std::memory_order_relaxed); }

}  // namespace detail

}  // namespace sy::gc
