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

  Stack acquire(std::size_t size = 0);
  void release(Stack& s) noexcept;
  std::size_t pooled() const noexcept { return free_.size(); }
  const PoolOptions& options() const noexcept { return opts_; }

 private:
  void recycle(Stack& s) noexcept;  // apply the release policy
  PoolOptions opts_;
  std::size_t size_;      // opts_.stack.size rounded to pages
  std::size_t keep_;      // keep_top rounded to pages, < size_ (0: policy degenerates)
  std::vector<Stack> free_;
};

static_assert(StackAllocator<PooledStacks>);

}  // namespace sy
