// Blocking primitives (Mutex, CondVar, Semaphore, Channel) on a representative set of
// variants, with 1 and 2 carriers, from fibers and plain OS threads. Also run under
// ThreadSanitizer (label tsan): plain (non-atomic) counters guarded by the primitives make
// TSan check that each hand-off carries a happens-before edge.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <mutex>
#include <optional>
#include <random>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "switchyard/primitives.h"
#include "switchyard/variants.h"
#include "test_support.h"

namespace sy::test {
namespace {

using namespace std::chrono_literals;


// A lost wakeup shows up as a hang: fail it with a message instead of a ctest timeout.
class Watchdog {
 public:
  explicit Watchdog(const char* what, std::chrono::seconds limit = 120s)
      : t_([this, what, limit] {
          std::unique_lock<std::mutex> l(m_);
          if (!cv_.wait_for(l, limit, [&] { return done_; })) {
            std::fprintf(stderr, "watchdog: '%s' still running after %llds (lost wakeup?)\n", what,
                         static_cast<long long>(limit.count()));
            std::abort();
          }
        }) {}
  ~Watchdog() {
    {
      std::lock_guard<std::mutex> l(m_);
      done_ = true;
    }
    cv_.notify_one();
    t_.join();
  }

 private:
  std::mutex m_;
  std::condition_variable cv_;
  bool done_ = false;
  std::thread t_;
};

void update_max(std::atomic<int>& mx, int v) {
  // relaxed: a statistic read after every fiber and thread was joined.
  int cur = mx.load(std::memory_order_relaxed);
  while (v > cur && !mx.compare_exchange_weak(cur, v, std::memory_order_relaxed)) {
  }
}

template <class V, unsigned N>
struct Config {
  using Variant = V;
  using Rt = Runtime<V>;
  static constexpr unsigned carriers = N;
  static Options options() {
    Options o;
    o.carriers = N;
    return o;
  }
};

template <class C>
class Primitives : public ::testing::Test {};

using Configs = ::testing::Types<Config<AsmPooledFifo, 1>, Config<AsmPooledFifo, 2>, Config<AsmPooledChaseLev, 1>,
                                 Config<AsmPooledChaseLev, 2>, Config<UcontextFreshFifo, 1>,
                                 Config<UcontextFreshFifo, 2>, Config<BoostFreshChaseLev, 1>,
                                 Config<BoostFreshChaseLev, 2>>;
struct ConfigName {
  template <class C>
  static std::string GetName(int) {
    return C::Variant::name() + "_x" + std::to_string(C::carriers);
  }
};
TYPED_TEST_SUITE(Primitives, Configs, ConfigName);

// ---- pinned-blocking policy
// The warning is printed once per process, so the check runs in a fresh child process
// (gtest's threadsafe death-test style re-executes the binary): it passes however many
// tests ran before it in this process, and under --gtest_repeat.
int pinned_warn_child() {
  using Rt = Runtime<AsmPooledFifo>;
  Options o;
  o.carriers = 1;  // default policy: warn
  Rt rt(o);
  Semaphore<Rt> sem(0);
  testing::internal::CaptureStderr();
  bool got = false, timed_out = true;
  std::atomic<bool> first_done{false};
  std::thread releaser([&] {
    // Only once the first try has timed out and the second one blocks.
    if (eventually([&] { return first_done.load() && sem.waiting() == 1; })) sem.release();
  });
  rt.run([&] {
    typename Rt::ScopedPin pin;
    timed_out = sem.try_acquire_for(2ms);  // blocks the carrier thread, no releaser yet
    first_done = true;
    got = sem.try_acquire_for(kPatience);  // woken by the OS thread's release
  });
  releaser.join();
  std::string err = testing::internal::GetCapturedStderr();
  std::size_t count = 0;
  for (std::size_t p = err.find("while pinned"); p != std::string::npos; p = err.find("while pinned", p + 1)) ++count;
  std::fprintf(stderr, "timed_out=%d got=%d warnings=%zu\n", timed_out, got, count);
  return !timed_out && got && count == 1 ? 0 : 1;
}

TEST(PinnedPolicy, WarnPrintsOnceAndStillBlocksTheThread) {
  GTEST_FLAG_SET(death_test_style, sy::test::death_test_style());
  EXPECT_EXIT(std::_Exit(pinned_warn_child()), testing::ExitedWithCode(0), "timed_out=0 got=1 warnings=1");
}

TYPED_TEST(Primitives, PinnedPolicyErrorRaisesOnlyWhenItWouldBlock) {
  using Rt = typename TypeParam::Rt;
  Options o = TypeParam::options();
  o.pinned_policy = PinnedPolicy::error;
  Rt rt(o);
  Mutex<Rt> m;
  Semaphore<Rt> sem(1);
  int raised = 0;
  bool uncontended_ok = false;
  rt.run([&] {
    typename Rt::ScopedPin pin;
    {
      std::lock_guard<Mutex<Rt>> g(m);  // uncontended: does not block, so no error
      uncontended_ok = sem.try_acquire_for(1ms);
    }
    try {
      sem.acquire();  // would block
    } catch (const FiberError& e) {
      ++raised;
      EXPECT_NE(std::string(e.what()).find("pinned"), std::string::npos) << e.what();
    }
    CondVar<Rt> cv;
    std::unique_lock<Mutex<Rt>> ul(m);
    try {
      cv.wait_for(ul, 1ms);
    } catch (const FiberError&) {
      ++raised;
      EXPECT_TRUE(ul.owns_lock());  // raised before the user's lock was released
    }
  });
  EXPECT_TRUE(uncontended_ok);
  EXPECT_EQ(raised, 2);
  EXPECT_EQ(sem.available(), 0);  // the failed acquire changed nothing
}

// ---- Mutex
TYPED_TEST(Primitives, MutexThousandFibersCountExactly) {
  using Rt = typename TypeParam::Rt;
  Watchdog wd("MutexThousandFibersCountExactly");
  Rt rt(TypeParam::options());
  const int fibers = 1000 / kScale, iters = 50;
  Mutex<Rt> m;
  long counter = 0;  // plain: only the mutex orders the increments
  std::atomic<int> inside{0}, max_inside{0};
  rt.run([&] {
    std::vector<JoinHandle<void>> hs;
    for (int i = 0; i < fibers; ++i)
      hs.push_back(Rt::spawn([&, i] {
        for (int k = 0; k < iters; ++k) {
          std::lock_guard<Mutex<Rt>> g(m);
          // relaxed: counts holders; the mutex itself orders the critical sections.
          update_max(max_inside, inside.fetch_add(1, std::memory_order_relaxed) + 1);
          long c = counter;
          if ((i + k) % 7 == 0) Rt::yield();  // hold it across a switch: others must queue
          counter = c + 1;
          inside.fetch_sub(1, std::memory_order_relaxed);
        }
      }));
    for (auto& h : hs) h.join();
  });
  EXPECT_EQ(counter, long(fibers) * iters);
  EXPECT_EQ(max_inside.load(), 1);
}

TYPED_TEST(Primitives, MutexFibersAndThreadsContend) {
  using Rt = typename TypeParam::Rt;
  Watchdog wd("MutexFibersAndThreadsContend");
  Rt rt(TypeParam::options());
  rt.start();
  const int fibers = 64, threads = 3, iters = 2000 / kScale;
  Mutex<Rt> m;
  long counter = 0;
  std::atomic<int> inside{0}, max_inside{0};
  auto body = [&](bool fiber) {
    for (int k = 0; k < iters; ++k) {
      if (k % 3 == 0) {
        while (!m.try_lock()) {
          if (fiber) Rt::yield(); else std::this_thread::yield();
        }
      } else {
        m.lock();
      }
      update_max(max_inside, inside.fetch_add(1, std::memory_order_relaxed) + 1);
      ++counter;
      if (fiber && k % 50 == 0) Rt::yield();
      inside.fetch_sub(1, std::memory_order_relaxed);
      m.unlock();
    }
  };
  std::vector<JoinHandle<void>> hs;
  for (int i = 0; i < fibers; ++i) hs.push_back(rt.submit([&] { body(true); }));
  std::vector<std::thread> ts;
  for (int i = 0; i < threads; ++i) ts.emplace_back([&] { body(false); });
  for (auto& t : ts) t.join();
  for (auto& h : hs) h.join();
  rt.finish();
  EXPECT_EQ(counter, long(fibers + threads) * iters);
  EXPECT_EQ(max_inside.load(), 1);
}

// ---- CondVar
// Producers and consumers (fibers and an OS thread) over a queue with notify_one and
// untimed waits: a single lost wakeup leaves a consumer asleep forever (watchdog).
TYPED_TEST(Primitives, CondVarProducerConsumerLosesNoWakeup) {
  using Rt = typename TypeParam::Rt;
  Watchdog wd("CondVarProducerConsumerLosesNoWakeup");
  Rt rt(TypeParam::options());
  rt.start();
  const int producers = 4, fiber_consumers = 5, per = 4000 / kScale;
  const int total = producers * per;
  Mutex<Rt> m;
  CondVar<Rt> not_empty, not_full;
  std::deque<int> q;  // guarded by m; bounded to 4 so producers wait too
  std::vector<int> seen(total, 0);
  int taken = 0;
  auto consume = [&] {
    int mine = 0;
    for (;;) {
      std::unique_lock<Mutex<Rt>> ul(m);
      not_empty.wait(ul, [&] { return !q.empty() || taken == total; });
      if (q.empty()) return mine;
      int v = q.front();
      q.pop_front();
      ++seen[v];
      ++mine;
      if (++taken == total) not_empty.notify_all();  // release the others
      ul.unlock();
      not_full.notify_one();
    }
  };
  std::vector<JoinHandle<int>> cs;
  for (int i = 0; i < fiber_consumers; ++i) cs.push_back(rt.submit(consume));
  int thread_got = 0;
  std::thread tc([&] { thread_got = consume(); });
  std::vector<JoinHandle<void>> ps;
  for (int p = 0; p < producers; ++p)
    ps.push_back(rt.submit([&, p] {
      for (int i = 0; i < per; ++i) {
        std::unique_lock<Mutex<Rt>> ul(m);
        not_full.wait(ul, [&] { return q.size() < 4; });
        q.push_back(p * per + i);
        ul.unlock();
        not_empty.notify_one();
      }
    }));
  for (auto& h : ps) h.join();
  int sum = 0;
  for (auto& h : cs) sum += h.join();
  tc.join();
  rt.finish();
  EXPECT_EQ(sum + thread_got, total);
  for (int v = 0; v < total; ++v) ASSERT_EQ(seen[v], 1) << v;
}

// Timed waits racing notify_one: every notification that reports a woken waiter must be
// seen by exactly one waiter as no_timeout, and no waiter may see no_timeout without one.
// (A notify spent on a waiter that already timed out would break the equality.)
TYPED_TEST(Primitives, CondVarTimeoutsRacingNotifiesBalance) {
  using Rt = typename TypeParam::Rt;
  Watchdog wd("CondVarTimeoutsRacingNotifiesBalance");
  Rt rt(TypeParam::options());
  rt.start();
  const int fiber_waiters = 16, thread_waiters = 2, rounds = 1500 / kScale;
  Mutex<Rt> m;
  CondVar<Rt> cv;
  std::atomic<long> woken_seen{0}, timeouts{0};
  std::atomic<bool> stop{false};
  auto waiter = [&](unsigned seed, bool fiber) {
    std::minstd_rand rng(seed);
    // relaxed: stop only ends the loop; the totals are read after joins.
    while (!stop.load(std::memory_order_relaxed)) {
      std::unique_lock<Mutex<Rt>> ul(m);
      auto d = std::chrono::microseconds(rng() % (fiber ? 60 : 300));
      if (cv.wait_for(ul, d) == std::cv_status::no_timeout) woken_seen.fetch_add(1, std::memory_order_relaxed);
      else timeouts.fetch_add(1, std::memory_order_relaxed);
    }
  };
  std::vector<JoinHandle<void>> ws;
  for (int i = 0; i < fiber_waiters; ++i) ws.push_back(rt.submit([&, i] { waiter(i + 1, true); }));
  std::vector<std::thread> ts;
  for (int i = 0; i < thread_waiters; ++i) ts.emplace_back([&, i] { waiter(100 + i, false); });
  long delivered = 0;
  auto notifier = rt.submit([&] {
    long n = 0;
    std::minstd_rand rng(7);
    // Past `rounds`, until one notify has found a waiter: the waiters start asynchronously
    // (submitted fibers, threads), and under a sanitizer on a loaded machine all the rounds
    // can run before any of them waits.
    const auto until = std::chrono::steady_clock::now() + sy::test::kPatience;
    for (int r = 0; r < rounds || (n == 0 && std::chrono::steady_clock::now() < until); ++r) {
      if (cv.notify_one()) ++n;
      if (r % 64 == 63) n += long(cv.notify_all());
      if (rng() % 4 == 0) Rt::sleep_for(std::chrono::microseconds(rng() % 50));
      else Rt::yield();
    }
    return n;
  });
  delivered = notifier.join();
  stop.store(true, std::memory_order_relaxed);
  for (auto& h : ws) h.join();  // waiters time out on their own
  for (auto& t : ts) t.join();
  rt.finish();
  EXPECT_EQ(woken_seen.load(), delivered);
  EXPECT_GT(delivered, 0);
  EXPECT_GT(timeouts.load(), 0);
}

TYPED_TEST(Primitives, CondVarWaitForTimesOutAndNotifyAllWakesEveryone) {
  using Rt = typename TypeParam::Rt;
  Watchdog wd("CondVarWaitForTimesOutAndNotifyAllWakesEveryone");
  Rt rt(TypeParam::options());
  Mutex<Rt> m;
  CondVar<Rt> cv;
  bool go = false;
  int woke = 0;
  rt.run([&] {
    {
      std::unique_lock<Mutex<Rt>> ul(m);
      auto t0 = Clock::now();
      EXPECT_EQ(cv.wait_for(ul, 5ms), std::cv_status::timeout);
      EXPECT_GE(Clock::now() - t0, 5ms);
      EXPECT_TRUE(ul.owns_lock());
      EXPECT_FALSE(cv.wait_for(ul, 1ms, [&] { return go; }));
    }
    std::vector<JoinHandle<void>> hs;
    for (int i = 0; i < 20; ++i)
      hs.push_back(Rt::spawn([&] {
        std::unique_lock<Mutex<Rt>> ul(m);
        cv.wait(ul, [&] { return go; });
        ++woke;
      }));
    ASSERT_TRUE(fiber_eventually<Rt>([&] { return cv.waiting() == 20; })) << "not all of them blocked";
    {
      std::lock_guard<Mutex<Rt>> g(m);
      go = true;
    }
    cv.notify_all();
    for (auto& h : hs) h.join();
  });
  EXPECT_EQ(woke, 20);
}

// ---- Semaphore
TYPED_TEST(Primitives, SemaphoreNeverExceedsItsCount) {
  using Rt = typename TypeParam::Rt;
  Watchdog wd("SemaphoreNeverExceedsItsCount");
  Rt rt(TypeParam::options());
  rt.start();
  constexpr int kUnits = 3;
  const int fibers = 200 / kScale + 8, iters = 20;
  Semaphore<Rt> sem(kUnits);
  std::atomic<int> holders{0}, max_holders{0};
  std::atomic<long> acquired{0};
  auto body = [&](bool fiber, int id) {
    for (int k = 0; k < iters; ++k) {
      if (k % 4 == 1) {
        if (!sem.try_acquire_for(50us)) continue;
      } else if (k % 4 == 2) {
        if (!sem.try_acquire()) continue;
      } else {
        sem.acquire();
      }
      // relaxed: counts concurrent holders; acquire/release order the sections.
      update_max(max_holders, holders.fetch_add(1, std::memory_order_relaxed) + 1);
      acquired.fetch_add(1, std::memory_order_relaxed);
      if (fiber) Rt::yield(); else std::this_thread::yield();
      holders.fetch_sub(1, std::memory_order_relaxed);
      sem.release();
    }
  };
  std::vector<JoinHandle<void>> hs;
  for (int i = 0; i < fibers; ++i) hs.push_back(rt.submit([&, i] { body(true, i); }));
  std::thread t1([&] { body(false, -1); }), t2([&] { body(false, -2); });
  t1.join();
  t2.join();
  for (auto& h : hs) h.join();
  rt.finish();
  EXPECT_LE(max_holders.load(), kUnits);
  EXPECT_GE(max_holders.load(), 1);
  EXPECT_GT(acquired.load(), 0);
  EXPECT_EQ(sem.available(), kUnits);
}

TYPED_TEST(Primitives, SemaphoreReleaseManyWakesThatManyAndTimeoutsFail) {
  using Rt = typename TypeParam::Rt;
  Watchdog wd("SemaphoreReleaseManyWakesThatManyAndTimeoutsFail");
  Rt rt(TypeParam::options());
  Semaphore<Rt> sem(0);
  std::atomic<int> got{0};
  rt.run([&] {
    auto t0 = Clock::now();
    EXPECT_FALSE(sem.try_acquire_for(3ms));
    EXPECT_GE(Clock::now() - t0, 3ms);
    std::vector<JoinHandle<void>> hs;
    for (int i = 0; i < 10; ++i) hs.push_back(Rt::spawn([&] {
      sem.acquire();
      got.fetch_add(1, std::memory_order_relaxed);  // relaxed: read after sleeps/joins
    }));
    ASSERT_TRUE(fiber_eventually<Rt>([&] { return sem.waiting() == 10; })) << "not all of them blocked";
    sem.release(4);  // handed to 4 waiters, under the lock: the other 6 stay queued
    EXPECT_EQ(sem.waiting(), 6u);
    EXPECT_EQ(sem.available(), 0);
    EXPECT_TRUE(fiber_eventually<Rt>([&] { return got.load() == 4; })) << got.load() << " woke, not 4";
    EXPECT_EQ(sem.waiting(), 6u);
    sem.release(7);  // 6 waiters left: one unit remains
    for (auto& h : hs) h.join();
  });
  EXPECT_EQ(got.load(), 10);
  EXPECT_EQ(sem.available(), 1);
}

// ---- Channel
struct Item {
  int sender;
  int seq;
};

template <class Rt>
void channel_exactly_once_in_order(Options opts, std::size_t capacity) {
  Rt rt(opts);
  rt.start();
  const int fiber_senders = 4, fiber_receivers = 3, per = 3000 / kScale;
  const int senders = fiber_senders + 1;  // + one OS thread
  Channel<Item, Rt> ch(capacity);
  // received[r]: what receiver r got, in order. Receiver 3 is an OS thread.
  std::vector<std::vector<Item>> received(fiber_receivers + 1);
  auto receive_all = [&](int r) {
    while (std::optional<Item> it = ch.receive()) received[r].push_back(*it);
  };
  auto send_all = [&](int s) {
    for (int i = 0; i < per; ++i) ch.send(Item{s, i});
  };
  std::vector<JoinHandle<void>> rs, ss;
  for (int r = 0; r < fiber_receivers; ++r) rs.push_back(rt.submit([&, r] { receive_all(r); }));
  std::thread tr([&] { receive_all(fiber_receivers); });
  for (int s = 0; s < fiber_senders; ++s) ss.push_back(rt.submit([&, s] { send_all(s); }));
  std::thread ts([&] { send_all(fiber_senders); });
  ts.join();
  for (auto& h : ss) h.join();
  ch.close();  // every value was handed over or buffered: receivers drain, then get nullopt
  tr.join();
  for (auto& h : rs) h.join();
  rt.finish();
  std::vector<std::vector<int>> count(senders, std::vector<int>(per, 0));
  for (const auto& got : received) {
    std::vector<int> last(senders, -1);
    for (const Item& it : got) {
      ASSERT_GE(it.sender, 0);
      ASSERT_LT(it.sender, senders);
      ASSERT_GT(it.seq, last[it.sender]) << "out of order from sender " << it.sender;
      last[it.sender] = it.seq;
      ++count[it.sender][it.seq];
    }
  }
  for (int s = 0; s < senders; ++s)
    for (int i = 0; i < per; ++i) ASSERT_EQ(count[s][i], 1) << "sender " << s << " seq " << i;
}

TYPED_TEST(Primitives, ChannelUnbufferedDeliversEachValueOnceInOrder) {
  Watchdog wd("ChannelUnbuffered");
  channel_exactly_once_in_order<typename TypeParam::Rt>(TypeParam::options(), 0);
}
TYPED_TEST(Primitives, ChannelBufferedDeliversEachValueOnceInOrder) {
  Watchdog wd("ChannelBuffered");
  channel_exactly_once_in_order<typename TypeParam::Rt>(TypeParam::options(), 1);
  channel_exactly_once_in_order<typename TypeParam::Rt>(TypeParam::options(), 16);
}

TYPED_TEST(Primitives, ChannelSingleReceiverSeesGlobalSendOrder) {
  using Rt = typename TypeParam::Rt;
  Watchdog wd("ChannelSingleReceiver");
  Rt rt(TypeParam::options());
  for (std::size_t cap : {0, 3}) {
    Channel<int, Rt> ch(cap);
    std::vector<int> got;
    rt.run([&] {
      auto s = Rt::spawn([&] {
        for (int i = 0; i < 500; ++i) ch.send(i);
        ch.close();
      });
      while (auto v = ch.receive()) got.push_back(*v);
      s.join();
    });
    ASSERT_EQ(got.size(), 500u) << "capacity " << cap;
    for (int i = 0; i < 500; ++i) ASSERT_EQ(got[i], i);
  }
}

// The POSIX rule for mutexes: a thread that locked and unlocked a mutex may destroy it at
// once, even while the unlock that handed it over has not returned. The woken waiter
// returns from lock() only after the unlocker released the mutex's spin lock
// (SpinLock::wait_unlocked), so the unlocker no longer touches it. Under ASan/TSan a
// waker still releasing the lock of a freed mutex would be a report.
TYPED_TEST(Primitives, MutexMayBeDestroyedByTheWaiterItWasHandedTo) {
  using Rt = typename TypeParam::Rt;
  Watchdog wd("MutexDestroyedByWaiter");
  Rt rt(TypeParam::options());
  const int rounds = 2000 / kScale;
  int done = 0;
  rt.run([&] {
    for (int i = 0; i < rounds; ++i) {
      auto* mu = new Mutex<Rt>();
      mu->lock();
      auto waiter = Rt::spawn([mu, &done] {
        mu->lock();  // usually parks; then handed the mutex by unlock() below
        mu->unlock();
        delete mu;
        ++done;
      });
      Rt::yield();  // let it park (on another carrier it may not have yet: either is fine)
      mu->unlock();
      waiter.join();
    }
  });
  EXPECT_EQ(done, rounds);
}

// An unpark is a spurious wake, not a timeout: wait_for says no_timeout long before the
// deadline (std's contract: timeout only when the time ran out).
TYPED_TEST(Primitives, CondVarWaitForWokenByUnparkIsNoTimeout) {
  using Rt = typename TypeParam::Rt;
  Rt rt(TypeParam::options());
  Mutex<Rt> m;
  CondVar<Rt> cv;
  rt.run([&] {
    std::cv_status st = std::cv_status::timeout;
    Duration waited{};
    auto w = Rt::spawn([&] {
      std::unique_lock<Mutex<Rt>> ul(m);
      const auto t0 = Clock::now();
      st = cv.wait_for(ul, 30s);
      waited = Clock::now() - t0;
    });
    FiberRef ref = w.ref();
    ASSERT_TRUE(fiber_eventually<Rt>([&] { return cv.waiting() == 1; }));
    EXPECT_TRUE(Rt::unpark(ref));
    w.join();
    EXPECT_EQ(st, std::cv_status::no_timeout) << "an unpark was reported as a timeout";
    EXPECT_LT(waited, 10s);
  });
}

// A value whose move throws on demand.
struct Fragile {
  static inline std::atomic<bool> fail_next_move{false};
  int v = 0;
  explicit Fragile(int x) : v(x) {}
  Fragile(const Fragile&) = delete;
  Fragile(Fragile&& o) : v(o.v) {
    if (fail_next_move.exchange(false)) throw std::runtime_error("move failed");
  }
  Fragile& operator=(Fragile&&) = default;
};

// A hand-off whose move throws after the peer was woken: the peer must try again, not take
// it for "closed"; the exception goes to the caller whose move failed; nothing is lost.
TYPED_TEST(Primitives, ChannelHandOffWhoseMoveThrowsLeavesThePeerWaiting) {
  using Rt = typename TypeParam::Rt;
  Watchdog wd("ChannelHandOffWhoseMoveThrows");
  Rt rt(TypeParam::options());
  rt.run([&] {
    {  // a blocked receiver; the sender's move into its slot throws
      Channel<Fragile, Rt> ch(0);
      std::optional<int> got;
      bool got_nullopt = false;
      auto r = Rt::spawn([&] {
        std::optional<Fragile> v = ch.receive();
        if (v) got = v->v; else got_nullopt = true;
      });
      ASSERT_TRUE(fiber_eventually<Rt>([&] { return ch.waiting() == 1; }));
      // send's parameter is built in place; the one move is the hand-off into the slot.
      Fragile::fail_next_move = true;
      EXPECT_THROW(ch.send(Fragile(1)), std::runtime_error);
      ASSERT_TRUE(fiber_eventually<Rt>([&] { return ch.waiting() == 1; })) << "the receiver did not wait again";
      EXPECT_FALSE(got_nullopt) << "the receiver took a failed hand-off for a closed channel";
      ch.send(Fragile(2));
      r.join();
      EXPECT_FALSE(got_nullopt);
      EXPECT_EQ(got, std::optional<int>(2));
    }
    {  // a blocked sender (rendezvous); the receiver's move out of it throws
      Channel<Fragile, Rt> ch(0);
      bool sent = false, closed_seen = false;
      auto s = Rt::spawn([&] {
        try {
          ch.send(Fragile(7));
          sent = true;
        } catch (const ChannelClosed&) {
          closed_seen = true;
        }
      });
      ASSERT_TRUE(fiber_eventually<Rt>([&] { return ch.waiting() == 1; }));
      Fragile::fail_next_move = true;
      EXPECT_THROW((void)ch.receive(), std::runtime_error);
      ASSERT_TRUE(fiber_eventually<Rt>([&] { return ch.waiting() == 1; })) << "the sender did not wait again";
      std::optional<Fragile> v = ch.receive();
      s.join();
      ASSERT_TRUE(v.has_value());
      EXPECT_EQ(v->v, 7);
      EXPECT_TRUE(sent);
      EXPECT_FALSE(closed_seen) << "the sender took a failed hand-off for a closed channel";
    }
  });
}

TYPED_TEST(Primitives, ChannelCloseWakesReceiversAndSenders) {
  using Rt = typename TypeParam::Rt;
  Watchdog wd("ChannelCloseWakes");
  Rt rt(TypeParam::options());
  rt.start();
  // Receivers only on `empty`; senders only on `unbuffered` and `full`: nobody can pair up,
  // so every one of them is still blocked when close() comes (it waits until they all are).
  Channel<int, Rt> empty(4), unbuffered(0), full(1);
  full.send(1);  // from this OS thread: the buffer is now full
  std::atomic<int> nullopts{0}, send_errors{0};
  std::vector<JoinHandle<void>> hs;
  for (int i = 0; i < 6; ++i)
    hs.push_back(rt.submit([&] {
      if (!empty.receive()) nullopts.fetch_add(1, std::memory_order_relaxed);  // relaxed: read after joins
    }));
  for (int i = 0; i < 6; ++i)
    hs.push_back(rt.submit([&, i] {
      try {
        (i % 2 ? unbuffered : full).send(2);
      } catch (const ChannelClosed&) {
        send_errors.fetch_add(1, std::memory_order_relaxed);
      }
    }));
  std::thread tr([&] {
    if (!empty.receive()) nullopts.fetch_add(1, std::memory_order_relaxed);
  });
  std::thread tsend([&] {
    try {
      unbuffered.send(3);
    } catch (const ChannelClosed&) {
      send_errors.fetch_add(1, std::memory_order_relaxed);
    }
  });
  ASSERT_TRUE(eventually([&] { return empty.waiting() == 7 && unbuffered.waiting() == 4 && full.waiting() == 3; }))
      << "not all of them blocked";
  empty.close();
  unbuffered.close();
  full.close();
  tr.join();
  tsend.join();
  for (auto& h : hs) h.join();
  EXPECT_EQ(nullopts.load(), 7);
  EXPECT_EQ(send_errors.load(), 7);
  EXPECT_THROW(empty.send(3), ChannelClosed);
  EXPECT_THROW(empty.close(), ChannelClosed);
  EXPECT_EQ(full.receive(), std::optional<int>(1));  // buffered values survive close
  EXPECT_EQ(full.receive(), std::nullopt);
  rt.finish();
}

}  // namespace
}  // namespace sy::test
