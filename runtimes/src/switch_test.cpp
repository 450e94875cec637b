// Switch backends: every test runs on every backend (typed tests). Register values are set
// and read by small assembly helpers below, because C++ cannot pin a value in rbx or x19
// across a call; the helpers make the checks exact. One set of helpers per architecture.
#include <gtest/gtest.h>
#include <dlfcn.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cfenv>
#include <csignal>
#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <type_traits>

#include "switchyard/switch.h"
#include "test_support.h"

#if defined(__x86_64__)
// sy_test_probe(fn, a0, a1, out, seed): saves the real callee-saved registers, sets
// rbx, rbp, r12, r13, r14, r15 = seed+1 .. seed+6, stores its rsp (16-byte aligned, just
// before the call) in out[6], calls fn(a0, a1), then writes what the six registers hold
// after fn returns into out[0..5], restores the real ones and returns.
// sy_test_entry_rsp_probe(arg): a fiber entry that records rsp at its first instruction in
// sy_test_entry_rsp, then jumps to sy_test_entry_continue(arg).
asm(R"(
    .text
    .globl  sy_test_probe
    .type   sy_test_probe, @function
    .p2align 4
sy_test_probe:
    .cfi_startproc
    endbr64
    pushq   %rbp
    .cfi_adjust_cfa_offset 8
    .cfi_rel_offset rbp, 0
    pushq   %rbx
    .cfi_adjust_cfa_offset 8
    .cfi_rel_offset rbx, 0
    pushq   %r12
    .cfi_adjust_cfa_offset 8
    .cfi_rel_offset r12, 0
    pushq   %r13
    .cfi_adjust_cfa_offset 8
    .cfi_rel_offset r13, 0
    pushq   %r14
    .cfi_adjust_cfa_offset 8
    .cfi_rel_offset r14, 0
    pushq   %r15
    .cfi_adjust_cfa_offset 8
    .cfi_rel_offset r15, 0
    pushq   %rcx
    .cfi_adjust_cfa_offset 8
    movq    %rsp, 48(%rcx)
    movq    %rdi, %rax
    movq    %rsi, %rdi
    movq    %rdx, %rsi
    leaq    1(%r8), %rbx
    leaq    2(%r8), %rbp
    leaq    3(%r8), %r12
    leaq    4(%r8), %r13
    leaq    5(%r8), %r14
    leaq    6(%r8), %r15
    callq   *%rax
    popq    %rcx
    .cfi_adjust_cfa_offset -8
    movq    %rbx, 0(%rcx)
    movq    %rbp, 8(%rcx)
    movq    %r12, 16(%rcx)
    movq    %r13, 24(%rcx)
    movq    %r14, 32(%rcx)
    movq    %r15, 40(%rcx)
    popq    %r15
    .cfi_adjust_cfa_offset -8
    popq    %r14
    .cfi_adjust_cfa_offset -8
    popq    %r13
    .cfi_adjust_cfa_offset -8
    popq    %r12
    .cfi_adjust_cfa_offset -8
    popq    %rbx
    .cfi_adjust_cfa_offset -8
    popq    %rbp
    .cfi_adjust_cfa_offset -8
    ret
    .cfi_endproc
    .globl  sy_test_probe_end
sy_test_probe_end:
    .size   sy_test_probe, . - sy_test_probe

    .globl  sy_test_entry_rsp_probe
    .type   sy_test_entry_rsp_probe, @function
    .p2align 4
sy_test_entry_rsp_probe:
    endbr64
    movq    %rsp, sy_test_entry_rsp(%rip)
    jmp     sy_test_entry_continue
    .size   sy_test_entry_rsp_probe, . - sy_test_entry_rsp_probe
)");
constexpr int kProbeRegs = 6;
#elif defined(__aarch64__)
// sy_test_probe(fn, a0, a1, out, seed): saves the real callee-saved registers, sets
// x19..x28 = seed+1 .. seed+10, x29 = seed+11 and d8..d15 = seed+12 .. seed+19 (as bit
// patterns), stores its sp (16-byte aligned, just before the call) in out[19], calls
// fn(a0, a1), then writes what those 19 registers hold after fn returns into out[0..18]
// (x19..x28, x29, d8..d15), restores the real ones and returns.
// sy_test_entry_rsp_probe(arg): a fiber entry that records sp at its first instruction in
// sy_test_entry_rsp, then branches to sy_test_entry_continue(arg).
asm(R"(
    .text
    .globl  sy_test_probe
    .type   sy_test_probe, %function
    .p2align 4
sy_test_probe:
    .cfi_startproc
    hint    #34                 /* bti c */
    sub     sp, sp, #0xc0
    .cfi_def_cfa_offset 0xc0
    stp     x19, x20, [sp, #0x00]
    stp     x21, x22, [sp, #0x10]
    stp     x23, x24, [sp, #0x20]
    stp     x25, x26, [sp, #0x30]
    stp     x27, x28, [sp, #0x40]
    stp     x29, x30, [sp, #0x50]
    stp     d8,  d9,  [sp, #0x60]
    stp     d10, d11, [sp, #0x70]
    stp     d12, d13, [sp, #0x80]
    stp     d14, d15, [sp, #0x90]
    str     x3,       [sp, #0xa0]
    .cfi_offset x19, -0xc0
    .cfi_offset x20, -0xb8
    .cfi_offset x21, -0xb0
    .cfi_offset x22, -0xa8
    .cfi_offset x23, -0xa0
    .cfi_offset x24, -0x98
    .cfi_offset x25, -0x90
    .cfi_offset x26, -0x88
    .cfi_offset x27, -0x80
    .cfi_offset x28, -0x78
    .cfi_offset x29, -0x70
    .cfi_offset x30, -0x68
    .cfi_offset d8,  -0x60
    .cfi_offset d9,  -0x58
    .cfi_offset d10, -0x50
    .cfi_offset d11, -0x48
    .cfi_offset d12, -0x40
    .cfi_offset d13, -0x38
    .cfi_offset d14, -0x30
    .cfi_offset d15, -0x28
    mov     x9, sp
    str     x9, [x3, #152]
    mov     x16, x0
    mov     x0, x1
    mov     x1, x2
    add     x19, x4, #1
    add     x20, x4, #2
    add     x21, x4, #3
    add     x22, x4, #4
    add     x23, x4, #5
    add     x24, x4, #6
    add     x25, x4, #7
    add     x26, x4, #8
    add     x27, x4, #9
    add     x28, x4, #10
    add     x29, x4, #11
    add     x9, x4, #12
    fmov    d8, x9
    add     x9, x4, #13
    fmov    d9, x9
    add     x9, x4, #14
    fmov    d10, x9
    add     x9, x4, #15
    fmov    d11, x9
    add     x9, x4, #16
    fmov    d12, x9
    add     x9, x4, #17
    fmov    d13, x9
    add     x9, x4, #18
    fmov    d14, x9
    add     x9, x4, #19
    fmov    d15, x9
    blr     x16
    ldr     x3, [sp, #0xa0]
    stp     x19, x20, [x3, #0]
    stp     x21, x22, [x3, #16]
    stp     x23, x24, [x3, #32]
    stp     x25, x26, [x3, #48]
    stp     x27, x28, [x3, #64]
    str     x29,      [x3, #80]
    str     d8,       [x3, #88]
    str     d9,       [x3, #96]
    str     d10,      [x3, #104]
    str     d11,      [x3, #112]
    str     d12,      [x3, #120]
    str     d13,      [x3, #128]
    str     d14,      [x3, #136]
    str     d15,      [x3, #144]
    ldp     x19, x20, [sp, #0x00]
    ldp     x21, x22, [sp, #0x10]
    ldp     x23, x24, [sp, #0x20]
    ldp     x25, x26, [sp, #0x30]
    ldp     x27, x28, [sp, #0x40]
    ldp     x29, x30, [sp, #0x50]
    ldp     d8,  d9,  [sp, #0x60]
    ldp     d10, d11, [sp, #0x70]
    ldp     d12, d13, [sp, #0x80]
    ldp     d14, d15, [sp, #0x90]
    add     sp, sp, #0xc0
    .cfi_def_cfa_offset 0
    ret
    .cfi_endproc
    .globl  sy_test_probe_end
sy_test_probe_end:
    .size   sy_test_probe, . - sy_test_probe

    .globl  sy_test_entry_rsp_probe
    .type   sy_test_entry_rsp_probe, %function
    .p2align 4
sy_test_entry_rsp_probe:
    hint    #34                 /* bti c */
    mov     x9, sp
    adrp    x10, sy_test_entry_rsp
    str     x9, [x10, :lo12:sy_test_entry_rsp]
    b       sy_test_entry_continue
    .size   sy_test_entry_rsp_probe, . - sy_test_entry_rsp_probe
)");
// Registers the probe sets and reads back; out[kProbeRegs] is its sp before the call.
constexpr int kProbeRegs = 19;
#endif

extern "C" {
void sy_test_probe(void* fn, void* a0, void* a1, std::uint64_t* out, std::uint64_t seed);
extern const char sy_test_probe_end[];
void sy_test_entry_rsp_probe(void* arg);
void sy_test_entry_continue(void* arg);
std::uintptr_t sy_test_entry_rsp = 0;
}

namespace {

constexpr std::uint64_t kMainSeed = 0x1111'2222'3333'4400;
constexpr std::uint64_t kFiberSeed = 0xAAAA'BBBB'CCCC'DD00;
constexpr std::size_t kStackSize = 256 * 1024;

// A stack for one test: an mmap'd region with a no-access guard page below it, so that an
// overflow faults instead of corrupting memory. (Kept local: the stacks module is separate.)
class TestStack {
 public:
  explicit TestStack(std::size_t size) : size_(size) {
    page_ = static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
    base_ = mmap(nullptr, size_ + page_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
                 -1, 0);
    if (base_ == MAP_FAILED) throw std::runtime_error(std::string("mmap: ") + std::strerror(errno));
    if (mprotect(base_, page_, PROT_NONE) != 0) throw std::runtime_error("mprotect guard");
  }
  ~TestStack() { munmap(base_, size_ + page_); }
  TestStack(const TestStack&) = delete;
  TestStack& operator=(const TestStack&) = delete;
  sy::StackRange range() const { return {static_cast<char*>(base_) + page_, size_}; }

 private:
  void* base_;
  std::size_t size_, page_;
};

// One fiber, the thread's own context, and what the fiber reports back.
template <class B>
struct Rig {
  TestStack stack{kStackSize};
  typename B::Context main, fib;
  std::uint64_t out[kProbeRegs + 2] = {};  // the fiber's probe output
  std::uint64_t count = 0;
  bool flag = false;
  int fiber_mode = 0, fiber_mode2 = 0;
  std::uint32_t fiber_mxcsr = 0;
  std::uintptr_t lowest = 0;
  std::uint64_t sum = 0;

  void start(void (*entry)(void*)) { B::make(fib, stack.range(), entry, this); }
  void resume() { sy::switch_to<B>(main, fib); }
  void yield() { sy::switch_to<B>(fib, main); }
  [[noreturn]] void finish() { sy::switch_to_final<B>(fib, main); }
  ~Rig() {
    B::destroy(fib);
    B::destroy(main);
  }
};

// The switch as the runtime calls it, out of line so sy_test_probe can call it with its
// register values in place. In a plain build switch_to is the bare B::swap and this
// function touches no callee-saved register (checked by the Registers test).
template <class B>
[[gnu::noinline]] void swap_fn(typename B::Context& from, typename B::Context& to) noexcept {
  sy::switch_to<B>(from, to);
}

template <class B>
void* swap_ptr() {
  return reinterpret_cast<void*>(&swap_fn<B>);
}

template <class B>
class SwitchTest : public ::testing::Test {};

using Backends = ::testing::Types<sy::AsmSwitch, sy::AsmNoFpuSwitch, sy::AsmRetSwitch, sy::AsmNoFpuRetSwitch,
                                  sy::UcontextSwitch, sy::BoostSwitch>;
struct BackendName {
  template <class B>
  static std::string GetName(int) {
    return std::string(B::name);
  }
};
TYPED_TEST_SUITE(SwitchTest, Backends, BackendName);

// ---------------------------------------------------------------- callee-saved registers

template <class B>
void probe_entry(void* p) {
  auto* r = static_cast<Rig<B>*>(p);
  // Set the fiber's own values, switch to main (which checks its own), come back, record.
  sy_test_probe(swap_ptr<B>(), &r->fib, &r->main, r->out, kFiberSeed);
  r->finish();
}

TYPED_TEST(SwitchTest, CalleeSavedRegistersSurvive) {
  using B = TypeParam;
  Rig<B> r;
  r.start(&probe_entry<B>);
  std::uint64_t mine[kProbeRegs + 2] = {};
  // Main sets its values and switches into the fiber, which sets other values in the same
  // registers and switches back: main must see its own.
  sy_test_probe(swap_ptr<B>(), &r.main, &r.fib, mine, kMainSeed);
  for (int i = 0; i < kProbeRegs; ++i) EXPECT_EQ(mine[i], kMainSeed + 1 + i) << "main, register " << i;
  r.resume();  // the fiber's probe returns and records
  for (int i = 0; i < kProbeRegs; ++i) EXPECT_EQ(r.out[i], kFiberSeed + 1 + i) << "fiber, register " << i;
}

// ---------------------------------------------------------------- registers()

// The resume address in SavedRegisters, by its architecture's name.
std::uintptr_t resume_pc(const sy::SavedRegisters& g) {
#if defined(__x86_64__)
  return g.rip;
#else
  return g.pc;
#endif
}

TYPED_TEST(SwitchTest, Registers) {
  using B = TypeParam;
  Rig<B> r;
  r.start(&probe_entry<B>);
  {
    // Fresh context: it resumes on its own stack.
    sy::SavedRegisters g = B::registers(r.fib);
    auto lo = reinterpret_cast<std::uintptr_t>(r.stack.range().lo);
    EXPECT_GT(sy::stack_pointer(g), lo);
    EXPECT_LE(sy::stack_pointer(g), reinterpret_cast<std::uintptr_t>(r.stack.range().hi()));
    EXPECT_NE(resume_pc(g), 0u);
  }
  std::uint64_t mine[kProbeRegs + 2] = {};
  sy_test_probe(swap_ptr<B>(), &r.main, &r.fib, mine, kMainSeed);
  // The fiber is now suspended inside swap_fn, called from sy_test_probe with the seeded
  // registers. registers() must give what it resumes with: pc = the return address of the
  // call to the switch primitive (in swap_fn, or in sy_test_probe if swap_fn tail-called
  // it), sp = the stack pointer after that return.
  sy::SavedRegisters g = B::registers(r.fib);
  const std::uintptr_t sp = sy::stack_pointer(g), pc = resume_pc(g);
  const std::uint64_t probe_sp = r.out[kProbeRegs];
  EXPECT_EQ(sp % 16, 0u) << "a call site's sp is 16-byte aligned";
  EXPECT_LE(sp, probe_sp);
  EXPECT_GE(sp + 512, probe_sp) << "sp within swap_fn's small frame below the probe";
#if defined(__x86_64__)
  EXPECT_EQ(*reinterpret_cast<const std::uint64_t*>(sp - 8), pc)
      << "the call's return address lies just below the resume rsp";
#else
  EXPECT_EQ(g.lr, pc) << "a context suspended in a call resumes at its link register";
#endif
  auto in = [](std::uintptr_t x, const void* a, std::size_t n) {
    auto p = reinterpret_cast<std::uintptr_t>(a);
    return x >= p && x < p + n;
  };
  const auto probe = reinterpret_cast<const void*>(&sy_test_probe);
  bool pc_ok = in(pc, swap_ptr<B>(), 1024) ||
               in(pc, probe, static_cast<std::size_t>(sy_test_probe_end - static_cast<const char*>(probe)));
#ifdef SY_ASAN
  // ASan intercepts swapcontext: the primitive's caller is then ASan's interceptor.
  if constexpr (std::is_same_v<B, sy::UcontextSwitch>) {
    Dl_info info{};
    pc_ok = dladdr(reinterpret_cast<void*>(pc), &info) != 0 && info.dli_fname &&
            std::strstr(info.dli_fname, "libasan") != nullptr;
  }
#endif
  EXPECT_TRUE(pc_ok) << std::hex << "pc 0x" << pc;
#ifndef SY_SANITIZED
  // Exact values: swap_fn is the bare swap here and keeps no value in callee-saved
  // registers. (In sanitizer builds switch_to keeps `from` in one across the swap, so only
  // the checks above apply.)
#if defined(__x86_64__)
  EXPECT_EQ(g.rbx, kFiberSeed + 1);
  EXPECT_EQ(g.rbp, kFiberSeed + 2);
  EXPECT_EQ(g.r12, kFiberSeed + 3);
  EXPECT_EQ(g.r13, kFiberSeed + 4);
  EXPECT_EQ(g.r14, kFiberSeed + 5);
  EXPECT_EQ(g.r15, kFiberSeed + 6);
#else
  for (int i = 0; i < 10; ++i) EXPECT_EQ(g.x[i], kFiberSeed + 1 + i) << "x" << 19 + i;
  // x29: the probe's value, unless swap_fn built a frame record (then x29 = its frame).
  if (in(pc, probe, static_cast<std::size_t>(sy_test_probe_end - static_cast<const char*>(probe)))) {
    EXPECT_EQ(g.fp, kFiberSeed + 11);
  }
#endif
#endif
  r.resume();
  EXPECT_EQ(r.out[2], kFiberSeed + 3);
}

// ---------------------------------------------------------------- entry alignment

void (*g_align_finish)(void*) = nullptr;
std::uintptr_t g_local_misalignment = 99;

template <class B>
void align_finish(void* p) {
  static_cast<Rig<B>*>(p)->finish();
}

}  // namespace

extern "C" void sy_test_entry_continue(void* arg) {
  // A local that needs max_align_t alignment, checked at run time through a volatile
  // pointer so the compiler cannot assume it.
  alignas(std::max_align_t) char buf[32];
  std::uintptr_t volatile addr = reinterpret_cast<std::uintptr_t>(buf);
  g_local_misalignment = addr % alignof(std::max_align_t);
  g_align_finish(arg);
}

namespace {

TYPED_TEST(SwitchTest, EntryStackAlignedAsAtACall) {
  using B = TypeParam;
  Rig<B> r;
  g_align_finish = &align_finish<B>;
  sy_test_entry_rsp = 0;
  g_local_misalignment = 99;
  B::make(r.fib, r.stack.range(), &sy_test_entry_rsp_probe, &r);
  r.resume();
  ASSERT_NE(sy_test_entry_rsp, 0u) << "entry did not run";
#if defined(__x86_64__)
  EXPECT_EQ((sy_test_entry_rsp + 8) % 16, 0u) << "at entry rsp+8 must be 16-byte aligned";
#else
  EXPECT_EQ(sy_test_entry_rsp % 16, 0u) << "at entry sp must be 16-byte aligned";
#endif
  EXPECT_EQ(g_local_misalignment, 0u);
  auto lo = reinterpret_cast<std::uintptr_t>(r.stack.range().lo);
  EXPECT_GT(sy_test_entry_rsp, lo);
  EXPECT_LT(sy_test_entry_rsp, reinterpret_cast<std::uintptr_t>(r.stack.range().hi()));
}

// ---------------------------------------------------------------- exceptions

[[gnu::noinline]] int thrower(int depth) {
  if (depth == 0) throw std::runtime_error("from deep in the fiber");
  return thrower(depth - 1) + 1;
}

template <class B>
void exception_entry(void* p) {
  auto* r = static_cast<Rig<B>*>(p);
  try {
    thrower(20);
  } catch (const std::runtime_error& e) {
    r->count += std::strcmp(e.what(), "from deep in the fiber") == 0 ? 1 : 100;
  }
  r->yield();
  // Again after a switch away and back.
  try {
    thrower(5);
  } catch (const std::exception&) {
    r->count += 1;
  }
  r->finish();
}

TYPED_TEST(SwitchTest, ExceptionThrownAndCaughtInsideFiber) {
  using B = TypeParam;
  Rig<B> r;
  r.start(&exception_entry<B>);
  r.resume();
  EXPECT_EQ(r.count, 1u);
  // And main can still throw and catch on its own stack while the fiber is suspended.
  EXPECT_THROW(thrower(3), std::runtime_error);
  r.resume();
  EXPECT_EQ(r.count, 2u);
}

// ---------------------------------------------------------------- deep recursion

// Leave this much of the stack unused: room for the switch, libc and (under ASan) its runtime.
#ifdef SY_SANITIZED
constexpr std::uintptr_t kMargin = 32 * 1024;
#else
constexpr std::uintptr_t kMargin = 8 * 1024;
#endif

template <class B>
[[gnu::noinline]] std::uint64_t recurse(Rig<B>* r, std::uint64_t n) {
  volatile char buf[480];
  for (std::size_t i = 0; i < sizeof buf; i += 64) buf[i] = static_cast<char>(n + i);
  auto here = reinterpret_cast<std::uintptr_t>(__builtin_frame_address(0));
  std::uint64_t below;
  if (here - reinterpret_cast<std::uintptr_t>(r->stack.range().lo) > kMargin + 2048) {
    below = recurse(r, n + 1);
  } else {
    r->lowest = reinterpret_cast<std::uintptr_t>(&buf[0]);
    r->count = n;
    r->yield();  // suspended at full depth, then resumed
    below = 0;
  }
  return below + static_cast<unsigned char>(buf[0]) + 1;  // the frame's data survived
}

template <class B>
void recursion_entry(void* p) {
  auto* r = static_cast<Rig<B>*>(p);
  r->sum = recurse(r, 0);
  r->finish();
}

TYPED_TEST(SwitchTest, DeepRecursionCloseToStackSize) {
  using B = TypeParam;
  Rig<B> r;
  r.start(&recursion_entry<B>);
  r.resume();
  auto lo = reinterpret_cast<std::uintptr_t>(r.stack.range().lo);
  ASSERT_GT(r.lowest, lo);
  EXPECT_LT(r.lowest - lo, kMargin + 4096) << "the fiber used all but the margin of its stack";
  const std::uint64_t depth = r.count;
  EXPECT_GT(depth, 100u);
  r.resume();
  std::uint64_t expect = 0;
  for (std::uint64_t n = 0; n <= depth; ++n) expect += static_cast<unsigned char>(static_cast<char>(n)) + 1;
  EXPECT_EQ(r.sum, expect);
}

// ---------------------------------------------------------------- FP control policy

// The rounding mode as each FP unit holds it, packed as rc*4 + rc2 in one encoding: 0
// nearest, 1 down, 2 up, 3 zero. x86-64: rc = MXCSR's, rc2 = the x87 control word's (the
// switch must carry both). AArch64: FPCR's RMode twice (one unit).
#if defined(__x86_64__)
std::uint32_t read_mxcsr() {
  std::uint32_t m;
  asm volatile("stmxcsr %0" : "=m"(m));
  return m;
}
std::uint16_t read_x87cw() {
  std::uint16_t c;
  asm volatile("fnstcw %0" : "=m"(c));
  return c;
}
int mxcsr_rc() { return (read_mxcsr() >> 13) & 3; }
int x87_rc() { return (read_x87cw() >> 10) & 3; }
int fp_mode() { return mxcsr_rc() * 4 + x87_rc(); }
#elif defined(__aarch64__)
int fp_mode() {
  std::uint64_t fpcr;
  asm volatile("mrs %0, fpcr" : "=r"(fpcr));
  // FPCR.RMode (bits 23:22): 0 nearest, 1 towards +inf (up), 2 towards -inf (down), 3 zero.
  static constexpr int kToX86[4] = {0, 2, 1, 3};
  const int rc = kToX86[(fpcr >> 22) & 3];
  return rc * 4 + rc;
}
#endif
constexpr int kNearest = 0, kDown = 1, kUp = 2, kZero = 3;

template <class B>
void fp_entry(void* p) {
  auto* r = static_cast<Rig<B>*>(p);
  r->fiber_mode = fp_mode();  // inherited from the creator
  std::fesetround(FE_UPWARD);                  // sets both MXCSR and x87 rounding (x86)
  r->yield();
  r->fiber_mode2 = fp_mode();
  std::fesetround(FE_TONEAREST);
  r->finish();
}

TYPED_TEST(SwitchTest, FpControlPolicy) {
  using B = TypeParam;
  Rig<B> r;
  ASSERT_EQ(std::fesetround(FE_TOWARDZERO), 0);
  r.start(&fp_entry<B>);  // created while main rounds toward zero
  std::fesetround(FE_TONEAREST);
  r.resume();
  const int main_after = fp_mode();
  std::fesetround(FE_DOWNWARD);
  r.resume();
  const int main_end = fp_mode();
  std::fesetround(FE_TONEAREST);
  if (B::saves_fp_control) {
    EXPECT_EQ(r.fiber_mode, kZero * 4 + kZero) << "a new fiber starts with its creator's modes";
    EXPECT_EQ(main_after, kNearest * 4 + kNearest) << "main keeps its own mode across the fiber's change";
    EXPECT_EQ(r.fiber_mode2, kUp * 4 + kUp) << "the fiber keeps its own mode across main's change";
    EXPECT_EQ(main_end, kDown * 4 + kDown);
  } else {
    // Not saved: the modes belong to the thread, so each side sees the other's change.
    EXPECT_EQ(r.fiber_mode, kNearest * 4 + kNearest);
    EXPECT_EQ(main_after, kUp * 4 + kUp);
    EXPECT_EQ(r.fiber_mode2, kDown * 4 + kDown);
    EXPECT_EQ(main_end, kNearest * 4 + kNearest);
  }
}

// ---------------------------------------------------------------- many round trips

template <class B>
void counter_entry(void* p) {
  auto* r = static_cast<Rig<B>*>(p);
  while (!r->flag) {
    ++r->count;
    r->yield();
  }
  r->finish();
}

TYPED_TEST(SwitchTest, ManyRoundTrips) {
  using B = TypeParam;
  Rig<B> r;
  r.start(&counter_entry<B>);
  constexpr std::uint64_t kTrips = 200000;
  for (std::uint64_t i = 1; i <= kTrips; ++i) {
    r.resume();
    if (r.count != i) {
      ADD_FAILURE() << "after " << i << " round trips the fiber counted " << r.count;
      break;
    }
  }
  r.flag = true;
  r.resume();
  EXPECT_EQ(r.count, kTrips);
}

// ---------------------------------------------------------------- fiber to fiber

template <class B>
struct Pair {
  TestStack sa{kStackSize}, sb{kStackSize};
  typename B::Context main, a, b;
  int trace[8] = {};
  int n = 0;
  ~Pair() {
    B::destroy(a);
    B::destroy(b);
    B::destroy(main);
  }
};

template <class B>
void pair_a(void* p) {
  auto* s = static_cast<Pair<B>*>(p);
  s->trace[s->n++] = 1;
  sy::switch_to<B>(s->a, s->b);  // straight to the other fiber, main not involved
  s->trace[s->n++] = 3;
  sy::switch_to_final<B>(s->a, s->main);
}
template <class B>
void pair_b(void* p) {
  auto* s = static_cast<Pair<B>*>(p);
  s->trace[s->n++] = 2;
  sy::switch_to<B>(s->b, s->a);
  s->trace[s->n++] = 4;
  sy::switch_to_final<B>(s->b, s->main);
}

TYPED_TEST(SwitchTest, FiberToFiber) {
  using B = TypeParam;
  Pair<B> s;
  B::make(s.a, s.sa.range(), &pair_a<B>, &s);
  B::make(s.b, s.sb.range(), &pair_b<B>, &s);
  sy::switch_to<B>(s.main, s.a);  // a -> b -> a -> main
  ASSERT_EQ(s.n, 3);
  sy::switch_to<B>(s.main, s.b);  // b -> main
  ASSERT_EQ(s.n, 4);
  for (int i = 0; i < 4; ++i) EXPECT_EQ(s.trace[i], i + 1);
}

// ---------------------------------------------------------------- entry must not return

void returning_entry(void*) {}

// What __builtin_trap and the asm trampolines raise: ud2 (SIGILL) on x86-64, brk (SIGTRAP)
// on AArch64.
#if defined(__x86_64__)
constexpr int kTrapSignal = SIGILL;
#else
constexpr int kTrapSignal = SIGTRAP;
#endif

TYPED_TEST(SwitchTest, EntryThatReturnsTraps) {
  using B = TypeParam;
  SY_SKIP_SIGNAL_DEATH_TEST_IF_EMULATED();
  GTEST_FLAG_SET(death_test_style, sy::test::death_test_style());
  EXPECT_EXIT(
      {
        Rig<B> r;
        r.start(&returning_entry);
        r.resume();  // the trampoline traps (ud2 / __builtin_trap) instead of running on
      },
      ::testing::KilledBySignal(kTrapSignal), "");
}

}  // namespace
