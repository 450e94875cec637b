// Runtime tests that depend on the variant. runtime_test_backend.cpp instantiates them, once
// per switch backend, for every variant of variants.def on that switch.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <random>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "switchyard/variants.h"
#include "test_support.h"

namespace sy::test {

using namespace std::chrono_literals;

template <class V>
class RuntimeTest : public ::testing::Test {
 protected:
  using Rt = Runtime<V>;
  static Options one() {
    Options o;
    o.carriers = 1;
    return o;
  }
};
TYPED_TEST_SUITE_P(RuntimeTest);

TYPED_TEST_P(RuntimeTest, RunReturnsMainResult) {
  using Rt = Runtime<TypeParam>;
  Rt rt(this->one());
  EXPECT_EQ(rt.run([] { return 42; }), 42);
  EXPECT_EQ(rt.live(), 0);
  // A runtime runs again after a run ends (pools and carriers are reused).
  EXPECT_EQ(rt.run([] { return std::string("again"); }), "again");
}

// start() again: each time the carrier is a new thread, whose own context (and, under the
// sanitizers, its stack bounds and TSan fiber) is not the previous thread's. Fibers switch
// back to it, and an exception unwinds on a fiber in between.
TYPED_TEST_P(RuntimeTest, StartsAgainOnANewThread) {
  using Rt = Runtime<TypeParam>;
  Rt rt(this->one());
  auto work = [] {
    auto other = Rt::spawn([] {
      for (int i = 0; i < 50; ++i) Rt::yield();
      throw std::runtime_error("from a fiber");
    });
    for (int i = 0; i < 50; ++i) Rt::yield();
    try {
      other.join();
    } catch (const std::runtime_error& e) {
      return std::string(e.what());
    }
    return std::string("no exception");
  };
  for (int round = 0; round < 3; ++round) {
    rt.start();
    EXPECT_EQ(rt.submit(work).join(), "from a fiber") << "start() " << round;
    rt.finish();
    EXPECT_EQ(rt.live(), 0);
  }
  EXPECT_EQ(rt.run(work), "from a fiber");  // and on this thread after them
}

TYPED_TEST_P(RuntimeTest, StatesAndIllegalTransitions) {
  using Rt = Runtime<TypeParam>;
  EXPECT_THROW(Rt::yield(), FiberError);  // outside a fiber
  Rt rt(this->one());
  rt.run([&] {
    FiberBase* self = Rt::current();
    ASSERT_NE(self, nullptr);
    EXPECT_EQ(self->state.load(), FiberState::running);
    auto h = Rt::spawn([] { Rt::yield(); }, {.name = "child"});
    FiberBase* child = h.fiber();
    EXPECT_EQ(child->state.load(), FiberState::runnable);
    EXPECT_STREQ(child->name, "child");
    Rt::yield();  // child runs, yields back
    EXPECT_EQ(child->state.load(), FiberState::runnable);
    h.join();
    {
      typename Rt::ScopedPin pin;
      EXPECT_THROW(Rt::yield(), FiberError);
    }
    Rt::yield();  // unpinned again: fine
  });
}

TYPED_TEST_P(RuntimeTest, JoinSelfIsAnError) {
  using Rt = Runtime<TypeParam>;
  Rt rt(this->one());
  rt.run([&] {
    JoinHandle<void>* hp = nullptr;
    std::atomic<bool> threw{false};
    auto h = Rt::spawn([&] {
      while (!hp) Rt::yield();
      try {
        hp->join();
      } catch (const FiberError&) {
        threw = true;
      }
    });
    hp = &h;
    Rt::yield();
    Rt::yield();
    EXPECT_TRUE(threw.load());
    h.join();
  });
}

TYPED_TEST_P(RuntimeTest, YieldAlternates) {
  using Rt = Runtime<TypeParam>;
  Rt rt(this->one());
  std::vector<int> order;
  rt.run([&] {
    auto a = Rt::spawn([&] {
      for (int i = 0; i < 3; ++i) {
        order.push_back(1);
        Rt::yield();
      }
    });
    auto b = Rt::spawn([&] {
      for (int i = 0; i < 3; ++i) {
        order.push_back(2);
        Rt::yield();
      }
    });
    a.join();
    b.join();
  });
  // Yield means "after the others": the two strictly alternate on every scheduler.
  ASSERT_EQ(order.size(), 6u);
  for (std::size_t i = 1; i < order.size(); ++i) EXPECT_NE(order[i], order[i - 1]) << i;
}

// With three yielders "after the others" is more than alternation: between two turns of a
// fiber both others run, in the same rotation every round. Yield's fast path puts the
// yielder at the tail before it switches; a yielder that came back before the others
// (queued at the head, or popped straight back) breaks it.
TYPED_TEST_P(RuntimeTest, YieldRotatesThroughEveryOtherFiber) {
  using Rt = Runtime<TypeParam>;
  Rt rt(this->one());
  std::vector<int> order;
  rt.run([&] {
    std::vector<JoinHandle<void>> hs;
    for (int id = 0; id < 3; ++id)
      hs.push_back(Rt::spawn([&order, id] {
        for (int i = 0; i < 5; ++i) {
          order.push_back(id);
          Rt::yield();
        }
      }));
    for (auto& h : hs) h.join();
  });
  ASSERT_EQ(order.size(), 15u);
  for (std::size_t i = 3; i < order.size(); ++i) EXPECT_EQ(order[i], order[i - 3]) << i;
  EXPECT_NE(order[0], order[1]);
  EXPECT_NE(order[0], order[2]);
  EXPECT_NE(order[1], order[2]);
}

TYPED_TEST_P(RuntimeTest, BusyYielderDoesNotStarveSleeper) {
  using Rt = Runtime<TypeParam>;
  Rt rt(this->one());
  rt.run([&] {
    std::atomic<bool> stop{false};
    auto spinner = Rt::spawn([&] {
      while (!stop.load(std::memory_order_relaxed)) Rt::yield();
    });
    auto spinner2 = Rt::spawn([&] {
      while (!stop.load(std::memory_order_relaxed)) Rt::yield();
    });
    auto t0 = Clock::now();
    auto sleeper = Rt::spawn([&] {
      Rt::sleep_for(20ms);
      stop = true;
      return Clock::now() - t0;
    });
    auto slept = sleeper.join();
    spinner.join();
    spinner2.join();
    EXPECT_GE(slept, 20ms);
    EXPECT_LT(slept, 500ms) << "the backstop should run maintenance while others yield";
  });
}

TYPED_TEST_P(RuntimeTest, ManySleepersWakeOnceAndNeverEarly) {
  using Rt = Runtime<TypeParam>;
  Options o = this->one();
  o.guard = false;            // 100k guarded stacks exceed vm.max_map_count (65530)
  o.stack_size = 16 * 1024;   // and 100k x 256 KiB of address space is pointless here
  Rt rt(o);
#if defined(SY_ASAN) || defined(SY_TSAN)
  constexpr int kFibers = 5000;
#else
  const int kFibers = scaled(100000, env_scale(), 1000);  // SY_TEST_SCALE: emulated runs
#endif
  std::vector<int> woke(kFibers, 0);
  std::atomic<int> early{0};
  rt.run([&] {
    std::mt19937 rng(42);
    std::uniform_int_distribution<int> ms(0, 200);
    for (int i = 0; i < kFibers; ++i) {
      auto deadline = Clock::now() + std::chrono::milliseconds(ms(rng));
      Rt::spawn([&, i, deadline] {
        Rt::sleep_until(deadline);
        if (Clock::now() < deadline) early++;
        woke[i]++;
      }).detach();
    }
  });
  EXPECT_EQ(early.load(), 0);
  EXPECT_EQ(std::count(woke.begin(), woke.end(), 1), kFibers);
}

TYPED_TEST_P(RuntimeTest, JoinWithTimeoutFromFiber) {
  using Rt = Runtime<TypeParam>;
  Rt rt(this->one());
  rt.run([&] {
    std::atomic<bool> release{false};
    auto h = Rt::spawn([&] {
      while (!release) Rt::sleep_for(1ms);
      return 7;
    });
    auto t0 = Clock::now();
    EXPECT_FALSE(h.join_for(10ms).has_value());
    EXPECT_GE(Clock::now() - t0, 10ms);
    EXPECT_TRUE(h.valid());
    release = true;
    auto r = h.join_for(5s);
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(*r, 7);
    EXPECT_FALSE(h.valid());
  });
}

TYPED_TEST_P(RuntimeTest, JoinFromOsThread) {
  using Rt = Runtime<TypeParam>;
  Options o = this->one();
  Rt rt(o);
  rt.start();
  std::atomic<bool> release{false};
  auto h = rt.submit([&] {
    while (!release) Rt::sleep_for(1ms);
    return std::string("done");
  });
  EXPECT_FALSE(h.join_for(20ms).has_value());  // blocks the thread, then times out
  release = true;
  EXPECT_EQ(h.join(), "done");
  auto h2 = rt.submit([] { throw std::runtime_error("from a submitted fiber"); });
  EXPECT_THROW(h2.join(), std::runtime_error);
  rt.finish();
  EXPECT_THROW(rt.submit([] {}), RuntimeClosed);
}

struct NotAnException {
  int code;
};

TYPED_TEST_P(RuntimeTest, ExceptionsOfEveryKindReachTheJoiner) {
  using Rt = Runtime<TypeParam>;
  Rt rt(this->one());
  rt.run([&] {
    auto a = Rt::spawn([]() -> int { throw std::out_of_range("range"); });
    auto b = Rt::spawn([] { throw 17; });
    auto c = Rt::spawn([] { throw NotAnException{5}; });
    auto d = Rt::spawn([] {
      Rt::yield();  // thrown after a switch, too
      throw std::logic_error("after yield");
    });
    try {
      a.join();
      ADD_FAILURE();
    } catch (const std::out_of_range& e) {
      EXPECT_STREQ(e.what(), "range");
    }
    try {
      b.join();
      ADD_FAILURE();
    } catch (int v) {
      EXPECT_EQ(v, 17);
    }
    try {
      c.join();
      ADD_FAILURE();
    } catch (const NotAnException& e) {
      EXPECT_EQ(e.code, 5);
    }
    EXPECT_THROW(d.join(), std::logic_error);
    // An exception nobody joins does not kill the carrier.
    Rt::spawn([] { throw std::runtime_error("ignored"); }).detach();
    Rt::yield();
  });
}

// Each fiber yields inside its catch block and must rethrow its own exception after.
template <class Rt>
void catch_and_yield(int n) {
  std::vector<int> got(n, -1);
  std::vector<JoinHandle<void>> hs;
  for (int i = 0; i < n; ++i)
    hs.push_back(Rt::spawn([&got, i] {
      try {
        throw i;
      } catch (int) {
        EXPECT_EQ(std::uncaught_exceptions(), 0);
        Rt::yield();
        Rt::yield();
        try {
          throw;  // the exception currently handled by *this* fiber
        } catch (int v) {
          got[i] = v;
        }
      }
    }));
  for (auto& h : hs) h.join();
  for (int i = 0; i < n; ++i) EXPECT_EQ(got[i], i);
}

TYPED_TEST_P(RuntimeTest, YieldInsideCatchKeepsOwnException) {
  using Rt = Runtime<TypeParam>;
  Rt rt(this->one());
  rt.run([] {
    catch_and_yield<Rt>(2);
    catch_and_yield<Rt>(1000);
  });
}

TYPED_TEST_P(RuntimeTest, UncaughtExceptionsStaysRightAcrossYieldDuringUnwinding) {
  using Rt = Runtime<TypeParam>;
  Rt rt(this->one());
  rt.run([] {
    int before = -1, after = -1, other = -1;
    struct Guard {
      int *before, *after;
      ~Guard() {
        *before = std::uncaught_exceptions();
        Rt::yield();
        *after = std::uncaught_exceptions();
      }
    };
    auto unwinder = Rt::spawn([&] {
      try {
        Guard g{&before, &after};
        throw std::runtime_error("unwinding");
      } catch (const std::runtime_error&) {
      }
    });
    auto bystander = Rt::spawn([&] { other = std::uncaught_exceptions(); });
    unwinder.join();
    bystander.join();
    EXPECT_EQ(before, 1);
    EXPECT_EQ(after, 1);
    EXPECT_EQ(other, 0);
  });
}

TYPED_TEST_P(RuntimeTest, FiberLocalsWithInitialValues) {
  using Rt = Runtime<TypeParam>;
  static FiberLocal<std::string> who;
  static FiberLocal<int> depth;
  Rt rt(this->one());
  rt.run([] {
    EXPECT_EQ(who.get(), nullptr);
    who.set("main");
    auto a = Rt::spawn(
        [] {
          EXPECT_EQ(*who.get(), "a");
          Rt::yield();
          EXPECT_EQ(*who.get(), "a");
          EXPECT_EQ(*depth.get(), 3);
          depth.set(4);
          Rt::yield();
          return *depth.get();
        },
        SpawnOptions{}.local(who, std::string("a")).local(depth, 3));
    auto b = Rt::spawn([] {
      EXPECT_EQ(who.get(), nullptr);
      who.set("b");
      Rt::yield();
      return *who.get();
    });
    EXPECT_EQ(a.join(), 4);
    EXPECT_EQ(b.join(), "b");
    EXPECT_EQ(*who.get(), "main");
  });
  EXPECT_THROW(who.get(), FiberError);
}

TYPED_TEST_P(RuntimeTest, ParkUnparkAndPredicateTimeout) {
  using Rt = Runtime<TypeParam>;
  Rt rt(this->one());
  rt.run([] {
    std::atomic<bool> flag{false};
    auto waiter = Rt::spawn([&] { return Rt::park([&] { return flag.load(); }); });
    auto setter = Rt::spawn([&] {
      Rt::sleep_for(2ms);
      flag = true;
    });
    EXPECT_TRUE(waiter.join());
    setter.join();
    // Timeout: the predicate never holds.
    auto t0 = Clock::now();
    EXPECT_FALSE(Rt::park([] { return false; }, 5ms));
    EXPECT_GE(Clock::now() - t0, 5ms);
    // unpark wakes a fiber before its predicate holds.
    auto parked = Rt::spawn([] { return Rt::park([] { return false; }, 10s); });
    Rt::yield();  // it parks
    EXPECT_TRUE(Rt::unpark(parked.fiber()));
    EXPECT_FALSE(parked.join());
  });
}

template <class Rt>
__attribute__((noinline)) void backtrace_probe_inner(std::atomic<bool>* go) {
  while (!go->load()) Rt::yield();
  asm volatile("");  // keep the frame: not a tail call
}
template <class Rt>
__attribute__((noinline)) void backtrace_probe_outer(std::atomic<bool>* go) {
  backtrace_probe_inner<Rt>(go);
  asm volatile("");
}

TYPED_TEST_P(RuntimeTest, BacktraceOfSuspendedFiberNamesItsFunctions) {
  using Rt = Runtime<TypeParam>;
  Rt rt(this->one());
  rt.run([&] {
    std::atomic<bool> go{false};
    auto h = Rt::spawn([&] { backtrace_probe_outer<Rt>(&go); }, {.name = "probe"});
    Rt::yield();  // the probe runs and suspends inside backtrace_probe_inner
    std::string text = format_backtrace(rt.backtrace(h.id()));
    EXPECT_NE(text.find("backtrace_probe_inner"), std::string::npos) << text;
    EXPECT_NE(text.find("backtrace_probe_outer"), std::string::npos) << text;
    bool listed = false;
    for (const FiberInfo& fi : rt.fibers())
      if (fi.id == h.id()) {
        listed = true;
        EXPECT_EQ(fi.name, "probe");
        EXPECT_EQ(fi.state, FiberState::runnable);
      }
    EXPECT_TRUE(listed);
    EXPECT_THROW(rt.backtrace(Rt::current()->id), FiberError);  // running: refused
    go = true;
    h.join();
  });
}

TYPED_TEST_P(RuntimeTest, DeepRecursionCloseToStackSize) {
  using Rt = Runtime<TypeParam>;
  Options o = this->one();
  o.stack_size = 64 * 1024;
  Rt rt(o);
  // Each level uses ~1 KiB; 48 levels use about 75% of the stack.
  struct R {
    static int down(int n) {
      volatile char pad[1000];
      pad[0] = static_cast<char>(n);
      if (n == 0) return pad[0];
      return down(n - 1) + pad[0] - pad[0] + 1;
    }
  };
  EXPECT_EQ(rt.run([] { return R::down(48); }), 48);
}

TYPED_TEST_P(RuntimeTest, SpawnFromFibersAndDetach) {
  using Rt = Runtime<TypeParam>;
  Rt rt(this->one());
  std::atomic<int> ran{0};
  rt.run([&] {
    for (int i = 0; i < 100; ++i)
      Rt::spawn([&] {
        Rt::spawn([&] { ran++; }).detach();
        Rt::yield();
        ran++;
      }).detach();
  });
  EXPECT_EQ(ran.load(), 200);
  EXPECT_EQ(rt.live(), 0);
}

__attribute__((noinline)) int recurse_forever(int n) {
  volatile char pad[512];
  pad[0] = static_cast<char>(n);
  if (n == -1) return 0;  // never true; keeps -Winfinite-recursion quiet
  return recurse_forever(n + 1) + pad[0];
}

TYPED_TEST_P(RuntimeTest, StackOverflowIsReportedWithTheFibersName) {
  SY_SKIP_SIGNAL_DEATH_TEST_IF_EMULATED();
  using Rt = Runtime<TypeParam>;
  GTEST_FLAG_SET(death_test_style, sy::test::death_test_style());
  EXPECT_DEATH(
      {
        Options o = this->one();
        o.stack_size = 64 * 1024;
        Rt rt(o);
        rt.run([] { Rt::spawn([] { recurse_forever(0); }, {.name = "deep-diver"}).join(); });
      },
      "stack overflow: fiber 'deep-diver' \\(id [0-9]+\\) overflowed its 64 KiB stack");
}

REGISTER_TYPED_TEST_SUITE_P(RuntimeTest, StackOverflowIsReportedWithTheFibersName, RunReturnsMainResult, StartsAgainOnANewThread, StatesAndIllegalTransitions, JoinSelfIsAnError,
                            YieldAlternates, YieldRotatesThroughEveryOtherFiber, BusyYielderDoesNotStarveSleeper, ManySleepersWakeOnceAndNeverEarly,
                            JoinWithTimeoutFromFiber, JoinFromOsThread, ExceptionsOfEveryKindReachTheJoiner,
                            YieldInsideCatchKeepsOwnException, UncaughtExceptionsStaysRightAcrossYieldDuringUnwinding,
                            FiberLocalsWithInitialValues, ParkUnparkAndPredicateTimeout,
                            BacktraceOfSuspendedFiberNamesItsFunctions, DeepRecursionCloseToStackSize,
                            SpawnFromFibersAndDetach);

}  // namespace sy::test
