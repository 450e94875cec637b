// Pooled stacks: reused, capped, treated by a release policy.
// A stack allocator (StackAllocator, concepts.h), registered in variants.def.
#pragma once

#include <cstddef>
#include <string_view>
#include <vector>

#include "switchyard/concepts.h"
#include "switchyard/stack/base.h"

namespace sy {

// Pooled stacks: stacks of the pool's size (and guard kind) are kept after release, up to
// cap, treated by the release policy; others behave as fresh. LIFO, so the most recently
// used (cache-warm) stack is reused first.
class PooledStacks {
 public:
  static constexpr std::string_view name = "pooled";
  explicit PooledStacks(PoolOptions o = {});
  ~PooledStacks();
  PooledStacks(const PooledStacks&) = delete;
  PooledStacks& operator=(const PooledStacks&) = delete;

  // The pool hit of the default size (what every spawn of a default fiber asks for) is
  // inline: out of line, the call, its prologue and the size rounding were a third of the
  // acquire (callgrind, spawn+join on asm-pooled-fifo: 27 instructions out of line, about
  // 14 inline). always_inline: create() is large, and GCC kept it out of line there.
  [[gnu::always_inline]] Stack acquire(std::size_t size = 0) {
    if (size == 0 && !free_.empty()) [[likely]] {
      Stack s = free_.back();
      free_.pop_back();
      return s;
    }
    return acquire_slow(size);
  }
  void release(Stack& s) noexcept;
  std::size_t pooled() const noexcept { return free_.size(); }
  const PoolOptions& options() const noexcept { return opts_; }

 private:
  Stack acquire_slow(std::size_t size);  // any size: a pool hit of the pool's size, or a new stack
  void recycle(Stack& s) noexcept;  // apply the release policy
  PoolOptions opts_;
  std::size_t size_;      // opts_.stack.size rounded to pages
  std::size_t keep_;      // keep_top rounded to pages, < size_ (0: policy degenerates)
  std::vector<Stack> free_;
};

static_assert(StackAllocator<PooledStacks>);

}  // namespace sy
