// A carrier: one OS thread running the scheduler loop over its run queue, pending list,
// deadline heap, predicate list and poller (runtimes/SCHEDULER.md walks through it).
// runtime.h includes this; include runtime.h.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <mutex>

#include "switchyard/deadline_heap.h"
#include "switchyard/detail/sync.h"
#include "switchyard/fiber.h"
#include "switchyard/handles.h"
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
    for (FiberBase* f = pending_.drain(); f;) {
      FiberBase* next = f->next_post;
      if (f->state.load(std::memory_order_relaxed) == FiberState::created) push(f, PushKind::spawned);
      else wake_local(f);  // claimed by a waker on another thread
      f = next;
    }
    // Not while the fiber switching out holds a wait-queue lock for after its switch: that
    // may be the very fd entry a dispatch would lock.
    if ((++io_tick_ & 15) == 0 && detail::io_waiters() != 0 && !(current_ && current_->post.fn)) [[unlikely]] {
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
      if (spin_before_block(spin_start, std::min(rt_.opts_.idle_spin.count(), timeout))) return;
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

}  // namespace sy
