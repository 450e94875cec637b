// Switch backends: three ways to save one execution context and resume another, behind
// one compile-time interface. The runtime is a template over the backend, so a variant's
// switch path is a direct (inlinable) call, never an indirect one.
//
// CONTRACT (every backend B provides exactly this; the runtime relies on nothing else):
//
//   static constexpr std::string_view name;        // "asm", "ucontext", "boost"
//   struct Context;                                 // default-constructed = "the current OS
//                                                   // thread's own context", filled by the
//                                                   // first swap away from it
//   static void make(Context& c, StackRange s, void (*entry)(void*), void* arg) noexcept;
//       Prepare c so that the first swap into it calls entry(arg) on stack s, with the
//       stack 16-byte aligned as at any call. entry never returns: it ends by swapping
//       away for the last time.
//   static void swap(Context& from, Context& to) noexcept;
//       Save the running context into `from`, resume `to`. Returns when someone swaps
//       back to `from`. Allocates nothing, takes no lock.
//   static void destroy(Context& c) noexcept;     // release per-context resources (TSan fiber)
//   static SavedRegisters registers(const Context& c) noexcept;
//       For a suspended context: the registers it will resume with (rip, rsp, rbp, rbx,
//       r12-r15). Used for backtraces (libunwind) and GC stack scanning.
//
// sy::switch_to<B>(from, to) is what the runtime calls: B::swap plus the sanitizer
// annotations (ASan fiber switch, TSan fiber switch) when built with them, nothing else.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace sy {

// The usable region of a stack: [lo, lo + size). The stack grows down from lo + size.
struct StackRange {
  void* lo = nullptr;
  std::size_t size = 0;
  char* hi() const noexcept { return static_cast<char*>(lo) + size; }
};

// Registers of a suspended context, enough to start an unwinder or scan its stack.
struct SavedRegisters {
  std::uintptr_t rip = 0, rsp = 0, rbp = 0, rbx = 0, r12 = 0, r13 = 0, r14 = 0, r15 = 0;
};

}  // namespace sy
