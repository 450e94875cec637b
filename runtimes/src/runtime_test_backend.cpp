// The variant-dependent runtime tests (runtime_test_body.h) on one switch backend's four
// variants; CMake builds this file once per backend (SY_TEST_BACKEND = 1 asm, 2 ucontext,
// 3 boost) so the three build in parallel and a failure names its backend. Sanitizer builds
// and the emulated AArch64 stage (SY_TEST_ONE_VARIANT_PER_BACKEND) run one representative
// variant per backend (compile time).
#include "runtime_test_body.h"
#include "test_support.h"

namespace sy::test {
#if SY_TEST_BACKEND == 1
#define SY_BACKEND Asm
#define SY_SANITIZED_VARIANT AsmPooledFifo
#elif SY_TEST_BACKEND == 2
#define SY_BACKEND Ucontext
#define SY_SANITIZED_VARIANT UcontextFreshChaseLev
#elif SY_TEST_BACKEND == 3
#define SY_BACKEND Boost
#define SY_SANITIZED_VARIANT BoostPooledChaseLev
#else
#error "SY_TEST_BACKEND must be 1 (asm), 2 (ucontext) or 3 (boost)"
#endif
#define SY_CAT2(a, b) a##b
#define SY_CAT(a, b) SY_CAT2(a, b)

#if defined(SY_ASAN) || defined(SY_TSAN) || defined(SY_TEST_ONE_VARIANT_PER_BACKEND)
using BackendVariants = ::testing::Types<SY_SANITIZED_VARIANT>;
#else
using BackendVariants = ::testing::Types<SY_CAT(SY_BACKEND, PooledFifo), SY_CAT(SY_BACKEND, PooledChaseLev),
                                         SY_CAT(SY_BACKEND, FreshFifo), SY_CAT(SY_BACKEND, FreshChaseLev)>;
#endif
INSTANTIATE_TYPED_TEST_SUITE_P(SY_BACKEND, RuntimeTest, BackendVariants, VariantName);
}  // namespace sy::test
