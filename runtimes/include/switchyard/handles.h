// Options and handles of the fiber runtime, independent of its carriers' workings: the
// runtime's and a spawn's options, the carrier hooks, the thread's current carrier and
// fiber, fiber-locals, JoinHandle and FiberRef, a variant's Fiber, and Variant itself.
// runtime.h includes this; include runtime.h.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "switchyard/concepts.h"
#include "switchyard/fiber.h"
#include "switchyard/io_core.h"
#include "switchyard/sched_constants.h"
#include "switchyard/stack.h"

namespace sy {

struct CarrierBase;

// Hooks for code that must follow carriers and switches (the GC integration, gc.h). All
// optional. Unset, a switch pays one predictable branch on a carrier field.
struct CarrierHooks {
  void* arg = nullptr;
  void (*start)(CarrierBase&, void* arg) = nullptr;  // on the carrier thread, before its loop
  void (*stop)(CarrierBase&, void* arg) = nullptr;   // on the carrier thread, after its loop
  // Around every switch: before_switch just before it (next: the stack switched to, nullptr
  // for the carrier's own), after_switch first thing on the resumed side of the same thread.
  void (*before_switch)(CarrierBase&, const Stack* next, void* arg) = nullptr;
  void (*after_switch)(CarrierBase&, void* arg) = nullptr;
};

// True when the environment asks for pinned carriers (SY_PIN_CARRIERS=1): how the
// harness's --pin-carriers reaches every program it measures, the benchmark binaries
// included, without each scenario passing it on.
bool pin_carriers_requested() noexcept;

// One carrier's scheduler counters (Runtime::carrier_counters), counted where the slow
// path already is (stealing, idling, waking, the loop's start and end), never on the yield
// or push fast path. Each is a plain field written only by its own carrier's thread;
// readers take them after the carriers' threads have been joined (run() returned, or
// finish()), which orders every write before the read.
struct CarrierCounters {
  std::uint64_t steals = 0;         // fibers taken from another carrier's queue
  std::uint64_t failed_steals = 0;  // steal rounds over every other carrier that found nothing
  std::uint64_t sleeps = 0;         // blocks in the poller with nothing runnable (idle)
  std::uint64_t kicks = 0;          // wakes this carrier sent to a sleeping carrier it claimed
  std::uint64_t spin_hits = 0;      // idle spins that found work before blocking
  std::uint64_t wakes = 0;          // sleeps ended by another thread's claim (its kick)
  // The carrier thread's CPU time (CLOCK_THREAD_CPUTIME_ID) and the wall time
  // (CLOCK_MONOTONIC) spent in its scheduler loop, fibers and idling included, summed over
  // every loop it ran (each run(), or start() to finish()). Read once when the loop starts
  // and once when it ends: nothing on the hot path. Their ratio is the carrier's busy
  // fraction; the sum of cpu_ns over carriers against one carrier's shows work inflation.
  std::uint64_t cpu_ns = 0;
  std::uint64_t wall_ns = 0;
  static constexpr unsigned kCount = 8;
  // The order of results/SCHEMA.md's carrier_counters.counters.
  static constexpr const char* kNames[kCount] = {"steals", "failed_steals", "sleeps",  "kicks",
                                                 "spin_hits", "wakes",       "cpu_ns", "wall_ns"};
  std::uint64_t operator[](unsigned i) const noexcept {
    const std::uint64_t v[kCount] = {steals, failed_steals, sleeps, kicks, spin_hits, wakes, cpu_ns, wall_ns};
    return v[i];
  }
};

// Options::idle_spin's default: the adaptive idle policy (see there).
inline constexpr Duration kIdleSpinAdaptive{-1};

struct Options {
  unsigned carriers = 0;                      // 0 = the CPUs this process may run on
  // Carrier i runs pinned to the i-th CPU (wrapping) of the affinity mask the process had
  // when the first carrier started; each carrier thread gets its own mask back when its
  // loop ends (run()'s calling thread included).
  bool pin_carriers = pin_carriers_requested();
  std::size_t stack_size = 256 * 1024;        // usable bytes per fiber stack
  bool guard = true;                          // guard pages (false: slabs + canaries)
  std::size_t pool_cap = 4096;                // pooled stacks kept per carrier
  PinnedPolicy pinned_policy = PinnedPolicy::warn;
  // Called instead of the default block (epoll until the nearest deadline) when nothing
  // is runnable but fibers wait on deadlines or predicates; must return within the given
  // bound (it is not woken by submissions). Ready fds are collected right after it.
  std::function<void(Duration max_block)> idle_hook;
  Duration park_timeout = sched_constants::kDefaultParkTimeout;  // bound on an idle carrier's sleep
  // Before blocking, an idle carrier polls (its fds without blocking, its queues, the other
  // carriers' deques) for up to this long. On a VM, waking a halted vCPU costs tens of us:
  // with a ping-pong split over 2 carriers, every hop paid it (io_pingpong: 80-100 us per
  // round trip instead of 10-13). Costs up to this much CPU per idle period; 0 = off.
  // kIdleSpinAdaptive (the default): Go's spinning threads. With several carriers, at most
  // half of them spin at once, only while another carrier runs fibers, each for at most
  // sched_constants::kAdaptiveSpinNs (runtimes/SCHEDULER.md section 4). A positive value
  // spins that long on every idle carrier, unbounded in count (the former option).
  Duration idle_spin = kIdleSpinAdaptive;
  IoBackend io_backend = IoBackend::epoll;                 // each carrier's readiness source
  IoRegistration io_registration = IoRegistration::persistent;  // see io_core.h (why the default)
  const CarrierHooks* hooks = nullptr;  // not owned; must outlive the runtime (gc.h sets it)
};

unsigned available_cpus() noexcept;

namespace detail {
// Pins the calling thread to the (n mod count)-th CPU of the process's first affinity
// mask; returns the thread's previous mask for unpin_current_thread (nullptr when pinning
// failed: the thread then runs as before).
void* pin_current_thread(unsigned n) noexcept;
void unpin_current_thread(void* saved) noexcept;
}  // namespace detail

template <class T>
class FiberLocal;

struct SpawnOptions {
  std::string_view name = {};
  std::size_t stack_size = 0;  // 0 = the runtime's default
  std::vector<FlsInit> locals;
  // Initial value of a fiber-local for the new fiber.
  template <class T>
  SpawnOptions& local(const FiberLocal<T>& key, T value) {
    locals.push_back(FlsInit{key.key(), [](const void* s) -> void* { return new T(*static_cast<const T*>(s)); },
                             [](void* p) { delete static_cast<T*>(p); },
                             std::make_shared<T>(std::move(value))});
    return *this;
  }
};

// ---------------------------------------------------------------------------------------
// The carrier a thread runs, independent of the variant (for generic helpers: the current
// fiber, fiber-locals, the overflow message).
struct CarrierBase {
  const void* variant_tag = nullptr;  // which Runtime<V> owns it
  unsigned index = 0;
  FiberBase* current_base = nullptr;  // running fiber; nullptr on the scheduler's own stack
};

}  // namespace sy

// The thread's carrier (runtime.cpp). initial-exec: static TLS, read without a call.
// Read only through sy::detail::current_carrier(), never by name from C++: see there.
extern "C" __attribute__((tls_model("initial-exec"))) constinit thread_local sy::CarrierBase* sy_tl_carrier;

namespace sy {
namespace detail {
// Out of line, with an empty asm: the compiler may not cache a thread_local's address
// across a fiber switch (the fiber may resume on another carrier thread).
CarrierBase* current_carrier_out_of_line() noexcept;
// The same read inline where the instruction can say which thread it reads: on x86-64 the
// load goes through %fs, the thread pointer of whichever thread executes it, so no address
// computed before a switch can be reused after it (which a plain C++ read of a
// thread_local allows the compiler to do). volatile and "memory": never merged with
// another read, nor moved across a call (a switch is one). Two instructions instead of a
// call (the yield path reads it once).
inline CarrierBase* current_carrier() noexcept {
#if defined(__x86_64__)
  CarrierBase* c;
  asm volatile("movq sy_tl_carrier@gottpoff(%%rip), %0\n\tmovq %%fs:(%0), %0" : "=r"(c) : : "memory");
  return c;
#else
  return current_carrier_out_of_line();
#endif
}
void set_current_carrier(CarrierBase*) noexcept;
std::int64_t now_ns() noexcept;
std::int64_t thread_cpu_ns() noexcept;  // the calling thread's CPU time (CLOCK_THREAD_CPUTIME_ID)
void install_runtime_diagnostics();  // overflow handler + describer naming the fiber
}  // namespace detail

// The fiber running on this thread, or nullptr.
inline FiberBase* current_fiber() noexcept {
  CarrierBase* c = detail::current_carrier();
  return c ? c->current_base : nullptr;
}

template <class T>
class FiberLocal : public FiberLocalBase {
 public:
  // The current fiber's value, or nullptr if it has none. Outside a fiber: FiberError.
  T* get() const {
    return static_cast<T*>(self()->fls_get(key_));
  }
  void set(T value) const {
    self()->fls_set(key_, new T(std::move(value)), [](void* p) { delete static_cast<T*>(p); });
  }

 private:
  static FiberBase* self() {
    FiberBase* f = current_fiber();
    if (!f) throw FiberError("FiberLocal used outside a fiber");
    return f;
  }
};

// Holds a fiber's result until it is joined.
template <class R>
struct ResultSlot {
  std::optional<R> value;
};
template <>
struct ResultSlot<void> {};

// Join bookkeeping shared by all variants (a handle does not know its variant).
struct JoinOps {
  bool (*wait)(FiberBase*, std::int64_t deadline_ns);  // true when the fiber finished
  void (*drop)(FiberBase*);                            // release one reference
};

// A counted reference to a fiber: while one exists the fiber's control block (and the
// stack that holds it) is not freed, whether or not the fiber has ended. That makes waking
// through it safe at any time (Runtime::unpark(const FiberRef&)): on a fiber that ended, or
// that is not waiting, the wake does nothing and returns false. A raw FiberBase* gives no
// such guarantee (see Runtime::unpark). Get one from Runtime::self() or JoinHandle::ref();
// copy it freely, from any thread. Like a JoinHandle it must not outlive its runtime, and
// it delays the report of an exception nobody joins until the last reference goes.
class FiberRef {
 public:
  FiberRef() = default;
  FiberRef(const FiberRef& o) noexcept : f_(o.f_), ops_(o.ops_) { retain(); }
  FiberRef(FiberRef&& o) noexcept : f_(std::exchange(o.f_, nullptr)), ops_(o.ops_) {}
  FiberRef& operator=(FiberRef o) noexcept {
    std::swap(f_, o.f_);
    std::swap(ops_, o.ops_);
    return *this;
  }
  ~FiberRef() {
    if (f_) ops_->drop(f_);
  }
  FiberBase* get() const noexcept { return f_; }
  explicit operator bool() const noexcept { return f_ != nullptr; }
  const JoinOps* ops() const noexcept { return ops_; }

  // For the runtime and JoinHandle: a new reference to f, made while the caller holds one.
  FiberRef(FiberBase* f, const JoinOps* ops) noexcept : f_(f), ops_(ops) { retain(); }

 private:
  void retain() noexcept {
    // relaxed: made from a reference the caller holds, so the count cannot reach zero
    // meanwhile; the drop (acq_rel) orders everything before the release.
    if (f_) f_->refs.fetch_add(1, std::memory_order_relaxed);
  }

  FiberBase* f_ = nullptr;
  const JoinOps* ops_ = nullptr;
};

template <class R>
class JoinHandle {
 public:
  JoinHandle() = default;
  JoinHandle(FiberBase* f, ResultSlot<R>* slot, const JoinOps* ops) noexcept : f_(f), slot_(slot), ops_(ops) {}
  JoinHandle(JoinHandle&& o) noexcept : f_(std::exchange(o.f_, nullptr)), slot_(o.slot_), ops_(o.ops_) {}
  JoinHandle& operator=(JoinHandle&& o) noexcept {
    if (this != &o) {
      reset();
      f_ = std::exchange(o.f_, nullptr);
      slot_ = o.slot_;
      ops_ = o.ops_;
    }
    return *this;
  }
  ~JoinHandle() { reset(); }

  bool valid() const noexcept { return f_ != nullptr; }
  std::uint64_t id() const noexcept { return f_ ? f_->id : 0; }
  FiberBase* fiber() const noexcept { return f_; }
  // A reference that keeps the fiber's control block alive after this handle is gone.
  FiberRef ref() const {
    check();
    return FiberRef(f_, ops_);
  }

  // Waits for the fiber (parks if called from a fiber, blocks if from an OS thread) and
  // returns its result or rethrows its exception. The handle is empty afterwards.
  R join() {
    check();
    ops_->wait(f_, -1);
    return take();
  }
  // Waits at most d. Returns nullopt (or false for void) on timeout; the handle stays valid.
  auto join_for(Duration d) {
    check();
    bool done = ops_->wait(f_, detail::now_ns() + d.count());
    if constexpr (std::is_void_v<R>) {
      if (done) take();
      return done;
    } else {
      std::optional<R> out;
      if (done) out.emplace(take());
      return out;
    }
  }
  // Lets the fiber run on without anyone joining it.
  void detach() noexcept { reset(); }

 private:
  void check() const {
    if (!f_) throw FiberError("join on an empty JoinHandle");
  }
  R take() {
    FiberBase* f = std::exchange(f_, nullptr);
    std::exception_ptr e = std::move(f->error);
    if constexpr (std::is_void_v<R>) {
      ops_->drop(f);
      if (e) std::rethrow_exception(e);
    } else {
      std::optional<R> v = std::move(slot_->value);
      ops_->drop(f);
      if (e) std::rethrow_exception(e);
      return std::move(*v);
    }
  }
  void reset() noexcept {
    if (f_) ops_->drop(std::exchange(f_, nullptr));
  }

  FiberBase* f_ = nullptr;
  ResultSlot<R>* slot_ = nullptr;
  const JoinOps* ops_ = nullptr;
};

template <class V>
class Runtime;
template <class V>
class RuntimeState;

template <class V>
struct Fiber : FiberBase {
  typename V::Switch::Context ctx;
  RuntimeState<V>* rt = nullptr;  // the runtime it belongs to (carrier.h)
};

// A variant: one choice per dimension, each checked against its contract (concepts.h).
template <SwitchBackend Sw, StackAllocator St, SchedulerPolicy Sc>
struct Variant {
  using Switch = Sw;
  using Stacks = St;
  using Sched = Sc;
  static std::string name() {
    return std::string(Sw::name) + "-" + std::string(St::name) + "-" + std::string(Sc::name);
  }
};

}  // namespace sy
