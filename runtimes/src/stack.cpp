// Fiber stacks: mappings, slabs, the pool and its release policies, overflow reporting.
// The layout and the contract are in switchyard/stack.h.
#include "switchyard/stack.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <ucontext.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <new>
#include <string>

#if defined(SY_ASAN)
#include <sanitizer/asan_interface.h>
#endif

namespace sy {

// ---- Release policy: the default and why ----
//
// kDefaultReleasePolicy (stack.h) is when_deep with keep_top = 16 KiB. Measured with
//   build-stack/bin/switch_bench --benchmark_filter='BM_Stack' --benchmark_repetitions=9
//     --benchmark_report_aggregates_only=true
// medians of 9, CPU ns (2-core shared VM, loaded: wall time was 2-2.5x CPU time; a page
// fault costs about 3.8 us here: release_all minus keep_top). 256 KiB guarded stacks;
// unguarded: fresh_noguard 7112 ns, pooled_noguard (when_deep) 17 ns.
//   BM_Stack = acquire, touch the top page, release.
//   BM_StackChurn = 256 stacks live; each recycle releases a random one and acquires one
//   that writes a log-uniform random depth of 1..128 KiB (43% go deeper than 16 KiB);
//   ns includes those writes and the faults they take; rss = RSS growth with 256 live,
//   idle = after all 256 went back to the pool.
//
//   policy (keep_top)       BM_Stack ns   churn ns   churn rss KiB   idle rss KiB
//   fresh (no pool)              12745      33230            6588              0
//   release_all                   4745      23950            6588              0
//   keep_top (16K)                 934      15676            7928           4096
//   when_deep (16K)   default       18      17037            7928           4096
//   when_deep (64K)                  -       6537           17460          16384
//   none                            15       2137           31244          31244
//
// release_all pays a system call on every release and a fault for the top page on every
// reuse. keep_top saves the fault but not the madvise call (~0.9 us even when nothing is
// resident). none is the fastest, but a pooled stack keeps the deepest use it ever saw:
// 4x the memory of keep_top under this churn, and it never shrinks. when_deep costs what
// none costs for shallow fibers (a load and a compare) and has keep_top's bound (at most
// keep_top per pooled stack once a deep fiber released it; with the cap of 4096, 64 MiB);
// under deep churn it is keep_top (equal within noise). keep_top is the knob: 64 KiB
// makes the churn 2.6x cheaper for 2.2x the memory; 16 KiB keeps idle pools small.

std::string_view to_string(ReleasePolicy p) noexcept {
  switch (p) {
    case ReleasePolicy::release_all: return "release_all";
    case ReleasePolicy::keep_top: return "keep_top";
    case ReleasePolicy::when_deep: return "when_deep";
    case ReleasePolicy::none: return "none";
  }
  return "?";
}

namespace {

std::size_t page_size() noexcept {
  static const std::size_t p = static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
  return p;
}

std::size_t round_pages(std::size_t n) noexcept {
  const std::size_t p = page_size();
  if (n == 0) n = p;
  return (n + p - 1) & ~(p - 1);
}

// ---- Async-signal-safe formatting (used by the SIGSEGV handler and the corruption
// report, which may run with a broken heap: no malloc, no stdio) ----
struct Line {
  char buf[768];
  std::size_t n = 0;
  void str(const char* s) noexcept {
    while (*s && n < sizeof buf) buf[n++] = *s++;
  }
  void dec(std::uint64_t v) noexcept {
    char t[24];
    int i = 0;
    do { t[i++] = static_cast<char>('0' + v % 10); v /= 10; } while (v);
    while (i && n < sizeof buf) buf[n++] = t[--i];
  }
  void hex(const void* p) noexcept {
    auto v = reinterpret_cast<std::uintptr_t>(p);
    char t[20];
    int i = 0;
    do { t[i++] = "0123456789abcdef"[v & 15]; v >>= 4; } while (v);
    str("0x");
    while (i && n < sizeof buf) buf[n++] = t[--i];
  }
  void flush() noexcept {
    std::size_t off = 0;
    while (off < n) {
      ssize_t w = ::write(STDERR_FILENO, buf + off, n - off);
      if (w < 0 && errno == EINTR) continue;
      if (w <= 0) return;
      off += static_cast<std::size_t>(w);
    }
  }
};

// "<who> overflowed its N KiB stack [lo, hi) (" — shared by the guard and canary reports.
void overflow_head(Line& l, const Stack& s, const char* who_prefix, std::size_t who_len) {
  l.str("switchyard: stack overflow: ");
  if (who_len == 0) {
    l.str("a fiber");
  } else {
    for (std::size_t i = 0; i < who_len && l.n < sizeof l.buf; ++i) l.buf[l.n++] = who_prefix[i];
  }
  l.str(" overflowed its ");
  l.dec(s.size / 1024);
  l.str(" KiB stack [");
  l.hex(s.lo);
  l.str(", ");
  l.hex(s.hi());
  l.str(") (");
}

// ---- Diagnosing a failed mapping ----

// Lines of /proc/self/maps = mappings of this process (plus [vsyscall]). Raw read(2) into
// a stack buffer: this runs when mmap just failed, so it must not need a new mapping.
long count_maps() noexcept {
  int fd = ::open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  char buf[16384];
  long lines = 0;
  for (;;) {
    ssize_t r = ::read(fd, buf, sizeof buf);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) break;
    for (ssize_t i = 0; i < r; ++i) lines += buf[i] == '\n';
  }
  ::close(fd);
  return lines;
}

long read_long(const char* path) noexcept {
  int fd = ::open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  char buf[64];
  ssize_t r = ::read(fd, buf, sizeof buf - 1);
  ::close(fd);
  if (r <= 0) return -1;
  buf[r] = 0;
  return std::strtol(buf, nullptr, 10);
}

// Virtual size of the process in bytes (first field of /proc/self/statm, in pages).
std::size_t vm_size() noexcept {
  long pages = read_long("/proc/self/statm");
  return pages < 0 ? 0 : static_cast<std::size_t>(pages) * page_size();
}

std::string kib(std::size_t bytes) { return std::to_string(bytes / 1024) + " KiB"; }

// Throws StackError naming the cause and the limit. `call` is the system call that failed
// (mmap / mprotect), `what` what it was for, `bytes` the address space it asked for.
[[noreturn]] void throw_map_error(int err, const char* call, const std::string& what,
                                  std::size_t bytes) {
  std::string m = "switchyard: cannot map " + what + " (" + kib(bytes) + " of address space): " +
                  call + " failed with ";
  if (err == ENOMEM) {
    m += "ENOMEM: ";
    rlimit rl{};
    ::getrlimit(RLIMIT_AS, &rl);
    const std::size_t vm = vm_size();
    const long max_maps = read_long("/proc/sys/vm/max_map_count");
    const long maps = count_maps();
    if (rl.rlim_cur != RLIM_INFINITY && vm + bytes > rl.rlim_cur) {
      m += "the RLIMIT_AS limit (ulimit -v) of " + kib(rl.rlim_cur) + " is reached: " + kib(vm) +
           " of address space in use, " + kib(bytes) +
           " more requested (use smaller stacks, fewer live fibers, or raise RLIMIT_AS)";
    } else if (max_maps > 0 && maps >= 0 && maps + 3 >= max_maps) {
      // +3: the failed call needed up to 2 more, and /proc/self/maps lists [vsyscall],
      // which the kernel's count does not include.
      m += "the vm.max_map_count limit of " + std::to_string(max_maps) +
           " memory mappings is reached: the process has " + std::to_string(maps) +
           " (a guarded stack takes 2 mappings, so at most about " +
           std::to_string(max_maps / 2) +
           " guarded stacks; use guard=off (stacks carved from shared slabs), fewer live "
           "fibers, or raise vm.max_map_count)";
    } else {
      const long oc = read_long("/proc/sys/vm/overcommit_memory");
      m += "the kernel is out of memory (vm.overcommit_memory=" + std::to_string(oc) + ", " +
           std::to_string(maps) + " of vm.max_map_count " + std::to_string(max_maps) +
           " mappings in use, RLIMIT_AS " +
           (rl.rlim_cur == RLIM_INFINITY ? std::string("unlimited") : kib(rl.rlim_cur)) + ")";
    }
  } else {
    m += std::string(strerrorname_np(err) ? strerrorname_np(err) : "?") + " (" +
         std::strerror(err) + ")";
  }
  throw StackError(m);
}

std::string describe(const char* kind, std::size_t size) {
  return std::string("a ") + kib(size) + " " + kind + " stack";
}

// ---- Canaries ----
//
// Unguarded stacks: 8 words in the 64 bytes right below lo (the top of the pad page).
// An overflow that runs down from lo writes them first. Each word is a constant mixed
// with its own address, so a stack image copied elsewhere does not pass. Not a security
// measure: it finds accidents, not attackers. Like a guard page, it misses a frame that
// jumps over it without writing it.
constexpr std::uint64_t kCanary = 0x5359'4341'4e41'5259ull;   // "SYCANARY"
constexpr std::uint64_t kDeepMark = 0x5359'4445'4550'4d4bull; // "SYDEEPMK"
constexpr std::size_t kCanaryBytes = 64;

inline std::uint64_t mix(std::uint64_t k, const void* p) noexcept {
  return k ^ reinterpret_cast<std::uintptr_t>(p);
}

void plant_canary(const Stack& s) noexcept {
  auto* w = reinterpret_cast<std::uint64_t*>(static_cast<char*>(s.lo) - kCanaryBytes);
  for (std::size_t i = 0; i < kCanaryBytes / 8; ++i) w[i] = mix(kCanary, &w[i]);
}

// when_deep: one word at hi - keep, the lowest word of the region kept resident. Planting
// it after a release never faults, and a fiber that went deeper than keep overwrites it.
inline std::uint64_t* deep_mark(const Stack& s, std::size_t keep) noexcept {
  return reinterpret_cast<std::uint64_t*>(s.hi() - keep);
}

void unpoison(const Stack& s) noexcept {
#if defined(SY_ASAN)
  // A fiber that died mid-frame leaves ASan redzone poison on its stack; the next user of
  // these addresses (a pooled reuse, or a new mapping at the same place) must not see it.
  __asan_unpoison_memory_region(s.lo, s.size);
#else
  (void)s;
#endif
}

void give_back(void* p, std::size_t n) noexcept {
  // MADV_DONTNEED, not MADV_FREE: the pages leave RSS now (FREE leaves them counted until
  // memory pressure), so the pool's resident memory is what it looks like.
  if (n) ::madvise(p, n, MADV_DONTNEED);
}

}  // namespace

// ---- Slabs (unguarded stacks) ----
//
// A slab is one mapping of up to 4096 chunks (<= 64 MiB, at least one chunk) of one
// stride (pad page + usable size). Slabs of one stride form a size class; all size classes
// live in one process-wide registry behind one mutex. Allocators reach it only on their
// slow path (a fresh unguarded acquire/release, a pool miss or overflow), so one lock is
// enough; a stack carved on one thread may be returned on another.
namespace detail {
struct SizeClass;
struct Slab {
  char* base = nullptr;
  std::size_t stride = 0;
  std::uint32_t n = 0;       // chunks
  std::uint32_t bump = 0;    // chunks [bump, n) were never handed out (not resident)
  std::uint32_t used = 0;    // chunks handed out
  bool in_avail = false;     // listed in the class's avail (has a free chunk)
  std::vector<std::uint32_t> free;  // returned chunks (pages already given back)
  SizeClass* cls = nullptr;
};
struct SizeClass {
  std::size_t stride = 0;
  std::vector<Slab*> avail;  // slabs with at least one free chunk
  std::uint32_t slabs = 0;   // slabs mapped
  std::uint32_t empty = 0;   // slabs with used == 0 (we keep at most one mapped)
};
}  // namespace detail

namespace {

struct SlabRegistry {
  std::mutex mu;
  std::vector<detail::SizeClass*> classes;  // few strides in practice: linear search
};

SlabRegistry& registry() {
  // Leaked on purpose: pools destroyed during static destruction still return chunks.
  static SlabRegistry* r = new SlabRegistry;
  return *r;
}

constexpr std::size_t kSlabBytes = 64u << 20;
constexpr std::uint32_t kSlabMaxChunks = 4096;

Stack carve(std::size_t size) {
  using detail::Slab;
  const std::size_t pad = page_size();
  const std::size_t stride = size + pad;
  SlabRegistry& r = registry();
  Slab* slab = nullptr;
  std::uint32_t idx = 0;
  {
    std::lock_guard<std::mutex> g(r.mu);
    detail::SizeClass* cls = nullptr;
    for (auto* c : r.classes)
      if (c->stride == stride) cls = c;
    if (!cls) {
      cls = new detail::SizeClass;
      cls->stride = stride;
      r.classes.push_back(cls);
    }
    if (cls->avail.empty()) {
      std::size_t n = kSlabBytes / stride;
      if (n < 1) n = 1;
      if (n > kSlabMaxChunks) n = kSlabMaxChunks;
      // Bookkeeping first, mapping last: if anything throws, nothing is mapped.
      auto owned = std::make_unique<Slab>();
      owned->free.reserve(n);
      cls->avail.reserve(cls->slabs + 1);  // avail never outgrows it: uncarve cannot allocate
      void* m = ::mmap(nullptr, n * stride, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
      if (m == MAP_FAILED)
        throw_map_error(errno, "mmap", "a slab of " + std::to_string(n) + " unguarded " +
                                           kib(size) + " stacks", n * stride);
      Slab* s = owned.release();
      s->base = static_cast<char*>(m);
      s->stride = stride;
      s->n = static_cast<std::uint32_t>(n);
      s->cls = cls;
      s->in_avail = true;
      cls->avail.push_back(s);  // capacity reserved above
      ++cls->slabs;
      ++cls->empty;
    }
    slab = cls->avail.back();
    if (slab->used == 0) --cls->empty;
    if (!slab->free.empty()) {
      idx = slab->free.back();
      slab->free.pop_back();
    } else {
      idx = slab->bump++;
    }
    ++slab->used;
    if (slab->free.empty() && slab->bump == slab->n) {
      cls->avail.pop_back();
      slab->in_avail = false;
    }
  }
  Stack st;
  st.map_base = slab->base + static_cast<std::size_t>(idx) * stride;
  st.map_size = stride;
  st.lo = static_cast<char*>(st.map_base) + pad;
  st.size = size;
  st.guarded = false;
  st.slab = slab;
  plant_canary(st);
  return st;
}

void uncarve(Stack& st) noexcept {
  using detail::Slab;
  give_back(st.map_base, st.map_size);  // outside the lock: the slow part
  Slab* slab = st.slab;
  const auto idx = static_cast<std::uint32_t>(
      (static_cast<char*>(st.map_base) - slab->base) / slab->stride);
  SlabRegistry& r = registry();
  void* unmap_base = nullptr;
  std::size_t unmap_size = 0;
  {
    std::lock_guard<std::mutex> g(r.mu);
    detail::SizeClass* cls = slab->cls;
    slab->free.push_back(idx);  // reserved to n at creation: cannot allocate
    --slab->used;
    if (!slab->in_avail) {
      cls->avail.push_back(slab);  // no allocation: capacity >= slabs (carve)
      slab->in_avail = true;
    }
    if (slab->used == 0) {
      if (cls->empty >= 1) {
        // Keep one empty slab per class (so a fresh acquire/release loop does not map and
        // unmap 64 MiB each time); unmap the others.
        for (auto& a : cls->avail)
          if (a == slab) { a = cls->avail.back(); cls->avail.pop_back(); break; }
        --cls->slabs;
        unmap_base = slab->base;
        unmap_size = static_cast<std::size_t>(slab->n) * slab->stride;
      } else {
        ++cls->empty;
      }
    }
  }
  if (unmap_base) {
    ::munmap(unmap_base, unmap_size);
    delete slab;
  }
  st = Stack{};
}

// ---- Guarded stacks: one mapping, guard page at the bottom ----

Stack map_guarded(std::size_t size) {
  const std::size_t guard = page_size();
  const std::size_t total = size + guard;
  // Mapped read-write, then the bottom page made PROT_NONE: the kernel splits it into two
  // VMAs. MAP_NORESERVE: no commit charge for pages a fiber never touches.
  void* m = ::mmap(nullptr, total, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1, 0);
  if (m == MAP_FAILED) throw_map_error(errno, "mmap", describe("guarded", size), total);
  if (::mprotect(m, guard, PROT_NONE) != 0) {
    const int err = errno;  // typically ENOMEM: the split would exceed vm.max_map_count
    ::munmap(m, total);
    throw_map_error(err, "mprotect (guard page)", describe("guarded", size), total);
  }
  Stack st;
  st.map_base = m;
  st.map_size = total;
  st.lo = static_cast<char*>(m) + guard;
  st.size = size;
  st.guarded = true;
  return st;
}

Stack make_stack(std::size_t size, bool guard) {
  return guard ? map_guarded(size) : carve(size);
}

// Unmaps (guarded) or returns to its slab (unguarded). The canary was checked by the caller.
void free_stack(Stack& st) noexcept {
  unpoison(st);
  if (st.guarded) {
    ::munmap(st.map_base, st.map_size);
    st = Stack{};
  } else {
    uncarve(st);
  }
}

}  // namespace

bool canary_intact(const Stack& s) noexcept {
  if (s.guarded || !s.lo) return true;
  const auto* w = reinterpret_cast<const std::uint64_t*>(static_cast<const char*>(s.lo) -
                                                         kCanaryBytes);
  std::uint64_t diff = 0;
  for (std::size_t i = 0; i < kCanaryBytes / 8; ++i) diff |= w[i] ^ mix(kCanary, &w[i]);
  return diff == 0;
}

void report_stack_corruption(const Stack& s, const char* fiber_name) noexcept {
  Line l;
  std::size_t len = 0;
  char who[256] = {};
  if (fiber_name) {
    const char* pre = "fiber '";
    for (const char* p = pre; *p && len < sizeof who; ++p) who[len++] = *p;
    for (const char* p = fiber_name; *p && len < sizeof who - 1; ++p) who[len++] = *p;
    if (len < sizeof who) who[len++] = '\'';
  }
  overflow_head(l, s, who, len);
  l.str("canary below the unguarded stack overwritten at ");
  // The highest damaged word: where the overflow crossed lo.
  const auto* w = reinterpret_cast<const std::uint64_t*>(static_cast<const char*>(s.lo) -
                                                         kCanaryBytes);
  const void* at = s.lo;
  for (std::size_t i = 0; i < kCanaryBytes / 8; ++i)
    if (w[i] != mix(kCanary, &w[i])) at = &w[i];
  l.hex(at);
  l.str(")\n");
  l.flush();
  std::abort();
}

// ---- FreshStacks ----

Stack FreshStacks::acquire(std::size_t size) {
  return make_stack(round_pages(size ? size : opts_.size), opts_.guard);
}

void FreshStacks::release(Stack& s) noexcept {
  if (!s) return;
  if (!canary_intact(s)) report_stack_corruption(s, nullptr);
  free_stack(s);
}

// ---- PooledStacks ----

PooledStacks::PooledStacks(PoolOptions o)
    : opts_(o), size_(round_pages(o.stack.size)) {
  keep_ = o.keep_top == 0 ? 0 : round_pages(o.keep_top);
  if (keep_ > size_) keep_ = size_;
}

PooledStacks::~PooledStacks() {
  for (auto& s : free_) free_stack(s);
}

Stack PooledStacks::acquire_slow(std::size_t size) {
  const std::size_t want = size ? round_pages(size) : size_;
  if (want == size_ && !free_.empty()) {
    Stack s = free_.back();
    free_.pop_back();
    return s;
  }
  // A fresh stack gets no mark yet: planting it would fault in a page 16 KiB below the top
  // that a shallow fiber never touches (one page more per live fiber: measured as 4 KiB
  // per idle HTTP connection). recycle() plants it the first time.
  return make_stack(want, opts_.stack.guard);
}

// Inlined into release (its one caller): out of line it cost a call and a prologue per
// recycle. With the guarded test before canary_intact below, release went from 40 + 23
// (recycle) + 4 (canary_intact) to 50 instructions per spawn+join (callgrind, asm-pooled-fifo).
[[gnu::always_inline]] inline void PooledStacks::recycle(Stack& s) noexcept {
  switch (opts_.policy) {
    case ReleasePolicy::release_all:
      give_back(s.lo, s.size);
      break;
    case ReleasePolicy::keep_top:
      give_back(s.lo, s.size - keep_);
      break;
    case ReleasePolicy::when_deep: {
      if (keep_ == 0) {  // nothing kept: nowhere to put the mark; same as release_all
        give_back(s.lo, s.size);
        break;
      }
      std::uint64_t* m = deep_mark(s, keep_);
      const std::uint64_t want = mix(kDeepMark, m);
      // Overwritten: the fiber went deeper than keep_. Or never planted (a stack's first
      // recycle; reading an untouched page maps the shared zero page, no memory): how deep
      // it went is unknown, so release as if deep, once per stack's life.
      if (*m != want) {
        give_back(s.lo, s.size - keep_);
        *m = want;  // in the kept region: resident from now on
      }
      break;
    }
    case ReleasePolicy::none:
      break;
  }
}

void PooledStacks::release(Stack& s) noexcept {
  if (!s) return;
  // A guarded stack has no canary: no call to find that out.
  if (!s.guarded && !canary_intact(s)) [[unlikely]] report_stack_corruption(s, nullptr);
  if (s.size != size_ || s.guarded != opts_.stack.guard || free_.size() >= opts_.cap) {
    free_stack(s);
    return;
  }
  unpoison(s);
  recycle(s);
  try {
    free_.push_back(s);
  } catch (...) {  // no memory to remember it: unmap it instead
    free_stack(s);
    return;
  }
  s = Stack{};
}

// ---- Overflow reporting ----

namespace {


// Written by set_overflow_describer (release), read by the handler (acquire): the handler
// sees a fully set-up describer.
std::atomic<OverflowDescriber> g_describer{nullptr};
// Written by set_current_stack_locator (release), read by the handler (acquire), as above.
std::atomic<CurrentStackLocator> g_locator{nullptr};

// The SIGSEGV action in place before ours; written once before our handler is installed
// (sigaction is the publication point), read only by the handler.
struct sigaction g_prev_action;

void chain_or_default(int sig, siginfo_t* si, void* uctx) {
  const struct sigaction& p = g_prev_action;
  if ((p.sa_flags & SA_SIGINFO) && p.sa_sigaction) {
    p.sa_sigaction(sig, si, uctx);
    return;
  }
  if (p.sa_handler != SIG_DFL && p.sa_handler != SIG_IGN) {
    p.sa_handler(sig);
    return;
  }
  // Restore the default action and return: the faulting instruction runs again, faults
  // again, and the process dies the ordinary way (core dump, exit status of SIGSEGV).
  struct sigaction dfl{};
  dfl.sa_handler = SIG_DFL;
  sigemptyset(&dfl.sa_mask);
  ::sigaction(SIGSEGV, &dfl, nullptr);
}

void on_segv(int sig, siginfo_t* si, void* uctx) {
  const Stack* s = detail::tl_current_stack;
  if (!s)
    if (CurrentStackLocator locate = g_locator.load(std::memory_order_acquire)) s = locate();
  if (s && s->guarded) {
    const char* addr = static_cast<const char*>(si->si_addr);
    const char* lo = static_cast<const char*>(s->lo);
#if defined(__x86_64__)
    const auto rsp = reinterpret_cast<const char*>(
        static_cast<ucontext_t*>(uctx)->uc_mcontext.gregs[REG_RSP]);
#elif defined(__aarch64__)
    // The interrupted sp; si_addr is the faulting data address on both (FAR_EL1 here).
    const auto rsp = reinterpret_cast<const char*>(static_cast<ucontext_t*>(uctx)->uc_mcontext.sp);
#endif
    const bool guard_hit = addr >= static_cast<const char*>(s->map_base) && addr < lo;
    // A frame larger than the guard page can jump over it; then the fault (if any) is
    // further down, but the stack pointer is already below the usable region.
    const bool sp_below = rsp < lo && lo - rsp < (16 << 20);
    if (guard_hit || sp_below) {
      char who[256] = {};
      std::size_t len = 0;
      if (OverflowDescriber d = g_describer.load(std::memory_order_acquire)) {
        len = d(si->si_addr, who, sizeof who);
        if (len > sizeof who) len = sizeof who;
      }
      Line l;
      overflow_head(l, *s, who, len);
      if (guard_hit) {
        l.str("guard page hit at ");
        l.hex(si->si_addr);
      } else {
        l.str("stack pointer ");
        l.hex(rsp);
        l.str(" below the stack, fault at ");
        l.hex(si->si_addr);
      }
      l.str(")\n");
      l.flush();
      std::abort();
    }
  }
  chain_or_default(sig, si, uctx);
}

// The alternate signal stack holds the frame the kernel pushes for the signal plus what the
// handlers run on it need. The handler itself needs little, but a chained sanitizer handler
// needs more than MINSIGSTKSZ: 64 KiB for the handlers. The frame grows with the CPU's
// register state: sysconf(_SC_MINSIGSTKSZ) (the kernel's AT_MINSIGSTKSZ) is 1776 bytes
// without AVX-512, 3376 with it, about 11 KiB with AMX, so it is added at run time, never
// assumed. Computed once per process.
constexpr std::size_t kAltStackHandlerBytes = 64 * 1024;

std::size_t alt_stack_bytes() noexcept {
  static const std::size_t bytes = [] {
    long frame = ::sysconf(_SC_MINSIGSTKSZ);
    // glibc before 2.34 does not know the name: the largest frame of current x86-64 CPUs.
    if (frame <= 0) frame = 16 * 1024;
    return round_pages(kAltStackHandlerBytes + static_cast<std::size_t>(frame));
  }();
  return bytes;
}

struct AltStack {
  void* mem = nullptr;
  std::size_t size = 0;
  bool checked = false;  // this thread already has a usable alt stack (ours or another's)
  ~AltStack() {
    if (!mem) return;
    stack_t cur{};
    if (::sigaltstack(nullptr, &cur) == 0 && cur.ss_sp == mem) {
      stack_t off{};
      off.ss_flags = SS_DISABLE;
      ::sigaltstack(&off, nullptr);
    }
    ::munmap(mem, size);
  }
};
thread_local AltStack t_alt;

}  // namespace

void ensure_signal_altstack() {
  if (t_alt.checked) return;
  const std::size_t bytes = alt_stack_bytes();
  stack_t cur{};
  if (::sigaltstack(nullptr, &cur) == 0 && !(cur.ss_flags & SS_DISABLE) && cur.ss_size >= bytes) {
    t_alt.checked = true;  // e.g. AddressSanitizer's own: big enough, keep it
    return;
  }
  void* m = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
  if (m == MAP_FAILED) throw_map_error(errno, "mmap", "a signal alternate stack", bytes);
  stack_t ss{};
  ss.ss_sp = m;
  ss.ss_size = bytes;
  if (::sigaltstack(&ss, nullptr) != 0) {
    const int err = errno;
    ::munmap(m, bytes);
    throw StackError(std::string("switchyard: sigaltstack failed: ") + std::strerror(err));
  }
  t_alt.mem = m;
  t_alt.size = bytes;
  t_alt.checked = true;
}

void install_overflow_handler() {
  static std::once_flag once;
  std::call_once(once, [] {
    struct sigaction sa{};
    sa.sa_sigaction = on_segv;
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
    sigemptyset(&sa.sa_mask);
    if (::sigaction(SIGSEGV, &sa, &g_prev_action) != 0)
      throw StackError(std::string("switchyard: sigaction(SIGSEGV) failed: ") +
                       std::strerror(errno));
  });
  ensure_signal_altstack();
}

// Defined here, written inline by set_current_stack() (stack.h).
namespace detail {
__attribute__((tls_model("initial-exec"))) constinit thread_local const Stack* tl_current_stack = nullptr;
}  // namespace detail

void set_current_stack_locator(CurrentStackLocator f) noexcept {
  g_locator.store(f, std::memory_order_release);  // pairs with the handler's acquire
}
void set_overflow_describer(OverflowDescriber d) noexcept {
  g_describer.store(d, std::memory_order_release);  // pairs with the handler's acquire
}

}  // namespace sy
