// boost_fiber_peer: Boost.Fiber as users would run it, for the scenarios the suite
// compares against it.
//
//   skynet   the public fan-out benchmark (10 children per fiber, `fibers` leaves, each
//            leaf returns its number, parents sum) on `carriers` threads scheduled by
//            Boost.Fiber's work_stealing algorithm, set up the way its documentation's
//            example does: every thread installs work_stealing(carriers) and the helper
//            threads block on a fiber condition variable until the run is over.
//   channel  ping-pong between two fibers on one thread over two
//            boost::fibers::unbuffered_channel<int> (the like of Go's unbuffered channel).
//
// yield and spawn_join of Boost.Fiber are measured by runtime_bench
// (BM_Yield/boost_fiber, BM_SpawnJoin/boost_fiber), the suite's one source for them.
// Protocol: see peer_main.h.
#include <sched.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <boost/fiber/algo/work_stealing.hpp>
#include <boost/fiber/all.hpp>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "peer_main.h"

namespace {

using namespace switchyard::peers;
using Clock = std::chrono::steady_clock;

double ns_since(Clock::time_point start) {
  return std::chrono::duration<double, std::nano>(Clock::now() - start).count();
}

// ---- live-fiber accounting for skynet -----------------------------------------------
//
// One counter pair per carrier thread, on its own cache line, so counting costs an
// uncontended add rather than a cache-line ping-pong between carriers. A fiber that
// migrated may finish on another thread than the one that spawned it: only the sum over
// all slots is meaningful. The peak is sampled (every 1024 spawns on a thread, summing
// all slots; every spawn for a thread's first 1024), so it is a close lower bound, not
// an exact maximum.
struct alignas(64) LiveSlot {
  std::atomic<std::int64_t> spawned{0};
  std::atomic<std::int64_t> finished{0};
};
constexpr int kMaxCarriers = 256;
std::array<LiveSlot, kMaxCarriers> live_slots;
std::atomic<std::int64_t> live_peak{0};
thread_local int carrier_index = 0;

// noinline: a fiber may resume on another thread after a join, and the compiler is free
// to cache a thread_local's address across the call. Reading it in a separate function
// reads the current thread's copy each time.
__attribute__((noinline)) LiveSlot& my_slot() {
  asm volatile("" ::: "memory");
  return live_slots[carrier_index];
}

void count_spawn(int carriers) {
  LiveSlot& slot = my_slot();
  // relaxed: a counter; readers only sample it. Another thread's fiber may use this slot
  // if the cached index were stale, which the RMW keeps correct.
  const std::int64_t n = slot.spawned.fetch_add(1, std::memory_order_relaxed) + 1;
  // Every spawn for the first 1024 on a thread (so small trees get a real figure), then
  // every 1024th.
  if (n > 1024 && (n & 1023) != 0) return;
  std::int64_t live = 0;
  for (int i = 0; i < carriers; ++i)
    live += live_slots[i].spawned.load(std::memory_order_relaxed) -
            live_slots[i].finished.load(std::memory_order_relaxed);
  std::int64_t peak = live_peak.load(std::memory_order_relaxed);
  // relaxed CAS: a running maximum; it is read after root.join(), whose synchronization
  // (Boost.Fiber's join and scheduler locks) orders every update before the read.
  while (live > peak && !live_peak.compare_exchange_weak(peak, live, std::memory_order_relaxed)) {
  }
}
void count_finish() { my_slot().finished.fetch_add(1, std::memory_order_relaxed); }

// ---- skynet ------------------------------------------------------------------------

// Sums the leaves num .. num+size-1 of a subtree, spawning `div` child fibers per level.
// Stacks is a Boost.Context stack allocator (its state is only the stack size); each
// child gets its own copy, because Boost.Fiber keeps a reference to an lvalue allocator
// in the child's control block.
template <class Stacks>
std::uint64_t skynet(std::uint64_t num, std::uint64_t size, std::uint64_t div, Stacks stacks,
                     int carriers) {
  if (size == 1) return num;
  std::array<std::uint64_t, 16> sums{};
  std::array<boost::fibers::fiber, 16> children;
  const std::uint64_t step = size / div;
  for (std::uint64_t i = 0; i < div; ++i) {
    count_spawn(carriers);
    children[i] = boost::fibers::fiber(
        std::allocator_arg, Stacks(stacks), [&sums, i, num, step, div, stacks, carriers] {
          sums[i] = skynet(num + i * step, step, div, stacks, carriers);
          count_finish();
        });
  }
  std::uint64_t total = 0;
  for (std::uint64_t i = 0; i < div; ++i) {
    children[i].join();
    total += sums[i];
  }
  return total;
}

// Boost.Fiber's own skynet programs (performance/fiber) use 8 KiB stacks.
#if defined(__SANITIZE_ADDRESS__)
// AddressSanitizer's redzones make frames several times larger: 8 KiB stacks overflow
// into the malloc headers below them (seen as "bad-free" reports). 64 KiB is enough.
constexpr std::int64_t kSkynetStackKib = 64;
#else
constexpr std::int64_t kSkynetStackKib = 8;
#endif

// The smallest stack Boost.Context accepts, in whole KiB (rounded up: a stack of the
// rounded-down size would be below the minimum). stack_traits::minimum_size() is
// sysconf(_SC_SIGSTKSZ) in Boost 1.74 on glibc 2.34+: at least 4x the kernel's signal
// frame, so it depends on the CPU's register state (8192 bytes without AVX-512, 13504
// with it, more with AMX). Never a constant.
std::int64_t boost_min_stack_kib() {
  return std::int64_t((boost::context::stack_traits::minimum_size() + 1023) / 1024);
}

// The CPUs this process may run on (its affinity mask, what `taskset` or a container
// leaves it), not the machine's online count.
std::int64_t allowed_cpu_count() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof set, &set) != 0) return 1;
  return std::max(1, CPU_COUNT(&set));
}

// Carrier threads that live for the whole run: work_stealing's scheduler registry is
// global to the process and sized once, so the same threads serve every repetition.
class SkynetPool {
 public:
  explicit SkynetPool(int carriers) : carriers_(carriers) {
    // work_stealing's constructor waits (a barrier) until all `carriers` threads have
    // constructed theirs, so the helpers must exist before this thread installs its own.
    for (int i = 1; i < carriers; ++i) {
      helpers_.emplace_back([this, i] {
        carrier_index = i;
        boost::fibers::use_scheduling_algorithm<boost::fibers::algo::work_stealing>(carriers_);
        // Blocks this thread's main fiber, so its scheduler runs stolen fibers meanwhile.
        std::unique_lock<boost::fibers::mutex> lock(mutex_);
        done_cv_.wait(lock, [this] { return done_; });
      });
    }
    boost::fibers::use_scheduling_algorithm<boost::fibers::algo::work_stealing>(carriers);
  }
  ~SkynetPool() {
    {
      std::unique_lock<boost::fibers::mutex> lock(mutex_);
      done_ = true;
    }
    done_cv_.notify_all();
    for (auto& t : helpers_) t.join();
  }

 private:
  int carriers_;
  std::vector<std::thread> helpers_;
  boost::fibers::mutex mutex_;
  boost::fibers::condition_variable done_cv_;
  bool done_ = false;  // guarded by mutex_
};

Plan prepare_skynet(Params& params) {
  // One carrier per usable CPU by default, at most kMaxCarriers (the live-count slots).
  const std::int64_t cpus = allowed_cpu_count();
  const std::int64_t default_carriers = std::min<std::int64_t>(cpus, kMaxCarriers);
  const std::int64_t carriers = params.integer("carriers", default_carriers, 1, kMaxCarriers);
  if (default_carriers != cpus && !params.given("carriers"))
    params.machine_adjusted("carriers", cpus, default_carriers,
                            "the default is one per CPU, at most " + std::to_string(kMaxCarriers));
  const std::int64_t leaves = params.integer("fibers", 1'000'000, 1, 100'000'000);
  // 8 KiB stacks by default, like Boost.Fiber's own skynet programs (performance/fiber).
  // work_stealing's local queues are FIFO, so on one thread the whole tree (1.11M fibers
  // for 1M leaves) is alive at once: 7.7 GiB resident (measured) even with 8 KiB stacks;
  // the 128 KiB default would reserve 140 GiB. Measured at 100k leaves on one thread:
  // 1.65 s with 8 KiB stacks, 2.3 s with 128 KiB (each one an mmap).
  // The accepted range does not depend on the machine (the harness passes the suite's
  // stack_kib, valid everywhere); a size below Boost.Context's minimum on this CPU (the
  // default 8 KiB on AVX-512) is raised to it, and the result's params and notes say so.
  const std::int64_t asked_stack_kib = params.integer("stack_kib", kSkynetStackKib, 1, 8192);
  const std::int64_t stack_kib = std::max(asked_stack_kib, boost_min_stack_kib());
  if (stack_kib != asked_stack_kib)
    params.machine_adjusted(
        "stack_kib", asked_stack_kib, stack_kib,
        "Boost.Context's minimum stack here is " +
            std::to_string(boost::context::stack_traits::minimum_size()) +
            " bytes (stack_traits::minimum_size(), sysconf(_SC_SIGSTKSZ))");
  // guard=on: protected_fixedsize_stack (mmap + guard page per fiber, so an overflow
  // faults instead of corrupting the heap; two mappings per live fiber count against
  // vm.max_map_count). Off: fixedsize_stack (malloc, no guard), Boost's default kind.
  const bool guard = params.choice("guard", "off", {"off", "on"}) == "on";
  // The tree is complete only when leaves is a power of the fan-out.
  std::int64_t power = 1;
  while (power < leaves) power *= 10;
  if (power != leaves)
    throw UsageError("fibers=" + std::to_string(leaves) + ": must be a power of 10");

  Plan plan;
  plan.notes.push_back(
      "Boost.Fiber work_stealing on " + std::to_string(carriers) +
      " threads (idle threads poll, work_stealing's suspend=false default); fan-out 10, "
      "children joined in order; stacks of " +
      std::to_string(stack_kib) + " KiB " +
      (guard ? "(protected_fixedsize_stack: mmap + guard page)"
             : "(fixedsize_stack: malloc, no guard page)"));
  plan.notes.push_back(
      "peak_live_fibers: spawned minus finished, sampled every 1024 spawns "
      "per thread after the first 1024 (a close lower bound)");
  // Started by the first repetition (not here: --list prepares every scenario), kept for
  // the rest, and torn down with the plan.
  auto pool = std::make_shared<std::unique_ptr<SkynetPool>>();
  plan.repetition = [pool, carriers, leaves, stack_kib, guard](Report& report) {
    if (!*pool) *pool = std::make_unique<SkynetPool>(int(carriers));
    // relaxed: no fiber of this run exists yet; the helpers first see the root through
    // work_stealing's locked queues, which order these stores before their updates.
    for (auto& slot : live_slots) {
      slot.spawned.store(0, std::memory_order_relaxed);
      slot.finished.store(0, std::memory_order_relaxed);
    }
    live_peak.store(0, std::memory_order_relaxed);
    const std::size_t stack_bytes = std::size_t(stack_kib) * 1024;
    std::uint64_t result = 0;
    auto run = [&](auto stacks) {
      auto start = Clock::now();
      // The root runs in a fiber of its own so that thieves may take it and its
      // subtree; this thread's main fiber is pinned and never migrates.
      count_spawn(int(carriers));
      boost::fibers::fiber root(std::allocator_arg, decltype(stacks)(stacks), [&, stacks] {
        result = skynet(0, std::uint64_t(leaves), 10, stacks, int(carriers));
        count_finish();
      });
      root.join();
      return ns_since(start) / 1e9;
    };
    const double seconds = guard ? run(boost::fibers::protected_fixedsize_stack(stack_bytes))
                                 : run(boost::fibers::fixedsize_stack(stack_bytes));
    // leaves 0 .. n-1 sum to n(n-1)/2.
    const std::uint64_t expected = std::uint64_t(leaves) * std::uint64_t(leaves - 1) / 2;
    if (result != expected)
      throw Failed("skynet result " + std::to_string(result) + ", expected " +
                   std::to_string(expected));
    report.metric("time_s", "s", seconds);
    report.metric("peak_live_fibers", "count", live_peak.load(std::memory_order_relaxed));
  };
  return plan;
}

// ---- channel -----------------------------------------------------------------------

Plan prepare_channel(Params& params) {
  const std::int64_t carriers = params.integer("carriers", 1, 1, 64);
  const std::int64_t handoffs = params.integer("ops", 1'000'000, 2, 1'000'000'000) / 2 * 2;
  if (carriers != 1)
    throw Skipped("boost_fiber channel is measured on one carrier only (carriers=1)");
  Plan plan;
  plan.notes.push_back(
      "two fibers on one thread, round_robin scheduler, default stacks; "
      "ping over one unbuffered_channel<int>, pong over another; "
      "ns_per_handoff = wall time / (2 x round trips)");
  plan.repetition = [handoffs](Report& report) {
    boost::fibers::unbuffered_channel<int> ping, pong;
    const std::int64_t rounds = handoffs / 2;
    std::int64_t echoed = 0;
    bool value_ok = false;
    auto start = Clock::now();
    boost::fibers::fiber echo([&] {
      int value;
      while (ping.pop(value) == boost::fibers::channel_op_status::success) {
        ++echoed;
        pong.push(value + 1);
      }
    });
    boost::fibers::fiber driver([&] {
      int value = 0;
      for (std::int64_t i = 0; i < rounds; ++i) {
        ping.push(value);
        pong.pop(value);
      }
      ping.close();
      value_ok = (value == rounds);  // each echo adds one
    });
    driver.join();
    echo.join();
    const double ns = ns_since(start);
    if (echoed != rounds || !value_ok) throw Failed("channel ping-pong lost or corrupted a value");
    report.metric("ns_per_handoff", "ns", ns / double(handoffs));
  };
  return plan;
}

}  // namespace

int main(int argc, char** argv) {
  const std::vector<Scenario> scenarios = {
      {"skynet", "fan-out-10 fiber tree on work_stealing threads", prepare_skynet},
      {"channel", "unbuffered_channel ping-pong between two fibers", prepare_channel},
      {"yield", "measured by runtime_bench BM_Yield/boost_fiber", nullptr},
      {"spawn_join", "measured by runtime_bench BM_SpawnJoin/boost_fiber", nullptr},
  };
  return switchyard::peers::run_peer(argc, argv, "boost_fiber", scenarios);
}
