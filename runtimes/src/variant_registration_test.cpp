// Proof that a variant is one policy file plus one registry line: this binary is built with
// SY_REGISTRY_EXTRA="variant_registration/registry_extra.def", the line that registers the
// throwaway LifoSched (variant_registration/lifo_sched.h), and with the matrix narrowed to
// one switch and one stack allocator (SY_MATRIX_ONLY_*, compile time). Nothing else in the
// library knows the policy, yet it
//   (a) is listed by variants() with its dimensions and traits (what `switchyard list`
//       prints) and reached by with_variant;
//   (b) passes the typed runtime tests (runtime_test_body.h, the body runtime_test_<switch>
//       runs on every variant);
//   (c) runs a scenario: skynet, through its Scenario entry, which sizes its admission
//       check by the scheduler's breadth_first trait, not by its name.
// The steps are written out in runtimes/ADDING_A_VARIANT.md.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <type_traits>

#include "runtime_test_body.h"
#include "scenario.h"
#include "switchyard/variants.h"
#include "test_support.h"

namespace sy::scenarios {
extern const Scenario kSkynet;  // scenarios/skynet.cpp, compiled into this binary
}

namespace sy::test {
namespace {

template <class V>
struct UsesLifo : std::bool_constant<std::is_same_v<typename V::Sched, LifoSched>> {};
using Registered = tl::filter<UsesLifo, Variants>;
static_assert(Registered::size == 1, "one switch x one stack allocator x the registered scheduler");
static_assert(Schedulers::size == 3, "the registered scheduler joins the built-in ones, it replaces none");

// The contracts refuse a policy that does not state a trait without a safe default: a
// switch backend must say whether it saves the outgoing context before the stack pointer
// moves (gc.h depends on it), a scheduler whether it runs spawns breadth first. Each
// refused type is checked beside the same type with the trait, which is accepted, so the
// checks cannot hold for another reason.
struct SwitchWithoutTrait {
  static constexpr std::string_view name = "untraited";
  static constexpr bool saves_fp_control = AsmSwitch::saves_fp_control;
  using Context = AsmSwitch::Context;
  static void make(Context& c, StackRange s, void (*entry)(void*), void* arg) noexcept {
    AsmSwitch::make(c, s, entry, arg);
  }
  static void swap(Context& from, Context& to) noexcept { AsmSwitch::swap(from, to); }
  static void destroy(Context& c) noexcept { AsmSwitch::destroy(c); }
  static SavedRegisters registers(const Context& c) noexcept { return AsmSwitch::registers(c); }
  static const char* saved_lo(const Context& c) noexcept { return AsmSwitch::saved_lo(c); }
};
struct SwitchWithTrait : SwitchWithoutTrait {
  static constexpr bool saved_before_switch = true;
};
struct SchedWithoutTrait {
  static constexpr std::string_view name = "untraited";
  using Shared = LifoSched::Shared;
  using Local = LifoSched::Local;
  static constexpr auto push = &LifoSched::push;
  static constexpr auto pop = &LifoSched::pop;
  static constexpr auto steal = &LifoSched::steal;
  static constexpr auto maybe_work = &LifoSched::maybe_work;
  static constexpr auto stealable = &LifoSched::stealable;
};
struct SchedWithTrait : SchedWithoutTrait {
  static constexpr bool breadth_first = false;
};
template <class Sw, class Sc>
concept VariantAccepts = requires { typename Variant<Sw, PooledStacks, Sc>; };
static_assert(!SwitchBackend<SwitchWithoutTrait> && !VariantAccepts<SwitchWithoutTrait, FifoSched>);
static_assert(SwitchBackend<SwitchWithTrait> && VariantAccepts<SwitchWithTrait, FifoSched>);
static_assert(!SchedulerPolicy<SchedWithoutTrait> && !VariantAccepts<AsmSwitch, SchedWithoutTrait>);
static_assert(SchedulerPolicy<SchedWithTrait> && VariantAccepts<AsmSwitch, SchedWithTrait>);

TEST(VariantRegistration, ListedWithItsDimensionsAndTraits) {
  const VariantInfo* v = find_variant("asm-pooled-lifo");
  ASSERT_NE(v, nullptr) << UnknownVariant("asm-pooled-lifo").what();
  EXPECT_EQ(v->switch_name, "asm");
  EXPECT_EQ(v->stacks, "pooled");
  EXPECT_EQ(v->scheduler, "lifo");
  EXPECT_FALSE(v->breadth_first);
  // Beside the built-in schedulers, in registry order (fifo, chaselev, then the extra line).
  std::string names;
  for (const VariantInfo& i : variants()) names += i.name + " ";
  EXPECT_EQ(names, "asm-pooled-fifo asm-pooled-chaselev asm-pooled-lifo ");
  EXPECT_EQ(with_variant("asm-pooled-lifo", []<class V>() { return std::string(V::Sched::name); }), "lifo");
  EXPECT_TRUE(find_variant("asm-pooled-fifo")->breadth_first);
}

// The same tests every built-in variant passes, on the registered one.
template <class L>
struct GtestTypes;
template <class... V>
struct GtestTypes<TypeList<V...>> {
  using type = ::testing::Types<V...>;
};
INSTANTIATE_TYPED_TEST_SUITE_P(Registered, RuntimeTest, typename GtestTypes<Registered>::type, VariantName);

nlohmann::json skynet_params(std::int64_t fibers, std::int64_t carriers, const char* guard) {
  return {{"fibers", fibers}, {"carriers", carriers}, {"stack_kib", 16}, {"guard", guard}, {"idle_spin_us", 0}};
}

TEST(VariantRegistration, RunsTheSkynetScenario) {
  const auto& sk = scenarios::kSkynet;
  // One carrier, so the order is the scheduler's alone: LIFO runs the tree depth first and
  // holds a few dozen fibers at once, FIFO holds all 11,111.
  scenarios::Outcome lifo = sk.run("asm-pooled-lifo", skynet_params(10000, 1, "off"), 1);
  ASSERT_EQ(lifo.status, "ok") << lifo.reason;
  scenarios::Outcome fifo = sk.run("asm-pooled-fifo", skynet_params(10000, 1, "off"), 1);
  ASSERT_EQ(fifo.status, "ok") << fifo.reason;
  const double lifo_peak = lifo.metrics.at("peak_live_fibers").samples.at(0);
  const double fifo_peak = fifo.metrics.at("peak_live_fibers").samples.at(0);
  EXPECT_GT(lifo_peak, 0);
  EXPECT_LT(lifo_peak * 10, fifo_peak) << "LIFO should run the tree depth first";
  // Two carriers: the registered policy's shared, locked queue.
  scenarios::Outcome two = sk.run("asm-pooled-lifo", skynet_params(10000, 2, "off"), 1);
  EXPECT_EQ(two.status, "ok") << two.reason;
}

TEST(VariantRegistration, SkynetAdmitsByTheBreadthFirstTrait) {
  // 10^8 leaves with guard pages: a breadth-first scheduler would need ~2.2e8 mappings, far
  // over any vm.max_map_count, so FIFO is refused; the depth-first LIFO is not.
  const scenarios::SkynetConfig cfg = scenarios::skynet_config(skynet_params(100000000, 1, "on"));
  auto fifo = scenarios::skynet_cannot_run("asm-pooled-fifo", cfg);
  ASSERT_TRUE(fifo.has_value());
  EXPECT_NE(fifo->find("fifo (breadth first)"), std::string::npos) << *fifo;
  EXPECT_FALSE(scenarios::skynet_cannot_run("asm-pooled-lifo", cfg).has_value());
}

}  // namespace
}  // namespace sy::test
