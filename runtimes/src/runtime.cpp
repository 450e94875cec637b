// The variant-independent parts of the runtime: the current-carrier accessor, per-fiber
// C++ state, introspection and backtraces, the variant registry.
#define UNW_LOCAL_ONLY
#include <cxxabi.h>
#include <libunwind.h>
#include <pthread.h>
#include <sched.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <mutex>
#include <new>
#include <string>
#include <vector>

#include "switchyard/runtime.h"

extern "C" sy::detail::EhGlobals* __cxa_get_globals() noexcept;

// Declared in handles.h (initial-exec, read inline through %fs on x86-64).
extern "C" {
constinit thread_local sy::CarrierBase* sy_tl_carrier = nullptr;
}

namespace sy {

const char* to_string(FiberState s) noexcept {
  switch (s) {
    case FiberState::created: return "created";
    case FiberState::runnable: return "runnable";
    case FiberState::running: return "running";
    case FiberState::suspended: return "suspended";
    case FiberState::dead: return "dead";
  }
  return "?";
}

unsigned available_cpus() noexcept {
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof(set), &set) == 0) {
    int n = CPU_COUNT(&set);
    if (n > 0) return static_cast<unsigned>(n);
  }
  long n = sysconf(_SC_NPROCESSORS_ONLN);
  return n > 0 ? static_cast<unsigned>(n) : 1;
}

bool pin_carriers_requested() noexcept {
  const char* v = std::getenv("SY_PIN_CARRIERS");
  return v && std::strcmp(v, "1") == 0;
}

namespace detail {

void* pin_current_thread(unsigned n) noexcept {
  // The CPUs of the first caller's mask (run()'s thread or the first carrier thread,
  // before either pinned itself), in order; later runtimes in the process use the same.
  static const std::vector<int> cpus = [] {
    std::vector<int> v;
    cpu_set_t set;
    CPU_ZERO(&set);
    if (sched_getaffinity(0, sizeof set, &set) == 0)
      for (int c = 0; c < CPU_SETSIZE; ++c)
        if (CPU_ISSET(c, &set)) v.push_back(c);
    return v;
  }();
  if (cpus.empty()) return nullptr;
  auto* saved = new (std::nothrow) cpu_set_t;
  if (!saved) return nullptr;
  CPU_ZERO(saved);
  if (pthread_getaffinity_np(pthread_self(), sizeof *saved, saved) != 0) {
    delete saved;
    return nullptr;
  }
  cpu_set_t one;
  CPU_ZERO(&one);
  CPU_SET(cpus[n % cpus.size()], &one);
  if (pthread_setaffinity_np(pthread_self(), sizeof one, &one) != 0) {
    delete saved;
    return nullptr;
  }
  return saved;
}

void unpin_current_thread(void* saved) noexcept {
  if (!saved) return;
  auto* set = static_cast<cpu_set_t*>(saved);
  pthread_setaffinity_np(pthread_self(), sizeof *set, set);
  delete set;
}

}  // namespace detail

namespace {
std::atomic<unsigned> next_fls_key{0};
}  // namespace

namespace detail {

__attribute__((noinline)) CarrierBase* current_carrier_out_of_line() noexcept {
  // The empty asm keeps even an LTO build from treating this as a pure function whose
  // result (a thread_local address) could be reused across a switch.
  asm volatile("" ::: "memory");
  return sy_tl_carrier;
}
__attribute__((noinline)) void set_current_carrier(CarrierBase* c) noexcept {
  asm volatile("" ::: "memory");
  sy_tl_carrier = c;
}

std::int64_t now_ns() noexcept {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);  // the clock behind std::chrono::steady_clock
  return static_cast<std::int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

std::int64_t thread_cpu_ns() noexcept {
  timespec ts;
  // A system call (the vDSO serves only the wall clocks): callers read it rarely.
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<std::int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

EhGlobals* eh_globals() noexcept { return __cxa_get_globals(); }

std::uint64_t next_fiber_id() noexcept {
  // Each thread takes ids in blocks: one shared read-modify-write per kBlock spawns instead
  // of one per spawn (a locked instruction, and a cache line every spawning carrier
  // writes). Ids stay unique, and increasing per thread, not across threads.
  constexpr std::uint64_t kBlock = 256;
  static std::atomic<std::uint64_t> next{1};
  thread_local std::uint64_t cur = 0, end = 0;
  if (cur == end) [[unlikely]] {
    // relaxed: ids only need to be unique.
    cur = next.fetch_add(kBlock, std::memory_order_relaxed);
    end = cur + kBlock;
  }
  return cur++;
}

void report_unjoined_exception(const FiberBase& f) noexcept {
  std::string what = "unknown exception";
  try {
    std::rethrow_exception(f.error);
  } catch (const std::exception& e) {
    what = e.what();
  } catch (...) {
  }
  std::fprintf(stderr, "switchyard: fiber '%s' (id %llu) ended with an exception nobody joins: %s\n",
               f.display_name().c_str(),
               static_cast<unsigned long long>(f.id), what.c_str());
}

void pinned_blocking(PinnedPolicy policy, const char* what) {
  switch (policy) {
    case PinnedPolicy::silent:
      return;
    case PinnedPolicy::error:
      throw FiberError(std::string(what) + " while pinned: the fiber cannot switch away (pinned_policy=error)");
    case PinnedPolicy::warn: {
      static std::atomic<bool> warned{false};
      // relaxed: only decides who prints the one warning.
      if (!warned.exchange(true, std::memory_order_relaxed))
        std::fprintf(stderr,
                     "switchyard: warning: %s while pinned blocks the carrier thread (printed once; "
                     "set pinned_policy to silence or make it an error)\n",
                     what);
      return;
    }
  }
}

namespace {
// Async-signal-safe: called from the SIGSEGV handler on the faulting thread.
std::size_t describe_current_fiber(const void*, char* buf, std::size_t cap) {
  CarrierBase* c = sy_tl_carrier;
  FiberBase* f = c ? c->current_base : nullptr;
  std::size_t n = 0;
  auto put = [&](const char* s) {
    while (*s && n + 1 < cap) buf[n++] = *s++;
  };
  if (!f) {
    put("a carrier's own stack");
  } else {
    char num[24];
    int i = 23;
    num[i] = '\0';
    std::uint64_t id = f->id;
    do {
      num[--i] = static_cast<char>('0' + id % 10);
      id /= 10;
    } while (id && i > 0);
    put("fiber '");
    if (f->name[0]) {
      put(f->name);
    } else {
      put("fiber-");
      put(num + i);
    }
    put("' (id ");
    put(num + i);
    put(")");
  }
  if (cap) buf[n] = '\0';
  return n;
}
}  // namespace

void install_runtime_diagnostics() {
  static std::once_flag once;
  std::call_once(once, [] {
    install_overflow_handler();
    set_overflow_describer(&describe_current_fiber);
    // The running fiber's stack, found from the carrier (async-signal-safe: two loads), so
    // that no switch stores anything for the handler.
    set_current_stack_locator([]() noexcept -> const Stack* {
      CarrierBase* c = sy_tl_carrier;
      FiberBase* f = c ? c->current_base : nullptr;
      return f ? &f->stack : nullptr;
    });
  });
}

}  // namespace detail

// ---- fiber-local storage
// relaxed: keys only need to be unique.
FiberLocalBase::FiberLocalBase() noexcept : key_(next_fls_key.fetch_add(1, std::memory_order_relaxed)) {}

void FiberBase::fls_set(unsigned key, void* value, void (*destroy)(void*)) {
  if (key >= fls_size) {
    unsigned n = std::max(key + 1, fls_size ? fls_size * 2 : 4u);
    auto* grown = new FlsSlot[n];
    for (unsigned i = 0; i < fls_size; ++i) grown[i] = fls[i];
    delete[] fls;
    fls = grown;
    fls_size = n;
  }
  if (fls[key].value && fls[key].destroy) fls[key].destroy(fls[key].value);
  fls[key] = FlsSlot{value, destroy};
}

void FiberBase::fls_clear_slow() noexcept {
  for (unsigned i = 0; i < fls_size; ++i)
    if (fls[i].value && fls[i].destroy) fls[i].destroy(fls[i].value);
  delete[] fls;
  fls = nullptr;
  fls_size = 0;
}

// ---- backtraces
std::vector<Frame> backtrace_from(const SavedRegisters& regs, std::size_t max_frames) {
  std::vector<Frame> out;
  unw_context_t uc;
  unw_getcontext(&uc);  // a valid context for this thread; the registers are then replaced
#if defined(__x86_64__)
  uc.uc_mcontext.gregs[REG_RIP] = static_cast<greg_t>(regs.rip);
  uc.uc_mcontext.gregs[REG_RSP] = static_cast<greg_t>(regs.rsp);
  uc.uc_mcontext.gregs[REG_RBP] = static_cast<greg_t>(regs.rbp);
  uc.uc_mcontext.gregs[REG_RBX] = static_cast<greg_t>(regs.rbx);
  uc.uc_mcontext.gregs[REG_R12] = static_cast<greg_t>(regs.r12);
  uc.uc_mcontext.gregs[REG_R13] = static_cast<greg_t>(regs.r13);
  uc.uc_mcontext.gregs[REG_R14] = static_cast<greg_t>(regs.r14);
  uc.uc_mcontext.gregs[REG_R15] = static_cast<greg_t>(regs.r15);
#elif defined(__aarch64__)
  // libunwind's aarch64 context is a ucontext_t: regs[0..30], sp, pc.
  uc.uc_mcontext.pc = regs.pc;
  uc.uc_mcontext.sp = regs.sp;
  for (int i = 0; i < 10; ++i) uc.uc_mcontext.regs[19 + i] = regs.x[i];
  uc.uc_mcontext.regs[29] = regs.fp;
  uc.uc_mcontext.regs[30] = regs.lr;
#endif
  unw_cursor_t cur;
  if (unw_init_local(&cur, &uc) != 0) return out;
  for (std::size_t i = 0; i < max_frames; ++i) {
    unw_word_t ip = 0, off = 0;
    if (unw_get_reg(&cur, UNW_REG_IP, &ip) != 0 || ip == 0) break;
    Frame fr{static_cast<std::uintptr_t>(ip), {}, 0};
    char name[512];
    if (unw_get_proc_name(&cur, name, sizeof(name), &off) == 0) {
      int status = 0;
      char* dem = abi::__cxa_demangle(name, nullptr, nullptr, &status);
      fr.function = status == 0 && dem ? dem : name;
      std::free(dem);
      fr.offset = static_cast<std::uintptr_t>(off);
    }
    out.push_back(std::move(fr));
    if (unw_step(&cur) <= 0) break;
  }
  return out;
}

std::string format_backtrace(const std::vector<Frame>& frames) {
  std::string s;
  char line[64];
  for (std::size_t i = 0; i < frames.size(); ++i) {
    std::snprintf(line, sizeof(line), "#%-2zu 0x%016lx ", i, static_cast<unsigned long>(frames[i].pc));
    s += line;
    s += frames[i].function.empty() ? "??" : frames[i].function;
    if (!frames[i].function.empty()) s += " + " + std::to_string(frames[i].offset);
    s += '\n';
  }
  return s;
}

}  // namespace sy
