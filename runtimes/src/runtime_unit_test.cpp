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
