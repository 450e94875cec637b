// The 12 named variants: switch {asm, ucontext, boost} x stacks {pooled, fresh} x
// scheduler {fifo, chaselev}. Each is its own instantiation of Runtime<V>; code that takes
// a variant name at run time dispatches once, through with_variant(), to code compiled
// for that variant.
#pragma once

#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "switchyard/runtime.h"

namespace sy {

// X(type name, switch, stacks, scheduler): the one list every dispatch is generated from.
#define SY_FOR_EACH_VARIANT(X)                                 \
  X(AsmPooledFifo, AsmSwitch, PooledStacks, FifoSched)           \
  X(AsmPooledChaseLev, AsmSwitch, PooledStacks, ChaseLevSched)   \
  X(AsmFreshFifo, AsmSwitch, FreshStacks, FifoSched)             \
  X(AsmFreshChaseLev, AsmSwitch, FreshStacks, ChaseLevSched)     \
  X(UcontextPooledFifo, UcontextSwitch, PooledStacks, FifoSched) \
  X(UcontextPooledChaseLev, UcontextSwitch, PooledStacks, ChaseLevSched) \
  X(UcontextFreshFifo, UcontextSwitch, FreshStacks, FifoSched)   \
  X(UcontextFreshChaseLev, UcontextSwitch, FreshStacks, ChaseLevSched) \
  X(BoostPooledFifo, BoostSwitch, PooledStacks, FifoSched)       \
  X(BoostPooledChaseLev, BoostSwitch, PooledStacks, ChaseLevSched) \
  X(BoostFreshFifo, BoostSwitch, FreshStacks, FifoSched)         \
  X(BoostFreshChaseLev, BoostSwitch, FreshStacks, ChaseLevSched)

#define SY_DECLARE_VARIANT(T, Sw, St, Sc) using T = Variant<Sw, St, Sc>;
SY_FOR_EACH_VARIANT(SY_DECLARE_VARIANT)
#undef SY_DECLARE_VARIANT

struct VariantInfo {
  std::string name;  // "asm-pooled-fifo"
  std::string_view switch_name, stacks, scheduler;
};

// All variants, in a fixed order (switch, then stacks, then scheduler).
const std::vector<VariantInfo>& variants();
// nullptr if unknown.
const VariantInfo* find_variant(std::string_view name) noexcept;

class UnknownVariant : public std::invalid_argument {
 public:
  explicit UnknownVariant(std::string_view name);
};

// Calls fn.template operator()<V>() for the variant named `name`; throws UnknownVariant
// (whose message lists the valid names) otherwise.
template <class Fn>
decltype(auto) with_variant(std::string_view name, Fn&& fn) {
#define SY_DISPATCH(T, Sw, St, Sc) \
  if (name == T::name()) return fn.template operator()<T>();
  SY_FOR_EACH_VARIANT(SY_DISPATCH)
#undef SY_DISPATCH
  throw UnknownVariant(name);
}

// Calls fn.template operator()<V>() for every variant, in variants() order.
template <class Fn>
void for_each_variant(Fn&& fn) {
#define SY_EACH(T, Sw, St, Sc) fn.template operator()<T>();
  SY_FOR_EACH_VARIANT(SY_EACH)
#undef SY_EACH
}

}  // namespace sy
