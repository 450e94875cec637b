// The variant-dependent runtime tests on the four ucontext variants.
#include "runtime_test_body.h"

namespace sy::test {
#if defined(SY_ASAN) || defined(SY_TSAN)
// Sanitizer builds run one representative variant per switch backend (compile time).
using UcontextVariants = ::testing::Types<UcontextFreshChaseLev>;
#else
using UcontextVariants = ::testing::Types<UcontextPooledFifo, UcontextPooledChaseLev, UcontextFreshFifo, UcontextFreshChaseLev>;
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
INSTANTIATE_TYPED_TEST_SUITE_P(Ucontext, RuntimeTest, UcontextVariants, VariantName);
}  // namespace sy::test
