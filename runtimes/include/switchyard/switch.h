// Switch backends: three ways to save one execution context and resume another, behind
// one compile-time interface. The runtime is a template over the backend, so a variant's
// switch path is a direct (inlinable) call, never an indirect one. One header per backend
// (switch/asm.h, switch/ucontext.h, switch/boost.h); what they share is switch/base.h.
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
//       For a suspended context: the registers it will resume with (x86-64: rip, rsp, rbp,
//       rbx, r12-r15; AArch64: pc, sp, x19-x29, lr). Used for backtraces (libunwind) and
//       GC stack scanning.
//   static constexpr bool saved_before_switch;     // required, no default (gc.h relies on
//       it): swap() has stored the outgoing context completely before the stack pointer
//       moves to the incoming stack
//   static const char* saved_lo(const Context& c) noexcept;
//       For a suspended context: the lowest address its saved state occupies on its stack
//       (the collector scans from there to the stack top)
// The concept SwitchBackend (concepts.h) checks all of it at Variant<>.
//
// Details and additions (switch layer):
//   registers(): pc is the return address into the caller of the backend's primitive
//     (sy_switch_*, swapcontext -- under ASan its interceptor --, jump_fcontext), rsp the
//     caller's sp after that return. A fresh context reports its entry trampoline: asm
//     sy_switch_trampoline, ucontext the makecontext'd function, boost a point inside its
//     trampoline (make() primes it, see BoostSwitch).
//   Context is neither copyable nor movable (ucontext_t points into itself).
//   static constexpr bool saves_fp_control;  // FP control modes follow the context (x86-64:
//                                            // MXCSR / x87 control word; AArch64: FPCR)
//   sy::switch_to_final<B>(from, to): the last switch of an ending fiber; never returns
//     (under ASan it lets the dying fiber's fake stack go).
//   destroy() must not be called on the running context.
//
// sy::switch_to<B>(from, to) is what the runtime calls: B::swap plus the sanitizer
// annotations (ASan fiber switch, TSan fiber switch) when built with them, nothing else.
#pragma once

#include "switchyard/switch/asm.h"
#include "switchyard/switch/base.h"
#include "switchyard/switch/boost.h"
#include "switchyard/switch/ucontext.h"
