// The Switchyard fiber runtime: carriers (OS threads) running a scheduler loop over
// fibers with their own stacks. One template, instantiated once per variant, so every
// strategy under test (switch backend, stack allocator, run-queue policy) is a direct
// call on its hot path. See runtimes/SCHEDULER.md for a walk through the carrier loop.
//
// Using it:
//   using Rt = sy::Runtime<sy::AsmPooledFifo>;
//   Rt rt({.carriers = 1});
//   int x = rt.run([] {                          // the calling thread becomes carrier 0
//     auto h = Rt::spawn([] { return 42; });     // from inside a fiber
//     Rt::yield();
//     return h.join();                           // parks this fiber until the child ends
//   });
// or rt.start(); auto h = rt.submit(fn); ...; rt.finish();   (from any thread)
//
// Threading rules, stated once: a Carrier's queues, heap, predicate list and stack
// allocator belong to that carrier's thread. Other threads reach a carrier only through
// its pending list (an MPSC stack) and its wake word. A fiber is published to wakers and
// thieves only after its context is saved: the fiber that runs next on the same carrier
// does it (after_switch), as Go's gopark does.
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

#include "switchyard/deadline_heap.h"
#include "switchyard/detail/sync.h"
#include "switchyard/fiber.h"
#include "switchyard/io_core.h"
#include "switchyard/sched.h"
#include "switchyard/stack.h"
#include "switchyard/switch.h"

// Test-only injection points: a test translation unit that defines SY_TEST_HOOKS before
// including this header gets a call through sy::test_hooks at each point (nullptr unless
// the test sets it), so a test can hold a carrier inside a race window. Without the macro
// SY_TEST_POINT is nothing: no production build pays for them. (The templates that use it
// are instantiated only in the including translation unit, so the two never mix.)
#if defined(SY_TEST_HOOKS)
namespace sy::test_hooks {
inline void (*after_arm)(sy::FiberBase*) = nullptr;            // Carrier::publish, the fiber just armed
inline void (*after_finish_unlock)(sy::FiberBase*) = nullptr;  // Runtime::entry, the join lock released
}  // namespace sy::test_hooks
#define SY_TEST_POINT(name, arg)                                      \
  do {                                                                \
    if (::sy::test_hooks::name) [[unlikely]] ::sy::test_hooks::name(arg); \
  } while (0)
#else
#define SY_TEST_POINT(name, arg) \
  do {                           \
  } while (0)
#endif

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

struct Options {
  unsigned carriers = 0;                      // 0 = the CPUs this process may run on
  std::size_t stack_size = 256 * 1024;        // usable bytes per fiber stack
  bool guard = true;                          // guard pages (false: slabs + canaries)
  std::size_t pool_cap = 4096;                // pooled stacks kept per carrier
  PinnedPolicy pinned_policy = PinnedPolicy::warn;
  // Called instead of the default block (epoll until the nearest deadline) when nothing
  // is runnable but fibers wait on deadlines or predicates; must return within the given
  // bound (it is not woken by submissions). Ready fds are collected right after it.
  std::function<void(Duration max_block)> idle_hook;
  Duration park_timeout = std::chrono::milliseconds(100);  // bound on an idle carrier's sleep
  // Before blocking, an idle carrier polls (its fds without blocking, its queues, the other
  // carriers' deques) for up to this long. On a VM, waking a halted vCPU costs tens of us:
  // with a ping-pong split over 2 carriers, every hop paid it (io_pingpong: 80-100 us per
  // round trip instead of 10-13). Costs up to this much CPU per idle period; 0 = off.
  Duration idle_spin = Duration::zero();
  IoBackend io_backend = IoBackend::epoll;                 // each carrier's readiness source
  IoRegistration io_registration = IoRegistration::oneshot;  // see io_core.h
  const CarrierHooks* hooks = nullptr;  // not owned; must outlive the runtime (gc.h sets it)
};

unsigned available_cpus() noexcept;

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

namespace detail {
// noinline + empty asm: the compiler may not cache a thread_local's address across a fiber
// switch (the fiber may resume on another carrier thread), so every read goes through here.
CarrierBase* current_carrier() noexcept;
void set_current_carrier(CarrierBase*) noexcept;
std::int64_t now_ns() noexcept;
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
struct Fiber : FiberBase {
  typename V::Switch::Context ctx;
  Runtime<V>* rt = nullptr;
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

// ---------------------------------------------------------------------------------------
template <class V>
class Carrier : public CarrierBase {
 public:
  using Sw = typename V::Switch;
  using Sched = typename V::Sched;
  using F = Fiber<V>;

  Carrier(Runtime<V>& rt, unsigned idx)
      : rt_(rt), stacks_(rt.stack_config()), poller_(rt.opts_.io_backend, rt.opts_.io_registration) {
    variant_tag = Runtime<V>::tag();
    index = idx;
    rng_ = 0x9E3779B97F4A7C15ull * (idx + 1);
    hooks_ = rt.opts_.hooks;
    switch_hooks_ = hooks_ && hooks_->before_switch ? hooks_ : nullptr;
  }

  // ---- called by the running fiber to give up the carrier (self->action says why)
  void switch_out(F* self) {
    F* next = next_runnable();
    if (!next && self->action == Action::yield) {
      // Nothing else to run here. Keep going, unless another carrier is idle: then
      // publish this fiber (through the scheduler loop, after its context is saved) so an
      // idle carrier may take it, as Go's Gosched does through the global run queue;
      // otherwise a lone yielder could never spread to an idle carrier.
      // Every 64th lone yield only, and the idle carrier is woken once the fiber is
      // published (after_switch), so this costs a wake per 64 yields, not per yield.
      // relaxed: a hint; a stale read only delays or skips one chance to migrate.
      if (!rt_.multi_ || (++lone_yields_ & 63) != 0 || rt_.idle_.load(std::memory_order_relaxed) == 0) {
        self->action = Action::none;
        return;
      }
      wake_after_publish_ = true;
    }
    save_eh(self);
    if (!self->stack.guarded && !canary_intact(self->stack)) [[unlikely]]
      report_stack_corruption(self->stack, self->name[0] ? self->name : nullptr);
    prev_ = self;
    if (next) {
      enter(next);
      switch_to<Sw>(self->ctx, next->ctx);
    } else {
      current_ = nullptr;
      current_base = nullptr;
      set_current_stack(nullptr);
      if (switch_hooks_) [[unlikely]] hook_before_switch(nullptr);
      switch_to<Sw>(self->ctx, sched_ctx_);
    }
    // Resumed. With several carriers it may be another one: find it again through the
    // opaque accessor (never a cached thread_local address). With one, it is this one.
    Carrier* c = rt_.multi_ ? static_cast<Carrier*>(detail::current_carrier()) : this;
    if (c->switch_hooks_) [[unlikely]] c->hook_after_switch();
    c->after_switch();
    c->restore_eh(self);
  }

  // The dying fiber's last switch (never returns).
  [[noreturn]] void switch_out_final(F* self) {
    self->action = Action::dead;
    F* next = next_runnable();
    prev_ = self;
    if (next) {
      enter(next);
      switch_to_final<Sw>(self->ctx, next->ctx);
    } else {
      current_ = nullptr;
      current_base = nullptr;
      set_current_stack(nullptr);
      if (switch_hooks_) [[unlikely]] hook_before_switch(nullptr);
      switch_to_final<Sw>(self->ctx, sched_ctx_);
    }
    __builtin_unreachable();
  }

  // ---- the scheduler loop on the carrier thread's own stack
  void loop() {
    detail::set_current_carrier(this);
    eh_ = detail::eh_globals();
    // The thread's own exception state (run() may be called inside a catch block) is not
    // the fibers': set it aside for the loop and give it back at the end.
    const detail::EhGlobals thread_eh = *eh_;
    eh_->caught = nullptr;
    eh_->uncaught = 0;
    ensure_signal_altstack();
    if (hooks_ && hooks_->start) hooks_->start(*this, hooks_->arg);
    for (;;) {
      if (switch_hooks_) [[unlikely]] hook_after_switch();
      after_switch();
      if (F* f = next_runnable()) {
        enter(f);
        switch_to<Sw>(sched_ctx_, f->ctx);
        continue;
      }
      if (rt_.should_exit()) break;
      idle();
    }
    if (hooks_ && hooks_->stop) hooks_->stop(*this, hooks_->arg);
    *eh_ = thread_eh;
    detail::set_current_carrier(nullptr);
  }

  // ---- run queue
  void push(FiberBase* f, PushKind kind) {
    // A woken fiber wakes an idle carrier only if this one already has other work: the
    // waker usually blocks soon and runs it here (Go's runnext). Waking a sleeping carrier
    // for it would cost a kick and a cross-carrier hand-off per wake (a channel ping-pong
    // over two carriers: tens of microseconds per hand-off instead of ~100 ns).
    const bool spread = kind == PushKind::spawned ||
                        (kind == PushKind::woken && rt_.multi_ && Sched::maybe_work(rt_.sched_, local_));
    f->state.store(FiberState::runnable, std::memory_order_relaxed);
    Sched::push(rt_.sched_, local_, f, kind);
    if (spread) rt_.maybe_wake_idle(this);
  }

  // A claimed wake of a fiber that waits in this carrier's structures, from this carrier.
  void wake_local(FiberBase* f) {
    heap_.remove(f);
    unlink_pred(f);
    push(f, PushKind::woken);
  }

  // From any thread: hand f (a submission or a claimed wake) to this carrier.
  void post(FiberBase* f) {
    pending_.push(f);
    notify();
  }

  // Wakes the carrier if it sleeps. Dekker pair with idle(): the push above is seq_cst,
  // this load is seq_cst, and idle() stores sleeping_ (seq_cst) before re-checking.
  void notify() noexcept {
    if (sleeping_.load(std::memory_order_seq_cst)) kick();
  }
  // The carrier's one wake mechanism, whatever it blocks in: an eventfd in its poller's
  // set. A kick sent before the carrier blocks stays pending (the counter is non-zero), so
  // it cannot be lost between the last look for work and the block.
  void kick() noexcept { poller_.kick(); }
  detail::Poller& poller() noexcept { return poller_; }
  bool is_sleeping() const noexcept { return sleeping_.load(std::memory_order_relaxed); }
  // Takes the right to wake this carrier: true for one caller per sleep, which then kicks
  // it. The flag is cleared here, not when the carrier wakes, so the next wake in a burst
  // goes to another sleeper instead of kicking this one again. A post() that finds it
  // cleared sends no kick: none is needed, the claimer's kick wakes it, and a woken
  // carrier drains its pending list before it can sleep again.
  bool claim_sleeper() noexcept {
    // relaxed: which waker wins does not order anything; the kick (a write(2) the carrier
    // reads in its block) carries the wake itself.
    return sleeping_.load(std::memory_order_relaxed) && sleeping_.exchange(false, std::memory_order_relaxed);
  }

  // ---- waiting structures
  void link_pred(FiberBase* f) noexcept {
    f->pred_prev = nullptr;
    f->pred_next = pred_head_;
    if (pred_head_) pred_head_->pred_prev = f;
    pred_head_ = f;
    f->in_pred_list = true;
  }
  void unlink_pred(FiberBase* f) noexcept {
    if (!f->in_pred_list) return;
    if (f->pred_prev) f->pred_prev->pred_next = f->pred_next; else pred_head_ = f->pred_next;
    if (f->pred_next) f->pred_next->pred_prev = f->pred_prev;
    f->in_pred_list = false;
  }

  F* current() const noexcept { return current_; }
  // For a reader that runs while this carrier's thread is stopped by a signal (gc.h): no
  // lock, so it cannot wait for one the stopped thread holds. The registry's forward links
  // are written in an order such a reader may follow (register_fiber, unregister_fiber).
  FiberBase* registry_head_unlocked() const noexcept { return reg_head_; }
  F* switching_out() const noexcept { return prev_; }  // from just before a switch to after_switch
  const typename Sw::Context& scheduler_context() const noexcept { return sched_ctx_; }
  typename V::Stacks& stacks() noexcept { return stacks_; }
  typename Sched::Local& local() noexcept { return local_; }
  detail::DeadlineHeap& heap() noexcept { return heap_; }

  // Introspection registry (locked: listed from other threads).
  void register_fiber(FiberBase* f) noexcept {
    reg_lock_.lock();
    f->registry = index;
    f->all_prev = nullptr;
    f->all_next = reg_head_;
    if (reg_head_) reg_head_->all_prev = f;
    // f's forward link before f becomes reachable: a reader on another thread while this
    // one is stopped by a signal (gc.h, lock-free) sees either list, both whole.
    std::atomic_signal_fence(std::memory_order_release);
    reg_head_ = f;
    reg_lock_.unlock();
  }
  void unregister_fiber(FiberBase* f) noexcept {
    reg_lock_.lock();
    if (f->all_prev) f->all_prev->all_next = f->all_next; else reg_head_ = f->all_next;
    if (f->all_next) f->all_next->all_prev = f->all_prev;
    reg_lock_.unlock();
  }
  template <class Fn>
  void for_each_fiber(Fn&& fn) {
    std::lock_guard<detail::SpinLock> g(reg_lock_);
    for (FiberBase* f = reg_head_; f; f = f->all_next) fn(static_cast<F*>(f));
  }

  struct Stats {
    std::uint64_t maintenances = 0, steals = 0, parks = 0, io_polls = 0, spin_hits = 0;
  } stats;

 private:
  friend class Runtime<V>;

  // Out of line and cold, so that the switch path's code and registers do not pay for them.
  [[gnu::noinline, gnu::cold]] void hook_before_switch(const Stack* next) noexcept {
    switch_hooks_->before_switch(*this, next, switch_hooks_->arg);
  }
  [[gnu::noinline, gnu::cold]] void hook_after_switch() noexcept { switch_hooks_->after_switch(*this, switch_hooks_->arg); }

  void enter(F* f) noexcept {
    if (switch_hooks_) [[unlikely]] hook_before_switch(&f->stack);
    current_ = f;
    current_base = f;
    set_current_stack(&f->stack);  // for the overflow handler: one inline TLS store
    f->state.store(FiberState::running, std::memory_order_relaxed);
    f->carrier.store(index, std::memory_order_relaxed);
  }

  // Next fiber to run, or nullptr. Maintenance is skipped on the fast path and forced
  // after 64 runs (the backstop) so a busy queue cannot starve timers and wakes.
  F* next_runnable() {
    bool backstop = ++since_maintenance_ >= 64;
    if (backstop) maintenance();
    FiberBase* f = Sched::pop(rt_.sched_, local_, backstop);
    if (!f) {
      if (!backstop) maintenance();
      f = Sched::pop(rt_.sched_, local_, false);
      if (!f && rt_.multi_) f = steal();
    }
    return static_cast<F*>(f);
  }

  // Maintenance, in the design's order: submissions and remote wakes, I/O, deadlines,
  // predicates. Reads the clock only with a deadline pending, and makes a system call only
  // while fibers wait on fds, on every 16th maintenance (a carrier that never idles must
  // still see its fds; one that idles collects them in its block).
  void maintenance() {
    since_maintenance_ = 0;
    ++stats.maintenances;
    for (FiberBase* f = pending_.drain(); f;) {
      FiberBase* next = f->next_post;
      if (f->state.load(std::memory_order_relaxed) == FiberState::created) push(f, PushKind::spawned);
      else wake_local(f);  // claimed by a waker on another thread
      f = next;
    }
    // Not while the fiber switching out holds a wait-queue lock for after its switch: that
    // may be the very fd entry a dispatch would lock.
    if ((++io_tick_ & 15) == 0 && detail::io_waiters() != 0 && !(current_ && current_->post.fn)) [[unlikely]] {
      ++stats.io_polls;
      poller_.wait_and_dispatch(0);
    }
    if (!heap_.empty()) {
      const std::int64_t now = detail::now_ns();
      while (!heap_.empty() && heap_.earliest() <= now) {
        FiberBase* f = heap_.pop();
        if (f->try_claim()) {
          f->wake_reason = WakeReason::timeout;
          unlink_pred(f);
          push(f, PushKind::woken);
        }  // else: claimed elsewhere; it arrives through pending_
      }
    }
    for (FiberBase* f = pred_head_; f;) {
      FiberBase* next = f->pred_next;
      if (f->pred(f->pred_arg) && f->try_claim()) {
        f->wake_reason = WakeReason::ready;
        wake_local(f);
      }
      f = next;
    }
    if (rt_.orphans_.load(std::memory_order_relaxed) != 0) [[unlikely]] rt_.free_orphans(stacks_);
  }

  // Thief side: a random victim, then round all the others once.
  FiberBase* steal() {
    const unsigned n = rt_.ncarriers_;
    rng_ ^= rng_ << 13;
    rng_ ^= rng_ >> 7;
    rng_ ^= rng_ << 17;
    const unsigned start = static_cast<unsigned>(rng_ % n);
    for (unsigned k = 0; k < n; ++k) {
      unsigned v = (start + k) % n;
      if (v == index) continue;
      auto& victim = rt_.carriers_[v]->local_;
      if (FiberBase* f = Sched::steal(rt_.sched_, victim)) {
        ++stats.steals;
        // Go's rule: a carrier that found work wakes another while work is left, so a
        // burst pushed on one carrier spreads over every idle one, not only the one its
        // pusher woke. acquire: pairs with idle()'s seq_cst increment, so the sleeper's
        // flag (set before it) is seen. A hint: a missed wake only delays the spreading.
        if (rt_.idle_.load(std::memory_order_acquire) != 0 && Sched::stealable(victim)) [[unlikely]]
          rt_.kick_a_sleeper(this);
        return f;
      }
    }
    return nullptr;
  }

  // Runs on whatever was resumed after a switch on this carrier: publishes the fiber that
  // switched away, now that its context is saved.
  // (Switch hooks: each caller runs hook_after_switch first, so that this stays inlined.)
  void after_switch() {
    F* p = prev_;
    if (!p) return;
    prev_ = nullptr;
    if (p->action == Action::yield) [[likely]] {
      p->action = Action::none;
      // The yield fast path: no wake decision to make (a yield never wakes a carrier here),
      // and small enough to stay inlined into every switch's resume.
      p->state.store(FiberState::runnable, std::memory_order_relaxed);
      Sched::push(rt_.sched_, local_, p, PushKind::yielded);
      if (wake_after_publish_) [[unlikely]] {
        wake_after_publish_ = false;
        rt_.maybe_wake_idle(this);
      }
      return;
    }
    publish(p);
  }
  [[gnu::noinline]] void publish(F* p) {
    switch (p->action) {
      case Action::yield:
        break;
      case Action::wait: {
        p->action = Action::none;
        p->state.store(FiberState::suspended, std::memory_order_relaxed);
        p->wait_carrier = index;
        if (p->deadline_ns >= 0) heap_.insert(p);
        if (p->pred) link_pred(p);
        // Copied before arming: once armed, another carrier may claim p, run it, and
        // clear p->post as p returns from suspend(), all before this line would read it
        // (the wait queue's lock would then never be released).
        const PostSwitch post = p->post;
        p->arm();  // from here on wakers may claim it
        SY_TEST_POINT(after_arm, p);
        if (post.fn) post.fn(post.arg);
        break;
      }
      case Action::dead:
        rt_.retire(p, *this);
        break;
      case Action::none:
        break;
    }
  }

  // Nothing runnable. Block in the poller for a bounded time: until the nearest deadline
  // when fibers wait on one (the default idle hook), otherwise until a ready fd, a
  // submission or a wake (a kick), at most park_timeout.
  void idle() {
    std::int64_t timeout;
    const bool waiters = !heap_.empty() || pred_head_ != nullptr;
    if (!heap_.empty()) {
      timeout = std::clamp<std::int64_t>(heap_.earliest() - detail::now_ns(), 0, 10'000'000);
      if (timeout == 0) return;
    } else if (pred_head_) {
      timeout = 1'000'000;  // predicates are polled: re-check within 1 ms
    } else {
      timeout = rt_.opts_.park_timeout.count();
    }
    if (pred_head_ && timeout > 1'000'000) timeout = 1'000'000;
    if (waiters && rt_.opts_.idle_hook) {
      rt_.opts_.idle_hook(Duration(timeout));
      if (detail::io_waiters() != 0) poller_.wait_and_dispatch(0);
      return;
    }
    if (rt_.opts_.idle_spin.count() > 0) {
      const std::int64_t spin_start = detail::now_ns();
      if (spin_before_block(spin_start, std::min(rt_.opts_.idle_spin.count(), timeout))) {
        ++stats.spin_hits;
        return;
      }
      // The bound was computed before the spin: block only for what is left of it, or a
      // timer due meanwhile would be late by the whole spin.
      timeout = std::max<std::int64_t>(0, timeout - (detail::now_ns() - spin_start));
      if (timeout == 0 && !heap_.empty()) return;  // a deadline is due: the loop expires it
    }
    // Announce the sleep before the last look for work, so that either that look sees a
    // concurrent push, or the pusher sees us and kicks. Two pairs:
    //  - post() (pending_ CAS, then a load of sleeping_) against the store of sleeping_ and
    //    the load of pending_: all seq_cst, so they are in one total order and at least
    //    one side sees the other's write (store buffering is forbidden).
    //  - A run-queue push (the deque's bottom_ store, the FIFO's size store: relaxed or
    //    release) followed by maybe_wake_idle()'s seq_cst fence and load of idle_, against
    //    the increment of idle_ below, the seq_cst fence after it, and work_visible()'s
    //    relaxed loads of bottom_/top_/size/ysize. The RMW alone would not do: later
    //    relaxed loads may be performed before a seq_cst RMW's store is visible (AArch64's
    //    ldaxr/stlxr lets them pass; x86's locked instruction happens to forbid it). With
    //    the two fences ordered in S, either ours comes first, and the pusher's load after
    //    its fence sees our increment (and kicks), or its comes first, and our loads after
    //    ours see its push. Forbidden outcome: the pusher reads idle_ == 0 and we read the
    //    queues empty, i.e. a runnable fiber and every carrier asleep.
    sleeping_.store(true, std::memory_order_seq_cst);
    rt_.idle_.fetch_add(1, std::memory_order_seq_cst);
    std::atomic_thread_fence(std::memory_order_seq_cst);
    if (work_visible()) {
      rt_.idle_.fetch_sub(1, std::memory_order_relaxed);
      sleeping_.store(false, std::memory_order_relaxed);
      return;
    }
    ++stats.parks;
    poller_.wait_and_dispatch(timeout);
    // relaxed: idle_ is a hint for pushers; a stale high value costs one kick.
    rt_.idle_.fetch_sub(1, std::memory_order_relaxed);
    sleeping_.store(false, std::memory_order_relaxed);
  }

  // A submission or remote wake, runnable work, the runtime's exit, or (several carriers) a
  // deque to steal from: the look an idle carrier takes before it blocks.
  bool work_visible() {
    return !pending_.empty_seq_cst() || Sched::maybe_work(rt_.sched_, local_) || rt_.should_exit() ||
           (rt_.multi_ && rt_.any_stealable(this));
  }

  // True when work turned up within spin_ns: a ready fd (dispatched here) or work_visible().
  // Nobody kicks us meanwhile (sleeping_ is false), which is why each round looks at both.
  bool spin_before_block(std::int64_t start_ns, std::int64_t spin_ns) {
    const std::int64_t until = start_ns + spin_ns;
    do {
      if (poller_.wait_and_dispatch(0) > 0 || work_visible()) return true;
    } while (detail::now_ns() < until);
    return false;
  }

  void save_eh(F* self) noexcept {
    detail::EhGlobals* g = eh_;
    if (g->caught || g->uncaught) [[unlikely]] {
      self->eh_caught = g->caught;
      self->eh_uncaught = g->uncaught;
      self->eh_saved = true;
      g->caught = nullptr;
      g->uncaught = 0;
    }
  }
  void restore_eh(F* self) noexcept {
    if (self->eh_saved) [[unlikely]] {
      eh_->caught = self->eh_caught;
      eh_->uncaught = self->eh_uncaught;
      self->eh_saved = false;
    }
  }

  Runtime<V>& rt_;
  typename Sw::Context sched_ctx_;
  F* current_ = nullptr;
  F* prev_ = nullptr;
  unsigned since_maintenance_ = 0;
  unsigned lone_yields_ = 0;
  unsigned io_tick_ = 0;
  bool wake_after_publish_ = false;
  typename Sched::Local local_;
  detail::DeadlineHeap heap_;
  FiberBase* pred_head_ = nullptr;
  detail::EhGlobals* eh_ = nullptr;
  typename V::Stacks stacks_;
  std::uint64_t rng_;
  detail::MpscStack<FiberBase, &FiberBase::next_post> pending_;
  detail::Poller poller_;
  alignas(64) std::atomic<bool> sleeping_{false};
  detail::SpinLock reg_lock_;
  FiberBase* reg_head_ = nullptr;
  const CarrierHooks* hooks_ = nullptr;         // Options::hooks
  const CarrierHooks* switch_hooks_ = nullptr;  // hooks_ if it has switch hooks, else null
};

// ---------------------------------------------------------------------------------------
template <class V>
class Runtime {
 public:
  using Sw = typename V::Switch;
  using Sched = typename V::Sched;
  using F = Fiber<V>;
  using C = Carrier<V>;

  static std::string variant_name() { return V::name(); }
  static const void* tag() noexcept {
    static const char t = 0;
    return &t;
  }

  explicit Runtime(Options o = {}) : opts_(std::move(o)) {
    ncarriers_ = opts_.carriers ? opts_.carriers : available_cpus();
    multi_ = ncarriers_ > 1;
    sched_.multi = multi_;
    detail::install_runtime_diagnostics();
    for (unsigned i = 0; i < ncarriers_; ++i) carriers_.push_back(std::make_unique<C>(*this, i));
  }
  Runtime(const Runtime&) = delete;
  Runtime& operator=(const Runtime&) = delete;

  // Destroying a started runtime finishes it first: it waits for every fiber to end.
  ~Runtime() {
    if (started_) finish();
    std::lock_guard<std::mutex> g(orphan_mu_);
    for (FiberBase* f : orphan_list_) release_memory(static_cast<F*>(f), carriers_[0]->stacks());
    orphan_list_.clear();
  }

  unsigned carriers() const noexcept { return ncarriers_; }
  const Options& options() const noexcept { return opts_; }
  C& carrier(unsigned i) noexcept { return *carriers_[i]; }

  // ---- blocking run: the calling thread becomes carrier 0; returns main's result once
  // every fiber (main and all it spawned) has ended.
  template <class Fn>
  auto run(Fn&& main, SpawnOptions so = {}) {
    if (started_) throw FiberError("run() on a runtime that was start()ed");
    if (detail::current_carrier()) throw FiberError("run() called from inside a fiber runtime");
    closed_.store(false, std::memory_order_relaxed);
    mode_run_ = true;
    C& c0 = *carriers_[0];
    detail::set_current_carrier(&c0);
    auto h = create(c0.stacks(), std::forward<Fn>(main), so);
    detail::set_current_carrier(nullptr);
    c0.push(h.fiber(), PushKind::spawned);
    std::vector<std::thread> threads;
    for (unsigned i = 1; i < ncarriers_; ++i) threads.emplace_back([this, i] { carriers_[i]->loop(); });
    c0.loop();
    for (auto& t : threads) t.join();
    return h.join();
  }

  // ---- long-lived: start carriers, submit from anywhere, finish.
  void start() {
    if (started_) throw FiberError("start() twice");
    started_ = true;
    mode_run_ = false;
    closed_.store(false, std::memory_order_relaxed);
    for (unsigned i = 0; i < ncarriers_; ++i) threads_.emplace_back([this, i] { carriers_[i]->loop(); });
  }
  template <class Fn>
  auto submit(Fn&& fn, SpawnOptions so = {}) {
    if (is_mine(detail::current_carrier())) return spawn(std::forward<Fn>(fn), so);
    if (closed_.load(std::memory_order_seq_cst)) throw RuntimeClosed("submit after finish(): the runtime is shut down");
    if (!started_) throw FiberError("submit() from outside the runtime needs start() first (run() takes no outside submissions)");
    // Count the submission as live before checking closed_: finish() sets closed_ and then
    // waits for live_ == 0, so either it sees this fiber or we see closed_ (both seq_cst).
    live_.fetch_add(1, std::memory_order_seq_cst);
    if (closed_.load(std::memory_order_seq_cst)) {
      if (live_.fetch_sub(1, std::memory_order_acq_rel) == 1) wake_all();
      throw RuntimeClosed("submit after finish(): the runtime is shut down");
    }
    auto h = [&] {
      std::lock_guard<std::mutex> g(ext_mu_);
      return create(ext_stacks(), std::forward<Fn>(fn), so, /*counted=*/true);
    }();
    unsigned target = static_cast<unsigned>(next_target_.fetch_add(1, std::memory_order_relaxed) % ncarriers_);
    carriers_[target]->post(h.fiber());
    return h;
  }
  // Waits until every fiber has ended, then stops the carriers. Later submissions throw.
  void finish() {
    if (!started_) return;
    closed_.store(true, std::memory_order_seq_cst);  // see submit()
    closing_.store(true, std::memory_order_seq_cst);
    for (auto& c : carriers_) {
      c->kick();
    }
    for (auto& t : threads_) t.join();
    threads_.clear();
    closing_.store(false, std::memory_order_relaxed);
    started_ = false;
  }

  // ---- from a fiber of this runtime
  template <class Fn>
  static auto spawn(Fn&& fn, const SpawnOptions& so) {
    C* c = this_carrier("spawn");
    auto h = c->rt_.create(c->stacks(), std::forward<Fn>(fn), so);
    c->push(h.fiber(), PushKind::spawned);
    return h;
  }
  // Without options: no SpawnOptions is built (or destroyed) on the spawn path.
  template <class Fn>
  static auto spawn(Fn&& fn) {
    return spawn(std::forward<Fn>(fn), default_spawn_options());
  }

  static void yield() {
    C* c = this_carrier("yield");
    F* self = c->current();
    if (self->pins) [[unlikely]] yield_while_pinned(self);
    self->action = Action::yield;
    c->switch_out(self);
  }

  static void sleep_until(Clock::time_point t) {
    C* c = this_carrier("sleep");
    F* self = c->current();
    std::int64_t d = std::chrono::duration_cast<Duration>(t.time_since_epoch()).count();
    if (self->pins) [[unlikely]] {
      pinned_block(c, "sleep");
      std::this_thread::sleep_until(t);
      return;
    }
    suspend(c, self, d, nullptr, nullptr, {});
  }
  static void sleep_for(Duration d) { sleep_until(Clock::now() + d); }

  // Parks the current fiber until pred() holds (checked at maintenance), unpark() is
  // called on it, or the timeout passes. Returns pred() as seen on resuming.
  template <class P>
  static bool park(P&& pred, Duration timeout = Duration(-1)) {
    C* c = this_carrier("park");
    F* self = c->current();
    if (pred()) return true;
    std::int64_t d = timeout.count() < 0 ? -1 : detail::now_ns() + timeout.count();
    if (self->pins) [[unlikely]] {
      pinned_block(c, "park");
      while (!pred() && (d < 0 || detail::now_ns() < d)) std::this_thread::sleep_for(std::chrono::microseconds(50));
      return pred();
    }
    using PT = std::remove_reference_t<P>;
    suspend(c, self, d, [](void* a) -> bool { return (*static_cast<PT*>(a))(); },
            const_cast<void*>(static_cast<const void*>(std::addressof(pred))), {});
    return pred();
  }
  // Wakes a parked (or sleeping, or blocked) fiber: its wait returns early (a spurious
  // wake for the primitives, which then wait again). Returns false if it was not waiting.
  // Any thread.
  //
  // The rule for the raw pointer: f must still be allocated, and nothing tells a caller
  // that a fiber it does not hold has not ended (its memory, its stack, may already serve
  // another fiber, which this would then wake). Call it only while holding a JoinHandle
  // or a FiberRef to f, or while f is known to wait for something only the caller can end.
  // Otherwise use the FiberRef form, which keeps f's control block alive.
  static bool unpark(FiberBase* f) { return wake(f, WakeReason::unparked); }
  static bool unpark(const FiberRef& r) {
    if (!r) return false;
    if (r.ops() != &join_ops()) throw FiberError("unpark: a fiber of another runtime variant (" + V::name() + ")");
    return wake(r.get(), WakeReason::unparked);
  }
  // Call before blocking the carrier's thread from a fiber (a blocking system call; the
  // runtime calls it for a pinned fiber's blocking waits): hands this carrier's runnable
  // fibers to an idle carrier. A woken fiber is pushed on its waker's queue without waking
  // anyone, since the waker usually parks soon and runs it here (Go's runnext); a waker
  // that blocks its thread instead would leave it there for the whole block, or for
  // park_timeout, while other carriers sleep. This wakes one of them, which steals it
  // (chaselev) or pops it from the shared queue (fifo). Elsewhere: a no-op.
  static void will_block() noexcept {
    CarrierBase* cb = detail::current_carrier();
    if (!cb || !cb->current_base || cb->variant_tag != tag()) return;
    C* c = static_cast<C*>(cb);
    if (c->rt_.multi_ && Sched::maybe_work(c->rt_.sched_, c->local_)) c->rt_.maybe_wake_idle(c);
  }

  // A counted reference to the calling fiber, for whoever will unpark it later.
  static FiberRef self() { return FiberRef(this_carrier("self")->current(), &join_ops()); }

  // The generic wait: the caller holds `lock` and has linked a Waiter for itself into a
  // queue it guards; the lock is released after the switch (so a waker cannot see this
  // fiber before its context is saved). Returns why it resumed.
  static WakeReason wait_locked(detail::SpinLock& lock, std::int64_t deadline_ns) {
    C* c = this_carrier("wait");
    F* self = c->current();
    return suspend(c, self, deadline_ns, nullptr, nullptr,
                   PostSwitch{[](void* l) { static_cast<detail::SpinLock*>(l)->unlock(); }, &lock});
  }

  // Makes a waiting fiber runnable, if this call wins the wake. Any thread.
  // Known limit: a remote wake (and a submission) goes to one carrier's pending list, which
  // thieves cannot reach; if that carrier runs a fiber that never yields, the woken fiber
  // waits for it even while other carriers idle. Cooperative scheduling assumes yields.
  static bool wake(FiberBase* fb, WakeReason why) {
    if (!fb->try_claim()) return false;
    fb->wake_reason = why;
    F* f = static_cast<F*>(fb);
    C* owner = f->rt->carriers_[f->wait_carrier].get();
    CarrierBase* here = detail::current_carrier();
    if (here == owner) {
      owner->wake_local(f);
    } else if (here && f->deadline_ns < 0 && !f->pred && f->rt->is_mine_carrier(here)) {
      // Woken by another carrier of this runtime, and nothing of it sits in its owner's
      // deadline heap or predicate list (read after the claim, whose acquire pairs with
      // arm()): it runs where it was woken, next to the data the waker just touched.
      static_cast<C*>(here)->push(f, PushKind::woken);
    } else {
      owner->post(f);
    }
    return true;
  }

  // Waits until fd is ready for ev, the timeout passes, or close_fd closes it. From a
  // fiber it parks the fiber (io_core.h describes the registration); from an OS thread, or
  // a pinned fiber (per Options::pinned_policy), it blocks in poll(2). A `ready` may be
  // spurious: callers retry their read or write and wait again on EAGAIN.
  static IoResult wait_fd(int fd, IoEvent ev, Duration timeout = Duration(-1)) {
    return wait_fd_until(fd, ev, timeout.count() < 0 ? -1 : detail::now_ns() + timeout.count());
  }
  static IoResult wait_fd_until(int fd, IoEvent ev, std::int64_t deadline_ns) {
    CarrierBase* cb = detail::current_carrier();
    if (!cb || !cb->current_base || cb->variant_tag != tag()) return detail::io_block_thread(fd, ev, deadline_ns);
    C* c = static_cast<C*>(cb);
    F* self = c->current();
    if (self->pins) [[unlikely]] {
      pinned_block(c, "wait_fd");
      return detail::io_block_thread(fd, ev, deadline_ns);
    }
    detail::FdWaiter w;
    w.fiber = self;
    w.events = static_cast<std::uint8_t>(ev);
    w.wake = &Runtime::wake;
    IoResult now;
    detail::SpinLock* lock = detail::io_begin_wait(fd, w, c->poller(), now);
    if (!lock) return now;
    WakeReason r = wait_locked(*lock, deadline_ns);
    if (r == WakeReason::ready) return w.result;
    return detail::io_end_wait(fd, w, r);
  }
  // Closes fd, first waking its waiting fibers with ECANCELED (sy::close_fd).
  static int close_fd(int fd) noexcept { return sy::close_fd(fd); }

  // A pinned fiber is about to block its carrier's thread: apply pinned_policy (may throw)
  // and let an idle carrier take what is runnable here.
  [[gnu::cold, gnu::noinline]] static void pinned_block(C* c, const char* what) {
    detail::pinned_blocking(c->rt_.opts_.pinned_policy, what);
    will_block();
  }

  [[noreturn, gnu::cold, gnu::noinline]] static void yield_while_pinned(F* self) {
    throw FiberError("yield while pinned: fiber '" + self->display_name() + "' holds " +
                     std::to_string(self->pins) + " pin(s)");
  }

  static F* current() noexcept {
    CarrierBase* c = detail::current_carrier();
    return c && c->variant_tag == tag() ? static_cast<F*>(c->current_base) : nullptr;
  }

  // Pinning: while pinned, a fiber may not yield; blocking calls block the carrier thread
  // instead, following Options::pinned_policy.
  static void pin() { this_carrier("pin")->current()->pins++; }
  static void unpin() {
    F* self = this_carrier("unpin")->current();
    if (self->pins == 0) throw FiberError("unpin without pin");
    self->pins--;
  }
  class ScopedPin {
   public:
    ScopedPin() { pin(); }
    ~ScopedPin() { unpin(); }
    ScopedPin(const ScopedPin&) = delete;
    ScopedPin& operator=(const ScopedPin&) = delete;
  };

  // ---- introspection
  std::vector<FiberInfo> fibers() {
    std::vector<FiberInfo> out;
    for (auto& c : carriers_)
      c->for_each_fiber([&](F* f) {
        out.push_back(FiberInfo{f->id, f->display_name(), f->state.load(std::memory_order_relaxed),
                                f->carrier.load(std::memory_order_relaxed)});
      });
    return out;
  }
  // Symbolized backtrace of a suspended or runnable fiber (not one that is running). Safe
  // from a fiber of the same single-carrier runtime, or while the target stays blocked.
  std::vector<Frame> backtrace(std::uint64_t id) {
    std::vector<Frame> frames;
    bool found = false;
    for (auto& c : carriers_) {
      c->for_each_fiber([&](F* f) {
        if (f->id != id) return;
        found = true;
        FiberState s = f->state.load(std::memory_order_relaxed);
        if (s == FiberState::running) throw FiberError("backtrace of a running fiber");
        if (s == FiberState::created) return;  // nothing on its stack yet
        frames = backtrace_from(Sw::registers(f->ctx));
      });
    }
    if (!found) throw FiberError("backtrace: no live fiber with id " + std::to_string(id));
    return frames;
  }
  std::int64_t live() const noexcept { return live_.load(std::memory_order_relaxed); }

 private:
  friend class Carrier<V>;

  static C* this_carrier(const char* what) {
    CarrierBase* c = detail::current_carrier();
    if (!c || !c->current_base || c->variant_tag != tag()) [[unlikely]] outside_fiber(what);
    return static_cast<C*>(c);
  }
  static const SpawnOptions& default_spawn_options() {
    static const SpawnOptions none;
    return none;
  }
  // The carrier running this code, known to be one of this runtime's: with a single
  // carrier no thread_local needs reading (fibers cannot migrate).
  C* here() noexcept { return multi_ ? static_cast<C*>(detail::current_carrier()) : carriers_[0].get(); }

  [[noreturn, gnu::cold, gnu::noinline]] static void outside_fiber(const char* what) {
    throw FiberError(std::string(what) + " called outside a fiber of this runtime (" + V::name() + ")");
  }
  bool is_mine(CarrierBase* c) const noexcept {
    return c && c->variant_tag == tag() && c->current_base &&
           static_cast<F*>(c->current_base)->rt == this;
  }

  // Suspends the current fiber until woken or the deadline passes.
  static WakeReason suspend(C* c, F* self, std::int64_t deadline_ns, bool (*pred)(void*), void* pred_arg,
                            PostSwitch post) {
    self->deadline_ns = deadline_ns;
    self->pred = pred;
    self->pred_arg = pred_arg;
    self->post = post;
    self->wake_reason = WakeReason::none;
    self->action = Action::wait;
    c->switch_out(self);
    self->pred = nullptr;
    self->post = {};
    self->deadline_ns = -1;
    self->disarm();
    return self->wake_reason;
  }

  // Builds a fiber whose control block (Fiber, callable, result) sits at the top of its
  // own stack: spawning allocates nothing but the stack.
  template <class Fn>
  auto create(typename V::Stacks& stacks, Fn&& fn, const SpawnOptions& so, bool counted = false) {
    using Func = std::decay_t<Fn>;
    using R = std::invoke_result_t<Func&>;
    // The callable is destroyed at the end of the body, on the fiber's own stack, so its
    // captures' destructors see this fiber (current_fiber(), fiber-locals) and may block;
    // only a fiber that never ran has it destroyed with the block.
    struct Block : F, ResultSlot<R> {
      explicit Block(Fn&& f) : func(std::in_place, std::forward<Fn>(f)) {}
      std::optional<Func> func;
    };
    Stack s;
    try {
      s = stacks.acquire(so.stack_size);
    } catch (...) {
      if (counted && live_.fetch_sub(1, std::memory_order_acq_rel) == 1) wake_all();
      throw;
    }
    char* top = s.hi();
    static_assert(alignof(Block) <= 64);
    // Cache colouring: stack tops are page-aligned at large strides, so every fiber's
    // control block and first frames would fall in the same L1 sets. A per-fiber offset
    // of 0..15 cache lines spreads them.
    const std::uint64_t id = detail::next_fiber_id();
    const std::uintptr_t colour = (id & 15) * 64;
    auto addr = (reinterpret_cast<std::uintptr_t>(top) - sizeof(Block) - colour) & ~std::uintptr_t(63);
    Block* b;
    try {
      b = new (reinterpret_cast<void*>(addr)) Block(std::forward<Fn>(fn));
    } catch (...) {
      stacks.release(s);
      if (counted && live_.fetch_sub(1, std::memory_order_acq_rel) == 1) wake_all();
      throw;
    }
    F* f = b;
    f->stack = s;
    f->rt = this;
    f->id = id;
    if (!so.name.empty()) f->set_name(so.name);  // unnamed: shown as "fiber-<id>"
    f->refs.store(2, std::memory_order_relaxed);  // the runtime's and the handle's
    f->body = [](FiberBase* fb) {
      Block* self = static_cast<Block*>(static_cast<F*>(fb));
      try {
        if constexpr (std::is_void_v<R>) (*self->func)();
        else self->value.emplace((*self->func)());
      } catch (...) {
        fb->error = std::current_exception();
      }
      try {
        self->func.reset();
      } catch (...) {
        if (!fb->error) fb->error = std::current_exception();
      }
    };
    f->destroy_block = [](FiberBase* fb) { static_cast<Block*>(static_cast<F*>(fb))->~Block(); };
    try {
      for (const FlsInit& init : so.locals) f->fls_set(init.key, init.make(init.src.get()), init.destroy);
    } catch (...) {  // a fiber-local's copy threw: undo everything, lose nothing
      b->~Block();
      stacks.release(s);
      if (counted && live_.fetch_sub(1, std::memory_order_acq_rel) == 1) wake_all();
      throw;
    }
    StackRange usable{s.lo, static_cast<std::size_t>(reinterpret_cast<char*>(addr) - static_cast<char*>(s.lo))};
    Sw::make(f->ctx, usable, &Runtime::entry, f);
    if (!counted) live_.fetch_add(1, std::memory_order_relaxed);
    CarrierBase* here = detail::current_carrier();
    carriers_[here && is_mine_carrier(here) ? here->index : 0]->register_fiber(f);
    return JoinHandle<R>(f, static_cast<ResultSlot<R>*>(b), &join_ops());
  }
  static const JoinOps& join_ops() noexcept {
    static const JoinOps ops{&Runtime::join_wait, &Runtime::drop_ref};
    return ops;
  }
  bool is_mine_carrier(CarrierBase* c) const noexcept {
    return c->variant_tag == tag() && c->index < ncarriers_ && carriers_[c->index].get() == c;
  }

  // First code a new fiber runs (through the switch backend's trampoline).
  static void entry(void* arg) {
    F* f = static_cast<F*>(arg);
    C* c = f->rt->here();
    if (c->switch_hooks_) [[unlikely]] c->hook_after_switch();
    c->after_switch();
    f->body(f);
    c = f->rt->here();  // it may have migrated
    f->join_lock.lock();
    f->finished = true;
    while (Waiter* w = f->joiners.pop_front()) {
      if (w->fiber) wake(w->fiber, WakeReason::ready);
      else w->thread->signal();
    }
    f->join_lock.unlock();
    // From here a joiner may take f->error at any time. Whether nobody joins is decided at
    // the last reference's drop (release_memory), when nobody can any more.
    SY_TEST_POINT(after_finish_unlock, f);
    c->switch_out_final(f);
  }

  // A dead fiber, after its last switch (so its stack is no longer in use).
  void retire(F* f, C& c) {
    f->state.store(FiberState::dead, std::memory_order_relaxed);
    carriers_[f->registry]->unregister_fiber(f);
    drop_ref_on(f, c);
    // acq_rel: the last fiber's end happens-before the carriers see live_ == 0 and exit.
    if (live_.fetch_sub(1, std::memory_order_acq_rel) == 1) wake_all();
  }
  void wake_all() {
    for (auto& c : carriers_) {
      c->kick();
    }
  }
  // seq_cst, closing_ before live_: pairs with submit() (live_ then closed_) and finish()
  // (closed_ then closing_). A carrier that sees closing_ also sees every submission that
  // saw closed_ == false, so it cannot exit with that fiber still on its way.
  bool should_exit() const noexcept {
    if (!mode_run_ && !closing_.load(std::memory_order_seq_cst)) return false;
    return live_.load(std::memory_order_seq_cst) == 0;
  }

  static bool join_wait(FiberBase* child, std::int64_t deadline_ns) {
    CarrierBase* cb = detail::current_carrier();
    if (cb && cb->current_base && cb->variant_tag == tag()) {
      C* c = static_cast<C*>(cb);
      F* self = c->current();
      if (self == child) throw FiberError("join: a fiber cannot join itself");
      child->join_lock.lock();
      if (child->finished) {
        child->join_lock.unlock();
        return true;
      }
      if (!self->pins) {
        Waiter w;
        w.fiber = self;
        child->joiners.push_back(&w);
        WakeReason r = wait_locked(child->join_lock, deadline_ns);
        if (r == WakeReason::ready) return true;
        child->join_lock.lock();  // timed out or unparked: take ourselves off the queue
        child->joiners.unlink(&w);
        bool fin = child->finished;
        child->join_lock.unlock();
        return fin;
      }
      child->join_lock.unlock();
      pinned_block(c, "join");
    }
    // An OS thread (or a pinned fiber): block the thread.
    detail::ThreadEvent ev;
    Waiter w;
    w.thread = &ev;
    child->join_lock.lock();
    if (child->finished) {
      child->join_lock.unlock();
      return true;
    }
    child->joiners.push_back(&w);
    child->join_lock.unlock();
    bool ok = ev.wait(deadline_ns < 0 ? -1 : std::max<std::int64_t>(0, deadline_ns - detail::now_ns()));
    if (ok) return true;
    child->join_lock.lock();
    child->joiners.unlink(&w);
    bool fin = child->finished;
    child->join_lock.unlock();
    if (fin) ev.wait();  // the signal was already sent; wait for it to land before ev dies
    return fin;
  }

  static void drop_ref(FiberBase* fb) {
    F* f = static_cast<F*>(fb);
    CarrierBase* cb = detail::current_carrier();
    Runtime* rt = f->rt;
    if (cb && rt->is_mine_carrier(cb)) rt->drop_ref_on(f, *static_cast<C*>(cb));
    else rt->drop_ref_foreign(f);
  }
  void drop_ref_on(F* f, C& c) {
    // acq_rel: the last owner sees every write the others made before they let go.
    if (f->refs.fetch_sub(1, std::memory_order_acq_rel) == 1) release_memory(f, c.stacks());
  }
  void drop_ref_foreign(F* f) {
    if (f->refs.fetch_sub(1, std::memory_order_acq_rel) != 1) return;
    // Not on a carrier: stack allocators are per carrier, so hand it to one.
    std::lock_guard<std::mutex> g(orphan_mu_);
    orphan_list_.push_back(f);
    orphans_.store(orphan_list_.size(), std::memory_order_relaxed);
  }
  void free_orphans(typename V::Stacks& stacks) {
    std::vector<FiberBase*> list;
    {
      std::lock_guard<std::mutex> g(orphan_mu_);
      list.swap(orphan_list_);
      orphans_.store(0, std::memory_order_relaxed);
    }
    for (FiberBase* f : list) release_memory(static_cast<F*>(f), stacks);
  }
  static void release_memory(F* f, typename V::Stacks& stacks) {
    // The last reference is gone (the runtime's went at death, every handle's after it), so
    // nobody can join any more: an exception still here was never taken.
    if (f->error) [[unlikely]] detail::report_unjoined_exception(*f);
    Stack s = f->stack;
    Sw::destroy(f->ctx);
    f->destroy_block(f);
    stacks.release(s);
  }

  // Wakes a parked carrier when there is work it could take: one that can steal it
  // (chaselev) or share it (fifo). Go's wakep: at most one, and only if one is idle.
  void maybe_wake_idle(C* self) {
    if (!multi_) return;
    // The other half of idle()'s pair (the litmus argument is there): the fence orders
    // the push just made (plain or release stores) before this load; idle() increments
    // idle_, fences, then re-checks. acquire: also pairs with that increment (a seq_cst
    // RMW), so the sleeper's flag, stored before it, is seen below.
    std::atomic_thread_fence(std::memory_order_seq_cst);
    if (idle_.load(std::memory_order_acquire) == 0) return;
    kick_a_sleeper(self);
  }
  // Wakes one sleeping carrier other than self, claiming it so that the next call picks
  // another one (a burst of pushes wakes as many carriers as it has pushes). Out of line:
  // it ends in a system call anyway, and inlined it pushed after_switch (the yield path)
  // out of line too (callgrind: +10 instructions per yield).
  [[gnu::noinline]] void kick_a_sleeper(C* self) {
    for (auto& c : carriers_)
      if (c.get() != self && c->claim_sleeper()) {
        c->kick();
        return;
      }
  }
  bool any_stealable(C* self) const noexcept {
    for (auto& c : carriers_)
      if (c.get() != self && Sched::stealable(c->local_)) return true;
    return false;
  }

  // The allocator's constructor argument: PoolOptions for pooled, StackOptions for fresh.
  auto stack_config() const {
    StackOptions so;
    so.size = opts_.stack_size;
    so.guard = opts_.guard;
    if constexpr (std::is_constructible_v<typename V::Stacks, PoolOptions>) {
      PoolOptions p;
      p.cap = opts_.pool_cap;
      p.stack = so;
      return p;
    } else {
      return so;
    }
  }
  typename V::Stacks& ext_stacks() {
    if (!ext_stacks_) ext_stacks_ = std::make_unique<typename V::Stacks>(stack_config());
    return *ext_stacks_;
  }

  Options opts_;
  unsigned ncarriers_ = 1;
  bool multi_ = false;
  bool mode_run_ = true;
  bool started_ = false;
  typename Sched::Shared sched_;
  std::vector<std::unique_ptr<C>> carriers_;
  std::vector<std::thread> threads_;
  alignas(64) std::atomic<std::int64_t> live_{0};
  alignas(64) std::atomic<unsigned> idle_{0};
  std::atomic<bool> closing_{false};
  std::atomic<bool> closed_{false};
  std::atomic<std::uint64_t> next_target_{0};
  std::mutex ext_mu_;
  std::unique_ptr<typename V::Stacks> ext_stacks_;
  std::mutex orphan_mu_;
  std::vector<FiberBase*> orphan_list_;
  std::atomic<std::size_t> orphans_{0};
};

}  // namespace sy
