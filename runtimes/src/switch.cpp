// Switch backends: the out-of-line parts (make, registers, sanitizer bookkeeping). The
// switch itself (swap) is inline in switch.h or in asm/switch_<arch>_*.S.
#include "switchyard/switch.h"

#include <cstring>

#ifdef SY_ASAN
#include <sanitizer/common_interface_defs.h>
#endif
#ifdef SY_TSAN
#include <sanitizer/tsan_interface.h>
#endif

namespace sy {
namespace detail {

namespace {
// The highest 16-byte-aligned address inside the stack.
std::uintptr_t aligned_top(StackRange s) noexcept {
  return reinterpret_cast<std::uintptr_t>(s.hi()) & ~std::uintptr_t{15};
}
}  // namespace

#if defined(__x86_64__)
void asm_make(void** sp, StackRange s, void (*entry)(void*), void* arg) noexcept {
  // Above the frame: 16 zeroed bytes, a null "return address" for frame-pointer walkers
  // (rbp = 0 too). The trampoline then runs with rsp = top - 16, 16-byte aligned, so its
  // `call *%r12` gives entry the alignment of any call.
  std::uintptr_t top = aligned_top(s);
  std::memset(reinterpret_cast<void*>(top - 16), 0, 16);
  auto* f = reinterpret_cast<AsmFrame*>(top - 16 - SY_FRAME_SIZE);
  std::memset(f, 0, sizeof *f);
  // The creator's FP control modes (a new POSIX thread inherits its creator's fenv);
  // MXCSR status flags (bits 0-5) are not inherited.
  std::uint32_t mxcsr;
  std::uint16_t x87cw;
  asm volatile("stmxcsr %0" : "=m"(mxcsr));
  asm volatile("fnstcw %0" : "=m"(x87cw));
  f->mxcsr = mxcsr & ~0x3Fu;
  f->x87cw = x87cw;
  f->r12 = reinterpret_cast<std::uintptr_t>(entry);
  f->r13 = reinterpret_cast<std::uintptr_t>(arg);
  f->rip = reinterpret_cast<std::uintptr_t>(&sy_switch_trampoline);
  *sp = f;
}

SavedRegisters asm_registers(const void* sp) noexcept {
  // The values the suspended code resumes with, at the instruction after its call to the
  // switch routine (for a fresh context: the first instruction of sy_switch_trampoline).
  const auto* f = static_cast<const AsmFrame*>(sp);
  SavedRegisters r;
  r.rip = f->rip;
  r.rsp = reinterpret_cast<std::uintptr_t>(sp) + SY_FRAME_SIZE;
  r.rbp = f->rbp;
  r.rbx = f->rbx;
  r.r12 = f->r12;
  r.r13 = f->r13;
  r.r14 = f->r14;
  r.r15 = f->r15;
  return r;
}
#elif defined(__aarch64__)
void asm_make(void** sp, StackRange s, void (*entry)(void*), void* arg) noexcept {
  // Above the frame: 16 zeroed bytes, a null frame record (fp, lr) for frame-pointer
  // walkers (x29 = 0 too). The trampoline then runs with sp = top - 16, 16-byte aligned as
  // AAPCS64 requires at every instruction that uses sp.
  std::uintptr_t top = aligned_top(s);
  std::memset(reinterpret_cast<void*>(top - 16), 0, 16);
  auto* f = reinterpret_cast<AsmFrame*>(top - 16 - SY_FRAME_SIZE);
  std::memset(f, 0, sizeof *f);
  // The creator's FP control modes (a new POSIX thread inherits its creator's fenv).
  // FPCR holds no status bits (those are in FPSR), so it is copied whole.
  std::uint64_t fpcr;
  asm volatile("mrs %0, fpcr" : "=r"(fpcr));
  f->fpcr = fpcr;
  f->x[0] = reinterpret_cast<std::uintptr_t>(entry);  // x19
  f->x[1] = reinterpret_cast<std::uintptr_t>(arg);    // x20
  f->x30 = reinterpret_cast<std::uintptr_t>(&sy_switch_trampoline);
  *sp = f;
}

SavedRegisters asm_registers(const void* sp) noexcept {
  // The values the suspended code resumes with, at the instruction after its bl to the
  // switch routine (for a fresh context: the first instruction of sy_switch_trampoline).
  const auto* f = static_cast<const AsmFrame*>(sp);
  SavedRegisters r;
  r.pc = f->x30;
  r.lr = f->x30;
  r.sp = reinterpret_cast<std::uintptr_t>(sp) + SY_FRAME_SIZE;
  r.fp = f->x29;
  for (int i = 0; i < 10; ++i) r.x[i] = f->x[i];
  return r;
}
#endif

#ifdef SY_SANITIZED
namespace {
// The context that is switching away on this thread, so that the resumed side can give a
// thread's own context its stack bounds (only the resumed side learns them). Set just
// before the swap and read just after it, on the same thread.
thread_local SanState* t_switching_from = nullptr;
}  // namespace

void san_make(SanState& s, StackRange stack, void (*entry)(void*), void* arg) noexcept {
  s.stack_lo = stack.lo;
  s.stack_size = stack.size;
  s.fake_stack = nullptr;
  s.entry = entry;
  s.arg = arg;
#ifdef SY_TSAN
  s.tsan_fiber = __tsan_create_fiber(0);
  s.owns_tsan_fiber = true;
#endif
}

void san_destroy(SanState& s) noexcept {
#ifdef SY_TSAN
  if (s.owns_tsan_fiber && s.tsan_fiber) __tsan_destroy_fiber(s.tsan_fiber);
#endif
  s = SanState{};
}

void san_before_switch(SanState& from, SanState& to, bool final) noexcept {
  t_switching_from = &from;
#ifdef SY_TSAN
  if (!from.tsan_fiber) from.tsan_fiber = __tsan_get_current_fiber();  // a thread's own
  __tsan_switch_to_fiber(to.tsan_fiber, 0);
#endif
#ifdef SY_ASAN
  // A null save slot tells ASan the current fiber is ending: its fake stack is freed.
  __sanitizer_start_switch_fiber(final ? nullptr : &from.fake_stack, to.stack_lo, to.stack_size);
#else
  (void)to;
  (void)final;
#endif
}

void san_after_switch(void* fake_stack) noexcept {
#ifdef SY_ASAN
  const void* old_lo = nullptr;
  std::size_t old_size = 0;
  __sanitizer_finish_switch_fiber(fake_stack, &old_lo, &old_size);
  SanState* prev = t_switching_from;
  if (prev && !prev->stack_lo) {  // a thread's own context, first switched away from
    prev->stack_lo = old_lo;
    prev->stack_size = old_size;
  }
#else
  (void)fake_stack;
#endif
}

void san_fiber_start(void* san_state) noexcept {
  san_after_switch(nullptr);
  auto* s = static_cast<SanState*>(san_state);
  s->entry(s->arg);
  __builtin_trap();  // entry must end with switch_to_final
}
#endif  // SY_SANITIZED

}  // namespace detail

// ---------------------------------------------------------------------------- ucontext

namespace {
// makecontext passes int arguments only: the Context pointer travels as two halves.
void ucontext_trampoline(unsigned lo, unsigned hi) noexcept {
  auto* c = reinterpret_cast<UcontextSwitch::Context*>(std::uintptr_t{hi} << 32 | lo);
  c->entry(c->arg);
  __builtin_trap();  // entry never returns; uc_link is null, so returning would exit the thread
}
}  // namespace

void UcontextSwitch::make(Context& c, StackRange s, void (*entry)(void*), void* arg) noexcept {
  getcontext(&c.uc);  // fills the FP environment and signal mask the fiber starts with
  c.uc.uc_stack.ss_sp = s.lo;
  c.uc.uc_stack.ss_size = s.size;
  c.uc.uc_link = nullptr;
#ifdef SY_SANITIZED
  detail::san_make(c.san, s, entry, arg);
  c.entry = &detail::san_fiber_start;
  c.arg = &c.san;
#else
  c.entry = entry;
  c.arg = arg;
#endif
  auto p = reinterpret_cast<std::uintptr_t>(&c);
  makecontext(&c.uc, reinterpret_cast<void (*)()>(&ucontext_trampoline), 2,
              static_cast<unsigned>(p), static_cast<unsigned>(p >> 32));
}

SavedRegisters UcontextSwitch::registers(const Context& c) noexcept {
  // For a context saved by swapcontext: pc = return address into swapcontext's caller,
  // sp = the caller's sp after the return. For a fresh one: the trampoline and its stack.
  SavedRegisters r;
#if defined(__x86_64__)
  const greg_t* g = c.uc.uc_mcontext.gregs;
  r.rip = static_cast<std::uintptr_t>(g[REG_RIP]);
  r.rsp = static_cast<std::uintptr_t>(g[REG_RSP]);
  r.rbp = static_cast<std::uintptr_t>(g[REG_RBP]);
  r.rbx = static_cast<std::uintptr_t>(g[REG_RBX]);
  r.r12 = static_cast<std::uintptr_t>(g[REG_R12]);
  r.r13 = static_cast<std::uintptr_t>(g[REG_R13]);
  r.r14 = static_cast<std::uintptr_t>(g[REG_R14]);
  r.r15 = static_cast<std::uintptr_t>(g[REG_R15]);
#elif defined(__aarch64__)
  const mcontext_t& m = c.uc.uc_mcontext;
  r.sp = static_cast<std::uintptr_t>(m.sp);
  for (int i = 0; i < 10; ++i) r.x[i] = static_cast<std::uintptr_t>(m.regs[19 + i]);
  r.fp = static_cast<std::uintptr_t>(m.regs[29]);
  if (m.pc == reinterpret_cast<std::uintptr_t>(&ucontext_trampoline)) {
    // Fresh (makecontext): pc is the function, lr glibc's __startcontext.
    r.pc = static_cast<std::uintptr_t>(m.pc);
    r.lr = static_cast<std::uintptr_t>(m.regs[30]);
  } else {
    // Saved by glibc's aarch64 swapcontext: it stores the caller's return address in
    // regs[1] and a label inside swapcontext as pc and lr; resuming runs that label's
    // `mov x30, x1; ret`, so the caller resumes at regs[1] with lr = regs[1]. Report that
    // state, the one a backtrace should start from (switch_test's Registers test checks
    // it against the known call site).
    r.pc = static_cast<std::uintptr_t>(m.regs[1]);
    r.lr = r.pc;
  }
#endif
  return r;
}

// ------------------------------------------------------------------------------- boost

namespace {
namespace bctx = boost::context::detail;

// Lives in make()'s frame during the priming jump.
struct BoostStart {
  void (*entry)(void*);
  void* arg;
  void* caller_tsan_fiber;
};

void boost_trampoline(bctx::transfer_t t) noexcept {
  // First run, from make(): copy what we need off make()'s frame and suspend at once.
  const auto* start = static_cast<const BoostStart*>(t.data);
  void (*entry)(void*) = start->entry;
  void* arg = start->arg;
#ifdef SY_ASAN
  const void* caller_lo = nullptr;
  std::size_t caller_size = 0;
  __sanitizer_finish_switch_fiber(nullptr, &caller_lo, &caller_size);
  void* fake_stack = nullptr;
  __sanitizer_start_switch_fiber(&fake_stack, caller_lo, caller_size);
#endif
#ifdef SY_TSAN
  __tsan_switch_to_fiber(start->caller_tsan_fiber, 0);
#endif
  t = bctx::jump_fcontext(t.fctx, nullptr);
  // Resumed by the first real swap: as in BoostSwitch::swap, t.data is the switcher's Context.
  static_cast<BoostSwitch::Context*>(t.data)->fctx = t.fctx;
#ifdef SY_ASAN
  detail::san_after_switch(fake_stack);
#endif
  entry(arg);
  __builtin_trap();  // entry never returns
}
}  // namespace

void BoostSwitch::make(Context& c, StackRange s, void (*entry)(void*), void* arg) noexcept {
  c.fctx = bctx::make_fcontext(s.hi(), s.size, &boost_trampoline);
  BoostStart start{entry, arg, nullptr};
#ifdef SY_SANITIZED
  detail::san_make(c.san, s, entry, arg);
#endif
#ifdef SY_ASAN
  void* fake_stack = nullptr;
  __sanitizer_start_switch_fiber(&fake_stack, s.lo, s.size);
#endif
#ifdef SY_TSAN
  start.caller_tsan_fiber = __tsan_get_current_fiber();
  __tsan_switch_to_fiber(c.san.tsan_fiber, 0);
#endif
  bctx::transfer_t t = bctx::jump_fcontext(c.fctx, &start);
  c.fctx = t.fctx;  // suspended inside boost_trampoline, waiting for its first swap
#ifdef SY_ASAN
  __sanitizer_finish_switch_fiber(fake_stack, nullptr, nullptr);
#endif
}

SavedRegisters BoostSwitch::registers(const Context& c) noexcept {
  // (switch_test's Registers test checks these against known register values.)
  const auto* f = static_cast<const std::uint64_t*>(c.fctx);
  SavedRegisters r;
#if defined(__x86_64__)
  // Boost 1.74 jump_x86_64_sysv_elf_gas.S frame: 0x00 MXCSR/x87 cw, 0x08 r12, 0x10 r13,
  // 0x18 r14, 0x20 r15, 0x28 rbx, 0x30 rbp, 0x38 rip; rsp after resume = fctx + 0x40.
  r.r12 = f[1];
  r.r13 = f[2];
  r.r14 = f[3];
  r.r15 = f[4];
  r.rbx = f[5];
  r.rbp = f[6];
  r.rip = f[7];
  r.rsp = reinterpret_cast<std::uintptr_t>(c.fctx) + 0x40;
#elif defined(__aarch64__)
  // Boost 1.74 jump_arm64_aapcs_elf_gas.S frame: 0x00 d8-d15, 0x40 x19-x28, 0x90 x29,
  // 0x98 x30, 0xa0 pc (a copy of lr); sp after resume = fctx + 0xb0.
  for (int i = 0; i < 10; ++i) r.x[i] = f[8 + i];
  r.fp = f[18];
  r.lr = f[19];
  r.pc = f[20];
  r.sp = reinterpret_cast<std::uintptr_t>(c.fctx) + 0xb0;
#endif
  return r;
}

}  // namespace sy
