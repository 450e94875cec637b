// The contracts of the three dimensions of a variant, as C++20 concepts: everything the
// runtime (runtime.h) and the collector integration (gc.h) use of a switch backend, a
// stack allocator and a scheduler policy, and nothing else. Variant<> requires all three,
// so a policy that lacks a member fails to compile at its registration, naming the member,
// rather than deep inside Runtime<V> (or, for a trait with a default, not at all).
#pragma once

#include <concepts>
#include <cstddef>
#include <string_view>

#include "switchyard/fiber.h"
#include "switchyard/stack/base.h"
#include "switchyard/switch/base.h"

namespace sy {

// Why a fiber is pushed onto a run queue (the scheduler may treat them differently).
enum class PushKind { spawned, woken, yielded };

// A switch backend B (switch.h describes each member's semantics):
//   name                 "asm", "ucontext", ...: the variant name's first part
//   Context              default-constructed = the running thread's own context
//   make/swap/destroy    prepare, switch, release a context
//   registers(c)         a suspended context's registers (backtraces, GC)
//   saves_fp_control     whether FP control modes follow the context
//   saved_before_switch  REQUIRED, no default: true if swap() stores everything the
//                        outgoing context needs to resume (and the GC needs to find its
//                        stack) before the stack pointer moves to the incoming stack. A
//                        collector that stops a thread mid-switch then sees, at every
//                        instruction, the outgoing fiber either still owning the stack
//                        pointer or completely saved. Boost's jump_fcontext hands the
//                        outgoing fcontext to the incoming side, which stores it after the
//                        move: false, and gc.h scans that fiber's whole stack meanwhile.
//   saved_lo(c)          the lowest address of a suspended context's saved state on its
//                        stack: the GC scans [saved_lo, stack top) of a suspended fiber
template <class B>
concept SwitchBackend =
    std::is_default_constructible_v<typename B::Context> &&
    requires(typename B::Context& c, const typename B::Context& cc, StackRange s, void (*entry)(void*), void* arg) {
      { B::name } -> std::convertible_to<std::string_view>;
      { B::saves_fp_control } -> std::convertible_to<bool>;
      { B::saved_before_switch } -> std::convertible_to<bool>;
      { B::make(c, s, entry, arg) } noexcept;
      { B::swap(c, c) } noexcept;
      { B::destroy(c) } noexcept;
      { B::registers(cc) } noexcept -> std::same_as<SavedRegisters>;
      { B::saved_lo(cc) } noexcept -> std::same_as<const char*>;
    };

// A stack allocator S (stack.h): built from StackOptions or from PoolOptions (the runtime
// passes PoolOptions when S accepts them), one per carrier.
//   name                 "pooled", "fresh", ...
//   acquire(size)        a stack of at least size usable bytes (0 = the options' size);
//                        throws StackError when the system refuses
//   release(stack)       gives it back (may be called on another carrier's allocator)
template <class S>
concept StackAllocator =
    (std::is_constructible_v<S, StackOptions> || std::is_constructible_v<S, PoolOptions>) &&
    requires(S& s, Stack& st, std::size_t n) {
      { S::name } -> std::convertible_to<std::string_view>;
      { s.acquire(n) } -> std::same_as<Stack>;
      { s.release(st) } noexcept;
    };

// A scheduler policy P (sched.h): per-runtime Shared state and per-carrier Local state,
// static operations the carrier's loop calls directly.
//   name                 "fifo", "chaselev", ...
//   Shared::multi        set once before carriers start: more than one carrier
//   push(S, L, f, kind)  on L's owner carrier
//   pop(S, L, backstop)  next fiber for L's owner or nullptr; backstop = the 64-run
//                        maintenance point, where a policy may restore fairness
//   steal(S, victim)     take work from another carrier's Local, or nullptr
//   maybe_work(S, L)     cheap hint (may be stale), read before parking
//   stealable(L)         cheap hint (may be stale): a thief could take from L
//   breadth_first        true if spawned fibers run in the order they were spawned, so a
//                        fiber spawning a tree has every node alive at once (skynet sizes
//                        its memory check by it); false if the newest runs first
template <class P>
concept SchedulerPolicy =
    std::is_default_constructible_v<typename P::Shared> && std::is_default_constructible_v<typename P::Local> &&
    requires(typename P::Shared& s, const typename P::Shared& cs, typename P::Local& l, const typename P::Local& cl,
             FiberBase* f, PushKind k, bool backstop) {
      { P::name } -> std::convertible_to<std::string_view>;
      { P::breadth_first } -> std::convertible_to<bool>;
      { s.multi } -> std::convertible_to<bool>;
      P::push(s, l, f, k);
      { P::pop(s, l, backstop) } noexcept -> std::same_as<FiberBase*>;
      { P::steal(s, l) } noexcept -> std::same_as<FiberBase*>;
      { P::maybe_work(cs, cl) } noexcept -> std::same_as<bool>;
      { P::stealable(cl) } noexcept -> std::same_as<bool>;
    };

}  // namespace sy
