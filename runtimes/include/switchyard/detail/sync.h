// Small synchronization pieces the runtime builds on: a spin lock for short critical
// sections on wait queues, a futex-based one-shot event for blocking OS threads (carriers
// block in their poller instead, io_core.h), and intrusive queues that allocate nothing.
#pragma once

#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <ctime>

namespace sy::detail {

// A spin-wait hint: x86 `pause`; AArch64 `yield` (a hint to SMT siblings and simulators;
// a no-op on most cores, which is what Linux's own cpu_relax does there too).
#if defined(__x86_64__)
inline void cpu_relax() noexcept { __builtin_ia32_pause(); }
#elif defined(__aarch64__)
inline void cpu_relax() noexcept { asm volatile("yield" ::: "memory"); }
#else
#error "cpu_relax: x86-64 and AArch64 only"
#endif

// Test-and-test-and-set lock. Held only for a handful of instructions (linking a waiter),
// never across a switch except where a wait's OnSaved hook releases it once the waiting
// fiber's context is saved (Carrier::publish).
class SpinLock {
 public:
  void lock() noexcept {
    for (;;) {
      // acquire: pairs with the release in unlock(), so the critical sections are ordered.
      if (!locked_.exchange(true, std::memory_order_acquire)) return;
      // relaxed: only a hint to retry; the exchange above does the synchronizing.
      while (locked_.load(std::memory_order_relaxed)) cpu_relax();
    }
  }
  // acquire: as in lock().
  bool try_lock() noexcept { return !locked_.exchange(true, std::memory_order_acquire); }
  // release: publishes the critical section to the next acquirer.
  void unlock() noexcept { locked_.store(false, std::memory_order_release); }
  // Spins until the lock is seen free, without taking it. acquire: pairs with the release
  // in unlock(), so a holder's critical section (and its last touch of the lock) happened
  // before this returns. sy primitives' woken waiters use it instead of lock()+unlock().
  void wait_unlocked() const noexcept {
    while (locked_.load(std::memory_order_acquire)) cpu_relax();
  }

 private:
  std::atomic<bool> locked_{false};
};

// futex(2) on a 32-bit word. Waits are bounded when a timeout is given (relative ns).
inline void futex_wait(std::atomic<std::uint32_t>* word, std::uint32_t expected,
                       std::int64_t timeout_ns = -1) noexcept {
  timespec ts{};
  timespec* tsp = nullptr;
  if (timeout_ns >= 0) {
    ts.tv_sec = timeout_ns / 1000000000;
    ts.tv_nsec = timeout_ns % 1000000000;
    tsp = &ts;
  }
  syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(word), FUTEX_WAIT_PRIVATE, expected, tsp,
          nullptr, 0);
}
inline void futex_wake(std::atomic<std::uint32_t>* word, int n) noexcept {
  syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(word), FUTEX_WAKE_PRIVATE, n, nullptr,
          nullptr, 0);
}

// One-shot event for an OS thread that blocks on a fiber (join from a thread).
class ThreadEvent {
 public:
  // release: pairs with the acquire in wait(): the signaller's writes (a fiber's result)
  // are visible to the thread once it sees the flag.
  void signal() noexcept {
    state_.store(1, std::memory_order_release);
    futex_wake(&state_, 1);
  }
  // Returns false on timeout. timeout_ns < 0 waits forever.
  bool wait(std::int64_t timeout_ns = -1) noexcept {
    using clock = std::chrono::steady_clock;
    const auto start = clock::now();
    // acquire: pairs with signal().
    while (state_.load(std::memory_order_acquire) == 0) {
      std::int64_t left = -1;
      if (timeout_ns >= 0) {
        left = timeout_ns - std::chrono::duration_cast<std::chrono::nanoseconds>(clock::now() - start).count();
        if (left <= 0) return state_.load(std::memory_order_acquire) != 0;
      }
      futex_wait(&state_, 0, left);
    }
    return true;
  }

 private:
  std::atomic<std::uint32_t> state_{0};
};

// Intrusive singly linked FIFO over a `next` pointer member. Not thread-safe.
template <class T, T* T::*Next>
class IntrusiveFifo {
 public:
  bool empty() const noexcept { return head_ == nullptr; }
  std::size_t size() const noexcept { return size_; }
  void push_back(T* x) noexcept {
    x->*Next = nullptr;
    if (tail_) tail_->*Next = x; else head_ = x;
    tail_ = x;
    ++size_;
  }
  T* pop_front() noexcept {
    T* x = head_;
    if (!x) return nullptr;
    head_ = x->*Next;
    if (!head_) tail_ = nullptr;
    --size_;
    return x;
  }
  // pop_front() then push_back(x) as one step (the size does not change): returns the old
  // front, or nullptr, with x not queued, when the queue is empty. x must not be queued.
  // With one element the front is also the tail, so its link is set to x and head_ then
  // reads x: no branch for that case.
  T* rotate(T* x) noexcept {
    T* f = head_;
    if (!f) return nullptr;
    x->*Next = nullptr;
    tail_->*Next = x;
    tail_ = x;
    head_ = f->*Next;
    return f;
  }

 private:
  T* head_ = nullptr;
  T* tail_ = nullptr;
  std::size_t size_ = 0;
};

// Multi-producer single-consumer stack of submissions (Treiber push, drain by exchange).
// Producers: any thread. Consumer: the owning carrier only.
template <class T, T* T::*Next>
class MpscStack {
 public:
  // Returns true if the stack was empty before (the consumer may need waking).
  bool push(T* x) noexcept {
    // relaxed: the CAS below publishes x.
    T* old = head_.load(std::memory_order_relaxed);
    do {
      x->*Next = old;
      // release on success: pairs with the acquire exchange in drain(), so the consumer
      // sees everything written to x (and x->*Next) before the push. seq_cst rather than
      // release alone: the waker then checks the consumer's `sleeping_` flag (Dekker pair
      // with Carrier::idle, which stores sleeping_ then reads head_; MEMORY_ORDER.md
      // section 3). relaxed on failure: the retry only needs the fresh value of head_.
    } while (!head_.compare_exchange_weak(old, x, std::memory_order_seq_cst,
                                          std::memory_order_relaxed));
    return old == nullptr;
  }
  // Consumer only. Returns the items in push order (oldest first), linked through Next.
  T* drain() noexcept {
    // relaxed: a pre-check that keeps the common empty case to one plain load. A push it
    // misses is drained at the next maintenance, and Carrier::idle looks again with
    // empty_seq_cst() before it sleeps.
    if (head_.load(std::memory_order_relaxed) == nullptr) return nullptr;
    // acquire: pairs with the release part of push()'s CAS.
    T* lifo = head_.exchange(nullptr, std::memory_order_acquire);
    T* fifo = nullptr;
    while (lifo) {  // reverse to submission order
      T* next = lifo->*Next;
      lifo->*Next = fifo;
      fifo = lifo;
      lifo = next;
    }
    return fifo;
  }
  // seq_cst: the consumer's side of the Dekker pair described in push().
  bool empty_seq_cst() const noexcept { return head_.load(std::memory_order_seq_cst) == nullptr; }

 private:
  std::atomic<T*> head_{nullptr};
};

}  // namespace sy::detail
