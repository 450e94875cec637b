// Variant-independent pieces of the runtime: the deadline heap, the variant registry, the
// submission stack.
#include <gtest/gtest.h>
#include <pthread.h>
#include <sched.h>

#include <cstdlib>

#include <algorithm>
#include <random>
#include <set>
#include <vector>

#include "switchyard/deadline_heap.h"
#include "switchyard/runtime.h"
#include "switchyard/variants.h"

namespace sy {
namespace {

struct TestFiber : FiberBase {
  TestFiber() = default;
};

cpu_set_t thread_mask() {
  cpu_set_t s;
  CPU_ZERO(&s);
  EXPECT_EQ(pthread_getaffinity_np(pthread_self(), sizeof s, &s), 0);
  return s;
}

// Options::pin_carriers: a fiber runs on a carrier pinned to one CPU of the process's
// mask (carrier 0: its first), and run()'s calling thread gets its own mask back.
TEST(PinCarriers, ACarrierRunsOnOneCpuAndTheCallerGetsItsMaskBack) {
  const cpu_set_t before = thread_mask();
  int first = -1;
  for (int c = 0; c < CPU_SETSIZE && first < 0; ++c)
    if (CPU_ISSET(c, &before)) first = c;
  Options o;
  o.carriers = 1;
  o.pin_carriers = true;
  Runtime<AsmPooledFifo> rt(o);
  const cpu_set_t inside = rt.run([] { return thread_mask(); });
  EXPECT_EQ(CPU_COUNT(&inside), 1);
  EXPECT_TRUE(CPU_ISSET(first, &inside));
  const cpu_set_t after = thread_mask();
  EXPECT_TRUE(CPU_EQUAL(&before, &after));
  // Not asked: the fiber sees the whole mask.
  Runtime<AsmPooledFifo> free_rt(Options{.carriers = 1, .pin_carriers = false});
  const cpu_set_t unpinned = free_rt.run([] { return thread_mask(); });
  EXPECT_TRUE(CPU_EQUAL(&before, &unpinned));
}

// The harness asks for pinning through the environment (its children inherit it).
TEST(PinCarriers, TheEnvironmentSetsTheDefault) {
  setenv("SY_PIN_CARRIERS", "1", 1);
  EXPECT_TRUE(Options{}.pin_carriers);
  setenv("SY_PIN_CARRIERS", "0", 1);
  EXPECT_FALSE(Options{}.pin_carriers);
  unsetenv("SY_PIN_CARRIERS");
  EXPECT_FALSE(Options{}.pin_carriers);
}

// CarrierCounters::cpu_ns and wall_ns: a carrier that runs a fiber busy for X of its own
// CPU time reports at least X of CPU (the fiber's time is the carrier thread's), and the
// wall time of its loop covers that; the other carrier, which only sleeps (no idle spin),
// reports little CPU. The busy loop waits on the thread's CPU clock, not the wall clock, so
// a loaded machine makes the test slower, never wrong.
TEST(CarrierCounters, CpuAndWallTimeOfTheLoop) {
  constexpr std::int64_t kBusyNs = 40'000'000;
  Options o;
  o.carriers = 2;
  o.idle_spin = Duration{0};  // the idle carrier sleeps instead of polling for work
  Runtime<AsmPooledFifo> rt(o);
  rt.run([] {
    const std::int64_t start = detail::thread_cpu_ns();
    while (detail::thread_cpu_ns() - start < kBusyNs) {
    }
  });
  const std::vector<CarrierCounters> cs = rt.carrier_counters();
  ASSERT_EQ(cs.size(), 2u);
  const bool zero_busy = cs[0].cpu_ns >= cs[1].cpu_ns;
  const CarrierCounters& busy = cs[zero_busy ? 0 : 1];
  const CarrierCounters& idle = cs[zero_busy ? 1 : 0];
  EXPECT_GE(busy.cpu_ns, static_cast<std::uint64_t>(kBusyNs)) << "the busy fiber's CPU time is missing";
  // One thread cannot use more CPU than wall time over the same interval (1 ms: the two
  // clocks' reads are not simultaneous).
  EXPECT_GE(busy.wall_ns + 1'000'000, busy.cpu_ns);
  // Sleeping in epoll costs microseconds; a quarter of the busy time means it spun.
  EXPECT_LT(idle.cpu_ns, static_cast<std::uint64_t>(kBusyNs / 4)) << "the idle carrier burned CPU";
  EXPECT_GT(idle.wall_ns, 0u) << "the idle carrier's loop time is missing";
  // Cumulated over runs: a second run adds to both.
  const std::uint64_t before = busy.cpu_ns + idle.cpu_ns;
  rt.run([] {
    const std::int64_t start = detail::thread_cpu_ns();
    while (detail::thread_cpu_ns() - start < kBusyNs) {
    }
  });
  const std::vector<CarrierCounters> again = rt.carrier_counters();
  EXPECT_GE(again[0].cpu_ns + again[1].cpu_ns, before + kBusyNs);
}

TEST(DeadlineHeap, PopsInOrderAndRemovesAnywhere) {
  std::mt19937 rng(7);
  std::vector<TestFiber> fs(2000);
  detail::DeadlineHeap h;
  for (auto& f : fs) {
    f.deadline_ns = rng() % 100000;
    h.insert(&f);
  }
  ASSERT_TRUE(h.valid());
  // Remove a third of them from arbitrary positions (fibers woken some other way).
  std::set<FiberBase*> removed;
  for (std::size_t i = 0; i < fs.size(); i += 3) {
    h.remove(&fs[i]);
    removed.insert(&fs[i]);
    EXPECT_EQ(fs[i].heap_index, -1);
    h.remove(&fs[i]);  // removing twice is harmless
  }
  ASSERT_TRUE(h.valid());
  std::int64_t last = -1;
  std::size_t popped = 0;
  while (!h.empty()) {
    FiberBase* f = h.pop();
    EXPECT_FALSE(removed.count(f));
    EXPECT_GE(f->deadline_ns, last);
    EXPECT_EQ(f->heap_index, -1);
    last = f->deadline_ns;
    ++popped;
  }
  EXPECT_EQ(popped + removed.size(), fs.size());
}

TEST(Variants, AllTwelveNamedAndFound) {
  ASSERT_EQ(variants().size(), 12u);
  std::set<std::string> names;
  for (const auto& v : variants()) {
    names.insert(v.name);
    EXPECT_EQ(v.name, std::string(v.switch_name) + "-" + std::string(v.stacks) + "-" + std::string(v.scheduler));
    EXPECT_EQ(find_variant(v.name), &v);
    std::string seen = with_variant(v.name, []<class V>() { return V::name(); });
    EXPECT_EQ(seen, v.name);
  }
  EXPECT_EQ(names.size(), 12u);
  EXPECT_TRUE(names.count("asm-pooled-fifo"));
  EXPECT_TRUE(names.count("boost-fresh-chaselev"));
}

TEST(Variants, UnknownNameListsTheValidOnes) {
  EXPECT_EQ(find_variant("asm-pooled-lifo"), nullptr);
  try {
    with_variant("asm-pooled-lifo", []<class V>() {});
    FAIL() << "no exception";
  } catch (const UnknownVariant& e) {
    std::string m = e.what();
    EXPECT_NE(m.find("unknown variant 'asm-pooled-lifo'"), std::string::npos);
    for (const auto& v : variants()) EXPECT_NE(m.find(v.name), std::string::npos) << m;
  }
}

struct Node {
  int v;
  Node* next = nullptr;
};

TEST(MpscStack, DrainKeepsSubmissionOrderAcrossThreads) {
  detail::MpscStack<Node, &Node::next> s;
  constexpr int kThreads = 4, kPer = 20000;
  std::vector<std::vector<Node>> nodes(kThreads, std::vector<Node>(kPer));
  std::vector<std::thread> ts;
  for (int t = 0; t < kThreads; ++t)
    ts.emplace_back([&, t] {
      for (int i = 0; i < kPer; ++i) {
        nodes[t][i].v = t * kPer + i;
        s.push(&nodes[t][i]);
      }
    });
  std::vector<int> last(kThreads, -1);
  int total = 0;
  auto consume = [&] {
    for (Node* n = s.drain(); n; n = n->next) {
      int t = n->v / kPer;
      EXPECT_GT(n->v, last[t]);  // each producer's items arrive in its push order
      last[t] = n->v;
      ++total;
    }
  };
  while (total < kThreads * kPer) consume();
  for (auto& t : ts) t.join();
  consume();
  EXPECT_EQ(total, kThreads * kPer);
}

}  // namespace
}  // namespace sy
