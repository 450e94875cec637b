// The saved frame of the assembly switch: one source of truth for the .S file (which
// includes this header through the C preprocessor) and for C++ (AsmSwitch::make builds a
// first frame, AsmSwitch::registers reads one). One layout per architecture:
//   x86-64  asm/switch_x86_64_sysv_elf_gas.S
//   AArch64 asm/switch_arm64_aapcs_elf_gas.S
//
// A suspended context is a single pointer, its saved stack pointer `sp`; the frame sits at
// [sp, sp + SY_FRAME_SIZE) on the suspended stack itself, so a switch allocates nothing.
// When the context resumes, the stack pointer becomes sp + SY_FRAME_SIZE and execution
// continues at the saved return address (of the call to the switch routine).
#pragma once

#if defined(__x86_64__)
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

#elif defined(__aarch64__)
//
//   offset  bytes  content
//   0x00    8*8    d8..d15 (low 64 bits of v8..v15: the part AAPCS64 makes callee-saved)
//   0x40    8*10   x19..x28
//   0x90    8      x29 (frame pointer)
//   0x98    8      x30 (link register: the resume address, the return address of the
//                  `bl` into the switch routine)
//   0xa0    8      FPCR (only the FPU-saving routines read and write it)
//   0xa8    8      padding (sp must stay 16-byte aligned)
//
// Same order as Boost.Context's arm64 fcontext frame up to 0xa0 (it keeps a copy of lr
// there as "pc" where we keep FPCR), so the two backends' frames read alike.

#define SY_FRAME_D8 0x00
#define SY_FRAME_D10 0x10
#define SY_FRAME_D12 0x20
#define SY_FRAME_D14 0x30
#define SY_FRAME_X19 0x40
#define SY_FRAME_X21 0x50
#define SY_FRAME_X23 0x60
#define SY_FRAME_X25 0x70
#define SY_FRAME_X27 0x80
#define SY_FRAME_X29 0x90
#define SY_FRAME_X30 0x98
#define SY_FRAME_FPCR 0xa0
#define SY_FRAME_SIZE 0xb0

#else
#error "Switchyard's assembly switch supports x86-64 and AArch64 only"
#endif

#ifndef __ASSEMBLER__
#include <cstddef>
#include <cstdint>

namespace sy::detail {

#if defined(__x86_64__)
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
#elif defined(__aarch64__)
struct AsmFrame {
  std::uint64_t d[8];     // d8..d15
  std::uint64_t x[10];    // x19..x28
  std::uint64_t x29, x30;
  std::uint64_t fpcr;
  std::uint64_t pad;
};
static_assert(offsetof(AsmFrame, d) == SY_FRAME_D8);
static_assert(offsetof(AsmFrame, d) + 2 * 8 == SY_FRAME_D10);
static_assert(offsetof(AsmFrame, d) + 4 * 8 == SY_FRAME_D12);
static_assert(offsetof(AsmFrame, d) + 6 * 8 == SY_FRAME_D14);
static_assert(offsetof(AsmFrame, x) == SY_FRAME_X19);
static_assert(offsetof(AsmFrame, x) + 2 * 8 == SY_FRAME_X21);
static_assert(offsetof(AsmFrame, x) + 4 * 8 == SY_FRAME_X23);
static_assert(offsetof(AsmFrame, x) + 6 * 8 == SY_FRAME_X25);
static_assert(offsetof(AsmFrame, x) + 8 * 8 == SY_FRAME_X27);
static_assert(offsetof(AsmFrame, x29) == SY_FRAME_X29);
static_assert(offsetof(AsmFrame, x30) == SY_FRAME_X30);
static_assert(offsetof(AsmFrame, fpcr) == SY_FRAME_FPCR);
static_assert(sizeof(AsmFrame) == SY_FRAME_SIZE);
#endif
// The stack pointer after a resume is sp + SY_FRAME_SIZE and must keep the call-site
// alignment of the suspended code (16 bytes on both ABIs; AArch64 checks it in hardware),
// so the frame is a multiple of 16 bytes.
static_assert(SY_FRAME_SIZE % 16 == 0);

}  // namespace sy::detail
#endif
