// Boost.Context's fcontext (jump_fcontext).
// A switch backend (SwitchBackend, concepts.h; the contract is at the top of switch.h),
// registered in variants.def.
#pragma once

#include <boost/context/detail/fcontext.hpp>

#include "switchyard/concepts.h"
#include "switchyard/switch/base.h"

namespace sy {

// Boost.Context 1.74 fcontext. On x86-64 it saves MXCSR and the x87 control word; its arm64
// jump_fcontext saves d8-d15, x19-x30 and no FPCR, so there the FP modes stay per carrier
// thread (switch_test's FpControlPolicy checks both). jump_fcontext hands
// the resumed side the suspended side's fcontext; swap passes &from as the data pointer
// so that the resumed side stores it there.
struct BoostSwitch {
  static constexpr std::string_view name = "boost";
#if defined(__aarch64__)
  static constexpr bool saves_fp_control = false;
#else
  static constexpr bool saves_fp_control = true;
#endif
  // jump_fcontext returns the outgoing fcontext to the *incoming* side, and swap() stores it
  // into `from` there, a few instructions after the stack pointer moved.
  static constexpr bool saved_before_switch = false;
  struct Context {
    boost::context::detail::fcontext_t fctx = nullptr;
#ifdef SY_SANITIZED
    detail::SanState san;
#endif
    Context() = default;
    Context(const Context&) = delete;  // see the note on UcontextSwitch::Context
    Context& operator=(const Context&) = delete;
  };
  // Also runs the new context once up to its first suspension (a "priming" jump), so that
  // the entry and argument are read from make()'s frame rather than carried on every swap.
  static void make(Context& c, StackRange s, void (*entry)(void*), void* arg) noexcept;
  static void swap(Context& from, Context& to) noexcept {
    boost::context::detail::transfer_t t = boost::context::detail::jump_fcontext(to.fctx, &from);
    static_cast<Context*>(t.data)->fctx = t.fctx;  // whoever resumed us: where it stopped
  }
  static void destroy(Context& c) noexcept {
#ifdef SY_SANITIZED
    detail::san_destroy(c.san);
#endif
    c.fctx = nullptr;
  }
  static SavedRegisters registers(const Context& c) noexcept;
  static const char* saved_lo(const Context& c) noexcept { return static_cast<const char*>(c.fctx); }  // its frame
};

static_assert(SwitchBackend<BoostSwitch>);

}  // namespace sy
