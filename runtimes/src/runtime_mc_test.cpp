// Many carriers: submission from any thread, migration safety, parking and waking,
// shutdown. Runs on all 12 variants; under ThreadSanitizer (label tsan) too.
#include <gtest/gtest.h>
#include <sys/resource.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <thread>
#include <vector>

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

TYPED_TEST_P(MultiCarrier, IdleRuntimeParksAndASubmissionWakesIt) {
  using Rt = Runtime<TypeParam>;
  Options o = this->two();
  o.park_timeout = 10s;  // far longer than the test waits: only a wake can make it prompt
  Rt rt(o);
  rt.start();
  std::this_thread::sleep_for(50ms);
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

REGISTER_TYPED_TEST_SUITE_P(MultiCarrier, SubmitFromFourThreadsRunsEachFiberOnce,
                            MigrationCarriesThreadLocalsExceptionsAndFiberLocals,
                            IdleRuntimeParksAndASubmissionWakesIt, ShutdownWaitsAndRefusesLateWork,
                            FanOutTreeSumsEveryLeafOnce);

#if defined(SY_TSAN) || defined(SY_ASAN)
// Sanitizer builds: both schedulers, both stack kinds, all three switches (compile time).
using AllVariants = ::testing::Types<AsmPooledFifo, AsmPooledChaseLev, UcontextFreshChaseLev, BoostFreshFifo>;
#else
using AllVariants = ::testing::Types<AsmPooledFifo, AsmPooledChaseLev, AsmFreshFifo, AsmFreshChaseLev,
                                     UcontextPooledFifo, UcontextPooledChaseLev, UcontextFreshFifo,
                                     UcontextFreshChaseLev, BoostPooledFifo, BoostPooledChaseLev,
                                     BoostFreshFifo, BoostFreshChaseLev>;
#endif
INSTANTIATE_TYPED_TEST_SUITE_P(All, MultiCarrier, AllVariants, VariantName);

}  // namespace
}  // namespace sy::test
