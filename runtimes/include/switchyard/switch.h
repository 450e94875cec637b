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

#include <ucontext.h>

#include <boost/context/detail/fcontext.hpp>
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "switchyard/switch_frame.h"

namespace sy {

// The usable region of a stack: [lo, lo + size). The stack grows down from lo + size.
struct StackRange {
  void* lo = nullptr;
  std::size_t size = 0;
  char* hi() const noexcept { return static_cast<char*>(lo) + size; }
};

// Registers of a suspended context, enough to start an unwinder or scan its stack: the
// resume address, the stack pointer and the callee-saved integer registers of the ABI.
// stack_pointer() names the stack pointer on every architecture (the GC scan needs only it).
#if defined(__x86_64__)
struct SavedRegisters {
  std::uintptr_t rip = 0, rsp = 0, rbp = 0, rbx = 0, r12 = 0, r13 = 0, r14 = 0, r15 = 0;
};
inline std::uintptr_t stack_pointer(const SavedRegisters& r) noexcept { return r.rsp; }
#elif defined(__aarch64__)
struct SavedRegisters {
  std::uintptr_t pc = 0, sp = 0;
  std::uintptr_t x[10] = {};  // x19..x28
  std::uintptr_t fp = 0;      // x29
  std::uintptr_t lr = 0;      // x30 (for a context suspended in a switch: equal to pc)
};
inline std::uintptr_t stack_pointer(const SavedRegisters& r) noexcept { return r.sp; }
#else
#error "Switchyard supports x86-64 and AArch64 only"
#endif

}  // namespace sy

#if defined(SY_ASAN) || defined(SY_TSAN)
#define SY_SANITIZED 1
#endif

extern "C" {
// asm/switch_x86_64_sysv_elf_gas.S or asm/switch_arm64_aapcs_elf_gas.S. save_sp receives the running context's frame address;
// load_sp is the frame address of the context to resume.
void sy_switch_fpu_jmp(void** save_sp, void* load_sp) noexcept;
void sy_switch_fpu_ret(void** save_sp, void* load_sp) noexcept;
void sy_switch_nofpu_jmp(void** save_sp, void* load_sp) noexcept;
void sy_switch_nofpu_ret(void** save_sp, void* load_sp) noexcept;
void sy_switch_trampoline() noexcept;  // never called directly: a first frame's resume address
}

namespace sy {

namespace detail {

#ifdef SY_SANITIZED
// Per-context sanitizer bookkeeping, present only in sanitizer builds so that a plain
// build's Context is exactly what the switch needs.
struct SanState {
  // ASan: bounds of this context's stack. A thread's own context starts unknown (null) and
  // learns them from __sanitizer_finish_switch_fiber's old-bounds output, on the other
  // side, the first time it is switched away from.
  const void* stack_lo = nullptr;
  std::size_t stack_size = 0;
  void* fake_stack = nullptr;  // ASan: this context's fake stack while it is suspended
  void* tsan_fiber = nullptr;  // TSan: fiber handle (a thread's own: learnt on first switch)
  bool owns_tsan_fiber = false;
  void (*entry)(void*) = nullptr;  // the user's entry, run by san_fiber_start
  void* arg = nullptr;
};
// Called around every switch by switch_to / switch_to_final (switch.cpp).
void san_before_switch(SanState& from, SanState& to, bool final) noexcept;
void san_after_switch(void* fake_stack) noexcept;
// make(): record bounds, create the TSan fiber, keep the user's entry for san_fiber_start.
void san_make(SanState& s, StackRange stack, void (*entry)(void*), void* arg) noexcept;
void san_destroy(SanState& s) noexcept;
// The entry make() gives the asm and ucontext backends in sanitizer builds: completes the
// ASan switch that started the fiber (fake stack nullptr: a fresh fiber has none), then runs
// the user's entry. arg is the SanState.
[[noreturn]] void san_fiber_start(void* san_state) noexcept;
#endif

// Asm backends differ only in which routine they call and what it saves.
template <void (*Routine)(void**, void*) noexcept, bool SavesFp>
struct AsmSwitchImpl {
  static constexpr bool saves_fp_control = SavesFp;
  // The routine pushes the callee-saved registers and stores the frame address into
  // `from` before it loads the incoming sp.
  static constexpr bool saved_before_switch = true;
  struct Context {
    void* sp = nullptr;  // frame address while suspended (switch_frame.h); unused while running
#ifdef SY_SANITIZED
    SanState san;
#endif
    Context() = default;
    Context(const Context&) = delete;  // see the note on UcontextSwitch::Context
    Context& operator=(const Context&) = delete;
  };
  static void make(Context& c, StackRange s, void (*entry)(void*), void* arg) noexcept;
  static void swap(Context& from, Context& to) noexcept { Routine(&from.sp, to.sp); }
  static void destroy(Context& c) noexcept {
#ifdef SY_SANITIZED
    san_destroy(c.san);
#endif
    c.sp = nullptr;
  }
  static SavedRegisters registers(const Context& c) noexcept;
  static const char* saved_lo(const Context& c) noexcept { return static_cast<const char*>(c.sp); }  // the frame
};

// Out of line in switch.cpp for every instantiation used.
void asm_make(void** sp, StackRange s, void (*entry)(void*), void* arg) noexcept;
SavedRegisters asm_registers(const void* sp) noexcept;

template <void (*R)(void**, void*) noexcept, bool F>
void AsmSwitchImpl<R, F>::make(Context& c, StackRange s, void (*entry)(void*), void* arg) noexcept {
#ifdef SY_SANITIZED
  san_make(c.san, s, entry, arg);
  asm_make(&c.sp, s, &san_fiber_start, &c.san);
#else
  asm_make(&c.sp, s, entry, arg);
#endif
}
template <void (*R)(void**, void*) noexcept, bool F>
SavedRegisters AsmSwitchImpl<R, F>::registers(const Context& c) noexcept {
  return asm_registers(c.sp);
}

}  // namespace detail

// Our assembly switch, default policy: saves the FP control modes (MXCSR and the x87 control
// word; FPCR on AArch64; see the .S headers for why), continues by jmp (br on AArch64).
struct AsmSwitch : detail::AsmSwitchImpl<&sy_switch_fpu_jmp, true> {
  static constexpr std::string_view name = "asm";
};
// The non-default policy: the FP control modes stay per carrier thread.
struct AsmNoFpuSwitch : detail::AsmSwitchImpl<&sy_switch_nofpu_jmp, false> {
  static constexpr std::string_view name = "asm_nofpu";
};
// Benchmark/test-only: the default policy continuing with `ret` (the rejected alternative,
// kept so that the choice stays measurable).
struct AsmRetSwitch : detail::AsmSwitchImpl<&sy_switch_fpu_ret, true> {
  static constexpr std::string_view name = "asm_ret";
};
struct AsmNoFpuRetSwitch : detail::AsmSwitchImpl<&sy_switch_nofpu_ret, false> {
  static constexpr std::string_view name = "asm_nofpu_ret";
};

// glibc makecontext/swapcontext. swapcontext saves and restores the whole FP environment
// (x86-64: fnstenv/fldenv + MXCSR; AArch64: FPSR and FPCR) and makes an rt_sigprocmask
// system call on every switch.
struct UcontextSwitch {
  static constexpr std::string_view name = "ucontext";
  static constexpr bool saves_fp_control = true;
  // swapcontext stores every register into `from`'s ucontext_t before it loads `to`'s.
  static constexpr bool saved_before_switch = true;
  struct Context {
    ucontext_t uc;
    void (*entry)(void*) = nullptr;
    void* arg = nullptr;
#ifdef SY_SANITIZED
    detail::SanState san;
#endif
    Context() = default;
    // Not copyable or movable: glibc's getcontext points uc.uc_mcontext.fpregs into the
    // ucontext_t itself, and ASan/TSan state is per object. (All backends alike, so the
    // runtime cannot come to depend on a copy that only works with some.)
    Context(const Context&) = delete;
    Context& operator=(const Context&) = delete;
  };
  static void make(Context& c, StackRange s, void (*entry)(void*), void* arg) noexcept;
  static void swap(Context& from, Context& to) noexcept { swapcontext(&from.uc, &to.uc); }
  static void destroy(Context& c) noexcept {
#ifdef SY_SANITIZED
    detail::san_destroy(c.san);
#endif
  }
  static SavedRegisters registers(const Context& c) noexcept;
  // The registers live in the ucontext_t (in the control block at the stack top); the
  // stack is live from the saved stack pointer up.
  static const char* saved_lo(const Context& c) noexcept {
    return reinterpret_cast<const char*>(stack_pointer(registers(c)));
  }
};

// Boost.Context 1.74 fcontext. On x86-64 it saves MXCSR and the x87 control word; its arm64
// jump_fcontext saves d8-d15, x19-x30 and no FPCR, so there the FP modes stay per carrier
// thread (switch_test's FpControlPolicy checks both). jump_fcontext hands
// the resumed side the suspended side's fcontext; swap passes &from as the data pointer
// so that the resumed side stores it there.
struct BoostSwitch {
  static constexpr std::string_view name = "boost";
#if defined(__aarch64__)
  static constexpr bool saves_fp_control = false;
#else
  static constexpr bool saves_fp_control = true;
#endif
  // jump_fcontext returns the outgoing fcontext to the *incoming* side, and swap() stores it
  // into `from` there, a few instructions after the stack pointer moved.
  static constexpr bool saved_before_switch = false;
  struct Context {
    boost::context::detail::fcontext_t fctx = nullptr;
#ifdef SY_SANITIZED
    detail::SanState san;
#endif
    Context() = default;
    Context(const Context&) = delete;  // see the note on UcontextSwitch::Context
    Context& operator=(const Context&) = delete;
  };
  // Also runs the new context once up to its first suspension (a "priming" jump), so that
  // the entry and argument are read from make()'s frame rather than carried on every swap.
  static void make(Context& c, StackRange s, void (*entry)(void*), void* arg) noexcept;
  static void swap(Context& from, Context& to) noexcept {
    boost::context::detail::transfer_t t = boost::context::detail::jump_fcontext(to.fctx, &from);
    static_cast<Context*>(t.data)->fctx = t.fctx;  // whoever resumed us: where it stopped
  }
  static void destroy(Context& c) noexcept {
#ifdef SY_SANITIZED
    detail::san_destroy(c.san);
#endif
    c.fctx = nullptr;
  }
  static SavedRegisters registers(const Context& c) noexcept;
  static const char* saved_lo(const Context& c) noexcept { return static_cast<const char*>(c.fctx); }  // its frame
};

// What the runtime calls: B::swap, plus the sanitizer annotations in sanitizer builds. In a
// plain build this is exactly B::swap (switch_bench's */direct benchmarks show it).
template <class B>
inline void switch_to(typename B::Context& from, typename B::Context& to) noexcept {
#ifdef SY_SANITIZED
  detail::san_before_switch(from.san, to.san, false);
  B::swap(from, to);
  detail::san_after_switch(from.san.fake_stack);
#else
  B::swap(from, to);
#endif
}

// The last switch away from a context whose fiber is ending: never returns. Under ASan it
// passes a null fake-stack save, so ASan frees the dying fiber's fake stack.
template <class B>
[[noreturn]] inline void switch_to_final(typename B::Context& from, typename B::Context& to) noexcept {
#ifdef SY_SANITIZED
  detail::san_before_switch(from.san, to.san, true);
#endif
  B::swap(from, to);
  __builtin_trap();  // nobody may resume a finished context
}

}  // namespace sy
