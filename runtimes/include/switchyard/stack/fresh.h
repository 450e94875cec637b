// Fresh stacks: mapped per fiber, unmapped at its end.
// A stack allocator (StackAllocator, concepts.h), registered in variants.def.
#pragma once

#include <cstddef>
#include <string_view>

#include "switchyard/concepts.h"
#include "switchyard/stack/base.h"

namespace sy {

// Fresh stacks: a new mapping per acquire (guarded) or a chunk taken from a shared slab
// (unguarded); release unmaps (guarded) or gives the chunk's pages back to the kernel and
// the chunk to its slab (unguarded).
class FreshStacks {
 public:
  static constexpr std::string_view name = "fresh";
  explicit FreshStacks(StackOptions o = {}) : opts_(o) {}
  Stack acquire(std::size_t size = 0);
  void release(Stack& s) noexcept;
  const StackOptions& options() const noexcept { return opts_; }

 private:
  StackOptions opts_;
};

static_assert(StackAllocator<FreshStacks>);

}  // namespace sy
