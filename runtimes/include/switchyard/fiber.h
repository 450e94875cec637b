// The parts of a fiber that do not depend on the variant: identity, state, wait metadata,
// per-fiber C++ state, join bookkeeping. A variant's Fiber<V> adds its switch context and
// its stack (handles.h).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <exception>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "switchyard/detail/sync.h"
#include "switchyard/stack/base.h"

namespace sy {

using Clock = std::chrono::steady_clock;
using Duration = std::chrono::nanoseconds;

enum class FiberState : std::uint8_t { created, runnable, running, suspended, dead };
const char* to_string(FiberState) noexcept;

// Why a suspended fiber resumed.
enum class WakeReason : std::uint8_t { none, ready, timeout, unparked };

// What a blocking call does while the fiber is pinned (it cannot switch away).
enum class PinnedPolicy : std::uint8_t { warn, error, silent };

// Misuse of the fiber API (yield outside a fiber, join self, yield while pinned, ...).
class FiberError : public std::logic_error {
 public:
  using std::logic_error::logic_error;
};

// Submitting to a runtime that is shutting down or was shut down.
class RuntimeClosed : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct FiberBase;

// A node on a wait queue. Lives on the waiter's own stack (fiber or OS thread), so it
// allocates nothing; it stays valid until the waiter returns from its wait, and the waiter
// unlinks it under the queue's lock before returning if nobody else did.
struct Waiter {
  FiberBase* fiber = nullptr;            // a waiting fiber, or
  detail::ThreadEvent* thread = nullptr;  // a waiting OS thread
  Waiter* prev = nullptr;
  Waiter* next = nullptr;
  bool linked = false;
};

// Doubly linked list of Waiters guarded by its owner's SpinLock.
class WaiterList {
 public:
  bool empty() const noexcept { return head_ == nullptr; }
  Waiter* front() const noexcept { return head_; }
  std::size_t count() const noexcept {  // walks the list: for snapshots, not hot paths
    std::size_t n = 0;
    for (Waiter* w = head_; w; w = w->next) ++n;
    return n;
  }
  void push_back(Waiter* w) noexcept {
    w->next = nullptr;
    w->prev = tail_;
    if (tail_) tail_->next = w; else head_ = w;
    tail_ = w;
    w->linked = true;
  }
  Waiter* pop_front() noexcept {
    Waiter* w = head_;
    if (w) unlink(w);
    return w;
  }
  void unlink(Waiter* w) noexcept {
    if (!w->linked) return;
    if (w->prev) w->prev->next = w->next; else head_ = w->next;
    if (w->next) w->next->prev = w->prev; else tail_ = w->prev;
    w->prev = w->next = nullptr;
    w->linked = false;
  }

 private:
  Waiter* head_ = nullptr;
  Waiter* tail_ = nullptr;
};

// Fiber-local storage: slot k of a fiber's table belongs to FiberLocal key k.
struct FlsSlot {
  void* value = nullptr;
  void (*destroy)(void*) = nullptr;
};

// Initial value of one fiber-local for a new fiber (the seed's initial bindings).
struct FlsInit {
  unsigned key;
  void* (*make)(const void* src);  // copy-constructs a heap value from src
  void (*destroy)(void*);
  std::shared_ptr<const void> src;  // keeps the source value alive until spawn copies it
};

class FiberLocalBase {
 public:
  unsigned key() const noexcept { return key_; }

 protected:
  FiberLocalBase() noexcept;
  unsigned key_;
};

// What a fiber does when it switches away; handled by whoever runs next on that carrier
// (the fiber is published only after its context is saved: see Carrier::after_switch).
enum class Action : std::uint8_t { none, yield, wait, dead };

// A wait's hook that runs on the carrier once the waiting fiber's context is saved (before
// that, a waker must not see the fiber), typically to release the wait queue's lock taken
// before switching.
struct OnSaved {
  void (*fn)(void*) = nullptr;
  void* arg = nullptr;
};

struct FiberBase {
  FiberBase(const FiberBase&) = delete;
  FiberBase& operator=(const FiberBase&) = delete;

  // ---- identity and state
  std::uint64_t id = 0;
  char name[40] = {};
  // relaxed everywhere: state is for introspection, and for one decision,
  // Carrier::maintenance's spawned-or-claimed test on a fiber from its pending list, where
  // the post's release and the drain's acquire make the value visible. The switch itself
  // and the run queues provide the happens-before edges between owners.
  std::atomic<FiberState> state{FiberState::created};
  // relaxed: introspection only; written by whichever carrier resumes the fiber.
  std::atomic<unsigned> carrier{0};  // carrier it last ran on

  // ---- stack and control block (the FiberBase lives at the top of its own stack)
  Stack stack;

  // ---- entry, result and death
  void (*body)(FiberBase*) = nullptr;     // runs the user function, captures result/exception
  void (*destroy_block)(FiberBase*) = nullptr;  // destroys the control block in place
  std::exception_ptr error;
  // Owners: 1 for the runtime until death, +1 per JoinHandle or FiberRef. The stack
  // (holding this object) is released when it drops to 0. Drops are acq_rel, or an
  // acquire load when it reads 1 (the sole owner: RuntimeState::drop_last), new references
  // from a held one relaxed (FiberRef).
  std::atomic<std::uint32_t> refs{1};
  detail::SpinLock join_lock;
  // Written under join_lock (release: after the result, see RuntimeState::entry); read
  // under it, or without it by a joiner's fast path (acquire: RuntimeState::join_wait).
  std::atomic<bool> finished{false};
  WaiterList joiners;     // guarded by join_lock

  // ---- per-fiber C++ state saved across switches (DESIGN section 5)
  void* eh_caught = nullptr;   // __cxa_eh_globals::caughtExceptions
  unsigned eh_uncaught = 0;    // __cxa_eh_globals::uncaughtExceptions
  bool eh_saved = false;       // fast path: nothing to restore
  FlsSlot* fls = nullptr;
  unsigned fls_size = 0;
  unsigned pins = 0;

  // ---- waiting
  // Wake claim protocol: a waiter is armed (1) only after its context is saved; exactly
  // one waker wins the CAS armed -> claimed (2) and makes it runnable. Idle = 0.
  std::atomic<std::uint32_t> wait_word{0};
  WakeReason wake_reason = WakeReason::none;
  Action action = Action::none;  // set by the fiber just before it switches away
  OnSaved on_saved;
  std::int64_t deadline_ns = -1;  // steady_clock ns; -1 = none
  std::int32_t heap_index = -1;   // position in its carrier's deadline heap; -1 = absent
  unsigned wait_carrier = 0;      // carrier whose structures hold it while waiting
  bool (*pred)(void*) = nullptr;  // park predicate
  void* pred_arg = nullptr;
  bool in_pred_list = false;
  FiberBase* pred_prev = nullptr;
  FiberBase* pred_next = nullptr;

  // ---- intrusive links
  FiberBase* next_run = nullptr;   // run queue (FIFO policy, yield FIFO)
  FiberBase* next_post = nullptr;  // a carrier's pending list
  FiberBase* all_prev = nullptr;   // registry of live fibers (introspection)
  FiberBase* all_next = nullptr;
  unsigned registry = 0;           // which carrier's registry holds it

  // The name given at spawn, or "fiber-<id>" (made only when asked: spawning formats nothing).
  std::string display_name() const { return name[0] ? std::string(name) : "fiber-" + std::to_string(id); }
  void set_name(std::string_view n) noexcept {
    std::size_t len = n.size() < sizeof(name) - 1 ? n.size() : sizeof(name) - 1;
    std::memcpy(name, n.data(), len);
    name[len] = '\0';
  }

  // Wake claim: see wait_word.
  void arm() noexcept {
    // release: pairs with the acquire CAS in try_claim(): a waker that wins the claim sees
    // the wait metadata written before arming.
    wait_word.store(1, std::memory_order_release);
  }
  bool try_claim() noexcept {
    std::uint32_t expected = 1;
    // acq_rel: acquire pairs with arm(); release publishes wake_reason (written by the
    // winner right after) no earlier than the run queue push that hands the fiber over.
    // relaxed on failure: a loser reads nothing of the fiber and leaves it alone.
    return wait_word.compare_exchange_strong(expected, 2, std::memory_order_acq_rel,
                                             std::memory_order_relaxed);
  }
  // By the fiber itself once it resumed from its wait. relaxed: every waker that could see
  // 1 has already won (that is what resumed it) or lost; a late one reads 2 or 0 and fails
  // either way, and the next arm() (release) publishes the next wait.
  void disarm() noexcept { wait_word.store(0, std::memory_order_relaxed); }

  void* fls_get(unsigned key) const noexcept { return key < fls_size ? fls[key].value : nullptr; }
  void fls_set(unsigned key, void* value, void (*destroy)(void*));
  void fls_clear() noexcept {
    if (fls) fls_clear_slow();
  }
  void fls_clear_slow() noexcept;

 protected:
  FiberBase() = default;
  ~FiberBase() { fls_clear(); }
};

// Information about one live fiber (introspection).
struct FiberInfo {
  std::uint64_t id;
  std::string name;
  FiberState state;
  unsigned carrier;
};

// One frame of a suspended fiber's backtrace.
struct Frame {
  std::uintptr_t pc;
  std::string function;  // demangled, empty if unknown
  std::uintptr_t offset;
};

// Backtrace of a suspended context from its saved registers, through libunwind.
std::vector<Frame> backtrace_from(const SavedRegisters& regs, std::size_t max_frames = 64);
std::string format_backtrace(const std::vector<Frame>&);

namespace detail {
// The C++ runtime's per-thread exception globals (libstdc++/libsupc++ layout, stable ABI).
struct EhGlobals {
  void* caught;
  unsigned int uncaught;
};
EhGlobals* eh_globals() noexcept;
// Prints a warning for an exception that escaped a fiber nobody joins.
void report_unjoined_exception(const FiberBase& f) noexcept;
void pinned_blocking(PinnedPolicy policy, const char* what);
std::uint64_t next_fiber_id() noexcept;
}  // namespace detail

}  // namespace sy
