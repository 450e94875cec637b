// What every stack allocator shares: Stack, the options, StackError, canaries and overflow
// reporting. The allocators are stack/fresh.h and stack/pooled.h; the contract is at the top
// of stack.h and in concepts.h (StackAllocator).
#pragma once

#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string_view>
#include <vector>

#include "switchyard/switch/base.h"

namespace sy {

class StackError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

namespace detail {
struct Slab;  // a shared mapping that unguarded stacks are carved from (stack.cpp)
}

struct Stack {
  void* map_base = nullptr;    // guarded: start of the mapping (the guard page); unguarded:
  std::size_t map_size = 0;    //   start of the slab chunk (the canary pad page)
  void* lo = nullptr;          // usable region [lo, lo + size)
  std::size_t size = 0;
  bool guarded = false;
  detail::Slab* slab = nullptr;  // unguarded only: the slab it was carved from

  StackRange range() const noexcept { return {lo, size}; }
  char* hi() const noexcept { return static_cast<char*>(lo) + size; }
  explicit operator bool() const noexcept { return lo != nullptr; }
};

struct StackOptions {
  std::size_t size = 256 * 1024;  // usable bytes, rounded up to whole pages
  bool guard = true;              // false: carve from slabs, canary instead of guard page
};

// What a pool does with the pages of a stack returned to it. Each was measured for time
// per recycle and resident memory under churn (BM_Stack, BM_StackChurn in switch_bench);
// the numbers, the command and the reasons for the default are in stack.cpp, above
// to_string(ReleasePolicy).
enum class ReleasePolicy {
  release_all,  // madvise(MADV_DONTNEED) the whole usable region (the seed's behaviour)
  keep_top,     // keep the top keep_top bytes resident, MADV_DONTNEED the rest, every time
  when_deep,    // like keep_top, but only when the fiber went deeper than keep_top: a
                // marker word at hi - keep_top (inside the kept, resident region, so planting
                // it never faults) was overwritten. Shallow fibers cost no system call.
  none,         // keep everything resident
};
std::string_view to_string(ReleasePolicy p) noexcept;

// The default: when_deep (why: stack.cpp, above kDefaultReleasePolicy).
inline constexpr ReleasePolicy kDefaultReleasePolicy = ReleasePolicy::when_deep;

struct PoolOptions {
  std::size_t cap = 4096;                        // stacks kept; beyond it, released stacks
                                                 // are unmapped
  ReleasePolicy policy = kDefaultReleasePolicy;
  std::size_t keep_top = 16 * 1024;              // bytes kept resident (keep_top, when_deep)
  StackOptions stack;                            // the pooled size and guard setting
};

// Unguarded stacks: is the canary below lo intact? Always true for guarded stacks. Cheap
// (one cache line compared): the runtime calls it when a fiber switches out.
bool canary_intact(const Stack& s) noexcept;

// Writes "switchyard: stack overflow: fiber 'NAME' overflowed its N KiB stack [lo, hi)
// (canary below the unguarded stack overwritten at ADDR)" to stderr and aborts.
// fiber_name may be null ("a fiber"). Async-signal-safe.
[[noreturn]] void report_stack_corruption(const Stack& s, const char* fiber_name) noexcept;

// ---- Overflow reporting ----
//
// How the handler knows a fault is an overflow: it learns which stack the faulting thread
// runs on from set_current_stack() (a thread_local the thread stores on each switch,
// nullptr when back on its own stack), or, when that is unset, from the locator given to
// set_current_stack_locator() (the fiber runtime's: no store per switch). A fault
// address inside that stack's guard page is an overflow; so is any fault while the stack
// pointer is below lo (a frame larger than the guard page jumped over it). Any other
// SIGSEGV goes to the handler installed before ours (or the default action), so ordinary
// crashes stay ordinary. Told neither, it reports overflows as plain SIGSEGVs. Limit:
// a big frame that jumps the guard into another mapping's writable pages does not fault
// at all; building with -fstack-clash-protection makes GCC probe every page of a frame.
void install_overflow_handler();   // process-wide, idempotent, thread-safe
void ensure_signal_altstack();     // per thread, idempotent; freed at thread exit
namespace detail {
// The stack this thread is running on. constinit: no dynamic initialization, so access
// needs no TLS wrapper call and the switch path stores to it inline. initial-exec: static
// TLS, so the SIGSEGV handler's read never calls __tls_get_addr (which may allocate).
extern __attribute__((tls_model("initial-exec"))) constinit thread_local const Stack* tl_current_stack;
}  // namespace detail
inline void set_current_stack(const Stack* s) noexcept { detail::tl_current_stack = s; }
inline const Stack* current_stack() noexcept { return detail::tl_current_stack; }
// The other way to tell the handler: a function it calls, when this thread set no stack,
// to find the one it runs on (the fiber runtime's: the carrier's running fiber, so that a
// switch stores nothing for the handler). Async-signal-safe; nullptr: the thread's own.
using CurrentStackLocator = const Stack* (*)() noexcept;
void set_current_stack_locator(CurrentStackLocator f) noexcept;

// Writes a description of the fiber that faulted (e.g. "fiber 'NAME' (id N)") into buf
// (at most cap bytes, no terminator needed) and returns its length. Called from the
// SIGSEGV handler on the faulting thread: it must be async-signal-safe.
using OverflowDescriber = std::size_t (*)(const void* fault_addr, char* buf, std::size_t cap);
void set_overflow_describer(OverflowDescriber d) noexcept;

}  // namespace sy
