// A carrier: one OS thread running the scheduler loop over its run queue, pending list,
// deadline heap, predicate list and poller (runtimes/SCHEDULER.md walks through it).
// runtime.h includes this; include runtime.h.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <type_traits>
#include <utility>
#include <vector>

#include "switchyard/deadline_heap.h"
#include "switchyard/detail/sync.h"
#include "switchyard/detail/wait_queue.h"
#include "switchyard/fiber.h"
#include "switchyard/handles.h"
#include "switchyard/io_core.h"
#include "switchyard/sched.h"
#include "switchyard/sched_constants.h"
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
inline void (*after_finish_unlock)(sy::FiberBase*) = nullptr;  // RuntimeState::entry, the join lock released
inline void (*spinning_started)(unsigned) = nullptr;  // try_start_spinning won: the spinners now
inline void (*between_scan_halves)(unsigned) = nullptr;  // RuntimeState::tally: the carrier count
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

template <class V>
class Carrier;

// ---------------------------------------------------------------------------------------
// What a runtime's carriers share, and the one interface through which Carrier and Runtime
// use it: neither reads the other's fields. The Runtime owns it; every Carrier and every
// fiber (Fiber<V>::rt) holds a pointer to it. It also holds the fiber lifecycle (create,
// entry, retire, the reference drops), which touches the live count, the carriers'
// registries and the orphan list. Configuration (options, carrier count, run mode) is
// written before any carrier thread starts, and std::thread's start orders it before
// everything the carriers do.
template <class V>
class RuntimeState {
 public:
  using Sw = typename V::Switch;
  using Sched = typename V::Sched;
  using F = Fiber<V>;
  using C = Carrier<V>;

  explicit RuntimeState(Options o) : opts_(std::move(o)) {
    ncarriers_ = opts_.carriers ? opts_.carriers : available_cpus();
    multi_ = ncarriers_ > 1;
    sched_.multi = multi_;
    live_slots_ = std::make_unique<LiveSlot[]>(ncarriers_);
    for (unsigned i = 0; i < ncarriers_; ++i) carriers_.push_back(std::make_unique<C>(*this, i));
  }
  RuntimeState(const RuntimeState&) = delete;
  RuntimeState& operator=(const RuntimeState&) = delete;
  ~RuntimeState() {
    std::lock_guard<std::mutex> g(orphan_mu_);
    for (FiberBase* f : orphan_list_) release_memory(static_cast<F*>(f), carriers_[0]->stacks());
    orphan_list_.clear();
  }

  // Identifies this variant's carriers (CarrierBase::variant_tag).
  static const void* tag() noexcept {
    static const char t = 0;
    return &t;
  }

  // ---- configuration (read-only once the carriers run)
  const Options& options() const noexcept { return opts_; }
  unsigned carrier_count() const noexcept { return ncarriers_; }
  bool multi() const noexcept { return multi_; }
  C& carrier(unsigned i) noexcept { return *carriers_[i]; }
  const C& carrier_const(unsigned i) const noexcept { return *carriers_[i]; }
  typename Sched::Shared& sched() noexcept { return sched_; }
  // Before the carriers start: run() (exit when no fiber is live) or start() (exit at finish()).
  void set_run_mode(bool run) noexcept { mode_run_ = run; }

  // True if c is one of this runtime's carriers.
  bool is_mine(const CarrierBase* c) const noexcept {
    return c->variant_tag == tag() && c->index < ncarriers_ && carriers_[c->index].get() == c;
  }
  // The carrier running this code, known to be one of this runtime's: with a single
  // carrier no thread_local needs reading (fibers cannot migrate).
  C* current_carrier() noexcept { return multi_ ? static_cast<C*>(detail::current_carrier()) : carriers_[0].get(); }

  // ---- live fibers and the carriers' exit (MEMORY_ORDER.md section 6 has the argument)
  // No single live count: each carrier counts the fibers it created (in) and the fibers it
  // retired (out) in a slot of its own, written only by its own thread with plain load +
  // store (no locked instruction, no cache line another carrier writes); submissions from
  // other threads count in ext_in_ (and a withdrawn one in ext_out_). A fiber counted in on
  // one carrier may be counted out on another, so only the sums mean anything: live =
  // sum(in) + ext_in - sum(out) - ext_out. With one carrier none of this takes an RMW.

  // A snapshot for introspection and tests, in should_exit()'s order (every out before every
  // in), so it is never negative; it may be stale while fibers run.
  std::int64_t live() const noexcept {
    const Tally t = tally();
    return static_cast<std::int64_t>(t.in - t.out);
  }
  // A submission from outside counts itself before it checks that the runtime is open.
  // seq_cst: a Dekker pair with finish() (Runtime::submit; should_exit has the argument).
  void count_submission() noexcept { ext_in_.fetch_add(1, std::memory_order_seq_cst); }
  // A submission withdrawn (the runtime closed under it, or its creation threw): counted out
  // in ext_out_, then every carrier kicked, since one may have gone to sleep after a scan
  // that saw the submission counted in but not yet out. seq_cst: a release (a scan that sees
  // the withdrawal, with its acquire, also sees the submission's count: MEMORY_ORDER.md
  // section 6); the kick is what wakes the carriers. Rare: only a failed submission.
  void uncount() {
    ext_out_.fetch_add(1, std::memory_order_seq_cst);
    kick_all();
  }
  // finish() raises it once no submission can come any more; start() and finish() clear it.
  // seq_cst: closing_ then ext_in_ in should_exit(), closed_ then closing_ in finish(): see there.
  void set_closing(bool v) noexcept { closing_.store(v, std::memory_order_seq_cst); }
  // True once no fiber is live and none can appear any more (run mode: only live fibers
  // create fibers, so 0 is absorbing; start mode: closing_ too). A quiescence check over
  // the per-carrier counts: every out count first (acquire), then every in count. A fiber
  // whose end a scan sees has its start seen too (its count in happens before its count
  // out, which the acquire load synchronizes with), and so does every fiber it spawned (a
  // spawn is sequenced before the spawner's end). So in == out means: every fiber the scan
  // counted has ended, and so has every fiber any of them spawned; by induction from the
  // roots (run()'s main, or the submissions, seen below), no fiber is left and none will
  // come. Reading an in count before the out counts would break it: a child counted in
  // after that read, on one carrier, and its parent counted out before the out read, on
  // another, and the sums match with the child still to run.
  // closing_ (seq_cst) before ext_in_ (seq_cst): pairs with submit() (ext_in_ then closed_)
  // and finish() (closed_ then closing_), all in the single total order: a carrier that sees
  // closing_ also sees the count of every submission that saw closed_ == false, so it cannot
  // exit with that fiber still on its way.
  // A false answer costs nothing to correct: a carrier that goes to sleep re-checks after
  // its seq_cst fence (Carrier::idle), and the one whose fence comes last in that order sees
  // every count out; one that sees true kicks the others as it leaves (Carrier::loop).
  bool should_exit() const noexcept {
    if (!mode_run_ && !closing_.load(std::memory_order_seq_cst)) return false;
    const Tally t = tally();
    return t.in == t.out;
  }
  void kick_all() {
    for (auto& c : carriers_) c->kick();
  }
  // The carrier `self` is leaving its loop because should_exit() held: kick the others, so a
  // sleeping one does not wait for its park timeout to see it (nobody else knows the count
  // reached 0). Each kick stays pending in its eventfd if that carrier is not blocked yet.
  void kick_others(const C* self) {
    for (auto& c : carriers_)
      if (c.get() != self) c->kick();
  }
  // A fiber created on carrier `on` (its thread): counted in its slot. relaxed: only this
  // thread writes the slot, so load + store is an increment; what orders it before the
  // fiber's count out is the push that publishes the fiber (release) and the steal or run
  // that takes it, and before the spawner's own count out, program order on the spawner.
  void count_in(unsigned on) noexcept {
    auto& n = live_slots_[on].in;
    n.store(n.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
  }
  // A fiber retired on carrier `on` (its thread). release: pairs with the acquire loads of
  // the out counts in tally(): a scan that sees this count out sees everything before it,
  // the fiber's count in and the counts in of every fiber it spawned.
  void count_out(unsigned on) noexcept {
    auto& n = live_slots_[on].out;
    n.store(n.load(std::memory_order_relaxed) + 1, std::memory_order_release);
  }

  // ---- idle carriers (the sleep handshake: MEMORY_ORDER.md section 3, Carrier::idle)
  // relaxed: a hint for the lone-yield check; a stale read only delays or skips one chance
  // for a lone yielder to migrate.
  bool any_idle_hint() const noexcept { return idle_.load(std::memory_order_relaxed) != 0; }
  // acquire: pairs with enter_idle()'s seq_cst increment, so a sleeper's sleeping_ flag,
  // stored before that increment, is seen by the kick_a_sleeper() that follows.
  bool any_idle() const noexcept { return idle_.load(std::memory_order_acquire) != 0; }
  // seq_cst: the sleeper's half of the Dekker pair with maybe_wake_idle() (with the
  // seq_cst fence that Carrier::idle issues right after it).
  void enter_idle() noexcept { idle_.fetch_add(1, std::memory_order_seq_cst); }
  // relaxed: idle_ is a hint for pushers; a stale high value costs one needless kick.
  void leave_idle() noexcept { idle_.fetch_sub(1, std::memory_order_relaxed); }

  // Wakes a parked carrier when there is work it could take: one that can steal it
  // (chaselev) or share it (fifo). Go's wakep: at most one, only if one is idle, and none
  // while a carrier spins (that one will find the work).
  void maybe_wake_idle(C* self) {
    if (multi_) wake_idle_if_needed(self);
  }
  // Out of line: it is on the multi-carrier push path only, and inlined its spinner check
  // pushed the single-carrier yield and spawn paths over the inliner's budget (callgrind,
  // in the harness's instruction child: +13 per yield on chaselev, +10-12 per spawn+join).
  [[gnu::noinline]] void wake_idle_if_needed(C* self) {
    // The other half of idle()'s pair (the litmus argument is there): the fence orders
    // the push just made (plain or release stores) before this load; idle() increments
    // idle_, fences, then re-checks.
    std::atomic_thread_fence(std::memory_order_seq_cst);
    if (!any_idle()) return;
    // A spinner finds this push: a Dekker pair with stop_spinning() (see there). Read
    // after the fence above; seq_cst costs a plain load on x86.
    if (spinning_.load(std::memory_order_seq_cst) != 0) return;
    kick_a_sleeper(self);
  }
  // Wakes one sleeping carrier other than self, claiming it so that the next call picks
  // another one (a burst of pushes wakes as many carriers as it has pushes). Out of line:
  // it ends in a system call anyway, and inlined it pushed after_switch (the yield path)
  // out of line too (callgrind: +10 instructions per yield). self: the calling carrier
  // (on its thread), which counts the kick.
  [[gnu::noinline]] void kick_a_sleeper(C* self) {
    for (auto& c : carriers_)
      if (c.get() != self && c->claim_sleeper()) {
        c->kick();
        if (self) self->count_kick();
        return;
      }
  }

  // ---- spinning carriers (the adaptive idle policy: Carrier::idle, SCHEDULER.md section 4)
  // Go's spinning threads: an idle carrier may spin (look for work without blocking) if
  // fewer than max(1, carriers / 2) spin already and the spinners would not outnumber the
  // carriers that run fibers (neither asleep nor spinning), the ones that may push work or
  // have some to steal. True if this carrier is now counted as a spinner; it must call
  // stop_spinning() before it blocks or runs anything.
  bool try_start_spinning() noexcept {
    if (!multi_) return false;
    const unsigned allowed = std::max(1u, ncarriers_ / 2);
    // relaxed: the spinner count's bound is kept by the CAS itself (an RMW sees the latest
    // value); idle_ is a hint, and a stale one only lets a carrier spin once too often or
    // too rarely. Nothing is published through these.
    unsigned s = spinning_.load(std::memory_order_relaxed);
    for (;;) {
      if (s >= allowed) return false;
      const unsigned asleep = idle_.load(std::memory_order_relaxed);
      // The other carriers, minus the sleeping and the spinning ones (this one is neither).
      const int running = static_cast<int>(ncarriers_) - 1 - static_cast<int>(asleep) - static_cast<int>(s);
      if (running <= static_cast<int>(s)) return false;
      if (spinning_.compare_exchange_weak(s, s + 1, std::memory_order_relaxed)) {
        SY_TEST_POINT(spinning_started, s + 1);
        return true;
      }
    }
  }
  // The end of a spin. seq_cst: a pusher that saw this carrier spinning skipped its kick
  // (maybe_wake_idle: push, seq_cst fence, load of spinning_). Its load read a value
  // before this decrement in spinning_'s modification order, so its fence precedes this
  // RMW in the single total order S ([atomics.order] p4.3), and this RMW precedes the
  // spinner's next seq_cst fence (the one in idle() before its last look, which every
  // block passes through): that look sees the push. A spinner that found work instead
  // runs it; the push stays on a carrier that runs fibers, so nothing is lost either way.
  void stop_spinning() noexcept { spinning_.fetch_sub(1, std::memory_order_seq_cst); }
  // True while some carrier runs fibers (neither asleep nor spinning): a spinner stops
  // when nobody is left to push work. relaxed: a hint, as in try_start_spinning.
  bool any_running() const noexcept {
    return ncarriers_ > idle_.load(std::memory_order_relaxed) + spinning_.load(std::memory_order_relaxed);
  }
  // Spinning carriers now (tests, introspection). relaxed: a snapshot.
  unsigned spinning() const noexcept { return spinning_.load(std::memory_order_relaxed); }
  bool any_stealable(C* self) const noexcept {
    for (auto& c : carriers_)
      if (c.get() != self && c->stealable()) return true;
    return false;
  }

  // ---- fiber lifecycle
  // Builds a fiber whose control block (Fiber, callable, result) sits at the top of its
  // own stack: spawning allocates nothing but the stack. counted: the caller already
  // counted it live (a submission); otherwise it is counted here.
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
      if (counted) uncount();
      throw;
    }
    char* top = s.hi();
    static_assert(alignof(Block) <= sched_constants::kCacheLine);
    // Cache colouring (sched_constants::kCacheColours): stack tops are page-aligned at
    // large strides, so every fiber's control block and first frames would fall in the
    // same L1 sets. A per-fiber offset of a few cache lines spreads them.
    const std::uint64_t id = detail::next_fiber_id();
    const std::uintptr_t colour = (id % sched_constants::kCacheColours) * sched_constants::kCacheLine;
    auto addr = (reinterpret_cast<std::uintptr_t>(top) - sizeof(Block) - colour) &
                ~std::uintptr_t(sched_constants::kCacheLine - 1);
    Block* b;
    try {
      b = new (reinterpret_cast<void*>(addr)) Block(std::forward<Fn>(fn));
    } catch (...) {
      stacks.release(s);
      if (counted) uncount();
      throw;
    }
    F* f = b;
    f->stack = s;
    f->rt = this;
    f->id = id;
    if (!so.name.empty()) f->set_name(so.name);  // unnamed: shown as "fiber-<id>"
    // relaxed: f is not shared yet; the run-queue push or pending-list post that hands it
    // to a carrier publishes it (and the handle travels with this thread).
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
      if (counted) uncount();
      throw;
    }
    StackRange usable{s.lo, static_cast<std::size_t>(reinterpret_cast<char*>(addr) - static_cast<char*>(s.lo))};
    Sw::make(f->ctx, usable, &RuntimeState::entry, f);
    CarrierBase* cb = detail::current_carrier();
    const unsigned here = cb && is_mine(cb) ? cb->index : 0;
    // Counted in before anything can run f: the spawner is a live fiber of this runtime on
    // carrier `here` (or run(), on the thread that becomes carrier 0, before any carrier
    // runs), so the count in is sequenced before the spawner's own count out
    // (should_exit has the argument). A caller on no carrier of this runtime has counted
    // its submission already (count_submission).
    if (!counted) count_in(here);
    carriers_[here]->register_fiber(f);
    return JoinHandle<R>(f, static_cast<ResultSlot<R>*>(b), &join_ops());
  }
  static const JoinOps& join_ops() noexcept {
    static const JoinOps ops{&RuntimeState::join_wait, &RuntimeState::drop_ref};
    return ops;
  }

  // First code a new fiber runs (through the switch backend's trampoline).
  static void entry(void* arg) {
    F* f = static_cast<F*>(arg);
    f->rt->current_carrier()->resumed();
    f->body(f);
    C* c = f->rt->current_carrier();  // it may have migrated
    f->join_lock.lock();
    // release: pairs with join_wait's lock-free acquire load, so a joiner that sees true
    // sees the result and error the body wrote before it.
    f->finished.store(true, std::memory_order_release);
    detail::wake_all<Runtime<V>>(f->joiners);  // the wait-queue protocol: under the lock
    f->join_lock.unlock();
    // From here a joiner may take f->error at any time. Whether nobody joins is decided at
    // the last reference's drop (release_memory), when nobody can any more.
    SY_TEST_POINT(after_finish_unlock, f);
    c->switch_out_final(f);
  }

  // A dead fiber, after its last switch (so its stack is no longer in use). On carrier c's
  // thread only (its stack allocator takes the stack if this was the last reference).
  void retire(F* f, C& c) {
    // relaxed: introspection only (FiberBase::state).
    f->state.store(FiberState::dead, std::memory_order_relaxed);
    carriers_[f->registry]->unregister_fiber(f);
    drop_ref_on(f, c);
    count_out(c.index);
  }

  // ---- references (FiberRef, JoinHandle) and the stacks' return
  static void drop_ref(FiberBase* fb) {
    F* f = static_cast<F*>(fb);
    CarrierBase* cb = detail::current_carrier();
    RuntimeState* rt = f->rt;
    if (cb && rt->is_mine(cb)) rt->drop_ref_on(f, *static_cast<C*>(cb));
    else rt->drop_ref_foreign(f);
  }
  // True when the caller's reference to f was the last one (the caller frees f).
  //
  // The fast path skips the locked RMW when the caller is provably the only owner, as
  // libstdc++'s shared_ptr does for its last owner: a reference is only ever made from one
  // that its maker holds (create's store of 2 before f is shared, FiberRef::retain from a
  // held reference, Runtime::self() from the runtime's, which lives while f runs). So if
  // this acquire load reads 1, the 1 is the caller's own reference, nobody else holds one,
  // and nobody can make one any more: no decrement can race with the free. The acquire
  // pairs with the release half of the acq_rel fetch_sub that brought the count to 1 (the
  // other owners' drops; an RMW chain is a release sequence, so every earlier drop is
  // included), so each former owner's writes (a joiner's take of the result, a wake through
  // a FiberRef) happen before the free, exactly as the RMW's acquire would have ordered
  // them. Nothing needs storing 0: the memory is freed, and nobody reads the count again.
  // On x86 the load is a plain mov against a lock xadd (~20 cycles on this EPYC): in
  // spawn+join the handle's drop comes after the retire's and always takes this path.
  //
  // Otherwise acq_rel, as before: release, so this owner's writes happen before the free
  // by whoever drops last; acquire, so the last owner, which frees, has seen them all.
  static bool drop_last(F* f) noexcept {
    if (f->refs.load(std::memory_order_acquire) == 1) return true;
    return f->refs.fetch_sub(1, std::memory_order_acq_rel) == 1;
  }
  // On carrier c's thread only.
  void drop_ref_on(F* f, C& c) {
    if (drop_last(f)) release_memory(f, c.stacks());
  }
  // Not on one of this runtime's carriers: the stack allocators are per carrier, so the
  // last reference hands the fiber to the orphan list, which a carrier frees.
  void drop_ref_foreign(F* f) {
    if (!drop_last(f)) return;
    std::lock_guard<std::mutex> g(orphan_mu_);
    orphan_list_.push_back(f);
    // relaxed: a hint read by maintenance; the mutex orders the list itself.
    orphans_.store(orphan_list_.size(), std::memory_order_relaxed);
  }
  // relaxed: a hint (see drop_ref_foreign); one missed now is freed at a later maintenance.
  bool has_orphans() const noexcept { return orphans_.load(std::memory_order_relaxed) != 0; }
  // On a carrier's thread only, into that carrier's allocator.
  void free_orphans(typename V::Stacks& stacks) {
    std::vector<FiberBase*> list;
    {
      std::lock_guard<std::mutex> g(orphan_mu_);
      list.swap(orphan_list_);
      // relaxed: the mutex orders the list; see drop_ref_foreign.
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

 private:
  // JoinOps::wait: the wait-queue protocol (detail/wait_queue.h) on the joinee's joiners.
  static bool join_wait(FiberBase* child, std::int64_t deadline_ns) {
    F* self = Runtime<V>::current();  // nullptr from an OS thread or another variant's fiber
    if (self == child) throw FiberError("join: a fiber cannot join itself");
    // Already finished: no lock. acquire: pairs with entry's release store of finished,
    // made after the body wrote the result and error, so take() reads them whole. A joiner
    // that sees false takes the lock and looks again: the lock orders it against the
    // finish (entry sets the flag and wakes the joiners under it), as before.
    if (child->finished.load(std::memory_order_acquire)) return true;
    detail::SpinGuard g(child->join_lock);
    // relaxed, here and below: under the lock, which orders the finisher's store.
    if (child->finished.load(std::memory_order_relaxed)) return true;
    Waiter w;
    // A join from another variant's fiber blocks its thread, as from any OS thread; the
    // joinee writes its result before it wakes its joiners (entry).
    const detail::Parked how = detail::park_as<Runtime<V>>(self, g, child->joiners, w, deadline_ns, "join", [] {},
                                                           detail::Foreign::block_thread,
                                                           detail::Handoff::before_wake);
    if (how == detail::Parked::handed) return true;  // woken by the joinee's end
    return child->finished.load(std::memory_order_relaxed);  // timed out or unparked; g holds the lock
  }

  Options opts_;
  unsigned ncarriers_ = 1;
  bool multi_ = false;
  bool mode_run_ = true;
  typename Sched::Shared sched_;
  std::vector<std::unique_ptr<C>> carriers_;
  // The counts a scan read (should_exit, live): sums over every carrier and ext_*.
  struct Tally {
    std::uint64_t in = 0, out = 0;
  };
  // Every out count (acquire: pairs with count_out's release store and uncount's RMW), then
  // every in count (relaxed: the acquire loads before them are what makes a count in,
  // which happens before a count out they saw, visible; ext_in_ seq_cst for the Dekker pair
  // with submit, see should_exit). Any thread.
  Tally tally() const noexcept {
    Tally t;
    t.out = ext_out_.load(std::memory_order_acquire);
    for (unsigned i = 0; i < ncarriers_; ++i) t.out += live_slots_[i].out.load(std::memory_order_acquire);
    SY_TEST_POINT(between_scan_halves, ncarriers_);
    for (unsigned i = 0; i < ncarriers_; ++i) t.in += live_slots_[i].in.load(std::memory_order_relaxed);
    t.in += ext_in_.load(std::memory_order_seq_cst);
    return t;
  }
  // One carrier's counts, written only by that carrier's thread (count_in, count_out), read
  // by every scan. A cache line of its own: no other carrier writes near it.
  struct alignas(sched_constants::kCacheLine) LiveSlot {
    std::atomic<std::uint64_t> in{0};   // fibers created on this carrier
    std::atomic<std::uint64_t> out{0};  // fibers retired on this carrier
  };
  std::unique_ptr<LiveSlot[]> live_slots_;
  // Submissions from outside the carriers (RMW: any thread) and withdrawn ones. Both only
  // ever grow, as the slots' counts do: the scan's argument needs that.
  alignas(64) std::atomic<std::uint64_t> ext_in_{0};
  std::atomic<std::uint64_t> ext_out_{0};
  alignas(64) std::atomic<unsigned> idle_{0};
  std::atomic<unsigned> spinning_{0};  // carriers in an adaptive spin (try_start_spinning)
  std::atomic<bool> closing_{false};
  std::mutex orphan_mu_;
  std::vector<FiberBase*> orphan_list_;
  std::atomic<std::size_t> orphans_{0};
};

// ---------------------------------------------------------------------------------------
template <class V>
class Carrier : public CarrierBase {
 public:
  using Sw = typename V::Switch;
  using Sched = typename V::Sched;
  using F = Fiber<V>;

  Carrier(RuntimeState<V>& rt, unsigned idx)
      : rt_(rt), stacks_(rt.stack_config()), poller_(rt.options().io_backend, rt.options().io_registration) {
    variant_tag = RuntimeState<V>::tag();
    index = idx;
    rng_ = 0x9E3779B97F4A7C15ull * (idx + 1);
    hooks_ = rt.options().hooks;
    switch_hooks_ = hooks_ && hooks_->before_switch ? hooks_ : nullptr;
    // Any hooks (gc.h sets them) take the general path: their switch hooks, and the
    // collector's view of a switch in progress (switching_out()), stay as they were.
    fast_yield_ = !rt.multi() && !hooks_;
  }

  // The state this carrier shares with the others and its runtime.
  RuntimeState<V>& state() noexcept { return rt_; }

  // ---- called by the running fiber to give up the carrier (self->action says why);
  // on this carrier's thread only, like everything below that does not say otherwise.
  void switch_out(F* self) {
    F* next = next_runnable();
    if (!next && self->action == Action::yield) {
      // Nothing else to run here. Keep going, unless another carrier is idle: then
      // publish this fiber (through the scheduler loop, after its context is saved) so an
      // idle carrier may take it, as Go's Gosched does through the global run queue;
      // otherwise a lone yielder could never spread to an idle carrier.
      // Every kLoneYieldInterval-th lone yield only, and the idle carrier is woken once the
      // fiber is published (after_switch), so this costs a wake per that many yields.
      if (!rt_.multi() || (++lone_yields_ & (sched_constants::kLoneYieldInterval - 1)) != 0 ||
          !rt_.any_idle_hint()) {
        self->action = Action::none;
        return;
      }
      wake_after_publish_ = true;
    }
    save_eh(self);
    if (!self->stack.guarded) [[unlikely]] check_canary(self);
    prev_ = self;
    if (next) {
      enter(next);
      switch_to<Sw>(self->ctx, next->ctx);
    } else {
      current_base = nullptr;  // also the overflow handler's (install_runtime_diagnostics)
      if (switch_hooks_) [[unlikely]] hook_before_switch(nullptr);
      switch_to<Sw>(self->ctx, sched_ctx_);
    }
    // Resumed. With several carriers it may be another one: find it again through the
    // opaque accessor (never a cached thread_local address). With one, it is this one.
    Carrier* c = rt_.multi() ? rt_.current_carrier() : this;
    c->resumed();
    c->restore_eh(self);
  }

  // A yield of the running fiber self (Runtime::yield checked that it is not pinned).
  // The fast path, with one carrier and no hooks (fast_yield_): hand the carrier to
  // the next fiber and put self at the tail of the run queue *before* the switch, in one
  // queue step (Sched::hand_off), instead of pushing self after it (after_switch). That is
  // safe with one carrier only: nothing but this thread touches the run queue, and it
  // runs the next fiber only once the switch is done, so nobody can resume self before its
  // context is saved (the rule after_switch keeps for the general case). The order is
  // the general path's: self is runnable again after every fiber queued before it.
  // Everything else is as in switch_out: the exception globals saved and restored, the
  // canary checked, the fiber switched away from published by whoever resumes (it may
  // be a waiting fiber that switched to self through switch_out), the backstop counted.
  [[gnu::always_inline]] void yield(F* self) {
    if (!fast_yield_) [[unlikely]] return yield_slow(self);
    if (--until_backstop_ == 0) [[unlikely]] {
      until_backstop_ = 1;  // next_runnable counts this run again, and runs the backstop
      return yield_slow(self);
    }
    FiberBase* nb;
    if constexpr (requires { Sched::hand_off(local_, self); }) {
      nb = Sched::hand_off(local_, self);
    } else {
      nb = Sched::pop(rt_.sched(), local_, false);
      if (nb) Sched::push(rt_.sched(), local_, self, PushKind::yielded);
    }
    if (!nb) [[unlikely]] return yield_slow(self);  // nothing queued: maintenance, or no switch
    F* next = static_cast<F*>(nb);
    // relaxed, both: introspection only (FiberBase::state). One carrier: the fibers'
    // `carrier` fields all hold 0 already.
    self->state.store(FiberState::runnable, std::memory_order_relaxed);
    save_eh(self);
    if (!self->stack.guarded) [[unlikely]] check_canary(self);
    current_base = next;  // also the overflow handler's (install_runtime_diagnostics)
    next->state.store(FiberState::running, std::memory_order_relaxed);
    switch_to<Sw>(self->ctx, next->ctx);
    // Resumed, on this carrier (one carrier) and without hooks (fast_yield_): after_switch,
    // with its body out of line (nothing to publish after a hand-off).
    if (prev_) [[unlikely]] after_switch_out_of_line();
    restore_eh(self);
  }
  [[gnu::noinline]] void after_switch_out_of_line() { after_switch(); }

  // The dying fiber's last switch (never returns).
  [[noreturn]] void switch_out_final(F* self) {
    self->action = Action::dead;
    F* next = next_runnable();
    prev_ = self;
    if (next) {
      enter(next);
      switch_to_final<Sw>(self->ctx, next->ctx);
    } else {
      current_base = nullptr;  // also the overflow handler's (install_runtime_diagnostics)
      if (switch_hooks_) [[unlikely]] hook_before_switch(nullptr);
      switch_to_final<Sw>(self->ctx, sched_ctx_);
    }
    __builtin_unreachable();
  }

  // ---- the scheduler loop on the carrier thread's own stack
  void loop() {
    void* const unpinned = rt_.options().pin_carriers ? detail::pin_current_thread(index) : nullptr;
    detail::set_current_carrier(this);
    eh_ = detail::eh_globals();
    // The thread's own exception state (run() may be called inside a catch block) is not
    // the fibers': set it aside for the loop and give it back at the end.
    const detail::EhGlobals thread_eh = *eh_;
    eh_->caught = nullptr;
    eh_->uncaught = 0;
    ensure_signal_altstack();
    // This thread may not be the one that ran the loop last time (run() and start() again).
    adopt_thread_context<Sw>(sched_ctx_);
    if (hooks_ && hooks_->start) hooks_->start(*this, hooks_->arg);
    // The loop's CPU and wall time (CarrierCounters::cpu_ns, wall_ns): two clock reads at
    // each end, none inside.
    const std::int64_t cpu_start = detail::thread_cpu_ns();
    const std::int64_t wall_start = detail::now_ns();
    for (;;) {
      resumed();
      if (F* f = next_runnable()) {
        enter(f);
        switch_to<Sw>(sched_ctx_, f->ctx);
        continue;
      }
      if (rt_.should_exit()) {
        rt_.kick_others(this);
        break;
      }
      idle();
    }
    // Both clocks are monotonic for this thread, so the differences are never negative.
    counters_.cpu_ns += static_cast<std::uint64_t>(detail::thread_cpu_ns() - cpu_start);
    counters_.wall_ns += static_cast<std::uint64_t>(detail::now_ns() - wall_start);
    if (hooks_ && hooks_->stop) hooks_->stop(*this, hooks_->arg);
    *eh_ = thread_eh;
    detail::set_current_carrier(nullptr);
    detail::unpin_current_thread(unpinned);
  }

  // First thing on whatever resumes on this carrier after a switch (a fiber, a new
  // fiber's entry, the scheduler loop): the switch hooks, then publishing the fiber that
  // switched away. (The hook call is out of line and cold so that after_switch stays inlined.)
  // always_inline: it is on every switch's resume (the yield path).
  [[gnu::always_inline]] void resumed() {
    if (switch_hooks_) [[unlikely]] hook_after_switch();
    after_switch();
  }

  // ---- run queue
  void push(FiberBase* f, PushKind kind) {
    // A woken fiber wakes an idle carrier only if this one already has other work: the
    // waker usually blocks soon and runs it here (Go's runnext). Waking a sleeping carrier
    // for it would cost a kick and a cross-carrier hand-off per wake (a channel ping-pong
    // over two carriers: tens of microseconds per hand-off instead of ~100 ns).
    const bool spread = kind == PushKind::spawned ||
                        (kind == PushKind::woken && rt_.multi() && maybe_work());
    // relaxed: introspection only (FiberBase::state); the push publishes f.
    f->state.store(FiberState::runnable, std::memory_order_relaxed);
    Sched::push(rt_.sched(), local_, f, kind);
    if (spread) rt_.maybe_wake_idle(this);
  }

  // Runnable work for this carrier in the scheduler's queues (a hint, maybe stale).
  bool maybe_work() const noexcept { return Sched::maybe_work(rt_.sched(), local_); }
  // Work another carrier could steal from this one (a hint). Any thread.
  bool stealable() const noexcept { return Sched::stealable(local_); }

  // A claimed wake of a fiber that waits in this carrier's structures, from this carrier.
  void wake_local(FiberBase* f) {
    heap_.remove(f);
    unlink_pred(f);
    push(f, PushKind::woken);
  }

  // Any thread: hand f (a submission or a claimed wake) to this carrier's pending list.
  // "Post" means this and only this.
  void post(FiberBase* f) {
    pending_.push(f);
    notify();
  }

  // Any thread. Wakes the carrier if it sleeps. Dekker pair with idle(): the push above
  // is seq_cst, this load is seq_cst, and idle() stores sleeping_ (seq_cst) before
  // re-checking (MEMORY_ORDER.md section 3).
  // The kick claims the sleeper (claim_sleeper), so a wake in a burst that follows goes to
  // another carrier, and a carrier that posts counts the kick (CarrierCounters::kicks).
  void notify() noexcept {
    if (sleeping_.load(std::memory_order_seq_cst) && claim_sleeper()) {
      kick();
      CarrierBase* cb = detail::current_carrier();
      if (cb && rt_.is_mine(cb)) static_cast<Carrier*>(cb)->count_kick();
    }
  }
  // The carrier's one wake mechanism, whatever it blocks in: an eventfd in its poller's
  // set. A kick sent before the carrier blocks stays pending (the counter is non-zero), so
  // it cannot be lost between the last look for work and the block. Any thread.
  void kick() noexcept { poller_.kick(); }
  detail::Poller& poller() noexcept { return poller_; }
  // Any thread. relaxed: a snapshot for tests and introspection; nothing is read through it.
  bool is_sleeping() const noexcept { return sleeping_.load(std::memory_order_relaxed); }
  // This carrier's counters (CarrierCounters: who writes them and when they may be read).
  const CarrierCounters& counters() const noexcept { return counters_; }
  // A kick this carrier sent to a sleeper it claimed. On this carrier's thread only.
  void count_kick() noexcept { ++counters_.kicks; }

  // Takes the right to wake this carrier: true for one caller per sleep, which then kicks
  // it. The flag is cleared here, not when the carrier wakes, so the next wake in a burst
  // goes to another sleeper instead of kicking this one again. A post() that finds it
  // cleared sends no kick: none is needed, the claimer's kick wakes it, and a woken
  // carrier drains its pending list before it can sleep again. Any thread.
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

  F* current() const noexcept { return static_cast<F*>(current_base); }
  // For a reader that runs while this carrier's thread is stopped by a signal (gc.h): no
  // lock, so it cannot wait for one the stopped thread holds. The registry's forward links
  // are written in an order such a reader may follow (register_fiber, unregister_fiber).
  FiberBase* registry_head_unlocked() const noexcept { return reg_head_; }
  // From just before a switch to after_switch. Not set by yield's hand-off, which runs only
  // without hooks, so never under gc.h (the one reader).
  F* switching_out() const noexcept { return prev_; }
  const typename Sw::Context& scheduler_context() const noexcept { return sched_ctx_; }
  typename V::Stacks& stacks() noexcept { return stacks_; }  // this carrier's thread only

  // Introspection registry (locked: listed from other threads). register_fiber: on the
  // creating thread; unregister_fiber: on the retiring carrier; for_each_fiber: any thread.
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

 private:
  // Out of line and cold, so that the switch path's code and registers do not pay for them.
  [[gnu::noinline, gnu::cold]] void hook_before_switch(const Stack* next) noexcept {
    switch_hooks_->before_switch(*this, next, switch_hooks_->arg);
  }
  [[gnu::noinline, gnu::cold]] void hook_after_switch() noexcept { switch_hooks_->after_switch(*this, switch_hooks_->arg); }

  void enter(F* f) noexcept {
    if (switch_hooks_) [[unlikely]] hook_before_switch(&f->stack);
    current_base = f;  // also the overflow handler's (install_runtime_diagnostics)
    // relaxed, both: introspection only (FiberBase::state, FiberBase::carrier).
    f->state.store(FiberState::running, std::memory_order_relaxed);
    f->carrier.store(index, std::memory_order_relaxed);
  }

  // Next fiber to run, or nullptr. Maintenance is skipped on the fast path and forced
  // after sched_constants::kBackstopRuns runs (the backstop) so a busy queue cannot starve
  // timers and wakes.
  F* next_runnable() {
    const bool backstop = --until_backstop_ == 0;
    if (backstop) maintenance();
    FiberBase* f = Sched::pop(rt_.sched(), local_, backstop);
    if (!f) {
      if (!backstop) maintenance();
      f = Sched::pop(rt_.sched(), local_, false);
      if (!f && rt_.multi()) f = steal();
    }
    return static_cast<F*>(f);
  }

  void reset_backstop() noexcept { until_backstop_ = sched_constants::kBackstopRuns; }

  // Maintenance, in the design's order: submissions and remote wakes, I/O, deadlines,
  // predicates. Reads the clock only with a deadline pending, and makes a system call only
  // while fibers wait on fds, on every kIoPollInterval-th maintenance (a carrier that never
  // idles must still see its fds; one that idles collects them in its block).
  void maintenance() {
    reset_backstop();
    for (FiberBase* f = pending_.drain(); f;) {
      FiberBase* next = f->next_post;
      // A submission (never run: state still `created`) or a claimed wake (`suspended`,
      // stored by publish() before it armed the fiber). relaxed: the value was written
      // before the post that brought f here, and drain()'s acquire exchange pairs with
      // that post's release CAS, so this load sees it; nobody else writes state while f
      // sits on the pending list.
      if (f->state.load(std::memory_order_relaxed) == FiberState::created) push(f, PushKind::spawned);
      else wake_local(f);  // claimed by a waker on another thread
      f = next;
    }
    // Not while the fiber switching out holds a wait-queue lock for after its switch: that
    // may be the very fd entry a dispatch would lock.
    if ((++io_tick_ & (sched_constants::kIoPollInterval - 1)) == 0 && detail::io_waiters() != 0 &&
        !(current() && current()->on_saved.fn)) [[unlikely]] {
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
    if (rt_.has_orphans()) [[unlikely]] rt_.free_orphans(stacks_);
  }

  // Thief side: a random victim, then round all the others once. Out of line: the slow
  // path of next_runnable, with several carriers only.
  [[gnu::noinline]] FiberBase* steal() {
    const unsigned n = rt_.carrier_count();
    rng_ ^= rng_ << 13;
    rng_ ^= rng_ >> 7;
    rng_ ^= rng_ << 17;
    const unsigned start = static_cast<unsigned>(rng_ % n);
    for (unsigned k = 0; k < n; ++k) {
      unsigned v = (start + k) % n;
      if (v == index) continue;
      Carrier& victim = rt_.carrier(v);
      if (FiberBase* f = Sched::steal(rt_.sched(), victim.local_)) {
        // Go's rule: a carrier that found work wakes another while work is left, so a
        // burst pushed on one carrier spreads over every idle one, not only the one its
        // pusher woke. any_idle() is an acquire load (see there). A hint: a missed wake
        // only delays the spreading.
        if (rt_.any_idle() && victim.stealable()) [[unlikely]]
          rt_.kick_a_sleeper(this);
        ++counters_.steals;
        return f;
      }
    }
    ++counters_.failed_steals;
    return nullptr;
  }

  [[gnu::noinline]] void yield_slow(F* self) {
    self->action = Action::yield;
    switch_out(self);
  }

  // Runs on whatever was resumed after a switch on this carrier (through resumed()):
  // publishes the fiber that switched away, now that its context is saved.
  void after_switch() {
    F* p = prev_;
    if (!p) return;
    prev_ = nullptr;
    if (p->action == Action::yield) [[likely]] {
      p->action = Action::none;
      // The yield fast path: no wake decision to make (a yield never wakes a carrier here),
      // and small enough to stay inlined into every switch's resume. relaxed: introspection
      // only (FiberBase::state).
      p->state.store(FiberState::runnable, std::memory_order_relaxed);
      Sched::push(rt_.sched(), local_, p, PushKind::yielded);
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
        // relaxed: introspection, and maintenance()'s spawned-or-claimed test, which reads
        // it through the release/acquire of arm(), try_claim() and the pending list.
        p->state.store(FiberState::suspended, std::memory_order_relaxed);
        p->wait_carrier = index;
        if (p->deadline_ns >= 0) heap_.insert(p);
        if (p->pred) link_pred(p);
        // Copied before arming: once armed, another carrier may claim p, run it, and
        // clear p->on_saved as p returns from suspend(), all before this line would read
        // it (the wait queue's lock would then never be released).
        const OnSaved on_saved = p->on_saved;
        p->arm();  // from here on wakers may claim it
        SY_TEST_POINT(after_arm, p);
        if (on_saved.fn) on_saved.fn(on_saved.arg);
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
    const Options& opts = rt_.options();
    if (!heap_.empty()) {
      timeout = std::clamp<std::int64_t>(heap_.earliest() - detail::now_ns(), 0,
                                         sched_constants::kMaxDeadlineBlockNs);
      if (timeout == 0) return;
    } else if (pred_head_) {
      timeout = sched_constants::kPredicatePollNs;  // predicates are polled, not signalled
    } else {
      timeout = opts.park_timeout.count();
    }
    if (pred_head_ && timeout > sched_constants::kPredicatePollNs) timeout = sched_constants::kPredicatePollNs;
    if (waiters && opts.idle_hook) {
      opts.idle_hook(Duration(timeout));
      if (detail::io_waiters() != 0) poller_.wait_and_dispatch(0);
      return;
    }
    // Spin first: Options::idle_spin > 0 on every idle carrier for that long; by default
    // (negative) the adaptive policy, as a counted spinner (try_start_spinning) for at most
    // kAdaptiveSpinNs and only while another carrier runs fibers.
    const std::int64_t spin_opt = opts.idle_spin.count();
    const bool adaptive = spin_opt < 0 && rt_.try_start_spinning();
    if (spin_opt > 0 || adaptive) {
      const std::int64_t spin_start = detail::now_ns();
      const std::int64_t spin_ns = std::min(adaptive ? sched_constants::kAdaptiveSpinNs : spin_opt, timeout);
      const bool found = spin_before_block(spin_start, spin_ns, adaptive);
      if (adaptive) rt_.stop_spinning();  // before the last look below (see there)
      if (found) {
        ++counters_.spin_hits;
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
    //    the increment of idle_ below (enter_idle), the seq_cst fence after it, and work_visible()'s
    //    relaxed loads of bottom_/top_/size/ysize. The RMW alone would not do: later
    //    relaxed loads may be performed before a seq_cst RMW's store is visible (AArch64's
    //    ldaxr/stlxr lets them pass; x86's locked instruction happens to forbid it). With
    //    the two fences ordered in S, either ours comes first, and the pusher's load after
    //    its fence sees our increment (and kicks), or its comes first, and our loads after
    //    ours see its push. Forbidden outcome: the pusher reads idle_ == 0 and we read the
    //    queues empty, i.e. a runnable fiber and every carrier asleep.
    //  - The same push against an adaptive spin that just ended (stop_spinning): a pusher
    //    that read spinning_ != 0 skipped its kick, and the fence below orders our
    //    decrement, and so its push, before the look (the argument is at stop_spinning).
    //  - The exit (should_exit, in the look): nobody knows it retired the last fiber, so
    //    every carrier about to block scans the live counts after the fence. Each carrier's
    //    counts out are stored before its own fence, so the carrier whose fence comes last
    //    in S sees all of them and exits, kicking the others (loop); a carrier kicked after
    //    its look is not lost either (the kick stays pending in its eventfd).
    sleeping_.store(true, std::memory_order_seq_cst);
    rt_.enter_idle();
    std::atomic_thread_fence(std::memory_order_seq_cst);
    if (work_visible()) {
      rt_.leave_idle();
      // relaxed: a hint for claim_sleeper(); a waker that still sees true sends one kick
      // too many, which the next block consumes.
      sleeping_.store(false, std::memory_order_relaxed);
      return;
    }
    ++counters_.sleeps;
    poller_.wait_and_dispatch(timeout);
    rt_.leave_idle();
    // relaxed: as above. Already false: a waker claimed this sleep (claim_sleeper) and
    // kicked, which is what a wake counts (a claim after the block ended counts too: its
    // kick was sent for this sleep).
    if (!sleeping_.exchange(false, std::memory_order_relaxed)) ++counters_.wakes;
  }

  // A submission or remote wake, runnable work, the runtime's exit, or (several carriers) a
  // deque to steal from: the look an idle carrier takes before it blocks.
  bool work_visible() {
    // The exit check last: it reads every carrier's live counts, lines their owners write on
    // every spawn and retire, so a spinner asks only once it found nothing to run or steal.
    return !pending_.empty_seq_cst() || maybe_work() || (rt_.multi() && rt_.any_stealable(this)) || rt_.should_exit();
  }

  // True when work turned up within spin_ns: a ready fd (dispatched here) or work_visible().
  // Nobody kicks us meanwhile (sleeping_ is false), which is why each round looks at both
  // (the fds only while some fiber waits on one: a system call a round otherwise).
  // while_others_run: stop early once no carrier runs fibers (nobody left to push work).
  bool spin_before_block(std::int64_t start_ns, std::int64_t spin_ns, bool while_others_run) {
    const std::int64_t until = start_ns + spin_ns;
    do {
      if (detail::io_waiters() != 0 && poller_.wait_and_dispatch(0) > 0) return true;
      if (work_visible()) return true;
      if (while_others_run && !rt_.any_running()) return false;
    } while (detail::now_ns() < until);
    return false;
  }

  void save_eh(F* self) noexcept {
    detail::EhGlobals* g = eh_;
    // One test for both words (what the compiler does not merge by itself).
    if ((reinterpret_cast<std::uintptr_t>(g->caught) | g->uncaught) != 0) [[unlikely]] save_eh_slow(self);
  }
  // Out of line and cold, as check_canary: the switch path keeps fewer registers live.
  [[gnu::noinline, gnu::cold]] void save_eh_slow(F* self) noexcept {
    detail::EhGlobals* g = eh_;
    self->eh_caught = g->caught;
    self->eh_uncaught = g->uncaught;
    self->eh_saved = true;
    g->caught = nullptr;
    g->uncaught = 0;
  }
  // An unguarded stack (slabs and canaries): is the canary below it intact?
  [[gnu::noinline, gnu::cold]] static void check_canary(F* self) noexcept {
    if (!canary_intact(self->stack)) report_stack_corruption(self->stack, self->name[0] ? self->name : nullptr);
  }
  void restore_eh(F* self) noexcept {
    if (self->eh_saved) [[unlikely]] restore_eh_slow(self);
  }
  [[gnu::noinline, gnu::cold]] void restore_eh_slow(F* self) noexcept {
    eh_->caught = self->eh_caught;
    eh_->uncaught = self->eh_uncaught;
    self->eh_saved = false;
  }

  RuntimeState<V>& rt_;
  typename Sw::Context sched_ctx_;
  F* prev_ = nullptr;
  bool fast_yield_ = false;  // one carrier, no hooks: Carrier::yield's fast path
  // Runs left before next_runnable forces maintenance (the backstop), which sets it back to
  // kBackstopRuns: counted down, so that the test is the decrement's own flags (one
  // instruction and a branch). Never 0 between runs: yield's fast path, whose run may go
  // on through next_runnable (which counts it again), leaves it at least 1.
  unsigned until_backstop_ = sched_constants::kBackstopRuns;
  unsigned lone_yields_ = 0;
  unsigned io_tick_ = 0;
  bool wake_after_publish_ = false;
  typename Sched::Local local_;
  detail::DeadlineHeap heap_;
  FiberBase* pred_head_ = nullptr;
  detail::EhGlobals* eh_ = nullptr;
  typename V::Stacks stacks_;
  CarrierCounters counters_;  // this carrier's thread only (see CarrierCounters)
  std::uint64_t rng_;
  detail::MpscStack<FiberBase, &FiberBase::next_post> pending_;
  detail::Poller poller_;
  // Set (seq_cst) by idle() before its last look for work, cleared when it wakes or by a
  // waker's claim_sleeper(); see notify() and claim_sleeper() for the pairs.
  alignas(64) std::atomic<bool> sleeping_{false};
  detail::SpinLock reg_lock_;
  FiberBase* reg_head_ = nullptr;
  const CarrierHooks* hooks_ = nullptr;         // Options::hooks
  const CarrierHooks* switch_hooks_ = nullptr;  // hooks_ if it has switch hooks, else null
};

}  // namespace sy
