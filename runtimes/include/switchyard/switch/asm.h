// Our assembly switch (asm/switch_*_gas.S) and its policy variants.
// A switch backend (SwitchBackend, concepts.h; the contract is at the top of switch.h),
// registered in variants.def.
#pragma once

#include "switchyard/concepts.h"
#include "switchyard/switch/base.h"

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

static_assert(SwitchBackend<AsmSwitch>);
static_assert(SwitchBackend<AsmNoFpuSwitch>);
static_assert(SwitchBackend<AsmRetSwitch>);
static_assert(SwitchBackend<AsmNoFpuRetSwitch>);

}  // namespace sy
