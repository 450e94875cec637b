// Per-carrier binary min-heap of waiting fibers ordered by deadline. Each fiber stores its
// own index (heap_index, -1 when absent), so removing a fiber that was woken some other
// way is O(log n): move the last entry into its slot and sift. Owner carrier only.
#pragma once

#include <cstdint>
#include <vector>

#include "switchyard/fiber.h"

namespace sy::detail {

class DeadlineHeap {
 public:
  DeadlineHeap() { heap_.reserve(64); }
  bool empty() const noexcept { return heap_.empty(); }
  std::size_t size() const noexcept { return heap_.size(); }
  std::int64_t earliest() const noexcept { return heap_.empty() ? -1 : heap_[0]->deadline_ns; }
  FiberBase* top() const noexcept { return heap_.empty() ? nullptr : heap_[0]; }

  void insert(FiberBase* f) {
    heap_.push_back(f);
    set(heap_.size() - 1, f);
    sift_up(heap_.size() - 1);
  }
  // Removes f if present (heap_index >= 0).
  void remove(FiberBase* f) noexcept {
    std::int32_t i = f->heap_index;
    if (i < 0) return;
    f->heap_index = -1;
    FiberBase* last = heap_.back();
    heap_.pop_back();
    if (static_cast<std::size_t>(i) == heap_.size()) return;  // f was the last entry
    set(i, last);
    if (!sift_up(i)) sift_down(i);
  }
  FiberBase* pop() noexcept {
    FiberBase* f = heap_[0];
    remove(f);
    return f;
  }

  // For tests: the heap property and every index field hold.
  bool valid() const noexcept {
    for (std::size_t i = 0; i < heap_.size(); ++i) {
      if (heap_[i]->heap_index != static_cast<std::int32_t>(i)) return false;
      if (i > 0 && heap_[(i - 1) / 2]->deadline_ns > heap_[i]->deadline_ns) return false;
    }
    return true;
  }

 private:
  void set(std::size_t i, FiberBase* f) noexcept {
    heap_[i] = f;
    f->heap_index = static_cast<std::int32_t>(i);
  }
  bool sift_up(std::size_t i) noexcept {
    FiberBase* f = heap_[i];
    bool moved = false;
    while (i > 0) {
      std::size_t parent = (i - 1) / 2;
      if (heap_[parent]->deadline_ns <= f->deadline_ns) break;
      set(i, heap_[parent]);
      i = parent;
      moved = true;
    }
    set(i, f);
    return moved;
  }
  void sift_down(std::size_t i) noexcept {
    FiberBase* f = heap_[i];
    const std::size_t n = heap_.size();
    for (;;) {
      std::size_t child = 2 * i + 1;
      if (child >= n) break;
      if (child + 1 < n && heap_[child + 1]->deadline_ns < heap_[child]->deadline_ns) ++child;
      if (heap_[child]->deadline_ns >= f->deadline_ns) break;
      set(i, heap_[child]);
      i = child;
    }
    set(i, f);
  }

  std::vector<FiberBase*> heap_;
};

}  // namespace sy::detail
