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
#include "switchyard/detail/wait_queue.h"
#include "switchyard/handles.h"
#include "switchyard/io_core.h"
#include "switchyard/sched_constants.h"

namespace sy {

template <class V>
class Runtime {
 public:
  using Sw = typename V::Switch;
  using Sched = typename V::Sched;
  using F = Fiber<V>;
  using C = Carrier<V>;
  using State = RuntimeState<V>;

  static std::string variant_name() { return V::name(); }
  static const void* tag() noexcept { return State::tag(); }

  explicit Runtime(Options o = {}) : state_((detail::install_runtime_diagnostics(), std::move(o))) {}
  Runtime(const Runtime&) = delete;
  Runtime& operator=(const Runtime&) = delete;

  // Destroying a started runtime finishes it first: it waits for every fiber to end.
  ~Runtime() {
    if (started_) finish();
  }

  unsigned carriers() const noexcept { return state_.carrier_count(); }
  const Options& options() const noexcept { return state_.options(); }
  C& carrier(unsigned i) noexcept { return state_.carrier(i); }

  // ---- blocking run: the calling thread becomes carrier 0; returns main's result once
  // every fiber (main and all it spawned) has ended.
  template <class Fn>
  auto run(Fn&& main, SpawnOptions so = {}) {
    if (started_) throw FiberError("run() on a runtime that was start()ed");
    if (detail::current_carrier()) throw FiberError("run() called from inside a fiber runtime");
    // relaxed: no carrier runs yet; the threads' start orders it before anything they do.
    closed_.store(false, std::memory_order_relaxed);
    state_.set_run_mode(true);
    C& c0 = state_.carrier(0);
    detail::set_current_carrier(&c0);
    auto h = state_.create(c0.stacks(), std::forward<Fn>(main), so);
    detail::set_current_carrier(nullptr);
    c0.push(h.fiber(), PushKind::spawned);
    std::vector<std::thread> threads;
    for (unsigned i = 1; i < carriers(); ++i) threads.emplace_back([this, i] { state_.carrier(i).loop(); });
    c0.loop();
    for (auto& t : threads) t.join();
    return h.join();
  }

  // ---- long-lived: start carriers, submit from anywhere, finish.
  void start() {
    if (started_) throw FiberError("start() twice");
    started_ = true;
    state_.set_run_mode(false);
    // relaxed: before the carriers start (their start orders it); submit() from other
    // threads needs start() to have returned first (the caller's own synchronization).
    closed_.store(false, std::memory_order_relaxed);
    for (unsigned i = 0; i < carriers(); ++i) threads_.emplace_back([this, i] { state_.carrier(i).loop(); });
  }
  template <class Fn>
  auto submit(Fn&& fn, SpawnOptions so = {}) {
    if (is_mine(detail::current_carrier())) return spawn(std::forward<Fn>(fn), so);
    // seq_cst: an early answer only; the check after counting is the one that decides.
    if (closed_.load(std::memory_order_seq_cst)) throw RuntimeClosed("submit after finish(): the runtime is shut down");
    if (!started_) throw FiberError("submit() from outside the runtime needs start() first (run() takes no outside submissions)");
    // Count the submission as live before checking closed_: finish() sets closed_ and then
    // waits for the carriers to see no fiber live, so either they see this fiber or we see
    // closed_ (a Dekker pair: the increment of the shared submission count and this load
    // against finish()'s stores of closed_ and closing_ and the carriers' loads of closing_
    // and of that count, all seq_cst; RuntimeState::should_exit).
    state_.count_submission();
    if (closed_.load(std::memory_order_seq_cst)) {
      state_.uncount();
      throw RuntimeClosed("submit after finish(): the runtime is shut down");
    }
    auto h = [&] {
      std::lock_guard<std::mutex> g(ext_mu_);
      return state_.create(ext_stacks(), std::forward<Fn>(fn), so, /*counted=*/true);
    }();
    // relaxed: a round-robin counter; which carrier gets it orders nothing.
    unsigned target = static_cast<unsigned>(next_target_.fetch_add(1, std::memory_order_relaxed) % carriers());
    state_.carrier(target).post(h.fiber());
    return h;
  }
  // Waits until every fiber has ended, then stops the carriers. Later submissions throw.
  void finish() {
    if (!started_) return;
    closed_.store(true, std::memory_order_seq_cst);  // see submit()
    state_.set_closing(true);
    state_.kick_all();
    for (auto& t : threads_) t.join();
    threads_.clear();
    state_.set_closing(false);  // the carriers are gone: nobody reads it until start()
    started_ = false;
  }

  // ---- from a fiber of this runtime
  template <class Fn>
  static auto spawn(Fn&& fn, const SpawnOptions& so) {
    C* c = current_carrier("spawn");
    auto h = c->state().create(c->stacks(), std::forward<Fn>(fn), so);
    c->push(h.fiber(), PushKind::spawned);
    return h;
  }
  // Without options: no SpawnOptions is built (or destroyed) on the spawn path.
  template <class Fn>
  static auto spawn(Fn&& fn) {
    return spawn(std::forward<Fn>(fn), default_spawn_options());
  }

  [[gnu::always_inline]] static void yield() {
    C* c = current_carrier("yield");
    F* self = c->current();
    if (self->pins) [[unlikely]] yield_while_pinned(self);
    c->yield(self);
  }

  static void sleep_until(Clock::time_point t) {
    C* c = current_carrier("sleep");
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
    C* c = current_carrier("park");
    F* self = c->current();
    if (pred()) return true;
    std::int64_t d = timeout.count() < 0 ? -1 : detail::now_ns() + timeout.count();
    if (self->pins) [[unlikely]] {
      pinned_block(c, "park");
      while (!pred() && (d < 0 || detail::now_ns() < d)) std::this_thread::sleep_for(sched_constants::kPinnedParkPoll);
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
    if (r.ops() != &State::join_ops()) throw FiberError("unpark: a fiber of another runtime variant (" + V::name() + ")");
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
    if (c->state().multi() && c->maybe_work()) c->state().maybe_wake_idle(c);
  }

  // A counted reference to the calling fiber, for whoever will unpark it later.
  static FiberRef self() { return FiberRef(current_carrier("self")->current(), &State::join_ops()); }

  // The generic wait: the caller holds `lock` and has linked a Waiter for itself into a
  // queue it guards; the lock is released after the switch (so a waker cannot see this
  // fiber before its context is saved). Returns why it resumed.
  static WakeReason wait_locked(detail::SpinLock& lock, std::int64_t deadline_ns) {
    C* c = current_carrier("wait");
    F* self = c->current();
    return suspend(c, self, deadline_ns, nullptr, nullptr,
                   OnSaved{[](void* l) { static_cast<detail::SpinLock*>(l)->unlock(); }, &lock});
  }

  // Makes a waiting fiber runnable, if this call wins the wake. Any thread.
  // Known limit: a remote wake (and a submission) goes to one carrier's pending list, which
  // thieves cannot reach; if that carrier runs a fiber that never yields, the woken fiber
  // waits for it even while other carriers idle. Cooperative scheduling assumes yields.
  static bool wake(FiberBase* fb, WakeReason why) {
    if (!fb->try_claim()) return false;
    fb->wake_reason = why;
    F* f = static_cast<F*>(fb);
    C* owner = &f->rt->carrier(f->wait_carrier);
    CarrierBase* cb = detail::current_carrier();
    if (cb == owner) {
      owner->wake_local(f);
    } else if (cb && f->deadline_ns < 0 && !f->pred && f->rt->is_mine(cb)) {
      // Woken by another carrier of this runtime, and nothing of it sits in its owner's
      // deadline heap or predicate list (read after the claim, whose acquire pairs with
      // arm()): it runs where it was woken, next to the data the waker just touched.
      static_cast<C*>(cb)->push(f, PushKind::woken);
    } else {
      owner->post(f);
    }
    return true;
  }

  // Waits until fd is ready for ev, the timeout passes, or close_fd closes it. From a
  // fiber it parks the fiber (io_core.h: detail::wait_fd_until); from an OS thread, or a
  // pinned fiber (per Options::pinned_policy), it blocks in poll(2). A `ready` may be
  // spurious: callers retry their read or write and wait again on EAGAIN.
  static IoResult wait_fd(int fd, IoEvent ev, Duration timeout = Duration(-1)) {
    return wait_fd_until(fd, ev, timeout.count() < 0 ? -1 : detail::now_ns() + timeout.count());
  }
  static IoResult wait_fd_until(int fd, IoEvent ev, std::int64_t deadline_ns) {
    return detail::wait_fd_until<Runtime>(fd, ev, deadline_ns);
  }
  // The poller of the carrier running the calling fiber (for detail::wait_fd_until).
  static detail::Poller& current_poller() { return current_carrier("wait_fd")->poller(); }
  // Closes fd, first waking its waiting fibers with ECANCELED (sy::close_fd).
  static int close_fd(int fd) noexcept { return sy::close_fd(fd); }

  // A pinned fiber is about to block its carrier's thread: apply pinned_policy (may throw)
  // and let an idle carrier take what is runnable here.
  [[gnu::cold, gnu::noinline]] static void pinned_block(C* c, const char* what) {
    detail::pinned_blocking(c->state().options().pinned_policy, what);
    will_block();
  }
  static void pinned_block(const char* what) { pinned_block(current_carrier(what), what); }

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
  static void pin() { current_carrier("pin")->current()->pins++; }
  static void unpin() {
    F* self = current_carrier("unpin")->current();
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
    for (unsigned i = 0; i < carriers(); ++i)
      state_.carrier(i).for_each_fiber([&](F* f) {
        // relaxed, both: introspection snapshots (FiberBase::state, FiberBase::carrier).
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
    for (unsigned i = 0; i < carriers(); ++i) {
      state_.carrier(i).for_each_fiber([&](F* f) {
        if (f->id != id) return;
        found = true;
        // relaxed: a snapshot; the caller's rule (the target stays blocked) is what makes
        // the saved registers stable.
        FiberState s = f->state.load(std::memory_order_relaxed);
        if (s == FiberState::running) throw FiberError("backtrace of a running fiber");
        if (s == FiberState::created) return;  // nothing on its stack yet
        frames = backtrace_from(Sw::registers(f->ctx));
      });
    }
    if (!found) throw FiberError("backtrace: no live fiber with id " + std::to_string(id));
    return frames;
  }
  std::int64_t live() const noexcept { return state_.live(); }
  // Each carrier's scheduler counters (CarrierCounters), one per carrier in index order,
  // cumulated since the runtime was built. Only while no carrier runs: after run() returned
  // or after finish(), whose joins of the carriers' threads order every count before this
  // read. FiberError otherwise (the counters are plain fields their carriers write).
  std::vector<CarrierCounters> carrier_counters() const {
    CarrierBase* cb = detail::current_carrier();
    if (started_ || (cb && state_.is_mine(cb)))
      throw FiberError("carrier_counters() while the carriers run: call it after run() returns or after finish()");
    std::vector<CarrierCounters> out;
    for (unsigned i = 0; i < state_.carrier_count(); ++i) out.push_back(state_.carrier_const(i).counters());
    return out;
  }

 private:
  // The calling fiber's carrier, checked: outside a fiber of this variant, FiberError.
  static C* current_carrier(const char* what) {
    CarrierBase* c = detail::current_carrier();
    if (!c || !c->current_base || c->variant_tag != tag()) [[unlikely]] outside_fiber(what);
    return static_cast<C*>(c);
  }
  static const SpawnOptions& default_spawn_options() {
    static const SpawnOptions none;
    return none;
  }
  [[noreturn, gnu::cold, gnu::noinline]] static void outside_fiber(const char* what) {
    throw FiberError(std::string(what) + " called outside a fiber of this runtime (" + V::name() + ")");
  }
  // True when c runs a fiber of this very runtime.
  bool is_mine(CarrierBase* c) const noexcept {
    return c && c->variant_tag == tag() && c->current_base && static_cast<F*>(c->current_base)->rt == &state_;
  }

  // Suspends the current fiber until woken or the deadline passes.
  static WakeReason suspend(C* c, F* self, std::int64_t deadline_ns, bool (*pred)(void*), void* pred_arg,
                            OnSaved on_saved) {
    self->deadline_ns = deadline_ns;
    self->pred = pred;
    self->pred_arg = pred_arg;
    self->on_saved = on_saved;
    self->wake_reason = WakeReason::none;
    self->action = Action::wait;
    c->switch_out(self);
    self->pred = nullptr;
    self->on_saved = {};
    self->deadline_ns = -1;
    self->disarm();
    return self->wake_reason;
  }

  typename V::Stacks& ext_stacks() {
    if (!ext_stacks_) ext_stacks_ = std::make_unique<typename V::Stacks>(state_.stack_config());
    return *ext_stacks_;
  }

  State state_;
  bool started_ = false;
  std::vector<std::thread> threads_;
  // Set by finish(), cleared by start()/run(): submit()'s half of the Dekker pair there.
  std::atomic<bool> closed_{false};
  std::atomic<std::uint64_t> next_target_{0};  // round-robin target of submit() (relaxed)
  std::mutex ext_mu_;                          // guards ext_stacks_ (submissions from any thread)
  std::unique_ptr<typename V::Stacks> ext_stacks_;
};

}  // namespace sy
