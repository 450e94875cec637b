// BM_Switch/<backend>: two contexts on one thread (the thread's own and one fiber) pass
// control back and forth. Each iteration is one round trip = two switches; the counter
// ns_per_switch is nanoseconds per ONE-WAY switch (round trip / 2), measured with
// the thread's CPU clock around the whole timed loop (one warm-up round trip before it).
// CPU time, not wall time: the machine is shared, and wall time counts the periods this
// thread sat preempted (wall-clock figures here ran 1.5-2x the CPU figures under load).
//   BM_Switch/<b>        through sy::switch_to<B> (the runtime's interface), for every switch
//                        backend of variants.def (SY_SWITCH and SY_BENCH_SWITCH lines)
//   BM_Switch/<b>_direct the backend's primitive called directly (sy_switch_*,
//                        swapcontext, jump_fcontext), no interface: shows the interface is free
//   BM_Switch/asm_ret, asm_nofpu_ret: the `ret` continuation the .S file rejects
//   BM_Switch/sigprocmask  no switch: the one system call glibc's swapcontext makes per
//                        switch, rt_sigprocmask(SIG_SETMASK, new, old), with the thread's
//                        current mask as new (so nothing changes). The ucontext step of the
//                        switch-cost decomposition, measured on its own (ns_per_switch:
//                        one call per one-way switch, as swapcontext makes it)
//   BM_Call              a plain non-inlined call and return, as a reference (ns_per_call)
// main() comes from benchmark_main; this binary also holds BM_Stack (stack_bench.cpp).
#include <benchmark/benchmark.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <csignal>

#include <ctime>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "switchyard/registry.h"
#include "switchyard/switch.h"

namespace {

namespace bctx = boost::context::detail;
constexpr std::size_t kStackSize = 256 * 1024;

// The bench keeps its own stack so that BM_Switch does not depend on the stacks module.
struct BenchStack {
  void* p;
  BenchStack() : p(mmap(nullptr, kStackSize, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)) {
    if (p == MAP_FAILED) {
      std::perror("switch_bench: mmap");
      std::abort();
    }
  }
  ~BenchStack() { munmap(p, kStackSize); }
  sy::StackRange range() const { return {p, kStackSize}; }
};

// This thread's CPU time in nanoseconds.
double thread_cpu_ns() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) * 1e9 + static_cast<double>(ts.tv_nsec);
}

void report(benchmark::State& state, double t0, const char* counter, double events_per_iteration) {
  const double ns = thread_cpu_ns() - t0;
  state.counters[counter] = ns / (events_per_iteration * static_cast<double>(state.iterations()));
}

// --------------------------------------------------------------- through the interface

template <class B>
struct PingPong {
  BenchStack stack;
  typename B::Context main, fib;
  bool done = false;
  static void entry(void* p) {
    auto* s = static_cast<PingPong*>(p);
    while (!s->done) sy::switch_to<B>(s->fib, s->main);
    sy::switch_to_final<B>(s->fib, s->main);
  }
};

template <class B>
void BM_SwitchVia(benchmark::State& state) {
  PingPong<B> pp;
  B::make(pp.fib, pp.stack.range(), &PingPong<B>::entry, &pp);
  sy::switch_to<B>(pp.main, pp.fib);  // warm-up
  const double t0 = thread_cpu_ns();
  for (auto _ : state) sy::switch_to<B>(pp.main, pp.fib);
  report(state, t0, "ns_per_switch", 2);
  pp.done = true;
  sy::switch_to<B>(pp.main, pp.fib);
  B::destroy(pp.fib);
  B::destroy(pp.main);
}

// ------------------------------------------------------------------ direct, asm

template <void (*Routine)(void**, void*) noexcept>
struct AsmDirect {
  BenchStack stack;
  void* main_sp = nullptr;
  void* fib_sp = nullptr;
  bool done = false;
  static void entry(void* p) {
    auto* s = static_cast<AsmDirect*>(p);
    while (!s->done) Routine(&s->fib_sp, s->main_sp);
    Routine(&s->fib_sp, s->main_sp);
    __builtin_trap();
  }
};

template <void (*Routine)(void**, void*) noexcept>
void BM_AsmDirect(benchmark::State& state) {
  AsmDirect<Routine> d;
  sy::detail::asm_make(&d.fib_sp, d.stack.range(), &AsmDirect<Routine>::entry, &d);
  Routine(&d.main_sp, d.fib_sp);
  const double t0 = thread_cpu_ns();
  for (auto _ : state) Routine(&d.main_sp, d.fib_sp);
  report(state, t0, "ns_per_switch", 2);
  d.done = true;
  Routine(&d.main_sp, d.fib_sp);
}

// ------------------------------------------------------------------ direct, ucontext

struct UcDirect {
  BenchStack stack;
  ucontext_t main, fib;
  bool done = false;
};
UcDirect* g_uc = nullptr;
void uc_entry() {
  while (!g_uc->done) swapcontext(&g_uc->fib, &g_uc->main);
  swapcontext(&g_uc->fib, &g_uc->main);
  __builtin_trap();
}

void BM_UcontextDirect(benchmark::State& state) {
  UcDirect d;
  g_uc = &d;
  getcontext(&d.fib);
  d.fib.uc_stack.ss_sp = d.stack.p;
  d.fib.uc_stack.ss_size = kStackSize;
  d.fib.uc_link = nullptr;
  makecontext(&d.fib, &uc_entry, 0);
  swapcontext(&d.main, &d.fib);
  const double t0 = thread_cpu_ns();
  for (auto _ : state) swapcontext(&d.main, &d.fib);
  report(state, t0, "ns_per_switch", 2);
  d.done = true;
  swapcontext(&d.main, &d.fib);
  g_uc = nullptr;
}

// ------------------------------------------------------------------ direct, boost

// The canonical fcontext ping-pong: each side jumps to the fcontext it was handed.
void boost_entry(bctx::transfer_t t) {
  for (;;) t = bctx::jump_fcontext(t.fctx, nullptr);
}

void BM_BoostDirect(benchmark::State& state) {
  BenchStack stack;
  bctx::fcontext_t f = bctx::make_fcontext(stack.range().hi(), kStackSize, &boost_entry);
  f = bctx::jump_fcontext(f, nullptr).fctx;
  const double t0 = thread_cpu_ns();
  for (auto _ : state) f = bctx::jump_fcontext(f, nullptr).fctx;
  report(state, t0, "ns_per_switch", 2);
  // The fiber stays suspended in boost_entry; it owns nothing but its stack.
}

// ------------------------------------------------------------------ ucontext's system call

// The raw system call, as swapcontext issues it (sysdeps/unix/sysv/linux/x86_64/
// swapcontext.S: rt_sigprocmask(SIG_SETMASK, &ucp->uc_sigmask, &oucp->uc_sigmask, _NSIG/8)),
// not pthread_sigmask, whose user-space filtering of glibc's internal signals swapcontext
// does not do. The kernel's sigset is _NSIG/8 = 8 bytes on Linux.
constexpr long kKernelSigsetBytes = 8;

void BM_Sigprocmask(benchmark::State& state) {
  sigset_t cur, old;
  if (syscall(SYS_rt_sigprocmask, SIG_SETMASK, nullptr, &cur, kKernelSigsetBytes) != 0) {
    state.SkipWithError("rt_sigprocmask: cannot read the current mask");
    return;
  }
  const double t0 = thread_cpu_ns();
  for (auto _ : state) {
    syscall(SYS_rt_sigprocmask, SIG_SETMASK, &cur, &old, kKernelSigsetBytes);
    benchmark::DoNotOptimize(old);
  }
  report(state, t0, "ns_per_switch", 1);
}

// ------------------------------------------------------------------ reference

[[gnu::noinline]] void plain_call(int* p) {
  asm volatile("" : : "r"(p) : "memory");
}

void BM_Call(benchmark::State& state) {
  int x = 0;
  const double t0 = thread_cpu_ns();
  for (auto _ : state) plain_call(&x);
  report(state, t0, "ns_per_call", 1);
}

[[maybe_unused]] const bool registered = [] {
  auto via = []<class B>() {
    benchmark::RegisterBenchmark(("BM_Switch/" + std::string(B::name)).c_str(), &BM_SwitchVia<B>);
  };
  sy::tl::for_each(sy::AllSwitches{}, via);
  sy::tl::for_each(sy::BenchSwitches{}, via);
  // The primitives under the interface, one per built-in backend (each is written for it).
  benchmark::RegisterBenchmark("BM_Switch/asm_direct", &BM_AsmDirect<&sy_switch_fpu_jmp>);
  benchmark::RegisterBenchmark("BM_Switch/asm_nofpu_direct", &BM_AsmDirect<&sy_switch_nofpu_jmp>);
  benchmark::RegisterBenchmark("BM_Switch/ucontext_direct", &BM_UcontextDirect);
  benchmark::RegisterBenchmark("BM_Switch/boost_direct", &BM_BoostDirect);
  benchmark::RegisterBenchmark("BM_Switch/sigprocmask", &BM_Sigprocmask);
  benchmark::RegisterBenchmark("BM_Call", &BM_Call);
  return true;
}();

}  // namespace
