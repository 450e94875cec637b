// Many carriers: submission from any thread, migration safety, parking and waking,
// shutdown. Runs on every variant of variants.def; under ThreadSanitizer (label tsan) too.
// The races and wake paths at the end hold a carrier inside a race window through the
// runtime's test points (SY_TEST_HOOKS, runtime.h), on every scheduler.
#define SY_TEST_HOOKS 1
#include <gtest/gtest.h>
#include <sys/resource.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <limits>
#include <stdexcept>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

#include "switchyard/primitives.h"
#include "switchyard/variants.h"
#include "test_support.h"

namespace sy::test {
namespace {

using namespace std::chrono_literals;


thread_local int tl_marker = 0;
// The compiler cannot see through this (noinline + asm barrier), so each call really asks
// the thread it runs on: a fiber that migrated must get the new carrier's address.
__attribute__((noinline)) int* tl_marker_address() {
  asm volatile("" ::: "memory");
  return &tl_marker;
}

double cpu_seconds() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_utime.tv_sec + ru.ru_stime.tv_sec + (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

template <class L>
struct GtestTypes;
template <class... V>
struct GtestTypes<TypeList<V...>> {
  using type = ::testing::Types<V...>;
};

// Every scheduler, on the first switch and the first stack allocator of the registry.
template <class V>
struct OnFirstSwitchAndStacks
    : std::bool_constant<std::is_same_v<typename V::Switch, tl::at<0, Switches>> &&
                         std::is_same_v<typename V::Stacks, tl::at<0, StackAllocators>>> {};
using EverySchedulerVariants = tl::filter<OnFirstSwitchAndStacks, Variants>;

template <class V>
class MultiCarrier : public ::testing::Test {
 protected:
  static Options two() {
    Options o;
    o.carriers = 2;
    return o;
  }
};
TYPED_TEST_SUITE_P(MultiCarrier);

TYPED_TEST_P(MultiCarrier, SubmitFromFourThreadsRunsEachFiberOnce) {
  using Rt = Runtime<TypeParam>;
  Rt rt(this->two());
  rt.start();
  constexpr int kThreads = 4;
  const int per = 2500 / kScale;
  std::vector<std::atomic<int>> ran(kThreads * per);
  std::vector<std::thread> ts;
  for (int t = 0; t < kThreads; ++t)
    ts.emplace_back([&, t] {
      std::vector<JoinHandle<int>> hs;
      for (int i = 0; i < per; ++i) {
        int id = t * per + i;
        hs.push_back(rt.submit([&ran, id] {
          ran[id].fetch_add(1, std::memory_order_relaxed);
          if (id % 3 == 0) Rt::yield();
          return id;
        }));
      }
      for (int i = 0; i < per; ++i) EXPECT_EQ(hs[i].join(), t * per + i);
    });
  for (auto& t : ts) t.join();
  rt.finish();
  for (int i = 0; i < kThreads * per; ++i) ASSERT_EQ(ran[i].load(), 1) << i;
  EXPECT_EQ(rt.live(), 0);
}

TYPED_TEST_P(MultiCarrier, MigrationCarriesThreadLocalsExceptionsAndFiberLocals) {
  using Rt = Runtime<TypeParam>;
  static FiberLocal<int> mine;
  Rt rt(this->two());
  std::atomic<int*> carrier_tl[2] = {nullptr, nullptr};
  std::atomic<bool> done{false};
  bool seen[2] = {false, false};
  int mismatches = 0;
  rt.run([&] {
    // Busy fibers keep both carriers fed; their short sleeps let a carrier run dry now
    // and then, which is when work stealing moves the probe (a thief only steals when idle).
    std::vector<JoinHandle<void>> busy;
    for (int i = 0; i < 4; ++i)
      busy.push_back(Rt::spawn([&] {
        for (int n = 0; !done.load(std::memory_order_relaxed); ++n) {
          carrier_tl[Rt::current()->carrier].store(tl_marker_address(), std::memory_order_relaxed);
          if (n % 8 == 7) Rt::sleep_for(200us);
          else Rt::yield();
        }
      }));
    auto probe = Rt::spawn(
        [&] {
          try {
            throw 42;
          } catch (int) {
            auto until = Clock::now() + 10s;
            while (!(seen[0] && seen[1]) && Clock::now() < until) {
              unsigned c = Rt::current()->carrier;
              seen[c] = true;
              int* expected = carrier_tl[c].load(std::memory_order_relaxed);
              if (expected && expected != tl_marker_address()) ++mismatches;
              if (*mine.get() != 7) ++mismatches;
              Rt::yield();
            }
            try {
              throw;  // still this fiber's exception, whichever carrier it is on now
            } catch (int v) {
              return v;
            }
          }
          return -1;
        },
        SpawnOptions{}.local(mine, 7));
    EXPECT_EQ(probe.join(), 42);
    done = true;
    for (auto& b : busy) b.join();
  });
  EXPECT_TRUE(seen[0] && seen[1]) << "the probe never ran on both carriers";
  EXPECT_EQ(mismatches, 0);
}

// Fibers that yield until every one of `carriers` carriers has run one of them (so that each
// carrier has switched away from its own context), or 10 s; returns the carriers seen.
template <class Rt>
unsigned run_on_every_carrier(unsigned carriers) {
  const unsigned all = (1u << carriers) - 1;
  std::atomic<unsigned> seen{0};
  const auto until = Clock::now() + 10s;
  std::vector<JoinHandle<void>> hs;
  for (unsigned i = 0; i < 2 * carriers; ++i)
    hs.push_back(Rt::spawn([&] {
      for (;;) {
        const unsigned here = 1u << Rt::current()->carrier;
        // relaxed: a set of bits read for a stop condition; the joins below order the last.
        if ((seen.fetch_or(here, std::memory_order_relaxed) | here) == all || Clock::now() >= until) break;
        Rt::yield();
      }
    }));
  for (auto& h : hs) h.join();
  return seen.load(std::memory_order_relaxed);
}

// run() and start() again on one runtime: each time every carrier but run()'s caller is a new
// thread, so a carrier's own context must not keep what the previous thread taught it (under
// TSan the exited thread's fiber handle, under ASan its stack bounds).
TYPED_TEST_P(MultiCarrier, RunsAndStartsAgainOnNewCarrierThreads) {
  using Rt = Runtime<TypeParam>;
  Rt rt(this->two());
  for (int round = 0; round < 3; ++round) {
    EXPECT_EQ(rt.run([] { return run_on_every_carrier<Rt>(2); }), 3u) << "run() " << round;
    rt.start();
    EXPECT_EQ(rt.submit([] { return run_on_every_carrier<Rt>(2); }).join(), 3u) << "start() " << round;
    rt.finish();
    EXPECT_EQ(rt.live(), 0);
  }
}

TYPED_TEST_P(MultiCarrier, IdleRuntimeParksAndASubmissionWakesIt) {
  using Rt = Runtime<TypeParam>;
  Options o = this->two();
  o.park_timeout = 10s;  // far longer than the test waits: only a wake can make it prompt
  Rt rt(o);
  rt.start();
  ASSERT_TRUE(eventually([&] { return rt.carrier(0).is_sleeping() && rt.carrier(1).is_sleeping(); }))
      << "the carriers never went to sleep";
  double c0 = cpu_seconds();
  std::this_thread::sleep_for(1s / kScale);
  double idle_cpu = cpu_seconds() - c0;
  EXPECT_LT(idle_cpu, 0.05) << "an idle runtime should use about no CPU";
  auto t0 = Clock::now();
  auto h = rt.submit([] { return Clock::now(); });
  EXPECT_LT(h.join() - t0, 1s);
  // A wake across carriers: the joiner parks on one carrier, the sleeper ends on the other.
  t0 = Clock::now();  // before the sleeper starts its 50 ms
  auto sleeper = rt.submit([] { Rt::sleep_for(50ms); });
  auto joiner = rt.submit([&, s = std::move(sleeper)]() mutable {
    s.join();
    return Clock::now();
  });
  auto woke = joiner.join();
  EXPECT_GE(woke - t0, 50ms);
  EXPECT_LT(woke - t0, 2s);
  // A joiner with a deadline sits in its own carrier's heap, so its wake is posted there
  // (the pending list and a kick), not run on the waker's carrier: prompt all the same.
  t0 = Clock::now();
  auto sleeper2 = rt.submit([] { Rt::sleep_for(50ms); });
  auto joiner2 = rt.submit([&, s = std::move(sleeper2)]() mutable {
    EXPECT_TRUE(s.join_for(10s));
    return Clock::now();
  });
  woke = joiner2.join();
  EXPECT_GE(woke - t0, 50ms);
  EXPECT_LT(woke - t0, 2s);
  rt.finish();
}

TYPED_TEST_P(MultiCarrier, ShutdownWaitsAndRefusesLateWork) {
  using Rt = Runtime<TypeParam>;
  std::atomic<int> finished{0};
  {
    Rt rt(this->two());
    rt.start();
    for (int i = 0; i < 10; ++i)
      rt.submit([&] {
        Rt::sleep_for(20ms);
        finished++;
      }).detach();
    // Destroying a started runtime finishes it: it waits for every fiber.
  }
  EXPECT_EQ(finished.load(), 10);
  Rt rt(this->two());
  rt.start();
  rt.finish();
  EXPECT_THROW(rt.submit([] {}), RuntimeClosed);
}

// A fan-out tree (small skynet): spawn and join across carriers, every leaf counted once.
template <class Rt>
long long tree(long long num, int size, int div) {
  if (size <= 1) return num;
  std::vector<JoinHandle<long long>> kids;
  kids.reserve(div);
  for (int i = 0; i < div; ++i) {
    long long sub = num + i * (size / div);
    kids.push_back(Rt::spawn([sub, size, div] { return tree<Rt>(sub, size / div, div); }));
  }
  long long sum = 0;
  for (auto& k : kids) sum += k.join();
  return sum;
}

TYPED_TEST_P(MultiCarrier, FanOutTreeSumsEveryLeafOnce) {
  using Rt = Runtime<TypeParam>;
  Options o = this->two();
  o.guard = false;
  o.stack_size = 32 * 1024;
  Rt rt(o);
  // A power of the fan-out. Under sanitizers 1000: TSan counts every live fiber as a
  // thread and stops at 8128, and FIFO keeps the whole tree alive.
  const int leaves = kScale == 1 ? 100000 : 1000;
  long long expect = static_cast<long long>(leaves) * (leaves - 1) / 2;
  EXPECT_EQ(rt.run([&] { return tree<Rt>(0, leaves, 10); }), expect);
}

// ---------------------------------------------------------------------------------------
// Races and wake paths, on every run-queue policy (the switch and the stacks play no part).
template <class V>
class Races : public ::testing::Test {};
using EveryScheduler = typename GtestTypes<EverySchedulerVariants>::type;
TYPED_TEST_SUITE(Races, EveryScheduler, VariantName);

// The test points are plain function pointers: what they need lives here.
std::atomic<FiberBase*> g_target{nullptr};
std::atomic<int> g_fired{0};
std::atomic<bool> g_resumed{false}, g_hook_saw_it{false};

template <class Rt>
void unpark_and_hold(FiberBase* p) {
  if (p != g_target.load() || g_fired.exchange(1) != 0) return;
  // Claim the fiber that was just armed, then keep this carrier inside publish() until the
  // other carrier has taken it and run it out of its wait: suspend() has returned and
  // cleared p->on_saved by the time the fiber sets g_resumed.
  EXPECT_TRUE(Rt::unpark(p));
  g_hook_saw_it = eventually([] { return g_resumed.load(); }, 10s);
}

// A wait's on-saved action (here: release the wait queue's lock) must survive a wake
// that runs the fiber on another carrier before the publishing carrier gets to it.
TYPED_TEST(Races, PublishKeepsTheOnSavedActionOfAFiberWokenAtOnce) {
  using Rt = Runtime<TypeParam>;
  Options o;
  o.carriers = 2;
  o.park_timeout = 10s;
  o.idle_spin = 10s;  // the idle carrier polls, so it takes the woken fiber while the other is held
  Rt rt(o);
  g_target = nullptr;
  g_fired = 0;
  g_resumed = false;
  g_hook_saw_it = false;
  test_hooks::after_arm = &unpark_and_hold<Rt>;
  rt.start();
  detail::SpinLock lock;
  auto h = rt.submit([&] {
    lock.lock();
    g_target = Rt::current();
    const WakeReason r = Rt::wait_locked(lock, -1);
    g_resumed = true;
    EXPECT_EQ(r, WakeReason::unparked);
    // Released by the post-switch action, once the hook lets the publishing carrier go.
    const bool got = eventually([&] { return lock.try_lock(); }, 5s);
    if (got) lock.unlock();
    return got;
  });
  const bool got_lock = h.join();
  rt.finish();
  test_hooks::after_arm = nullptr;
  EXPECT_TRUE(g_hook_saw_it.load()) << "the woken fiber never ran on the other carrier";
  EXPECT_TRUE(got_lock) << "the wait's lock was never released: its post-switch action was lost";
}

std::atomic<bool> g_in_gap{false}, g_joined{false};

void hold_in_the_gap(FiberBase*) {
  if (g_in_gap.exchange(true)) return;
  g_hook_saw_it = eventually([] { return g_joined.load(); }, 10s);
}

// A joiner that arrives between the dying fiber's release of its join lock and its last
// switch takes the exception: nothing may be reported (nor rethrown from an empty pointer).
TYPED_TEST(Races, AJoinJustAfterTheFiberEndedTakesTheErrorAndNothingIsReported) {
  using Rt = Runtime<TypeParam>;
  Options o;
  o.carriers = 1;
  Rt rt(o);
  g_in_gap = false;
  g_joined = false;
  g_hook_saw_it = false;
  test_hooks::after_finish_unlock = &hold_in_the_gap;
  rt.start();
  testing::internal::CaptureStderr();
  auto h = rt.submit([]() -> int { throw std::runtime_error("boom"); });
  ASSERT_TRUE(eventually([] { return g_in_gap.load(); }));
  EXPECT_THROW(h.join(), std::runtime_error);
  g_joined = true;
  rt.finish();
  test_hooks::after_finish_unlock = nullptr;
  const std::string err = testing::internal::GetCapturedStderr();
  EXPECT_TRUE(g_hook_saw_it.load());
  EXPECT_EQ(err.find("nobody joins"), std::string::npos) << err;
}

// Decided at the last reference: a handle dropped unjoined after the fiber ended (which the
// old check, made once at the fiber's end, missed) reports the exception, once.
TYPED_TEST(Races, AnExceptionIsReportedOnceWhenItsLastHandleGoesUnjoined) {
  using Rt = Runtime<TypeParam>;
  Options o;
  o.carriers = 1;
  Rt rt(o);
  rt.start();
  testing::internal::CaptureStderr();
  {
    auto h = rt.submit([]() -> int { throw std::runtime_error("dropped"); });
    ASSERT_TRUE(eventually([&] { return rt.live() == 0; }));
  }
  rt.finish();
  const std::string err = testing::internal::GetCapturedStderr();
  const auto first = err.find("nobody joins: dropped");
  EXPECT_NE(first, std::string::npos) << err;
  EXPECT_EQ(err.find("nobody joins", first + 1), std::string::npos) << err;
}

// A FiberRef keeps an ended fiber's control block: unparking through it is safe and finds
// nothing to wake. (The raw pointer of an ended fiber whose fresh stack was unmapped would
// fault; FreshFifo checks that the stack really is kept.)
TEST(FiberRefs, UnparkThroughARefToAnEndedFiberIsSafeAndWakesNothing) {
  using Rt = Runtime<AsmFreshFifo>;
  Options o;
  o.carriers = 1;
  Rt rt(o);
  rt.run([] {
    FiberRef ref;
    std::uint64_t id = 0;
    {
      auto h = Rt::spawn([&] { ref = Rt::self(); });  // its own reference, taken while it runs
      id = h.id();
      h.join();
    }  // ended, joined, handle gone: only ref keeps the block (and its stack) mapped
    EXPECT_EQ(ref.get()->id, id);
    EXPECT_FALSE(Rt::unpark(ref));
    // Its waking form is the documented way to wake a fiber one does not otherwise hold.
    bool woken = false;
    auto sleeper = Rt::spawn([&] {
      auto t0 = Clock::now();
      Rt::sleep_for(10s);
      woken = Clock::now() - t0 < 5s;
    });
    FiberRef r = sleeper.ref();
    while (!Rt::unpark(r)) Rt::yield();  // until it sleeps
    sleeper.join();
    EXPECT_TRUE(woken);
    EXPECT_FALSE(Rt::unpark(r));  // ended: nothing to wake, nothing touched
  });
}

// The carrier the calling fiber runs on.
unsigned here() { return current_fiber()->carrier.load(std::memory_order_relaxed); }

// A fiber woken by a waker that then blocks its thread (here: a pinned sleep) must not wait
// for the block to end, nor for park_timeout: an idle carrier takes it.
TYPED_TEST(Races, AFiberWokenByAWakerThatBlocksItsThreadRunsOnAnIdleCarrier) {
  using Rt = Runtime<TypeParam>;
  Options o;
  o.carriers = 2;
  o.park_timeout = 10s;
  o.pinned_policy = PinnedPolicy::silent;
  Rt rt(o);
  Semaphore<Rt> sem(0);
  std::atomic<std::int64_t> woke_ns{0};
  std::atomic<int> woke_on{-1};
  std::int64_t released_ns = 0;
  int waker_on = -1;
  rt.run([&] {
    auto waiter = Rt::spawn([&] {
      sem.acquire();
      woke_ns = detail::now_ns();
      woke_on = static_cast<int>(here());
    });
    ASSERT_TRUE(fiber_eventually<Rt>([&] { return sem.waiting() == 1; }));
    // Both carriers idle but this one: the other must be asleep before the wake.
    ASSERT_TRUE(fiber_eventually<Rt>([&] { return rt.carrier(1 - here()).is_sleeping(); }));
    waker_on = static_cast<int>(here());
    released_ns = detail::now_ns();
    sem.release();  // the waiter goes on this carrier's queue
    {
      typename Rt::ScopedPin pin;
      Rt::sleep_for(1s);  // pinned: blocks the carrier thread
    }
    waiter.join();
  });
  ASSERT_NE(woke_ns.load(), 0);
  EXPECT_NE(woke_on.load(), waker_on) << "the woken fiber waited for its waker's block to end";
  EXPECT_LT(woke_ns.load() - released_ns, std::int64_t{50'000'000} * kScale)
      << "woken " << (woke_ns.load() - released_ns) / 1000 << " us after the release";
}

// A burst of spawns from one fiber reaches every idle carrier, not only the first one the
// spawner kicked (which used to stay flagged asleep, and be kicked again, until it woke).
TYPED_TEST(Races, ABurstOfSpawnsReachesEveryIdleCarrierPromptly) {
  using Rt = Runtime<TypeParam>;
  constexpr unsigned kCarriers = 4;
  Options o;
  o.carriers = kCarriers;
  o.park_timeout = 10s;
  Rt rt(o);
  std::atomic<std::int64_t> first_run_ns[kCarriers] = {};
  std::int64_t burst_ns = 0;
  unsigned spawner_on = 0;
  rt.run([&] {
    ASSERT_TRUE(fiber_eventually<Rt>([&] {
      for (unsigned i = 0; i < kCarriers; ++i)
        if (i != here() && !rt.carrier(i).is_sleeping()) return false;
      return true;
    })) << "the other carriers never went to sleep";
    spawner_on = here();
    burst_ns = detail::now_ns();
    const int n = 64;
    for (int i = 0; i < n; ++i)
      Rt::spawn([&] {
        const std::int64_t start = detail::now_ns();
        const unsigned c = here();
        std::int64_t expected = 0;
        first_run_ns[c].compare_exchange_strong(expected, start);
        while (detail::now_ns() - start < 1'000'000) {
        }  // 1 ms of work, never yielding
      }).detach();
  });
  for (unsigned i = 0; i < kCarriers; ++i) {
    if (i == spawner_on) continue;
    const std::int64_t t = first_run_ns[i].load();
    EXPECT_NE(t, 0) << "carrier " << i << " ran none of the burst";
    if (t != 0) {
      EXPECT_LT(t - burst_ns, std::int64_t{100'000'000} * kScale)
          << "carrier " << i << " first ran one " << (t - burst_ns) / 1000 << " us after the burst";
    }
  }
}

// Options::idle_spin must not make a timer late: the block after the spin is shortened by
// it. (An idle carrier's block is bounded by 10 ms with deadlines pending, so each 9 ms
// sleep would be late by about the 9 ms spun, 45 ms over five.) That lateness is a floor
// the bug adds to every trial, while a CPU shared with other work (make stress pins many
// threads to one CPU) only sometimes delays a wake: the best of three trials is compared.
TYPED_TEST(Races, IdleSpinDoesNotDelayATimer) {
  using Rt = Runtime<TypeParam>;
  Options o;
  o.carriers = 1;
  o.idle_spin = 100ms;
  std::int64_t best_ns = std::numeric_limits<std::int64_t>::max();
  for (int trial = 0; trial < 3 && best_ns >= std::int64_t{20'000'000} * kScale; ++trial) {
    Rt rt(o);
    std::int64_t late_ns = 0;
    rt.run([&] {
      for (int i = 0; i < 5; ++i) {
        const auto t0 = Clock::now();
        Rt::sleep_for(9ms);
        late_ns += std::chrono::duration_cast<Duration>(Clock::now() - t0 - 9ms).count();
      }
    });
    EXPECT_GE(late_ns, 0);
    best_ns = std::min(best_ns, late_ns);
  }
  EXPECT_LT(best_ns, std::int64_t{20'000'000} * kScale)
      << "five timers late by " << best_ns / 1000 << " us in all, in the best of three trials";
}

// The per-carrier counters count what they say: a carrier that takes the other's spawned
// fibers steals (chaselev; the shared FIFO has nothing to steal), an idle carrier's steal
// rounds fail, and a spawn while the other carrier sleeps is one kick sent by the spawner
// and one wake of the sleeper. Every wake ends a sleep, so no carrier has more wakes than
// sleeps.
TYPED_TEST(Races, CarrierCountersCountStealsSleepsKicksAndWakes) {
  using Rt = Runtime<TypeParam>;
  Options o;
  o.carriers = 2;
  o.park_timeout = 10s;  // only a kick ends a sleep promptly
  Rt rt(o);
  unsigned main_on = 0;
  std::atomic<int> woke_on{-1};
  bool refused = false;
  rt.run([&] {
    try {
      rt.carrier_counters();  // not while the carriers run
    } catch (const FiberError&) {
      refused = true;
    }
    // Work for the other carrier to take: 32 fibers of 200 us each, never yielding.
    std::vector<JoinHandle<void>> hs;
    for (int i = 0; i < 32; ++i)
      hs.push_back(Rt::spawn([] {
        const std::int64_t start = detail::now_ns();
        while (detail::now_ns() - start < 200'000) {
        }
      }));
    for (auto& h : hs) h.join();
    // Then a spawn while the other carrier sleeps: a kick and a wake.
    ASSERT_TRUE(fiber_eventually<Rt>([&] { return rt.carrier(1 - here()).is_sleeping(); }));
    main_on = here();
    auto h = Rt::spawn([&] { woke_on = static_cast<int>(here()); });
    // Busy without yielding, so that the woken carrier is the one to take the fiber.
    const std::int64_t start = detail::now_ns();
    while (woke_on.load() < 0 && detail::now_ns() - start < std::int64_t{5'000'000'000} * kScale) {
    }
    h.join();
  });
  EXPECT_TRUE(refused) << "carrier_counters() answered while the carriers ran";
  const std::vector<CarrierCounters> cs = rt.carrier_counters();
  ASSERT_EQ(cs.size(), 2u);
  const CarrierCounters& spawner = cs[main_on];
  const CarrierCounters& other = cs[1 - main_on];
  EXPECT_GE(spawner.kicks, 1u) << "the spawn that found the other carrier asleep sent no kick";
  EXPECT_GE(other.wakes, 1u) << "the kicked carrier counted no wake";
  EXPECT_GT(cs[0].failed_steals + cs[1].failed_steals, 0u) << "an idle carrier's steal rounds found nothing";
  if (std::string_view(TypeParam::Sched::name) != "fifo") {
    EXPECT_GT(other.steals, 0u) << "the idle carrier stole none of the 32 spawned fibers";
  }
  for (unsigned i = 0; i < 2; ++i)
    EXPECT_LE(cs[i].wakes, cs[i].sleeps) << "carrier " << i << ": a wake without a sleep";
}

// The adaptive idle policy never has more than max(1, carriers / 2) carriers spinning at
// once, nor more spinners than carriers running fibers: with one fiber busy on 4 carriers
// and the rest waking every millisecond (park_timeout), all 3 idle ones would spin
// together unbounded.
std::atomic<unsigned> g_max_spinning{0};
std::atomic<unsigned> g_spins{0};
void record_spinning(unsigned n) {
  g_spins.fetch_add(1);
  unsigned m = g_max_spinning.load();
  while (n > m && !g_max_spinning.compare_exchange_weak(m, n)) {
  }
}
TYPED_TEST(Races, AdaptiveSpinningIsBounded) {
  using Rt = Runtime<TypeParam>;
  constexpr unsigned kCarriers = 4;
  Options o;
  o.carriers = kCarriers;
  o.park_timeout = 1ms;  // idle carriers come back often and try to spin again
  g_max_spinning = 0;
  g_spins = 0;
  test_hooks::spinning_started = &record_spinning;
  Rt rt(o);
  rt.run([&] {
    // One fiber runs (never yielding) until the idle carriers have tried to spin 50 times
    // (or a deadline passes); the other carriers idle meanwhile.
    const std::int64_t start = detail::now_ns();
    while (detail::now_ns() - start < std::int64_t{5'000'000'000} * kScale && g_spins.load() < 50) {
    }
  });
  test_hooks::spinning_started = nullptr;
  EXPECT_GT(g_spins.load(), 0u) << "no idle carrier ever spun while a fiber ran";
  EXPECT_LE(g_max_spinning.load(), kCarriers / 2) << "more than half the carriers spun at once";
}

// ---------------------------------------------------------------------------------------
// Exit detection without a shared live count (RuntimeState::should_exit): each carrier
// counts the fibers it creates and retires, and a carrier exits when the sums match. The
// pattern that fools a wrong scan: a child counted in on one carrier while its parent,
// which ends at once, is counted out on another, with next to nothing else live. A chain
// does exactly that over and over: each link spawns the next, yields (so either may be
// stolen or taken from the shared queue by one of the idle carriers, which scan the counts
// all the time) and ends. run() must return only after every link ran (a false zero lets
// the carriers leave with links still queued), and must return (a carrier that misses the
// zero sleeps; the park timeout is an hour, so only a kick can wake it).

template <class Rt>
void chain_link(std::atomic<int>& ran, int left) {
  ran.fetch_add(1, std::memory_order_relaxed);
  if (left > 1) Rt::spawn([&ran, left] { chain_link<Rt>(ran, left - 1); }).detach();
  if (left % 4 == 0) Rt::yield();
}

// Runs body() on this thread under a deadline kept by a watchdog thread. A body that hangs
// fails the test, then is set free by kicking every carrier until it returns (a kicked
// carrier looks at the exit again), so the test goes on.
template <class Rt, class Body>
bool returns_in_time(Rt& rt, Body&& body) {
  std::atomic<bool> done{false};
  bool in_time = true;
  std::thread watchdog([&] {
    in_time = eventually([&] { return done.load(); });
    while (!done.load()) {
      for (unsigned i = 0; i < rt.carriers(); ++i) rt.carrier(i).kick();
      std::this_thread::sleep_for(1ms);
    }
  });
  body();
  done.store(true);
  watchdog.join();
  return in_time;
}

// Holds a scanning carrier between the two halves of its scan for 0 to 3 µs (a different
// pause each scan), as a preemption would: a delay there must not matter.
std::atomic<unsigned> g_scans{0};
void pause_between_scan_halves(unsigned) {
  // relaxed: a counter that only varies the pause.
  const unsigned n = g_scans.fetch_add(1, std::memory_order_relaxed);
  const std::int64_t until = detail::now_ns() + (n * 7919u) % 3000u;
  while (detail::now_ns() < until) {
  }
}

TYPED_TEST(Races, ExitWaitsForEveryFiberAndComesWhenParentsEndBeforeTheirStolenChildren) {
  using Rt = Runtime<TypeParam>;
  const int links = scaled(2000, kScale, 100);
  const int rounds = scaled(20, kScale, 3);
  // Each carrier, as it leaves its loop (CarrierHooks::stop), counts the links run so far:
  // a carrier that leaves early (a false zero) is seen even though the others, still
  // running, would finish the chain and hide it from run()'s caller.
  struct Exits {
    std::atomic<int>* ran = nullptr;
    int expect = 0;
    std::atomic<int> early{0};
  } exits;
  CarrierHooks hooks;
  hooks.arg = &exits;
  hooks.stop = [](CarrierBase&, void* a) {
    auto* e = static_cast<Exits*>(a);
    // relaxed: the exit's own scan ordered every link's count before it (its acquire
    // loads of the counts out, which each link's increment precedes).
    if (e->ran && e->ran->load(std::memory_order_relaxed) != e->expect) e->early.fetch_add(1);
  };
  Options o;
  o.carriers = 4;  // more carriers than CPUs: scans interleave with spawns and retires
  o.park_timeout = std::chrono::hours(1);
  o.hooks = &hooks;
  test_hooks::between_scan_halves = &pause_between_scan_halves;
  struct Unhook {
    ~Unhook() { test_hooks::between_scan_halves = nullptr; }
  } unhook;
  // A runtime per round (and per start()): each starts with empty counts.
  for (int r = 0; r < rounds; ++r) {
    Rt rt(o);
    std::atomic<int> ran{0};
    exits.ran = &ran;
    exits.expect = links;
    int at_return = -1;
    const bool in_time = returns_in_time(rt, [&] {
      rt.run([&] { chain_link<Rt>(ran, links); });
      at_return = ran.load();
    });
    ASSERT_TRUE(in_time) << "round " << r << ": run() did not return with every fiber ended (" << ran.load()
                         << " of " << links << " ran): a carrier missed the exit";
    ASSERT_EQ(at_return, links) << "round " << r << ": run() returned before every fiber ran";
    ASSERT_EQ(exits.early.load(), 0) << "round " << r << ": a carrier left its loop before every fiber ran";
    ASSERT_EQ(rt.live(), 0);
  }
  exits.ran = nullptr;

  // The same through start()/submit()/finish(): chains submitted from this thread, finish()
  // called at once. finish() must wait for every link, and return.
  std::atomic<int> ran{0};
  const int chains = 8;
  int at_finish = -1;
  exits.ran = &ran;
  for (int r = 0; r < rounds && at_finish < 0; ++r) {
    Rt rs(o);
    ASSERT_TRUE(returns_in_time(rs, [&] {
      rs.start();
      for (int c = 0; c < chains; ++c) rs.submit([&] { chain_link<Rt>(ran, links / chains); }).detach();
      // Read by the carriers' stop hook only after finish()'s seq_cst store of closing_,
      // which their exit's load of it saw.
      exits.expect = (r + 1) * (links / chains) * chains;
      rs.finish();
      if (ran.load() != (r + 1) * (links / chains) * chains) at_finish = ran.load();
    })) << "round " << r << ": finish() did not return with every fiber ended";
    EXPECT_EQ(rs.live(), 0);
  }
  EXPECT_EQ(at_finish, -1) << "finish() returned with " << at_finish << " links run, before every fiber ran";
  EXPECT_EQ(exits.early.load(), 0) << "a carrier left its loop before every fiber ran";
}

REGISTER_TYPED_TEST_SUITE_P(MultiCarrier, SubmitFromFourThreadsRunsEachFiberOnce,
                            MigrationCarriesThreadLocalsExceptionsAndFiberLocals,
                            IdleRuntimeParksAndASubmissionWakesIt, RunsAndStartsAgainOnNewCarrierThreads,
                            ShutdownWaitsAndRefusesLateWork,
                            FanOutTreeSumsEveryLeafOnce);

#if defined(SY_TSAN) || defined(SY_ASAN)
// Sanitizer builds (compile time): every scheduler on the first switch and stacks, and the
// representative variant of every other switch (sy::Representative).
template <class Sw>
struct NotFirstSwitch : std::bool_constant<!std::is_same_v<Sw, tl::at<0, Switches>>> {};
template <class L>
struct Representatives;
template <class... Sw>
struct Representatives<TypeList<Sw...>> {
  using type = TypeList<representative<Sw>...>;
};
using AllVariants = typename GtestTypes<
    tl::concat<EverySchedulerVariants, typename Representatives<tl::filter<NotFirstSwitch, Switches>>::type>>::type;
#else
using AllVariants = typename GtestTypes<Variants>::type;
#endif
INSTANTIATE_TYPED_TEST_SUITE_P(All, MultiCarrier, AllVariants, VariantName);

}  // namespace
}  // namespace sy::test
