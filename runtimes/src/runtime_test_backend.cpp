// The variant-dependent runtime tests (runtime_test_body.h) on one switch backend's
// variants: every variant of variants.def whose switch is SY_TEST_SWITCH. CMake builds this
// file once per switch line of variants.def, so the backends build in parallel and a
// failure names its backend; a new stack allocator or scheduler is tested here without an
// edit. Sanitizer builds and the emulated AArch64 stage (SY_TEST_ONE_VARIANT_PER_BACKEND)
// run the backend's representative variant only (compile time; see sy::Representative).
#include <string_view>
#include <type_traits>

#include "runtime_test_body.h"
#include "test_support.h"

#ifndef SY_TEST_SWITCH
#error "SY_TEST_SWITCH must name a switch of variants.def (set by runtime.cmake)"
#endif
#define SY_STR2(x) #x
#define SY_STR(x) SY_STR2(x)

namespace sy::test {
namespace {
template <class V>
struct OnThisSwitch : std::bool_constant<V::Switch::name == std::string_view(SY_STR(SY_TEST_SWITCH))> {};
using ThisSwitch = tl::filter<OnThisSwitch, Variants>;
static_assert(ThisSwitch::size > 0, "SY_TEST_SWITCH names no switch of variants.def");

template <class L>
struct GtestTypes;
template <class... V>
struct GtestTypes<TypeList<V...>> {
  using type = ::testing::Types<V...>;
};
}  // namespace

#if defined(SY_ASAN) || defined(SY_TSAN) || defined(SY_TEST_ONE_VARIANT_PER_BACKEND)
using BackendVariants = ::testing::Types<representative<typename tl::at<0, ThisSwitch>::Switch>>;
#else
using BackendVariants = typename GtestTypes<ThisSwitch>::type;
#endif
// The instantiation's prefix is the backend's name: asm/RuntimeTest/asm_pooled_fifo.RunReturnsMainResult
// (through a second macro, so that SY_TEST_SWITCH is expanded before gtest pastes it).
#define SY_INSTANTIATE(prefix) INSTANTIATE_TYPED_TEST_SUITE_P(prefix, RuntimeTest, BackendVariants, VariantName)
SY_INSTANTIATE(SY_TEST_SWITCH);
}  // namespace sy::test
