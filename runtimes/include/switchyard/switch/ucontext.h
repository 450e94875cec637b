// glibc makecontext/swapcontext.
// A switch backend (SwitchBackend, concepts.h; the contract is at the top of switch.h),
// registered in variants.def.
#pragma once

#include <ucontext.h>

#include "switchyard/concepts.h"
#include "switchyard/switch/base.h"

namespace sy {

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

static_assert(SwitchBackend<UcontextSwitch>);

}  // namespace sy
