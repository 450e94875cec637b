// Fiber stacks: fresh (one mapping per stack, unmapped at release) and pooled (reused,
// capped), each guarded (a no-access page below the usable region) or unguarded (carved
// from large shared slabs, with a canary at the low end). One header per allocator
// (stack/fresh.h, stack/pooled.h); what they share is stack/base.h.
//
// CONTRACT used by the runtime (the stacks module may add to it, not change it):
//
//   struct Stack        : one stack. range() is the usable region; guarded says which kind.
//   struct StackOptions : size (usable bytes, default 256 KiB), guard (default true).
//   class FreshStacks   : explicit FreshStacks(StackOptions = {});
//                         Stack acquire(std::size_t size = 0);   // 0 = options' size
//                         void release(Stack&) noexcept;         // unmaps; resets the Stack
//                         static constexpr std::string_view name = "fresh";
//   class PooledStacks  : explicit PooledStacks(PoolOptions = {});  same acquire/release;
//                         static constexpr std::string_view name = "pooled";
//   Stack allocators are owned by one carrier and are not thread-safe themselves; a stack
//   acquired on one carrier may be released on another (mapping and slab bookkeeping that
//   is shared between allocators is thread-safe).
//   acquire() throws sy::StackError (a std::runtime_error whose message names the cause and
//   the limit: ENOMEM, vm.max_map_count, RLIMIT_AS) and leaks nothing.
//   bool canary_intact(const Stack&) noexcept : for unguarded stacks (always true if guarded).
//
//   Overflow reporting: install_overflow_handler() (process-wide SIGSEGV handler on an
//   alternate signal stack, idempotent), ensure_signal_altstack() (once per thread that
//   runs fibers), set_overflow_describer(fn): the runtime's hook that names the fiber.
//
// LAYOUT (addresses grow to the right; the stack grows down from hi):
//
//   guarded   : [ guard page, PROT_NONE | usable, RW .................. ]   one mmap,
//               map_base      lo                                   hi    two VMAs
//   unguarded : [ pad page (canary in its top 64 B) | usable ......... ]   carved from a
//               map_base                             lo            hi    shared slab
//
// Sizes are rounded up to whole pages, so lo and hi are page-aligned (hence 16-aligned).
// Mapping count: a guarded stack costs 2 VMAs (guard + usable: the kernel splits the
// mapping at the mprotect), so vm.max_map_count (65530 by default) allows about 32k of
// them. Unguarded stacks cost 1 VMA per slab (a slab holds up to 4096 stacks, <= 64 MiB).
#pragma once

#include "switchyard/stack/base.h"
#include "switchyard/stack/fresh.h"
#include "switchyard/stack/pooled.h"
