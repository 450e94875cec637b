// The dimensions of the variant matrix, read from the registry (variants.def): one type list
// per dimension, in registry order, and the type-list tools the matrix is built with. No
// runtime here (variants.h makes the variants), so code that only needs a dimension, such as
// the switch benchmark, includes this.
#pragma once

#include <cstddef>
#include <string_view>
#include <type_traits>

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

}  // namespace sy
