/* switch_arm64_aapcs_elf_gas.S -- Switchyard's own context switch.
 * operation: switch | arch: AArch64 (arm64) | ABI: AAPCS64 | format: ELF | assembler: GNU as
 *
 *   void sy_switch_<fpu|nofpu>_<jmp|ret>(void** save_sp, void* load_sp);
 *
 * The same contract as switch_x86_64_sysv_elf_gas.S: saves the running context's
 * callee-saved state in a frame on its own stack, stores the frame's address in *save_sp,
 * then resumes the context whose frame is at load_sp. A new context's first frame is
 * built in C++ (AsmSwitch::make) so that the first switch into it lands in
 * sy_switch_trampoline.
 *
 * Saved frame (offsets in runtimes/include/switchyard/switch_frame.h, the one source of
 * truth, checked there with static_assert against the C++ struct):
 *
 *   offset  register
 *   0x00    d8,  d9       (low 64 bits of v8, v9)
 *   0x10    d10, d11
 *   0x20    d12, d13
 *   0x30    d14, d15
 *   0x40    x19, x20
 *   0x50    x21, x22
 *   0x60    x23, x24
 *   0x70    x25, x26
 *   0x80    x27, x28
 *   0x90    x29 (fp), x30 (lr = where the suspended code resumes)
 *   0xa0    FPCR          [fpu routines only]
 *   0xa8    padding
 *   saved sp = address of offset 0; after resuming, sp = saved sp + 0xb0.
 *
 * NOT saved, and why that is safe:
 *   - x0-x18, x16/x17 (IP0/IP1, used here as scratch), NZCV flags: caller-saved or
 *     scratch by AAPCS64; the caller of a function already assumes they are clobbered.
 *     x18 is the platform register; Linux does not reserve it, so it is an ordinary
 *     temporary for our code.
 *   - v0-v7, v16-v31 and the upper 64 bits of v8-v15, SVE z/p/ffr registers, SME state:
 *     caller-saved by AAPCS64 (only the low halves of v8-v15 are callee-saved). A call to
 *     the switch is an ordinary call, so SVE state is dead across it (the kernel already
 *     discards it at every system call for the same reason).
 *   - FPSR (cumulative exception flags, saturation): status, not control; caller-saved in
 *     effect, nothing may rely on it across a call. Unlike x86 (where MXCSR holds control
 *     and status together) it does not travel with the context even in the fpu routines.
 *   - signal mask: per thread, not per fiber (ucontext pays a system call for it).
 *   - TPIDR_EL0 (the TLS base): per carrier thread on purpose: thread_local must name the
 *     carrier the fiber runs on now (DESIGN.md section 5).
 *   - the alternate signal stack, errno: per thread, same reasoning.
 *
 * FPCR policy, mirroring the x86 MXCSR/x87 policy. AAPCS64 makes FPCR's mode bits
 * (rounding mode, FZ, DN, AHP, trap enables) global state that only the fenv functions
 * change, so a switch that looks like a call must preserve them: otherwise fiber A's
 * fesetround() leaks into fiber B across what B sees as a call. Default: SAVE FPCR
 * (sy_switch_fpu_*, AsmSwitch). A new fiber starts with its creator's FPCR, as a new POSIX
 * thread does. The no-save routines (sy_switch_nofpu_*, AsmNoFpuSwitch) leave FPCR per
 * carrier thread. Note that Boost.Context 1.74's arm64 fcontext does NOT save FPCR (so on
 * AArch64 BoostSwitch::saves_fp_control is false); glibc's swapcontext does. switch_test's
 * FpControlPolicy checks all of them. MSR FPCR may be self-synchronizing (slow) on some
 * cores: the reason the nofpu routines exist, as on x86.
 *
 * Continuation: `ret` versus `br x17`. Both leave for the resumed context's saved lr.
 * `ret` pops the return-stack predictor, which holds the switch's caller in the *old*
 * context, so it mispredicts every switch; `br` goes through the indirect predictor, which
 * learns the alternating targets. Same reasoning and same two flavours as x86; AsmSwitch
 * uses the jmp (br) routines. No timings here: the CI stage runs under qemu, whose times
 * are not measurements; measure on an ARM64 machine (README, "AArch64"). Instruction
 * counts are deterministic: per one-way switch 32 (fpu jmp), 31 (fpu ret), 28 (nofpu jmp),
 * 27 (nofpu ret), against 23/22/19/18 for the x86-64 routines; d8-d15 cost 8 of them.
 *
 * Branch protection.
 *   BTI: `bti c` opens every routine (they are called with bl, or blr through a pointer),
 *   `bti j` opens the trampoline (the jmp routines enter it with `br x17`; the ret
 *   routines with `ret`, which BTI does not check). The jmp routines' `br x17` to an
 *   ordinary return site (no landing pad there; compilers put none after a call) would
 *   fault on a BTI-guarded page, so this file emits NO GNU property note: the linker then
 *   marks the program not BTI-compatible and the kernel maps no page guarded; the bti
 *   instructions are hints (no-ops) until then. That is the same position as CET on
 *   x86-64. The ret routines alone would be BTI-correct.
 *   Pointer authentication (pac-ret): the switch is a leaf that stores lr in its own frame
 *   unsigned (as Boost.Context does). Compiled callers built with
 *   -mbranch-protection=pac-ret stay correct across a switch: each frame signs its lr with
 *   its own sp as the modifier, and a context always resumes with exactly the sp it was
 *   suspended with, and the keys are per process, so a fiber that migrates to another
 *   carrier thread authenticates with the same key. What is not protected: the saved lr
 *   in a suspended frame (an attacker who can write a suspended fiber's stack can redirect
 *   it). Signing it (paciasp with the frame address as modifier, pacia1716 in make())
 *   would close that; not done, stated here.
 *
 * CFI: the routines describe their frame (CFA = sp + 0xb0 once it is allocated; x29/x30
 * in it once stored); after `mov sp, x1` the same rules describe the resumed context's
 * frame, which has the same layout. The trampoline marks x30 undefined: the outermost frame.
 *
 * Register usage inside the routines: x0 = save_sp, x1 = load_sp, x9 = FPCR / old sp,
 * x17 = resume address (jmp routines).
 */

#include "switchyard/switch_frame.h"

/* One switch routine. fpu=1 saves/restores FPCR; ret=1 continues with `ret`, ret=0 loads
 * the resume address early into x17 and continues with `br x17`. */
.macro SY_SWITCH name, fpu, ret
    .text
    .globl  \name
    .hidden \name
    .type   \name, %function
    .p2align 6
\name:
    .cfi_startproc
    bti     c                                   /* reached by bl or blr */
    sub     sp, sp, #SY_FRAME_SIZE
    .cfi_def_cfa_offset SY_FRAME_SIZE
    stp     d8,  d9,  [sp, #SY_FRAME_D8]        // <d8 <d9
    stp     d10, d11, [sp, #SY_FRAME_D10]       // <d10 <d11
    stp     d12, d13, [sp, #SY_FRAME_D12]       // <d12 <d13
    stp     d14, d15, [sp, #SY_FRAME_D14]       // <d14 <d15
    stp     x19, x20, [sp, #SY_FRAME_X19]       // <x19 <x20
    stp     x21, x22, [sp, #SY_FRAME_X21]       // <x21 <x22
    stp     x23, x24, [sp, #SY_FRAME_X23]       // <x23 <x24
    stp     x25, x26, [sp, #SY_FRAME_X25]       // <x25 <x26
    stp     x27, x28, [sp, #SY_FRAME_X27]       // <x27 <x28
    stp     x29, x30, [sp, #SY_FRAME_X29]       // <fp <lr
    .cfi_offset x29, SY_FRAME_X29 - SY_FRAME_SIZE
    .cfi_offset x30, SY_FRAME_X30 - SY_FRAME_SIZE
.if \fpu
    mrs     x9, fpcr
    str     x9, [sp, #SY_FRAME_FPCR]            // <fpcr
.endif
    mov     x9, sp
    str     x9, [x0]                            // <sp   *save_sp = frame
    mov     sp, x1                              // >sp   the other context's frame
    /* The CFI above still holds: the new frame has the same layout. */
.if \ret == 0
    ldr     x17, [sp, #SY_FRAME_X30]            // >pc  (early: the br target resolves sooner)
.endif
.if \fpu
    ldr     x9, [sp, #SY_FRAME_FPCR]
    msr     fpcr, x9                            // >fpcr
.endif
    ldp     d8,  d9,  [sp, #SY_FRAME_D8]        // >d8 >d9
    ldp     d10, d11, [sp, #SY_FRAME_D10]       // >d10 >d11
    ldp     d12, d13, [sp, #SY_FRAME_D12]       // >d12 >d13
    ldp     d14, d15, [sp, #SY_FRAME_D14]       // >d14 >d15
    ldp     x19, x20, [sp, #SY_FRAME_X19]       // >x19 >x20
    ldp     x21, x22, [sp, #SY_FRAME_X21]       // >x21 >x22
    ldp     x23, x24, [sp, #SY_FRAME_X23]       // >x23 >x24
    ldp     x25, x26, [sp, #SY_FRAME_X25]       // >x25 >x26
    ldp     x27, x28, [sp, #SY_FRAME_X27]       // >x27 >x28
    ldp     x29, x30, [sp, #SY_FRAME_X29]       // >fp >lr
    add     sp, sp, #SY_FRAME_SIZE              /* pop the frame */
    .cfi_def_cfa_offset 0
    .cfi_same_value x29
    .cfi_same_value x30
.if \ret
    ret                                         // >pc  (x30)
.else
    br      x17                                 // >pc
.endif
    .cfi_endproc
    .size   \name, . - \name
.endm

SY_SWITCH sy_switch_fpu_jmp,   1, 0
SY_SWITCH sy_switch_fpu_ret,   1, 1
SY_SWITCH sy_switch_nofpu_jmp, 0, 0
SY_SWITCH sy_switch_nofpu_ret, 0, 1

/* sy_switch_trampoline: where a new context's first switch lands (its frame's x30 slot).
 * make() put entry in x19, arg in x20, 0 in x29 (and 16 zero bytes above the frame, a
 * null frame record), and chose the frame so that sp here is 16-byte aligned, as at any
 * call. entry never returns (a fiber ends by switching away for the last time); if it
 * does, `brk #0x3e8` traps (SIGTRAP, the same instruction as GCC's __builtin_trap on
 * AArch64, so every backend dies the same way) instead of running off into garbage.
 * .cfi_undefined x30 marks this as the outermost frame: unwinders (libunwind, gdb, the C++
 * exception unwinder) stop here instead of reading the zeroed words above. */
    .text
    .globl  sy_switch_trampoline
    .hidden sy_switch_trampoline
    .type   sy_switch_trampoline, %function
    .p2align 4
sy_switch_trampoline:
    .cfi_startproc
    .cfi_undefined x30
    bti     j                                   /* reached by br x17: an indirect jump */
    mov     x0, x20                             /* arg */
    blr     x19                                 /* entry(arg) */
    brk     #0x3e8
    .cfi_endproc
    .size   sy_switch_trampoline, . - sy_switch_trampoline

    .section .note.GNU-stack, "", %progbits
