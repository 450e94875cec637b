// The variant-dependent runtime tests on the four asm variants.
#include "runtime_test_body.h"

namespace sy::test {
#if defined(SY_ASAN) || defined(SY_TSAN)
// Sanitizer builds run one representative variant per switch backend (compile time).
using AsmVariants = ::testing::Types<AsmPooledFifo>;
#else
using AsmVariants = ::testing::Types<AsmPooledFifo, AsmPooledChaseLev, AsmFreshFifo, AsmFreshChaseLev>;
#endif
struct VariantName {
  template <class V>
  static std::string GetName(int) {
    std::string n = V::name();
    for (char& ch : n)
      if (ch == '-') ch = '_';
    return n;
  }
};
INSTANTIATE_TYPED_TEST_SUITE_P(Asm, RuntimeTest, AsmVariants, VariantName);
}  // namespace sy::test
