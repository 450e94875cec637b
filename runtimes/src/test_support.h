// Shared by the runtime's typed tests: readable test names per variant, and the scale
// factor that keeps sanitizer runs (about 10x slower) within their time budget.
#pragma once

#include <string>

namespace sy::test {

#if defined(SY_TSAN) || defined(SY_ASAN)
inline constexpr int kScale = 10;
#else
inline constexpr int kScale = 1;
#endif

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
