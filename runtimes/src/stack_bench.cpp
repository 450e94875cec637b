// Stack benchmarks, linked into switch_bench (which supplies main):
//
//   BM_Stack/<kind>       acquire, touch the top page, release: the cost of giving a fiber
//                         a stack, per recycle (counter ns_per_recycle, CPU time).
//   BM_StackChurn/<kind>  kLive stacks live; each iteration releases a random one and
//                         acquires a replacement that touches a random depth (log-uniform,
//                         1..128 KiB from the top, one store per 64-byte line as a fiber's
//                         frames would). Counters: ns_per_recycle (including the touch, so
//                         the page faults a policy causes are counted), rss_kib (growth of
//                         the process RSS with kLive stacks live, after kChurnIters
//                         recycles), rss_idle_kib (after all of them were released, i.e.
//                         what the pool keeps resident).
//
// Kinds: fresh, pooled (default policy), pooled_<policy> for every policy, and
// fresh_noguard / pooled_noguard (unguarded stacks carved from shared slabs); the churn
// also runs the default policy with keep_top = 64 KiB (pooled_when_deep_keep64k).
// All stacks are 256 KiB (the default); pools use keep_top = 16 KiB (the default) unless
// named otherwise.
#include <benchmark/benchmark.h>
#include <unistd.h>

#include <time.h>

#include <cmath>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "switchyard/stack.h"

namespace {

using sy::FreshStacks;
using sy::PooledStacks;
using sy::PoolOptions;
using sy::ReleasePolicy;
using sy::Stack;
using sy::StackOptions;

// Resident pages of this process (second field of /proc/self/statm), in KiB.
long rss_kib() {
  std::FILE* f = std::fopen("/proc/self/statm", "r");
  if (!f) return -1;
  long size = 0, resident = 0;
  const int got = std::fscanf(f, "%ld %ld", &size, &resident);
  std::fclose(f);
  return got == 2 ? resident * (sysconf(_SC_PAGESIZE) / 1024) : -1;
}

// CPU time of this thread in ns. Counters are plain numbers (ns per recycle), so that the
// console and the JSON show the same value without SI-prefix rate formatting.
double thread_cpu_ns() {
  timespec t{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return static_cast<double>(t.tv_sec) * 1e9 + static_cast<double>(t.tv_nsec);
}

template <class Alloc, class Opts>
void recycle(benchmark::State& st, Opts opts) {
  Alloc a(opts);
  const double t0 = thread_cpu_ns();
  for (auto _ : st) {
    Stack s = a.acquire();
    *reinterpret_cast<volatile char*>(s.hi() - 64) = 1;  // the top page, as a fiber's entry
    a.release(s);
  }
  st.counters["ns_per_recycle"] = (thread_cpu_ns() - t0) / static_cast<double>(st.iterations());
}

constexpr int kLive = 256;
constexpr int kChurnIters = 20000;  // fixed, so rss_kib is comparable between kinds
constexpr std::size_t kMaxDepth = 128 * 1024;

// A fiber's stack use: one store per 64-byte line from the top down to `depth`.
void use(const Stack& s, std::size_t depth) {
  for (std::size_t off = 64; off <= depth; off += 64)
    *reinterpret_cast<volatile std::uint64_t*>(s.hi() - off) = off;
}

template <class Alloc, class Opts>
void churn(benchmark::State& st, Opts opts) {
  std::mt19937_64 rng(42);
  std::uniform_real_distribution<double> u(0.0, std::log2(double(kMaxDepth) / 1024));
  auto depth = [&] { return static_cast<std::size_t>(1024 * std::exp2(u(rng))); };
  std::vector<Stack> live(kLive);
  const long base = rss_kib();
  long rss_live = 0, rss_idle = 0;
  double ns = 0;
  {
    Alloc a(opts);
    for (auto& s : live) {
      s = a.acquire();
      use(s, depth());
    }
    const double t0 = thread_cpu_ns();
    for (auto _ : st) {
      Stack& s = live[rng() % kLive];
      a.release(s);
      s = a.acquire();
      use(s, depth());
    }
    ns = (thread_cpu_ns() - t0) / static_cast<double>(st.iterations());
    rss_live = rss_kib() - base;  // timing has stopped with the loop
    for (auto& s : live) a.release(s);
    rss_idle = rss_kib() - base;
  }
  st.counters["ns_per_recycle"] = ns;
  st.counters["rss_kib"] = static_cast<double>(rss_live);
  st.counters["rss_idle_kib"] = static_cast<double>(rss_idle);
}

PoolOptions pool(ReleasePolicy p, bool guard = true) {
  PoolOptions o;
  o.policy = p;
  o.stack.guard = guard;
  return o;
}

const bool registered = [] {
  using benchmark::RegisterBenchmark;
  const ReleasePolicy policies[] = {ReleasePolicy::release_all, ReleasePolicy::keep_top,
                                    ReleasePolicy::when_deep, ReleasePolicy::none};
  RegisterBenchmark("BM_Stack/fresh", recycle<FreshStacks, StackOptions>, StackOptions{});
  RegisterBenchmark("BM_Stack/pooled", recycle<PooledStacks, PoolOptions>, PoolOptions{});
  for (auto p : policies)
    RegisterBenchmark(("BM_Stack/pooled_" + std::string(sy::to_string(p))).c_str(),
                      recycle<PooledStacks, PoolOptions>, pool(p));
  RegisterBenchmark("BM_Stack/fresh_noguard", recycle<FreshStacks, StackOptions>,
                    StackOptions{.guard = false});
  RegisterBenchmark("BM_Stack/pooled_noguard", recycle<PooledStacks, PoolOptions>,
                    pool(sy::kDefaultReleasePolicy, false));

  RegisterBenchmark("BM_StackChurn/fresh", churn<FreshStacks, StackOptions>, StackOptions{})
      ->Iterations(kChurnIters);
  for (auto p : policies)
    RegisterBenchmark(("BM_StackChurn/pooled_" + std::string(sy::to_string(p))).c_str(),
                      churn<PooledStacks, PoolOptions>, pool(p))
        ->Iterations(kChurnIters);
  // The knob of the default policy: a larger kept top trades resident memory for faults.
  PoolOptions keep64 = pool(ReleasePolicy::when_deep);
  keep64.keep_top = 64 * 1024;
  RegisterBenchmark("BM_StackChurn/pooled_when_deep_keep64k", churn<PooledStacks, PoolOptions>,
                    keep64)
      ->Iterations(kChurnIters);
  return true;
}();

}  // namespace
