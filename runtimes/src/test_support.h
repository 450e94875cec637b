// Shared by the runtime's tests: readable test names per variant, the scale factor that
// keeps sanitizer runs (about 10x slower) within their time budget, and waits on a
// condition under a deadline (tests never sleep to let something happen: they wait for it).
#pragma once

#include <chrono>
#include <string>
#include <thread>

namespace sy::test {

#if defined(SY_TSAN) || defined(SY_ASAN)
inline constexpr int kScale = 10;
#else
inline constexpr int kScale = 1;
#endif

// How long a test waits for something that should happen at once before it calls it lost:
// long enough for a loaded 2-CPU machine under a sanitizer, short of ctest's timeout.
inline constexpr std::chrono::seconds kPatience{30};

// poll_until: polls cond() until it holds or `limit` passes, calling pause() between polls;
// returns cond() as last seen. eventually / fiber_eventually below pause the right way. The caller asserts on the result, so a lost wake fails the test
// with a message instead of hanging it.
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
