// What every switch backend shares: the stack region and saved-register types, the
// sanitizer bookkeeping, and sy::switch_to / switch_to_final, the runtime's entry points.
// The contract of a backend is at the top of switch.h and in concepts.h (SwitchBackend).
#pragma once

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

}  // namespace detail

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

// A thread's own context (a carrier's scheduler context) learns its sanitizer state on its
// first switch away: the TSan fiber of the thread and, under ASan, the thread's stack bounds.
// A later run() or start() runs the carrier on a new thread, whose context that is no
// longer: forget it before the new thread's first switch. Nothing in a plain build.
template <class B>
inline void adopt_thread_context(typename B::Context& c) noexcept {
#ifdef SY_SANITIZED
  c.san = detail::SanState{};  // a thread's own context owns no TSan fiber: nothing to free
#else
  (void)c;
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
