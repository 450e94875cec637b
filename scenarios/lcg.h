// The mutex scenario's work generator, shared by scenarios/mutex.cpp and the threads peer
// (scenarios/peers/go/mutex.go has the same): Knuth's MMIX LCG, wrapping mod 2^64 as Go's uint64 does.
#pragma once

#include <cstdint>

namespace sy::scenarios {

constexpr std::uint64_t kLcgA = 6364136223846793005ull, kLcgC = 1442695040888963407ull;

// x after n steps of the generator, in O(log n) (composing the affine map by squaring).
inline std::uint64_t lcg_skip(std::uint64_t x, std::uint64_t n) {
  std::uint64_t acc_a = 1, acc_c = 0, a = kLcgA, c = kLcgC;
  for (; n; n >>= 1) {
    if (n & 1) {
      acc_a *= a;
      acc_c = acc_c * a + c;
    }
    c = (a + 1) * c;
    a *= a;
  }
  return acc_a * x + acc_c;
}

}  // namespace sy::scenarios
