/* switch_x86_64_sysv_elf_gas.S -- Switchyard's own context switch.
 * operation: switch | arch: x86-64 | ABI: System V | format: ELF | assembler: GNU as
 *
 *   void sy_switch_<fpu|nofpu>_<jmp|ret>(void** save_sp, void* load_sp);
 *
 * Saves the running context's callee-saved state in a frame on its own stack, stores the
 * frame's address in *save_sp, then resumes the context whose frame is at load_sp. Returns
 * when some other context switches back to *save_sp. A new context's first frame is built
 * in C++ (AsmSwitch::make) so that the first switch into it "returns" into
 * sy_switch_trampoline.
 *
 * Saved frame (offsets in runtimes/include/switchyard/switch_frame.h, the one source of
 * truth, checked there with static_assert against the C++ struct):
 *
 *   slot  offset  register
 *   0     0x00    MXCSR (4 bytes) + x87 control word (2 bytes) [fpu routines only]
 *   1     0x08    r15
 *   2     0x10    r14
 *   3     0x18    r13
 *   4     0x20    r12
 *   5     0x28    rbx
 *   6     0x30    rbp
 *   7     0x38    rip  (return address pushed by the caller's `call`)
 *   saved sp = address of slot 0; after resuming, rsp = sp + 0x40.
 *
 * NOT saved, and why that is safe:
 *   - rax, rcx, rdx, rsi, rdi, r8-r11, rflags: caller-saved; the caller of a function
 *     already assumes they are clobbered. (The direction flag is clear at any call, by ABI.)
 *   - xmm0-15 / ymm / zmm, k0-7: all caller-saved in the SysV ABI.
 *   - x87 register stack and status word, MXCSR status flags: caller-saved. (stmxcsr/
 *     ldmxcsr move the whole MXCSR, so in the fpu routines the sticky exception flags do
 *     travel with the context; nothing may rely on that.)
 *   - signal mask: per thread, not per fiber. This is what ucontext pays a sigprocmask
 *     system call for; a fiber that changes its mask changes its carrier's.
 *   - fs/gs base (TLS): per carrier thread on purpose: thread_local must name the carrier
 *     the fiber runs on now (DESIGN.md section 5).
 *   - the stack bounds / alternate signal stack, errno: per thread, same reasoning.
 *
 * MXCSR / x87 control-word policy. The ABI makes their control bits (rounding mode,
 * exception masks, DAZ/FTZ, x87 precision) callee-saved, so a switch that looks like a
 * function call to its caller must preserve them: otherwise fiber A's fesetround() leaks
 * into fiber B, which sees its rounding mode change across what it sees as a call. Default:
 * SAVE them (sy_switch_fpu_*), like Boost.Context 1.74 fcontext. A new fiber starts with
 * the creating thread's modes, as a new POSIX thread inherits its creator's fenv.
 * The no-save routines (sy_switch_nofpu_*, AsmNoFpuSwitch) exist for the like-for-like
 * benchmark and for programs that never touch the FP environment; with them the control
 * bits are per carrier thread. switch_test's FpControlPolicy checks both behaviours.
 *
 * Continuation: `ret` versus `pop; jmp *reg` (here: load rip, restore, jmp *%rcx).
 * `ret` returns to an address the return-stack predictor did not push (it predicts the
 * switch's own caller in the *old* context), so it mispredicts on every switch; the
 * indirect-jump predictor learns the alternating targets. Measured (AMD EPYC, 2 shared
 * cores; one-way ns, thread CPU time, medians of 9 repetitions, one run of
 *   switch_bench --benchmark_filter='BM_Switch|BM_Call' --benchmark_repetitions=9
 *                --benchmark_report_aggregates_only=true):
 *   fpu:   jmp 6.88 ns   ret 14.06 ns      (Boost fcontext, also fpu + jmp: 7.18 ns)
 *   nofpu: jmp 3.35 ns   ret 10.47 ns
 * so the runtime's AsmSwitch uses the jmp routines; the ret ones stay for the benchmark.
 * Confirmed inside the runtime (runtime_bench BM_Yield, two fibers on one carrier, medians of
 * 9, one run): asm-pooled-fifo 27.6 ns per yield with jmp, 27.4 with ret; nofpu 26.7 vs
 * 25.6. A tie there: every runtime switch leaves from the same call site in switch_out, so
 * the `ret` is predicted, but the fiber's next return up its own chain is not, either way.
 * jmp stays: it wins the raw switch and loses nothing in the runtime.
 * Also tried and rejected, same benchmark (asm fpu+jmp, one-way): loading MXCSR/x87 cw only
 * when they differ from the current values, 7.7 vs 6.5 ns (probably the compare
 * waiting for stmxcsr through memory); loading rip and the FP words from load_sp before saving anything,
 * 7.1 vs 6.8 ns. The FP save/restore costs about 3.5 ns of the 6.9 (ldmxcsr and fldcw
 * are slow), which is why the no-save routines exist at all.
 * CET: `jmp *%rcx` to a return site would fault under indirect-branch tracking and any
 * stack switch breaks shadow stacks; this file emits no GNU property note, so the linker
 * marks the binary CET-incompatible and neither is enforced.
 *
 * Register usage inside the routines: rdi = save_sp, rsi = load_sp, rcx = resume address.
 */

#include "switchyard/switch_frame.h"

/* One switch routine. fpu=1 saves/restores MXCSR and the x87 control word;
 * ret=1 continues with `ret`, ret=0 with a load of rip and an indirect jmp. */
.macro SY_SWITCH name, fpu, ret
    .text
    .globl  \name
    .hidden \name
    .type   \name, @function
    .p2align 5
\name:
    .cfi_startproc
    endbr64
    leaq    -SY_FRAME_RIP(%rsp), %rsp           /* frame below the return address */
    .cfi_adjust_cfa_offset SY_FRAME_RIP
.if \fpu
    stmxcsr SY_FRAME_MXCSR(%rsp)                // <mxcsr
    fnstcw  SY_FRAME_X87CW(%rsp)                // <x87cw
.endif
    movq    %r12, SY_FRAME_R12(%rsp)            // <r12
    movq    %r13, SY_FRAME_R13(%rsp)            // <r13
    movq    %r14, SY_FRAME_R14(%rsp)            // <r14
    movq    %r15, SY_FRAME_R15(%rsp)            // <r15
    movq    %rbx, SY_FRAME_RBX(%rsp)            // <rbx
    movq    %rbp, SY_FRAME_RBP(%rsp)            // <rbp
    movq    %rsp, (%rdi)                        // <rsp  *save_sp = frame
    movq    %rsi, %rsp                          // >rsp  the other context's frame
    /* The CFI above still holds: the new frame has the same layout. */
.if \ret == 0
    movq    SY_FRAME_RIP(%rsp), %rcx            // >rip  (early: the jmp target resolves sooner)
.endif
.if \fpu
    ldmxcsr SY_FRAME_MXCSR(%rsp)                // >mxcsr
    fldcw   SY_FRAME_X87CW(%rsp)                // >x87cw
.endif
    movq    SY_FRAME_R12(%rsp), %r12            // >r12
    movq    SY_FRAME_R13(%rsp), %r13            // >r13
    movq    SY_FRAME_R14(%rsp), %r14            // >r14
    movq    SY_FRAME_R15(%rsp), %r15            // >r15
    movq    SY_FRAME_RBX(%rsp), %rbx            // >rbx
    movq    SY_FRAME_RBP(%rsp), %rbp            // >rbp
.if \ret
    leaq    SY_FRAME_RIP(%rsp), %rsp            /* rsp -> saved rip */
    .cfi_adjust_cfa_offset -SY_FRAME_RIP
    ret                                         // >rip
.else
    leaq    SY_FRAME_SIZE(%rsp), %rsp           /* pop the frame and the return address */
    .cfi_adjust_cfa_offset -SY_FRAME_SIZE
    jmp     *%rcx
.endif
    .cfi_endproc
    .size   \name, . - \name
.endm

SY_SWITCH sy_switch_fpu_jmp,   1, 0
SY_SWITCH sy_switch_fpu_ret,   1, 1
SY_SWITCH sy_switch_nofpu_jmp, 0, 0
SY_SWITCH sy_switch_nofpu_ret, 0, 1

/* sy_switch_trampoline: where a new context's first switch lands (its frame's rip slot).
 * make() put entry in r12, arg in r13, 0 in rbp, and chose sp so that rsp here is 16-byte
 * aligned: `call` then pushes the return address and entry starts with (rsp + 8) % 16 == 0,
 * exactly as after any call. entry never returns (a fiber ends by switching away for the
 * last time); if it does, ud2 traps instead of running off into garbage.
 * .cfi_undefined rip marks this as the outermost frame: unwinders (libunwind, gdb, the C++
 * exception unwinder) stop here instead of reading the zeroed words above. */
    .text
    .globl  sy_switch_trampoline
    .hidden sy_switch_trampoline
    .type   sy_switch_trampoline, @function
    .p2align 4
sy_switch_trampoline:
    .cfi_startproc
    .cfi_undefined rip
    endbr64                                     /* reached by jmp *%rcx: an indirect branch */
    movq    %r13, %rdi                          /* arg */
    callq   *%r12                               /* entry(arg) */
    ud2
    .cfi_endproc
    .size   sy_switch_trampoline, . - sy_switch_trampoline

    .section .note.GNU-stack, "", @progbits
