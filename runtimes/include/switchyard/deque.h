// Chase-Lev work-stealing deque (DESIGN section 7): one owner pushes and pops at the
// bottom (LIFO), any thread steals from the top (FIFO) with a CAS.
//
// Algorithm: D. Chase and Y. Lev, "Dynamic Circular Work-Stealing Deque", SPAA 2005.
// Memory orders: N. M. Le, A. Pop, A. Cohen and F. Zappa Nardelli, "Correct and Efficient
// Work-Stealing for Weak Memory Models", PPoPP 2013 (figure 1): a release fence in push,
// a seq_cst fence in take (our pop) and in steal, a seq_cst CAS on top.
// Two known fixes to the published C11 code are applied here:
//   1. push reloads the buffer after growing (the paper keeps writing to the old one);
//   2. grow publishes the new buffer with a release store and steal loads it with acquire
//      (the paper's relaxed store / consume load does not make the copied slots visible).
// One addition: pop returns early, without the fence, when the deque is visibly empty.
// This is safe because top only ever increases: if an old value of top already reaches
// bottom, the current one does too.
//
// CONTRACT used by the runtime:
//   template <class T> class ChaseLevDeque            T must be a pointer type.
//     explicit ChaseLevDeque(std::size_t initial_capacity = 64);  rounded up to a power of 2
//     void push(T)                  owner only; nullptr is rejected (std::invalid_argument)
//     T pop() noexcept              owner only; LIFO; nullptr when empty
//     T steal() noexcept            any thread; FIFO; nullptr when empty or lost a race
//     StealResult<T> steal_ex() noexcept   any thread; Empty / Abort (lost a race) / Success
//     std::size_t size_approx() noexcept   any thread; exact when only the owner is active
//     bool empty_approx() noexcept  any thread
//     std::size_t capacity() noexcept      owner only
//   The destructor must run when no other thread can still call steal().
//
// Retired buffers. A thief may have loaded the buffer pointer just before the owner
// replaced it and read a slot from it afterwards, so an old buffer cannot be freed when
// the owner grows. Each retired buffer goes on an owner-only list (threaded through the
// buffers themselves, so retiring never allocates) and is freed by the destructor.
// Cost: buffers only double, so the retired ones add up to less than the live one:
// at most 2x the peak capacity * sizeof(T), e.g. 16 MiB for a carrier that once held a
// million fibers. That peak is already committed anyway (the buffer never shrinks), and
// freeing earlier would need hazard pointers or epochs, i.e. a per-steal cost for a
// one-off saving.
//
// ThreadSanitizer does not model standalone fences (g++ -Wtsan). When the build defines
// SY_TSAN (SANITIZE=thread), each fence is folded into the neighbouring accesses
// (release store of bottom in push; seq_cst store/load of bottom/top in pop and steal),
// which is at least as strong, so TSan sees every happens-before edge the fences give.
//
// Test-only: SY_DEQUE_TEST_BROKEN_TAKE_FENCE removes the seq_cst fence in pop (in the
// TSan form: makes its bottom store and top load relaxed). deque_broken_test is built
// with it to show that the stress test catches the resulting lost or doubled items.
// Never define it anywhere else.
//
// Indices are signed 64-bit and only grow; at one push per nanosecond they overflow
// after 292 years.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <new>
#include <stdexcept>
#include <string>
#include <type_traits>

namespace sy {

enum class StealStatus : unsigned char {
  kEmpty,    // nothing to steal (as seen by this thief)
  kAbort,    // lost the CAS on top to another thief or the owner: worth retrying
  kSuccess,  // item holds the stolen element
};

template <class T>
struct StealResult {
  StealStatus status;
  T item;  // nullptr unless status == kSuccess
};

template <class T>
class ChaseLevDeque {
  static_assert(std::is_pointer_v<T>, "ChaseLevDeque holds pointers (nullptr means empty)");

 public:
  // Any thread, before the deque is shared.
  explicit ChaseLevDeque(std::size_t initial_capacity = 64) {
    if (initial_capacity == 0 || initial_capacity > kMaxCapacity) {
      throw std::invalid_argument("ChaseLevDeque: initial capacity " +
                                  std::to_string(initial_capacity) + " is not in [1, " +
                                  std::to_string(kMaxCapacity) + "]");
    }
    std::size_t capacity = 1;
    while (capacity < initial_capacity) capacity *= 2;
    buffer_.store(Buffer::create(capacity), std::memory_order_relaxed);  // published by
                                                  // whatever hands the deque to thieves
  }

  ChaseLevDeque(const ChaseLevDeque&) = delete;
  ChaseLevDeque& operator=(const ChaseLevDeque&) = delete;

  // Any thread, once no thief can still be inside steal(): frees live and retired buffers.
  ~ChaseLevDeque() {
    Buffer::destroy(buffer_.load(std::memory_order_relaxed));
    while (retired_ != nullptr) {
      Buffer* next = retired_->retired_next;
      Buffer::destroy(retired_);
      retired_ = next;
    }
  }

  // Owner only. Throws std::invalid_argument for nullptr and std::bad_alloc if growing
  // fails; in both cases the deque is unchanged.
  void push(T item) {
    if (item == nullptr) {
      throw std::invalid_argument("ChaseLevDeque::push: nullptr cannot be stored (it means empty)");
    }
    // relaxed: only the owner writes bottom.
    const std::int64_t b = bottom_.load(std::memory_order_relaxed);
    // acquire: pairs with the seq_cst CAS on top in steal_ex/pop. A thief reads its slot
    // *before* that CAS, so once we see top past a slot, the thief's read of it is done
    // and we may overwrite it (this is why steal must not read the slot after the CAS).
    const std::int64_t t = top_.load(std::memory_order_acquire);
    // relaxed: only the owner writes buffer_.
    Buffer* buf = buffer_.load(std::memory_order_relaxed);
    if (b - t > buf->mask) buf = grow(buf, t, b);  // fix 1: write to the new buffer
    // relaxed: published by the release below.
    buf->slots[b & buf->mask].store(item, std::memory_order_relaxed);
    if constexpr (kTsanForm) {
      // release: pairs with the seq_cst (hence acquire) load of bottom in steal_ex.
      bottom_.store(b + 1, std::memory_order_release);
    } else {
      // release fence: orders the slot store (and everything the owner wrote into *item)
      // before the bottom store; pairs with the acquire load of bottom in steal_ex.
      std::atomic_thread_fence(std::memory_order_release);
      // relaxed: ordered by the fence above.
      bottom_.store(b + 1, std::memory_order_relaxed);
    }
  }

  // Owner only. Takes the most recently pushed element; nullptr when empty (including
  // when a thief won the race for the last element).
  T pop() noexcept {
    // relaxed: only the owner writes bottom.
    const std::int64_t b = bottom_.load(std::memory_order_relaxed) - 1;
    // relaxed: only an early exit; top never decreases, so a stale top that already
    // reaches bottom proves the deque empty. Not in the paper; saves the fence when idle.
    if (top_.load(std::memory_order_relaxed) > b) return nullptr;
    // relaxed: only the owner writes buffer_.
    Buffer* buf = buffer_.load(std::memory_order_relaxed);
    std::int64_t t;
    if constexpr (kTsanForm) {
      // seq_cst store then seq_cst load: the single total order S forbids the store-load
      // reordering exactly as the fence does. Pairs with the seq_cst loads in steal_ex.
      bottom_.store(b, kBrokenTakeFence ? std::memory_order_relaxed : std::memory_order_seq_cst);
      t = top_.load(kBrokenTakeFence ? std::memory_order_relaxed : std::memory_order_seq_cst);
    } else {
      // relaxed: ordered by the seq_cst fence below.
      bottom_.store(b, std::memory_order_relaxed);
      // seq_cst fence: the bottom store above must be visible before we read top
      // (a store followed by a load of another location, which x86's store buffer
      // reorders). Pairs with the seq_cst fence in steal_ex: either the thief sees the
      // decremented bottom, or we see its incremented top.
      if constexpr (!kBrokenTakeFence) std::atomic_thread_fence(std::memory_order_seq_cst);
      // relaxed: ordered by the fence.
      t = top_.load(std::memory_order_relaxed);
    }
    if (t > b) {  // empty after all: a thief took the last element in between
      // relaxed: only the owner writes bottom; thieves seeing b instead see empty too.
      bottom_.store(b + 1, std::memory_order_relaxed);
      return nullptr;
    }
    // relaxed: we wrote this slot ourselves.
    T item = buf->slots[b & buf->mask].load(std::memory_order_relaxed);
    if (t == b) {
      // Last element: race the thieves for it on top.
      // seq_cst CAS: pairs with the thieves' seq_cst CAS on top (one winner) and with
      // their acquire loads of top. relaxed on failure: we only learn we lost.
      if (!top_.compare_exchange_strong(t, t + 1, std::memory_order_seq_cst,
                                        std::memory_order_relaxed)) {
        item = nullptr;
      }
      // relaxed: only the owner writes bottom; top is now b + 1 either way.
      bottom_.store(b + 1, std::memory_order_relaxed);
    }
    return item;
  }

  // Any thread. Takes the oldest element, or says why it could not.
  StealResult<T> steal_ex() noexcept {
    std::int64_t t, b;
    if constexpr (kTsanForm) {
      // seq_cst loads: ordered among themselves and against pop's seq_cst store/load
      // in the total order S (replaces the fence). seq_cst implies the acquires below.
      t = top_.load(std::memory_order_seq_cst);
      b = bottom_.load(std::memory_order_seq_cst);
    } else {
      // acquire: pairs with the seq_cst CAS on top by other thieves and the owner.
      t = top_.load(std::memory_order_acquire);
      // seq_cst fence: pairs with the fence in pop (see there).
      std::atomic_thread_fence(std::memory_order_seq_cst);
      // acquire: pairs with the release fence in push, so the slot store and the
      // owner's writes to *item are visible.
      b = bottom_.load(std::memory_order_acquire);
    }
    if (t >= b) return {StealStatus::kEmpty, nullptr};
    // acquire (fix 2): pairs with the release store in grow, so the copied slots are
    // visible. An older buffer is fine too: retired buffers stay allocated and still
    // hold every index in [t, b) that was live when they were replaced.
    Buffer* buf = buffer_.load(std::memory_order_acquire);
    // relaxed, and *before* the CAS: once top moves past t, the owner may overwrite
    // this slot when the buffer wraps (see the acquire load of top in push).
    T item = buf->slots[t & buf->mask].load(std::memory_order_relaxed);
    // seq_cst CAS: one winner among the thieves and the owner's pop of the last
    // element; release part pairs with the acquire loads of top in push and steal.
    // relaxed on failure: we only learn that we lost.
    if (!top_.compare_exchange_strong(t, t + 1, std::memory_order_seq_cst,
                                      std::memory_order_relaxed)) {
      return {StealStatus::kAbort, nullptr};
    }
    return {StealStatus::kSuccess, item};
  }

  // Any thread. nullptr when empty or when it lost a race (use steal_ex to tell apart).
  T steal() noexcept { return steal_ex().item; }

  // Any thread. Exact when only the owner is active; otherwise a snapshot that may be
  // stale by the time it returns.
  std::size_t size_approx() const noexcept {
    // relaxed: an estimate; no data is read on the strength of it.
    const std::int64_t t = top_.load(std::memory_order_relaxed);
    const std::int64_t b = bottom_.load(std::memory_order_relaxed);
    return b > t ? static_cast<std::size_t>(b - t) : 0;
  }

  // Any thread. Same caveat as size_approx.
  bool empty_approx() const noexcept { return size_approx() == 0; }

  // Owner only (thieves may see it change). Slots in the current buffer.
  std::size_t capacity() const noexcept {
    // relaxed: only the owner writes buffer_.
    return static_cast<std::size_t>(buffer_.load(std::memory_order_relaxed)->mask) + 1;
  }

 private:
#if defined(SY_TSAN)
  static constexpr bool kTsanForm = true;
#else
  static constexpr bool kTsanForm = false;
#endif
#if defined(SY_DEQUE_TEST_BROKEN_TAKE_FENCE)
  static constexpr bool kBrokenTakeFence = true;
#else
  static constexpr bool kBrokenTakeFence = false;
#endif

  static constexpr std::size_t kMaxCapacity = std::size_t{1} << 40;

  // Header and slots in one allocation: a steal touches one line of header, then its slot.
  struct Buffer {
    std::int64_t mask;           // capacity - 1; immutable after create
    std::atomic<T>* slots;       // points just past this header
    Buffer* retired_next;        // owner only: the retired list

    static Buffer* create(std::size_t capacity) {
      void* raw = ::operator new(sizeof(Buffer) + capacity * sizeof(std::atomic<T>));
      auto* buf = ::new (raw) Buffer;
      buf->mask = static_cast<std::int64_t>(capacity) - 1;
      buf->slots = reinterpret_cast<std::atomic<T>*>(buf + 1);
      buf->retired_next = nullptr;
      for (std::size_t i = 0; i < capacity; ++i) ::new (&buf->slots[i]) std::atomic<T>(nullptr);
      return buf;
    }
    static void destroy(Buffer* buf) noexcept {
      // std::atomic<T*> and Buffer are trivially destructible.
      ::operator delete(buf);
    }
  };
  static_assert(sizeof(Buffer) % alignof(std::atomic<T>) == 0);
  static_assert(std::is_trivially_destructible_v<std::atomic<T>>);

  // Owner only, from push. Copies [t, b) into a buffer twice the size and publishes it.
  Buffer* grow(Buffer* old, std::int64_t t, std::int64_t b) {
    const std::size_t capacity = static_cast<std::size_t>(old->mask) + 1;
    if (capacity >= kMaxCapacity) {
      throw std::length_error("ChaseLevDeque: capacity limit reached");
    }
    Buffer* fresh = Buffer::create(2 * capacity);  // may throw; nothing changed yet
    // Thieves may take some of [t, b) meanwhile; copying those too is harmless, they
    // are never read again through the new buffer because top has passed them.
    for (std::int64_t i = t; i < b; ++i) {
      // relaxed both: only the owner writes slots; the release store below publishes.
      fresh->slots[i & fresh->mask].store(old->slots[i & old->mask].load(std::memory_order_relaxed),
                                          std::memory_order_relaxed);
    }
    old->retired_next = retired_;  // freed in the destructor (see header comment)
    retired_ = old;
    // release (fix 2): pairs with the acquire load of buffer_ in steal_ex.
    buffer_.store(fresh, std::memory_order_release);
    return fresh;
  }

  // 128 bytes: Intel's spatial prefetcher pulls cache lines in pairs, so 64 would still
  // let a thief's CAS on top disturb the owner's line.
  static constexpr std::size_t kLine = 128;

  // Written by thieves (CAS) and by the owner's pop of the last element.
  alignas(kLine) std::atomic<std::int64_t> top_{0};
  // Written by the owner only; buffer_ shares the line because every steal reads both.
  alignas(kLine) std::atomic<std::int64_t> bottom_{0};
  std::atomic<Buffer*> buffer_{nullptr};
  Buffer* retired_ = nullptr;  // owner only
  // alignas on the members also aligns the object and rounds its size to kLine, so
  // neighbouring objects cannot share these lines either.
};

}  // namespace sy
