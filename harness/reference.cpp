#include "reference.h"

#include <chrono>
#include <cstdint>
#include <memory>

#include "switchyard/switch.h"

namespace sy::harness {
namespace {

// Fixed sizes: the work never depends on the machine. About 16 ns of CPU per iteration on
// the developers' machine (x86-64 VM): about 10 ms per sample, 80 ms for the whole child.
constexpr int kSamples = 7;
constexpr long kIterations = 600000;
constexpr int kChain = 8;  // dependent multiply-adds per iteration

using RefSwitch = sy::AsmSwitch;  // asm/ has it for x86-64 and AArch64

struct Pair {
  RefSwitch::Context main, fiber;
};

// The other fiber: switches straight back, forever (the process ends with it suspended).
void bounce(void* arg) {
  auto* p = static_cast<Pair*>(arg);
  for (;;) RefSwitch::swap(p->fiber, p->main);
}

double one_sample(Pair& p, std::uint64_t& x) {
  const auto t0 = std::chrono::steady_clock::now();
  for (long i = 0; i < kIterations; ++i) {
    // A dependency chain the compiler cannot fold or vectorise: each step needs the last.
    for (int k = 0; k < kChain; ++k) x = x * 6364136223846793005ull + 1442695040888963407ull;
    RefSwitch::swap(p.main, p.fiber);  // a round trip through our assembly switch
  }
  const auto t1 = std::chrono::steady_clock::now();
  return std::chrono::duration<double, std::nano>(t1 - t0).count() / static_cast<double>(kIterations);
}

}  // namespace

const char* reference_workload() {
  return "7 samples (after one warm-up) of 600000 iterations, each 8 dependent 64-bit multiply-adds and one "
         "round trip of the asm switch between two fibers; ns per iteration";
}

std::vector<double> reference_samples() {
  constexpr std::size_t kStack = 64 * 1024;
  std::unique_ptr<char[]> stack(new char[kStack + 64]);
  // 64-byte aligned range inside the buffer (the switch frame wants 16).
  auto lo = reinterpret_cast<std::uintptr_t>(stack.get());
  lo = (lo + 63) & ~std::uintptr_t{63};
  Pair p;
  RefSwitch::make(p.fiber, sy::StackRange{reinterpret_cast<void*>(lo), kStack}, &bounce, &p);
  std::uint64_t x = 1;
  one_sample(p, x);  // warm-up: caches, predictors, the fiber's first entry
  std::vector<double> out;
  for (int s = 0; s < kSamples; ++s) out.push_back(one_sample(p, x));
  // The chain's value leaves through an empty asm, so the loop cannot be removed.
  asm volatile("" : : "r"(x) : "memory");
  return out;
}

}  // namespace sy::harness
