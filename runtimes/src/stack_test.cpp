// Tests of fiber stacks: sizes and alignment, the pool cap, what each release policy
// leaves resident (mincore), no mapping left behind, mapping failures (RLIMIT_AS and
// vm.max_map_count, each in a child process), guard-page and canary reports (death tests).
#include "switchyard/stack.h"
#include "test_support.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <ucontext.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <ostream>
#include <string>
#include <thread>
#include <vector>

namespace sy {
// Readable parameter names in failure messages.
void PrintTo(ReleasePolicy p, std::ostream* os) { *os << to_string(p); }
}  // namespace sy

namespace {

using sy::FreshStacks;
using sy::PooledStacks;
using sy::PoolOptions;
using sy::ReleasePolicy;
using sy::Stack;
using sy::StackError;
using sy::StackOptions;

const std::size_t kPage = static_cast<std::size_t>(sysconf(_SC_PAGESIZE));

// Number of lines in /proc/self/maps.
long map_count() {
  std::ifstream f("/proc/self/maps");
  std::string line;
  long n = 0;
  while (std::getline(f, line)) ++n;
  return n;
}

// Resident pages of [p, p + n) by mincore, or -1 with errno (ENOMEM: not mapped). Uses a
// static vector so that no allocation happens between a release and the check.
long resident_pages(const void* p, std::size_t n) {
  static unsigned char vec[1 << 16];
  const std::size_t pages = n / kPage;
  if (pages > sizeof vec) return -2;
  if (::mincore(const_cast<void*>(p), n, vec) != 0) return -1;
  long r = 0;
  for (std::size_t i = 0; i < pages; ++i) r += vec[i] & 1;
  return r;
}

bool mapped(const void* p, std::size_t n) {
  errno = 0;
  return resident_pages(p, n) >= 0 || errno != ENOMEM;
}

void touch(char* from, char* to) {  // write one byte per page in [from, to)
  for (char* p = from; p < to; p += kPage) *reinterpret_cast<volatile char*>(p) = 1;
}

class StackDeathTest : public ::testing::Test {
 protected:
  void SetUp() override { GTEST_FLAG_SET(death_test_style, sy::test::death_test_style()); }
};

TEST(Stack, DefaultSizeIs256KiBWithGuardBelow) {
  FreshStacks f;
  Stack s = f.acquire();
  ASSERT_TRUE(s);
  EXPECT_EQ(s.size, 256u * 1024);
  EXPECT_TRUE(s.guarded);
  EXPECT_EQ(s.map_size, s.size + kPage);
  EXPECT_EQ(static_cast<char*>(s.lo), static_cast<char*>(s.map_base) + kPage);
  EXPECT_EQ(s.range().lo, s.lo);
  EXPECT_EQ(s.range().size, s.size);
  EXPECT_EQ(s.range().hi(), s.hi());
  // The whole usable region is writable.
  touch(static_cast<char*>(s.lo), s.hi());
  f.release(s);
  EXPECT_FALSE(s);
}

TEST(Stack, PerAcquireSizeRoundsToPages) {
  for (bool guard : {true, false}) {
    FreshStacks f(StackOptions{.size = 256 * 1024, .guard = guard});
    Stack a = f.acquire(64 * 1024);
    Stack b = f.acquire(1000);
    EXPECT_EQ(a.size, 64u * 1024);
    EXPECT_EQ(b.size, kPage);
    EXPECT_EQ(a.guarded, guard);
    touch(static_cast<char*>(b.lo), b.hi());
    f.release(a);
    f.release(b);

    PooledStacks p(PoolOptions{.stack = {.size = 128 * 1024, .guard = guard}});
    Stack c = p.acquire();
    Stack d = p.acquire(64 * 1024);  // not the pool's size: fresh, unmapped at release
    EXPECT_EQ(c.size, 128u * 1024);
    EXPECT_EQ(d.size, 64u * 1024);
    p.release(d);
    EXPECT_EQ(p.pooled(), 0u);
    p.release(c);
    EXPECT_EQ(p.pooled(), 1u);
  }
}

TEST(Stack, HiIsAligned16ForEveryKind) {
  FreshStacks fg, fu(StackOptions{.guard = false});
  PooledStacks pg, pu(PoolOptions{.stack = {.guard = false}});
  for (std::size_t sz : {std::size_t{0}, std::size_t{4096}, std::size_t{12345}, std::size_t{65536}}) {
    Stack s[4] = {fg.acquire(sz), fu.acquire(sz), pg.acquire(sz), pu.acquire(sz)};
    for (auto& x : s) {
      EXPECT_EQ(reinterpret_cast<std::uintptr_t>(x.hi()) % 16, 0u);
      EXPECT_EQ(reinterpret_cast<std::uintptr_t>(x.lo) % kPage, 0u);
    }
    fg.release(s[0]);
    fu.release(s[1]);
    pg.release(s[2]);
    pu.release(s[3]);
  }
}

TEST(Stack, FreshGuardedStacksLeaveNoMappingBehind) {
  // Under qemu-user mincore() fails on any unreadable range, so "unmapped" would hold
  // vacuously: the check means something only natively.
  SY_SKIP_IF_EMULATED("qemu-user's mincore fails on ranges with a PROT_NONE page");
  constexpr int kN = 100;
  std::vector<Stack> v;
  std::vector<std::pair<void*, std::size_t>> ranges;
  v.reserve(kN);
  ranges.reserve(kN);
  FreshStacks f;
  const long before = map_count();
  for (int i = 0; i < kN; ++i) {
    v.push_back(f.acquire());
    ranges.emplace_back(v.back().map_base, v.back().map_size);
    *(v.back().hi() - 1) = 1;
  }
  const long during = map_count();
  EXPECT_GE(during - before, 2 * kN) << "2 VMAs per guarded stack (guard + usable)";
  for (auto& s : v) f.release(s);
#if !defined(SY_TSAN)  // TSan maps shadow for each mapping and keeps it after munmap
  EXPECT_LE(map_count(), before);
#endif
  for (auto& [base, size] : ranges) EXPECT_FALSE(mapped(base, size)) << base;
}

TEST(Stack, FreshUnguardedStacksReturnTheirPages) {
  FreshStacks f(StackOptions{.guard = false});
  Stack s = f.acquire();
  EXPECT_FALSE(s.guarded);
  EXPECT_TRUE(sy::canary_intact(s));
  void* base = s.map_base;
  const std::size_t size = s.map_size;
  touch(static_cast<char*>(s.lo), s.hi());
  EXPECT_EQ(resident_pages(s.lo, s.size), static_cast<long>(s.size / kPage));
  f.release(s);
  // The chunk stays inside its slab's mapping, but none of its pages stays resident.
  EXPECT_EQ(resident_pages(base, size), 0);
}

TEST(Stack, PoolCapHolds) {
  // qemu-user 7.2 answers mincore() with ENOMEM for any range it cannot read, and a
  // guarded stack's mapping starts with its PROT_NONE guard page.
  SY_SKIP_IF_EMULATED("qemu-user's mincore fails on ranges with a PROT_NONE page");
  PooledStacks p(PoolOptions{.cap = 8, .stack = {}});
  std::vector<Stack> v;
  for (int i = 0; i < 20; ++i) v.push_back(p.acquire());
  std::vector<std::pair<void*, std::size_t>> ranges;
  for (auto& s : v) ranges.emplace_back(s.map_base, s.map_size);
  for (auto& s : v) p.release(s);
  EXPECT_EQ(p.pooled(), 8u);
  // LIFO: the first 8 released are pooled, the other 12 were unmapped.
  for (int i = 0; i < 20; ++i) EXPECT_EQ(mapped(ranges[i].first, ranges[i].second), i < 8) << i;
  // The pooled ones come back.
  for (int i = 0; i < 8; ++i) {
    Stack s = p.acquire();
    bool from_pool = false;
    for (int j = 0; j < 8; ++j) from_pool |= s.map_base == ranges[j].first;
    EXPECT_TRUE(from_pool);
    v[i] = s;
  }
  EXPECT_EQ(p.pooled(), 0u);
  for (int i = 0; i < 8; ++i) p.release(v[i]);
}

// Acquire from a 1-stack pool, touch `depth` bytes from the top, release, and return the
// resident pages of the usable region afterwards (the stack stays in the pool).
struct Recycled {
  long resident;
  Stack again;  // the same stack, acquired again
};

class PolicyTest : public ::testing::TestWithParam<std::pair<bool, ReleasePolicy>> {};

TEST_P(PolicyTest, ResidentPagesAfterRecycle) {
  const auto [guard, policy] = GetParam();
  const std::size_t size = 256 * 1024, keep = 16 * 1024;
  PooledStacks p(PoolOptions{.cap = 4, .policy = policy, .keep_top = keep,
                             .stack = {.size = size, .guard = guard}});
  Stack s = p.acquire();
  char* lo = static_cast<char*>(s.lo);
  char* hi = s.hi();
  touch(lo, hi);  // a deep fiber: every page
  const long all = static_cast<long>(size / kPage);
  ASSERT_EQ(resident_pages(lo, size), all);
  p.release(s);
  ASSERT_EQ(p.pooled(), 1u);
  const long kept = resident_pages(lo, size);
  switch (policy) {
    case ReleasePolicy::release_all: EXPECT_EQ(kept, 0); break;
    case ReleasePolicy::keep_top:
    case ReleasePolicy::when_deep: EXPECT_EQ(kept, static_cast<long>(keep / kPage)); break;
    case ReleasePolicy::none: EXPECT_EQ(kept, all); break;
  }
  // Reuse: the same stack comes back, canary (unguarded) still intact.
  s = p.acquire();
  ASSERT_EQ(static_cast<char*>(s.lo), lo);
  EXPECT_TRUE(sy::canary_intact(s));
  if (policy == ReleasePolicy::when_deep) {
    // A shallow fiber costs no release: touch the page below the kept region without
    // reaching the mark (the lowest word of the kept region); it stays resident.
    touch(hi - 4 * 1024, hi);
    *(hi - keep - 64) = 1;
    p.release(s);
    EXPECT_EQ(resident_pages(lo, size), static_cast<long>(keep / kPage) + 1);
    // A deep one (overwrites the mark) is released again.
    s = p.acquire();
    touch(lo, hi);
    p.release(s);
    EXPECT_EQ(resident_pages(lo, size), static_cast<long>(keep / kPage));
  } else {
    p.release(s);
  }
}

INSTANTIATE_TEST_SUITE_P(
    Policies, PolicyTest,
    ::testing::Values(std::pair{true, ReleasePolicy::release_all},
                      std::pair{true, ReleasePolicy::keep_top},
                      std::pair{true, ReleasePolicy::when_deep},
                      std::pair{true, ReleasePolicy::none},
                      std::pair{false, ReleasePolicy::release_all},
                      std::pair{false, ReleasePolicy::keep_top},
                      std::pair{false, ReleasePolicy::when_deep},
                      std::pair{false, ReleasePolicy::none}),
    [](const auto& info) {
      return std::string(info.param.first ? "guarded_" : "unguarded_") +
             std::string(sy::to_string(info.param.second));
    });

TEST(Stack, DefaultPolicyIsWhenDeep) {
  EXPECT_EQ(PoolOptions{}.policy, ReleasePolicy::when_deep);
  EXPECT_EQ(PoolOptions{}.cap, 4096u);
}

// A stack acquired on one thread and released to another allocator on another thread;
// two threads churning unguarded stacks from the shared slabs at once.
TEST(Stack, CrossThreadReleaseAndSharedSlabs) {
  std::vector<Stack> v;
  PooledStacks mine(PoolOptions{.cap = 2, .stack = {.guard = false}});
  for (int i = 0; i < 6; ++i) v.push_back(mine.acquire());
  std::thread t([&] {
    PooledStacks theirs(PoolOptions{.cap = 2, .stack = {.guard = false}});
    for (auto& s : v) theirs.release(s);
    EXPECT_EQ(theirs.pooled(), 2u);
  });
  t.join();
  auto churn = [] {
    FreshStacks f(StackOptions{.size = 64 * 1024, .guard = false});
    std::vector<Stack> live;
    for (int i = 0; i < 2000; ++i) {
      live.push_back(f.acquire());
      *(live.back().hi() - 1) = 1;
      if (live.size() > 300 || i % 7 == 0) {
        EXPECT_TRUE(sy::canary_intact(live.front()));
        f.release(live.front());
        live.erase(live.begin());
      }
    }
    for (auto& s : live) f.release(s);
  };
  std::thread a(churn), b(churn);
  a.join();
  b.join();
}

// ---- Mapping failures (child processes: the limits must not leak into this one) ----

TEST_F(StackDeathTest, RlimitAsFailureNamesTheLimit) {
  SY_SKIP_IF_EMULATED("qemu-user's own mappings and guest reservation count against this limit");
#if defined(SY_ASAN) || defined(SY_TSAN)
  GTEST_SKIP() << "the sanitizer reserves terabytes of shadow: RLIMIT_AS cannot be set";
#else
  auto child = [](bool guard) {
    const long before = map_count();
    rlimit rl{};
    std::ifstream statm("/proc/self/statm");
    long vm_pages = 0;
    statm >> vm_pages;
    rl.rlim_cur = rl.rlim_max = static_cast<rlim_t>(vm_pages) * kPage + (64u << 20);
    if (setrlimit(RLIMIT_AS, &rl) != 0) std::_Exit(3);
    FreshStacks f(StackOptions{.guard = guard});
    try {
      Stack s = f.acquire(std::size_t{1} << 30);  // 1 GiB > 64 MiB headroom
      std::fprintf(stderr, "no exception: got %zu bytes\n", s.size);
      std::_Exit(1);
    } catch (const StackError& e) {
      std::fprintf(stderr, "%s\n", e.what());
    }
    // Nothing leaked: no new mapping; and a small stack still works.
    if (map_count() > before) std::_Exit(2);
    Stack ok = f.acquire(64 * 1024);
    f.release(ok);
    std::_Exit(0);
  };
  EXPECT_EXIT(child(true), ::testing::ExitedWithCode(0),
              "cannot map a 1048576 KiB guarded stack .*mmap failed with ENOMEM: the RLIMIT_AS "
              "limit \\(ulimit -v\\) of [0-9]+ KiB is reached");
  EXPECT_EXIT(child(false), ::testing::ExitedWithCode(0),
              "cannot map a slab of 1 unguarded 1048576 KiB stacks .*ENOMEM: the RLIMIT_AS");
#endif
}

TEST_F(StackDeathTest, MapCountFailureNamesTheLimit) {
  SY_SKIP_IF_EMULATED("qemu-user's own mappings and guest reservation count against this limit");
#if defined(SY_ASAN) || defined(SY_TSAN)
  GTEST_SKIP() << "at the vm.max_map_count limit the sanitizer's runtime cannot map memory "
                  "and dies before the exception reaches the test";
#endif
  auto child = [] {
    std::vector<Stack> v;
    v.reserve(1 << 17);  // no allocation (and so no new mapping) in the loop
    const long before = map_count();
    FreshStacks f(StackOptions{.size = 4096});
    // Take the failure path once before the mappings run out (a 1 PiB stack cannot be
    // mapped), so that the allocations it makes (message, exception; under ASan, its
    // allocator's regions) already have their memory when there is no mapping left.
    try {
      Stack huge = f.acquire(std::size_t{1} << 50);
      std::fprintf(stderr, "mapped %zu bytes?\n", huge.size);
      std::_Exit(4);
    } catch (const StackError&) {
    }
    bool threw = false;
    try {
      for (int i = 0; i < (1 << 17); ++i) v.push_back(f.acquire());
    } catch (const StackError& e) {
      threw = true;
      std::fprintf(stderr, "after %zu stacks: %s\n", v.size(), e.what());
    }
    if (!threw) std::_Exit(1);
    for (auto& s : v) f.release(s);
    const long after = map_count();
    std::fprintf(stderr, "maps before %ld after %ld\n", before, after);
    std::_Exit(after > before ? 2 : 0);
  };
  EXPECT_EXIT(child(), ::testing::ExitedWithCode(0),
              "after [0-9]+ stacks: switchyard: cannot map a 4 KiB guarded stack .* failed with "
              "ENOMEM: the vm.max_map_count limit of [0-9]+ memory mappings is reached: the "
              "process has [0-9]+ \\(a guarded stack takes 2 mappings");
}

// ---- Overflow reports ----

ucontext_t g_main_ctx, g_fiber_ctx;
volatile int g_sink;

__attribute__((noinline)) int recurse(int depth) {
  volatile char frame[512];
  frame[0] = static_cast<char>(depth);
  frame[511] = static_cast<char>(depth);
  if (depth < 0) return 0;  // never: keeps the recursion from being "infinite" to GCC
  return recurse(depth + 1) + frame[0] + frame[511];
}

void fiber_entry() {
  g_sink = recurse(1);
  swapcontext(&g_fiber_ctx, &g_main_ctx);
}

std::size_t describe_deep(const void*, char* buf, std::size_t cap) {
  static const char text[] = "fiber 'deep' (id 7)";
  std::size_t n = sizeof text - 1 < cap ? sizeof text - 1 : cap;
  std::memcpy(buf, text, n);
  return n;
}

void overflow_on_guarded_stack() {
  FreshStacks f;
  Stack s = f.acquire(64 * 1024);
  sy::install_overflow_handler();
  sy::set_overflow_describer(describe_deep);
  getcontext(&g_fiber_ctx);
  g_fiber_ctx.uc_stack.ss_sp = s.lo;
  g_fiber_ctx.uc_stack.ss_size = s.size;
  g_fiber_ctx.uc_link = nullptr;
  makecontext(&g_fiber_ctx, fiber_entry, 0);
  sy::set_current_stack(&s);
  swapcontext(&g_main_ctx, &g_fiber_ctx);
  sy::set_current_stack(nullptr);
  f.release(s);
  std::fprintf(stderr, "recursion returned\n");
}

TEST_F(StackDeathTest, GuardPageHitIsReported) {
  SY_SKIP_SIGNAL_DEATH_TEST_IF_EMULATED();
  EXPECT_DEATH(overflow_on_guarded_stack(),
               "switchyard: stack overflow: fiber 'deep' \\(id 7\\) overflowed its 64 KiB stack "
               "\\[0x[0-9a-f]+, 0x[0-9a-f]+\\) \\(guard page hit at 0x[0-9a-f]+\\)");
}

// A frame bigger than the guard page jumps over it. To make that fault deterministically
// (below a real stack's guard there may be another stack's writable pages), the stack
// here has 64 KiB of PROT_NONE below its guard page; the handler then sees a fault
// outside the guard page, with the stack pointer below lo.
__attribute__((noinline)) int recurse_big(int depth) {
  volatile char frame[12 * 1024];
  frame[0] = static_cast<char>(depth);  // the lowest address of the frame, written first
  if (depth < 0) return 0;
  return recurse_big(depth + 1) + frame[0];
}

void big_fiber_entry() {
  g_sink = recurse_big(1);
  swapcontext(&g_fiber_ctx, &g_main_ctx);
}

void big_frames_on_guarded_stack() {
  // Laid out by hand, like map_guarded does, with 64 KiB of PROT_NONE below the guard.
  const std::size_t below = 64 * 1024, size = 64 * 1024;
  char* m = static_cast<char*>(mmap(nullptr, below + kPage + size, PROT_NONE,
                                    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
  if (m == MAP_FAILED || mprotect(m + below + kPage, size, PROT_READ | PROT_WRITE) != 0)
    std::_Exit(5);
  Stack s;
  s.map_base = m + below;
  s.map_size = kPage + size;
  s.lo = m + below + kPage;
  s.size = size;
  s.guarded = true;
  sy::install_overflow_handler();
  getcontext(&g_fiber_ctx);
  g_fiber_ctx.uc_stack.ss_sp = s.lo;
  g_fiber_ctx.uc_stack.ss_size = s.size;
  g_fiber_ctx.uc_link = nullptr;
  makecontext(&g_fiber_ctx, big_fiber_entry, 0);
  sy::set_current_stack(&s);
  swapcontext(&g_main_ctx, &g_fiber_ctx);
  std::_Exit(6);
}

TEST_F(StackDeathTest, FrameJumpingTheGuardIsReported) {
  SY_SKIP_SIGNAL_DEATH_TEST_IF_EMULATED();
  // Either way it is reported as an overflow of this stack: usually the frame skips the
  // guard page (stack pointer below the stack), sometimes it lands in it.
  EXPECT_DEATH(big_frames_on_guarded_stack(),
               "switchyard: stack overflow: a fiber overflowed its 64 KiB stack "
               "\\[0x[0-9a-f]+, 0x[0-9a-f]+\\) \\((stack pointer 0x[0-9a-f]+ below the stack, "
               "fault at|guard page hit at) 0x[0-9a-f]+\\)");
}

TEST_F(StackDeathTest, OtherSegfaultsStayOrdinary) {
  SY_SKIP_SIGNAL_DEATH_TEST_IF_EMULATED();
  auto crash = [] {
    sy::install_overflow_handler();
    static volatile std::uintptr_t bad = 16;  // an unmapped address, not a guard page
    g_sink = *reinterpret_cast<volatile int*>(bad);
  };
#if defined(SY_ASAN) || defined(SY_TSAN)
  EXPECT_DEATH(crash(), "SEGV");  // chained to the sanitizer's own handler
#else
  EXPECT_EXIT(crash(), ::testing::KilledBySignal(SIGSEGV), "");
#endif
}

TEST_F(StackDeathTest, DamagedCanaryIsReportedAtRelease) {
  SY_SKIP_SIGNAL_DEATH_TEST_IF_EMULATED();
  auto damage = [](bool pooled) {
    FreshStacks f(StackOptions{.guard = false});
    PooledStacks p(PoolOptions{.stack = {.guard = false}});
    Stack s = pooled ? p.acquire() : f.acquire();
    if (!sy::canary_intact(s)) std::_Exit(1);
    static_cast<char*>(s.lo)[-3] = 0x5a;  // an overflow ran 3 bytes past lo
    if (sy::canary_intact(s)) std::_Exit(2);
    if (pooled) p.release(s); else f.release(s);
    std::_Exit(3);
  };
  const char* re =
      "switchyard: stack overflow: a fiber overflowed its 256 KiB stack \\[0x[0-9a-f]+, "
      "0x[0-9a-f]+\\) \\(canary below the unguarded stack overwritten at 0x[0-9a-f]+\\)";
  EXPECT_DEATH(damage(false), re);
  EXPECT_DEATH(damage(true), re);
}

TEST_F(StackDeathTest, CorruptionReportNamesTheFiber) {
  SY_SKIP_SIGNAL_DEATH_TEST_IF_EMULATED();
  auto report = [] {
    FreshStacks f(StackOptions{.size = 32 * 1024, .guard = false});
    Stack s = f.acquire();
    static_cast<char*>(s.lo)[-64] = 0;
    sy::report_stack_corruption(s, "worker-3");
  };
  EXPECT_DEATH(report(), "stack overflow: fiber 'worker-3' overflowed its 32 KiB stack");
}

TEST(Stack, CurrentStackIsPerThread) {
  Stack s;
  sy::set_current_stack(&s);
  EXPECT_EQ(sy::current_stack(), &s);
  std::thread([] { EXPECT_EQ(sy::current_stack(), nullptr); }).join();
  sy::set_current_stack(nullptr);
  // Idempotent, also on a new thread (which gets its own alternate stack).
  sy::install_overflow_handler();
  sy::install_overflow_handler();
  std::thread([] {
    sy::ensure_signal_altstack();
    sy::ensure_signal_altstack();
    stack_t ss{};
    ASSERT_EQ(sigaltstack(nullptr, &ss), 0);
    EXPECT_FALSE(ss.ss_flags & SS_DISABLE);
  }).join();
}

}  // namespace
