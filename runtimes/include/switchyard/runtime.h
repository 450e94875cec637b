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
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

#include "switchyard/carrier.h"
#include "switchyard/handles.h"

namespace sy {

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
