// Shared by the runtime's tests: readable test names per variant, the scale factor that
// keeps sanitizer and emulated runs within their time budget, the death-test style, and waits
// on a condition under a deadline (tests never sleep to let something happen: they wait for it).
#pragma once

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>

namespace sy::test {

// SY_TEST_SCALE from the environment: a positive integer that divides iteration counts.
// The AArch64 stage under qemu-user sets it (emulation is 10-50x slower than native).
// Bad input is an error, not a silent 1.
inline int env_scale() {
  const char* e = std::getenv("SY_TEST_SCALE");
  if (!e || !*e) return 1;
  char* end = nullptr;
  const long v = std::strtol(e, &end, 10);
  if (*end != '\0' || v < 1 || v > 1000) {
    std::fprintf(stderr, "SY_TEST_SCALE=%s: expected an integer in 1..1000\n", e);
    std::exit(2);
  }
  return static_cast<int>(v);
}

// Iteration counts in the runtime tests are divided by kScale: 10 under the sanitizers
// (about 10x slower), times SY_TEST_SCALE.
#if defined(SY_TSAN) || defined(SY_ASAN)
inline const int kScale = 10 * env_scale();
#else
inline const int kScale = env_scale();
#endif

// How long a test waits for something that should happen at once before it calls it lost:
// long enough for a loaded 2-CPU machine under a sanitizer, short of ctest's timeout.
inline constexpr std::chrono::seconds kPatience{30};

// poll_until: polls cond() until it holds or `limit` passes, calling pause() between polls;
// returns cond() as last seen. eventually / fiber_eventually below pause the right way. The
// caller asserts on the result, so a lost wake fails the test with a message instead of
// hanging it.
template <class Cond, class Pause>
bool poll_until(Cond&& cond, Pause&& pause, std::chrono::nanoseconds limit) {
  const auto until = std::chrono::steady_clock::now() + limit;
  while (!cond()) {
    if (std::chrono::steady_clock::now() >= until) return cond();
    pause();
  }
  return true;
}
// From an OS thread (or where blocking the carrier thread is the point).
template <class Cond>
bool eventually(Cond&& cond, std::chrono::nanoseconds limit = kPatience) {
  return poll_until(cond, [] { std::this_thread::sleep_for(std::chrono::microseconds(100)); }, limit);
}
// From a fiber of Rt: the polls sleep the fiber, not its carrier.
template <class Rt, class Cond>
bool fiber_eventually(Cond&& cond, std::chrono::nanoseconds limit = kPatience) {
  return poll_until(cond, [] { Rt::sleep_for(std::chrono::microseconds(100)); }, limit);
}

// n / scale, at least `floor` (a scaled test still does some work).
template <class T>
T scaled(T n, int scale, T floor = 1) {
  const T v = n / static_cast<T>(scale);
  return v < floor ? floor : v;
}

// Emulated runs (the AArch64 stage under qemu-user sets SY_TEST_EMULATED=1).
inline bool emulated() {
  const char* e = std::getenv("SY_TEST_EMULATED");
  return e && e[0] == '1' && e[1] == '\0';
}

// gtest's "threadsafe" death tests re-execute the test binary. Under qemu-user without
// binfmt_misc (containers, CI) the host kernel cannot execute that AArch64 binary, so
// emulated runs use "fast" (fork only, no exec).
inline const char* death_test_style() { return emulated() ? "fast" : "threadsafe"; }

}  // namespace sy::test

// A death test whose child dies of a signal (abort, SIGSEGV, SIGTRAP) cannot run under
// qemu-user 7.2 (Debian 12): a forked child that dies of a core-dumping signal hangs in
// qemu's core-dump path (a 3-line fork+abort() program shows it). Such tests skip, saying
// why, in emulated runs only; they run natively on every architecture. Death tests whose
// child exits normally run everywhere.
#define SY_SKIP_SIGNAL_DEATH_TEST_IF_EMULATED()                                                  \
  do {                                                                                          \
    if (::sy::test::emulated())                                                                 \
      GTEST_SKIP() << "qemu-user hangs when a forked child dies of a signal; runs natively only"; \
  } while (0)

// A test that measures the process's own kernel limits (RLIMIT_AS, vm.max_map_count,
// /proc/self/statm): under qemu-user those are qemu's, shared with its guest reservation
// and its own mappings, so the test skips in emulated runs, saying why.
#define SY_SKIP_IF_EMULATED(why)                                \
  do {                                                          \
    if (::sy::test::emulated()) GTEST_SKIP() << "emulated: " << why; \
  } while (0)

namespace sy::test {

// "asm-pooled-fifo" -> "asm_pooled_fifo" in test names.
struct VariantName {
  template <class V>
  static std::string GetName(int) {
    std::string n = V::name();
    for (char& ch : n)
      if (ch == '-') ch = '_';
    return n;
  }
};

}  // namespace sy::test
