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

// First pass over the registry, at global scope: only its #include lines take effect.
#define SY_SWITCH(n, T)
#define SY_BENCH_SWITCH(n, T)
#define SY_STACKS(n, T)
#define SY_SCHEDULER(n, T)
#include "switchyard/variants.def"
#undef SY_SWITCH
#undef SY_BENCH_SWITCH
#undef SY_STACKS
#undef SY_SCHEDULER

#include "switchyard/runtime.h"

namespace sy {

// ---- type lists
template <class... T>
struct TypeList {
  static constexpr std::size_t size = sizeof...(T);
};

namespace tl {
template <class... L>
struct Concat;
template <>
struct Concat<> {
  using type = TypeList<>;
};
template <class... A>
struct Concat<TypeList<A...>> {
  using type = TypeList<A...>;
};
template <class... A, class... B, class... Rest>
struct Concat<TypeList<A...>, TypeList<B...>, Rest...> : Concat<TypeList<A..., B...>, Rest...> {};
template <class... L>
using concat = typename Concat<L...>::type;

// The elements T of L for which Keep<T>::value holds, in order.
template <template <class> class Keep, class L>
struct Filter;
template <template <class> class Keep, class... T>
struct Filter<Keep, TypeList<T...>> : Concat<std::conditional_t<Keep<T>::value, TypeList<T>, TypeList<>>...> {};
template <template <class> class Keep, class L>
using filter = typename Filter<Keep, L>::type;

template <class L>
struct DropFirst;
template <class F, class... T>
struct DropFirst<TypeList<F, T...>> {
  using type = TypeList<T...>;
};

template <std::size_t I, class L>
struct At;
template <std::size_t I, class F, class... T>
struct At<I, TypeList<F, T...>> : At<I - 1, TypeList<T...>> {};
template <class F, class... T>
struct At<0, TypeList<F, T...>> {
  using type = F;
};
template <std::size_t I, class L>
using at = typename At<I, L>::type;

// Calls fn.template operator()<T>() for each T of L, in order.
template <class Fn, class... T>
void for_each(TypeList<T...>, Fn&& fn) {
  (fn.template operator()<T>(), ...);
}
}  // namespace tl

// ---- the dimensions, from the registry: one pass per list, the other lines expanding to
// nothing (the leading void absorbs the list's first comma)
#define SY_SWITCH(n, T) , T
#define SY_BENCH_SWITCH(n, T)
#define SY_STACKS(n, T)
#define SY_SCHEDULER(n, T)
using AllSwitches = typename tl::DropFirst<TypeList<void
#include "switchyard/variants.def"
                                                    >>::type;
#undef SY_SWITCH
#undef SY_BENCH_SWITCH
#define SY_SWITCH(n, T)
#define SY_BENCH_SWITCH(n, T) , T
// Switch backends that are measured (switch_bench, instruction counts, runtime_bench's
// yield) but make no variants.
using BenchSwitches = typename tl::DropFirst<TypeList<void
#include "switchyard/variants.def"
                                                      >>::type;
#undef SY_BENCH_SWITCH
#undef SY_STACKS
#define SY_BENCH_SWITCH(n, T)
#define SY_STACKS(n, T) , T
using AllStackAllocators = typename tl::DropFirst<TypeList<void
#include "switchyard/variants.def"
                                                           >>::type;
#undef SY_STACKS
#undef SY_SCHEDULER
#define SY_STACKS(n, T)
#define SY_SCHEDULER(n, T) , T
using Schedulers = typename tl::DropFirst<TypeList<void
#include "switchyard/variants.def"
                                                   >>::type;
#undef SY_SWITCH
#undef SY_BENCH_SWITCH
#undef SY_STACKS
#undef SY_SCHEDULER

// Each registry line's name is its type's name (CMake reads the former, the code the latter).
#define SY_CHECK_NAME(n, T) \
  static_assert(T::name == std::string_view(#n), "variants.def: the line of " #T " must give " #T "::name");
#define SY_SWITCH SY_CHECK_NAME
#define SY_BENCH_SWITCH SY_CHECK_NAME
#define SY_STACKS SY_CHECK_NAME
#define SY_SCHEDULER SY_CHECK_NAME
#include "switchyard/variants.def"
#undef SY_SWITCH
#undef SY_BENCH_SWITCH
#undef SY_STACKS
#undef SY_SCHEDULER
#undef SY_CHECK_NAME

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
