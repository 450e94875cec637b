// The saved frame of the assembly switch (asm/switch_x86_64_sysv_elf_gas.S): one source of
// truth for the .S file (which includes this header through the C preprocessor) and for
// C++ (AsmSwitch::make builds a first frame, AsmSwitch::registers reads one).
//
// A suspended context is a single pointer, its saved stack pointer `sp`; the frame sits at
// [sp, sp + SY_FRAME_SIZE) on the suspended stack itself, so a switch allocates nothing.
// When the context resumes, rsp becomes sp + SY_FRAME_SIZE and execution continues at the
// saved rip (the return address of the call to the switch routine).
//
//   offset  bytes  content
//   0x00    4      MXCSR (whole register; only the FPU-saving routines read and write it)
//   0x04    2      x87 control word (ditto)
//   0x06    2      padding
//   0x08    8      r15
//   0x10    8      r14
//   0x18    8      r13
//   0x20    8      r12
//   0x28    8      rbx
//   0x30    8      rbp
//   0x38    8      rip (return address pushed by the `call` into the switch routine)
//
// Same order as Boost.Context's fcontext frame (fpu word, r12..r15, rbx, rbp, rip) except
// r12..r15 are reversed; the order does not matter for speed (independent stores/loads).
#pragma once

#define SY_FRAME_MXCSR 0x00
#define SY_FRAME_X87CW 0x04
#define SY_FRAME_R15 0x08
#define SY_FRAME_R14 0x10
#define SY_FRAME_R13 0x18
#define SY_FRAME_R12 0x20
#define SY_FRAME_RBX 0x28
#define SY_FRAME_RBP 0x30
#define SY_FRAME_RIP 0x38
#define SY_FRAME_SIZE 0x40

#ifndef __ASSEMBLER__
#include <cstddef>
#include <cstdint>

namespace sy::detail {

struct AsmFrame {
  std::uint32_t mxcsr;
  std::uint16_t x87cw;
  std::uint16_t pad;
  std::uint64_t r15, r14, r13, r12, rbx, rbp, rip;
};

static_assert(offsetof(AsmFrame, mxcsr) == SY_FRAME_MXCSR);
static_assert(offsetof(AsmFrame, x87cw) == SY_FRAME_X87CW);
static_assert(offsetof(AsmFrame, r15) == SY_FRAME_R15);
static_assert(offsetof(AsmFrame, r14) == SY_FRAME_R14);
static_assert(offsetof(AsmFrame, r13) == SY_FRAME_R13);
static_assert(offsetof(AsmFrame, r12) == SY_FRAME_R12);
static_assert(offsetof(AsmFrame, rbx) == SY_FRAME_RBX);
static_assert(offsetof(AsmFrame, rbp) == SY_FRAME_RBP);
static_assert(offsetof(AsmFrame, rip) == SY_FRAME_RIP);
static_assert(sizeof(AsmFrame) == SY_FRAME_SIZE);
// rsp after a resume is sp + SY_FRAME_SIZE and must keep the call-site alignment of the
// suspended code (16 bytes), so the frame is a multiple of 16 bytes.
static_assert(SY_FRAME_SIZE % 16 == 0);

}  // namespace sy::detail
#endif
