// The variants: the product of the dimensions' choices listed in variants.def (switch
// {asm, ucontext, boost} x stacks {pooled, fresh} x scheduler {fifo, chaselev} today). Each
// is its own instantiation of Runtime<V>; code that takes a variant name at run time
// dispatches once, through with_variant(), to code compiled for that variant.
//
// Everything here is derived from variants.def, so a new choice is one header (its policy)
// plus one line there, and appears in variants(), with_variant, for_each_variant and every
// typed test built over Variants without another edit.
//
// A build may narrow the matrix to one switch and/or one stack allocator by defining
// SY_MATRIX_ONLY_SWITCH / SY_MATRIX_ONLY_STACKS to a choice's name (a string literal): the
// variant-registration test does, so that its extra scheduler costs a few instantiations,
// not a second copy of the whole matrix.
#pragma once

#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "switchyard/registry.h"
#include "switchyard/runtime.h"

namespace sy {

namespace detail {
template <class T>
struct MatrixKeepsSwitch : std::bool_constant<
#ifdef SY_MATRIX_ONLY_SWITCH
                               T::name == std::string_view(SY_MATRIX_ONLY_SWITCH)
#else
                               true
#endif
                               > {
};
template <class T>
struct MatrixKeepsStacks : std::bool_constant<
#ifdef SY_MATRIX_ONLY_STACKS
                               T::name == std::string_view(SY_MATRIX_ONLY_STACKS)
#else
                               true
#endif
                               > {
};

template <class Sw, class St, class Scs>
struct Row;
template <class Sw, class St, class... Sc>
struct Row<Sw, St, TypeList<Sc...>> {
  using type = TypeList<Variant<Sw, St, Sc>...>;
};
template <class Sw, class Sts, class Scs>
struct Plane;
template <class Sw, class... St, class Scs>
struct Plane<Sw, TypeList<St...>, Scs> : tl::Concat<typename Row<Sw, St, Scs>::type...> {};
template <class Sws, class Sts, class Scs>
struct Product;
template <class... Sw, class Sts, class Scs>
struct Product<TypeList<Sw...>, Sts, Scs> : tl::Concat<typename Plane<Sw, Sts, Scs>::type...> {};
}  // namespace detail

// The choices this build makes variants of (all of them unless SY_MATRIX_ONLY_* narrows).
using Switches = tl::filter<detail::MatrixKeepsSwitch, AllSwitches>;
using StackAllocators = tl::filter<detail::MatrixKeepsStacks, AllStackAllocators>;
static_assert(Switches::size > 0, "SY_MATRIX_ONLY_SWITCH names no switch of variants.def");
static_assert(StackAllocators::size > 0, "SY_MATRIX_ONLY_STACKS names no stack allocator of variants.def");

// Every variant: switch, then stacks, then scheduler, in registry order.
using Variants = typename detail::Product<Switches, StackAllocators, Schedulers>::type;

// Where builds cannot afford every variant (sanitizers, emulated AArch64), tests run one per
// switch backend. The i-th switch (in registry order) gets stack allocator i mod #stacks and
// scheduler (i + i div #stacks) mod #schedulers, so that consecutive backends differ in
// both: today asm-pooled-fifo, ucontext-fresh-chaselev, boost-pooled-chaselev.
namespace detail {
template <class... T>
constexpr std::size_t index_of_name(std::string_view n, TypeList<T...>) {
  std::size_t i = 0, found = sizeof...(T);
  ((T::name == n ? (found = i, ++i) : ++i), ...);
  return found;
}
}  // namespace detail
template <class Sw>
struct Representative {
  static constexpr std::size_t i = detail::index_of_name(Sw::name, Switches{});
  static_assert(i < Switches::size, "not a switch of this build's matrix");
  using type = Variant<Sw, tl::at<i % StackAllocators::size, StackAllocators>,
                       tl::at<(i + i / StackAllocators::size) % Schedulers::size, Schedulers>>;
};
template <class Sw>
using representative = typename Representative<Sw>::type;

// Shorthands for the built-in variants that tests and examples name. They are not the
// matrix (Variants is): a new variant needs none.
using AsmPooledFifo = Variant<AsmSwitch, PooledStacks, FifoSched>;
using AsmPooledChaseLev = Variant<AsmSwitch, PooledStacks, ChaseLevSched>;
using AsmFreshFifo = Variant<AsmSwitch, FreshStacks, FifoSched>;
using AsmFreshChaseLev = Variant<AsmSwitch, FreshStacks, ChaseLevSched>;
using UcontextPooledFifo = Variant<UcontextSwitch, PooledStacks, FifoSched>;
using UcontextPooledChaseLev = Variant<UcontextSwitch, PooledStacks, ChaseLevSched>;
using UcontextFreshFifo = Variant<UcontextSwitch, FreshStacks, FifoSched>;
using UcontextFreshChaseLev = Variant<UcontextSwitch, FreshStacks, ChaseLevSched>;
using BoostPooledFifo = Variant<BoostSwitch, PooledStacks, FifoSched>;
using BoostPooledChaseLev = Variant<BoostSwitch, PooledStacks, ChaseLevSched>;
using BoostFreshFifo = Variant<BoostSwitch, FreshStacks, FifoSched>;
using BoostFreshChaseLev = Variant<BoostSwitch, FreshStacks, ChaseLevSched>;

// A variant as data: its name, one choice per dimension, and the traits that code outside
// the runtime selects by (profiles, scenarios' admission checks).
struct VariantInfo {
  std::string name;  // "asm-pooled-fifo"
  std::string_view switch_name, stacks, scheduler;
  bool breadth_first = false;  // the scheduler's trait (SchedulerPolicy, concepts.h)
};

template <class V>
VariantInfo variant_info() {
  return VariantInfo{V::name(), V::Switch::name, V::Stacks::name, V::Sched::name, V::Sched::breadth_first};
}

// All variants, in Variants order.
inline const std::vector<VariantInfo>& variants() {
  static const std::vector<VariantInfo> all = [] {
    std::vector<VariantInfo> v;
    tl::for_each(Variants{}, [&]<class V>() { v.push_back(variant_info<V>()); });
    return v;
  }();
  return all;
}

// nullptr if unknown.
inline const VariantInfo* find_variant(std::string_view name) noexcept {
  for (const VariantInfo& v : variants())
    if (v.name == name) return &v;
  return nullptr;
}

class UnknownVariant : public std::invalid_argument {
 public:
  explicit UnknownVariant(std::string_view name) : std::invalid_argument(message(name)) {}

 private:
  static std::string message(std::string_view name) {
    std::string m = "unknown variant '" + std::string(name) + "'; valid variants are:";
    for (const VariantInfo& v : variants()) m += " " + v.name;
    return m;
  }
};

namespace detail {
template <class Fn, class V, class... Rest>
decltype(auto) dispatch_variant(std::string_view name, Fn& fn, TypeList<V, Rest...>) {
  if (name == V::name()) return fn.template operator()<V>();
  if constexpr (sizeof...(Rest) == 0)
    throw UnknownVariant(name);
  else
    return dispatch_variant(name, fn, TypeList<Rest...>{});
}
}  // namespace detail

// Calls fn.template operator()<V>() for the variant named `name`; throws UnknownVariant
// (whose message lists the valid names) otherwise.
template <class Fn>
decltype(auto) with_variant(std::string_view name, Fn&& fn) {
  return detail::dispatch_variant(name, fn, Variants{});
}

// Calls fn.template operator()<V>() for every variant, in variants() order.
template <class Fn>
void for_each_variant(Fn&& fn) {
  tl::for_each(Variants{}, fn);
}

}  // namespace sy
