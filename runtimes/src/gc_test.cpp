// Suspended fiber stacks as roots of the Boehm collector (gc.h): what only a suspended
// fiber holds survives collections started from any carrier or from an outside thread;
// the check is proven able to fail; stale contents of reused stacks are reported.
#define GC_THREADS 1
#define GC_NO_THREAD_REDIRECTS 1
#include <gc/gc.h>
#include <gtest/gtest.h>

#include <atomic>
#include <cstdint>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include "switchyard/gc.h"
#include "switchyard/variants.h"

namespace {

using sy::gc::Design;
using sy::gc::Scan;

// ---- GC-allocated lists whose finalizers leave a mark in memory the collector does not
// scan (operator new), so marking it never keeps anything alive.
struct Node {
  Node* next;
  std::uint64_t value;
  std::uint64_t id;
};
// The mark is the finalized node's whole id in slot id % kIds, not a flag: ids keep growing
// across --gtest_repeat (one repeat of the survival tests makes about 600,000), so slots are
// reused, and a flag left by a node of an earlier repeat would count against the new node
// that shares its slot (with flags, every survival test failed from the 8th repeat on, when
// the ids passed 2^22). A slot holding another id says nothing about this node.
constexpr std::size_t kIds = 1u << 22;
std::atomic<std::uint64_t>* const g_finalized_ids = new std::atomic<std::uint64_t>[kIds]();
std::atomic<std::uint64_t> g_next_id{1};  // from 1: an untouched slot (0) matches no id
std::atomic<std::uint64_t> g_finalized{0};

bool finalized(std::uint64_t id) {
  // relaxed: read after GC_invoke_finalizers ran on this thread, or racing a finalizer on
  // another carrier's collection, which a later check sees; no other data rides on it.
  return g_finalized_ids[id % kIds].load(std::memory_order_relaxed) == id;
}

void GC_CALLBACK on_finalize(void* obj, void*) {
  const std::uint64_t id = static_cast<Node*>(obj)->id;
  g_finalized_ids[id % kIds].store(id, std::memory_order_relaxed);  // relaxed: see finalized()
  g_finalized.fetch_add(1, std::memory_order_relaxed);
}

// Builds a list of len nodes with values seed..seed+len-1; records their ids in `ids`.
Node* build(std::uint64_t seed, int len, std::vector<std::uint64_t>& ids) {
  Node* head = nullptr;
  for (int i = len - 1; i >= 0; --i) {
    auto* n = static_cast<Node*>(GC_MALLOC(sizeof(Node)));
    n->next = head;
    n->value = seed + static_cast<std::uint64_t>(i);
    n->id = g_next_id.fetch_add(1, std::memory_order_relaxed);
    GC_REGISTER_FINALIZER_NO_ORDER(n, &on_finalize, nullptr, nullptr, nullptr);
    ids.push_back(n->id);
    head = n;
  }
  return head;
}
// Defects: a finalized node (by id: needs no dereference), a wrong value, a short list.
int check(Node* head, std::uint64_t seed, int len, const std::vector<std::uint64_t>& ids, bool deref) {
  int bad = 0;
  for (std::uint64_t id : ids)
    if (finalized(id)) ++bad;
  if (!deref) return bad;
  Node* n = head;
  for (int i = 0; i < len; ++i) {
    if (!n || GC_base(n) != n) return bad + (len - i);
    if (n->value != seed + static_cast<std::uint64_t>(i)) ++bad;
    n = n->next;
  }
  return bad;
}

struct Result {
  int defects = 0;
  int checks = 0;
  int collections = 0;
};

// Each fiber builds two lists per round, one head in a plain local (register or spill
// slot) and one in a volatile stack slot, yields three times while others collect, then
// checks both. rounds x fibers checks in all.
template <class Rt>
void worker(int w, int rounds, int len, bool deref, std::atomic<int>& defects, std::atomic<int>& checks,
            std::atomic<int>& collections) {
  std::vector<std::uint64_t> ids_a, ids_b;
  for (int r = 0; r < rounds; ++r) {
    ids_a.clear();
    ids_b.clear();
    const std::uint64_t seed = (static_cast<std::uint64_t>(w) << 32) | (static_cast<std::uint64_t>(r) << 8);
    Node* a = build(seed, len, ids_a);
    Node* volatile b = build(seed + 100, len, ids_b);
    for (int k = 0; k < 3; ++k) {
      Rt::yield();
      if ((r + w + k) % 5 == 0) {
        GC_gcollect();
        GC_invoke_finalizers();
        collections.fetch_add(1, std::memory_order_relaxed);
      }
    }
    int bad = check(a, seed, len, ids_a, deref) + check(b, seed + 100, len, ids_b, deref);
    defects.fetch_add(bad, std::memory_order_relaxed);
    checks.fetch_add(2, std::memory_order_relaxed);
  }
}

// rt.run(): the test thread is carrier 0; collections come from fibers on every carrier.
template <class V>
Result survive_run(Design d, unsigned carriers, int fibers, int rounds, bool deref = true) {
  using Rt = sy::Runtime<V>;
  sy::gc::Roots<V> roots({.design = d});
  sy::Options o;
  o.carriers = carriers;
  o.hooks = roots.hooks();
  Rt rt(o);
  roots.attach(rt);
  std::atomic<int> defects{0}, checks{0}, collections{0};
  rt.run([&] {
    std::vector<sy::JoinHandle<void>> hs;
    for (int w = 0; w < fibers; ++w)
      hs.push_back(Rt::spawn([&, w] { worker<Rt>(w, rounds, 12, deref, defects, checks, collections); }));
    for (auto& h : hs) h.join();
  });
  return {defects.load(), checks.load(), collections.load()};
}

// rt.start(): both carriers are runtime threads, and the test thread collects in a loop
// while they run fibers, so carriers are stopped at arbitrary points, mid-switch included.
template <class V>
Result survive_outside(Design d, int fibers, int rounds) {
  using Rt = sy::Runtime<V>;
  sy::gc::Roots<V> roots({.design = d});
  sy::Options o;
  o.carriers = 2;
  o.hooks = roots.hooks();
  Rt rt(o);
  roots.attach(rt);
  std::atomic<int> defects{0}, checks{0}, collections{0};
  rt.start();
  std::vector<sy::JoinHandle<void>> hs;
  for (int w = 0; w < fibers; ++w)
    hs.push_back(rt.submit([&, w] { worker<Rt>(w, rounds, 12, true, defects, checks, collections); }));
  std::atomic<bool> done{false};
  int outside = 0;
  std::thread joiner([&] {
    for (auto& h : hs) h.join();
    done.store(true);
  });
  while (!done.load()) {
    GC_gcollect();
    ++outside;
  }
  joiner.join();
  rt.finish();
  EXPECT_GT(outside, 0);
  return {defects.load(), checks.load(), collections.load() + outside};
}

template <class V>
void survival_suite(const char* name) {
  for (Design d : {Design::sp, Design::locked})
    for (unsigned c : {1u, 2u}) {
      SCOPED_TRACE(std::string(name) + " design=" + std::string(sy::gc::to_string(d)) + " carriers=" + std::to_string(c));
      const std::uint64_t before = g_finalized.load();
      Result r = survive_run<V>(d, c, 16, 100);
      EXPECT_EQ(r.defects, 0);
      EXPECT_EQ(r.checks, 16 * 100 * 2);
      EXPECT_GT(r.collections, 100);
      // The lists die after their check: the collector does free them, so the finalizer
      // marks the test relies on really are set for unreachable nodes.
      GC_gcollect();
      GC_invoke_finalizers();
      EXPECT_GT(g_finalized.load() - before, 16u * 100u * 2u * 12u / 2u);
      const sy::gc::Stats st = sy::gc::last_stats();
      EXPECT_GT(st.collections, 0u);
    }
}

TEST(GcRoots, SurvivesAsm) { survival_suite<sy::AsmPooledFifo>("asm-pooled-fifo"); }
TEST(GcRoots, SurvivesUcontext) { survival_suite<sy::UcontextPooledChaseLev>("ucontext-pooled-chaselev"); }
TEST(GcRoots, SurvivesBoost) { survival_suite<sy::BoostFreshChaseLev>("boost-fresh-chaselev"); }

TEST(GcRoots, SurvivesOutsideCollector) {
  for (Design d : {Design::sp, Design::locked}) {
    {
      SCOPED_TRACE("asm design=" + std::string(sy::gc::to_string(d)));
      Result r = survive_outside<sy::AsmPooledChaseLev>(d, 16, 60);
      EXPECT_EQ(r.defects, 0);
      EXPECT_EQ(r.checks, 16 * 60 * 2);
    }
    {
      SCOPED_TRACE("boost design=" + std::string(sy::gc::to_string(d)));
      Result r = survive_outside<sy::BoostPooledFifo>(d, 16, 60);
      EXPECT_EQ(r.defects, 0);
    }
    {
      SCOPED_TRACE("ucontext design=" + std::string(sy::gc::to_string(d)));
      Result r = survive_outside<sy::UcontextFreshFifo>(d, 16, 60);
      EXPECT_EQ(r.defects, 0);
    }
  }
}

// The check can fail: without the suspended stacks as roots, lists held only by suspended
// fibers are freed (their finalizers run). Lists are checked by id only (no dereference of
// freed memory).
TEST(GcRoots, DetectsMissingRoots) {
  sy::gc::detail::set_skip_suspended_for_test(true);
  Result r = survive_run<sy::AsmPooledFifo>(Design::sp, 1, 16, 40, /*deref=*/false);
  sy::gc::detail::set_skip_suspended_for_test(false);
  EXPECT_GT(r.defects, 0) << "suspended fibers' lists survived without being roots: the survival check is blind";
}

// Used-part scanning pushes each suspended stack from its saved sp, not the whole region.
TEST(GcRoots, ScansUsedPartOnly) {
  using V = sy::AsmPooledFifo;
  using Rt = sy::Runtime<V>;
  for (Scan sc : {Scan::used, Scan::whole}) {
    sy::gc::Roots<V> roots({.design = Design::sp, .scan = sc});
    sy::Options o;
    o.carriers = 1;
    o.hooks = roots.hooks();
    Rt rt(o);
    roots.attach(rt);
    sy::gc::Stats st;
    rt.run([&] {
      bool release = false;
      std::vector<sy::JoinHandle<void>> hs;
      for (int i = 0; i < 100; ++i)
        hs.push_back(Rt::spawn([&] {
          while (!release) Rt::yield();
        }));
      Rt::yield();
      GC_gcollect();
      st = sy::gc::last_stats();
      release = true;
      for (auto& h : hs) h.join();
    });
    EXPECT_EQ(st.stacks, 100u);
    EXPECT_EQ(st.running, 1u);  // the collecting main fiber
    if (sc == Scan::used) EXPECT_LT(st.bytes, 100u * 16 * 1024);
    else EXPECT_GE(st.bytes, 100u * 256 * 1024);
  }
}

// ---- Stale stack contents: a fiber leaves pointers deep in its stack and ends; its stack
// goes back to the pool; a new fiber on it suspends shallow. Whatever the scan still finds
// there is memory falsely retained.
// As for the lists: the slot holds the dead victim's whole number, because numbers keep
// growing across --gtest_repeat (3,072 a repeat) and slots are reused (a flag table indexed
// by the number overflowed its 65,536 entries at the 22nd repeat).
constexpr std::uint32_t kVictims = 1u << 16;
std::atomic<std::uint32_t>* const g_victim_dead = new std::atomic<std::uint32_t>[kVictims]();
void GC_CALLBACK on_victim(void* obj, void*) {
  const std::uint32_t v = *static_cast<std::uint32_t*>(obj);
  g_victim_dead[v % kVictims].store(v, std::memory_order_relaxed);  // relaxed: read after GC_invoke_finalizers
}

std::uint32_t g_next_victim = 1;  // from 1: an untouched slot (0) matches no victim

[[gnu::noinline]] void leave_pointers(int depth_bytes, std::uint32_t first, int count) {
  if (depth_bytes > 1024) {
    // Every byte written, as real frames are: when_deep's mark word (at hi - 16 KiB) is
    // only seen overwritten if the frame over it wrote it.
    volatile char pad[1024];
    for (int i = 0; i < 1024; ++i) pad[i] = 1;
    leave_pointers(depth_bytes - 1024, first, count);
    pad[1] = pad[0];
    return;
  }
  void* volatile slots[16];
  for (int i = 0; i < count; ++i) {
    auto* v = static_cast<std::uint32_t*>(GC_MALLOC_ATOMIC(16));
    *v = first + static_cast<std::uint32_t>(i);
    GC_REGISTER_FINALIZER_NO_ORDER(v, &on_victim, nullptr, nullptr, nullptr);
    slots[i] = v;
  }
  asm volatile("" ::"r"(slots) : "memory");
}

template <class V>
int falsely_retained(Scan sc, int depth_bytes) {
  using Rt = sy::Runtime<V>;
  constexpr int kFibers = 32, kPer = 16;
  const std::uint32_t base = g_next_victim;
  g_next_victim += kFibers * kPer;
  sy::gc::Roots<V> roots({.design = Design::sp, .scan = sc});
  sy::Options o;
  o.carriers = 1;
  o.stack_size = 128 * 1024;  // headroom: a collection may start inside leave_pointers
  o.hooks = roots.hooks();
  Rt rt(o);
  roots.attach(rt);
  int retained = 0;
  rt.run([&] {
    int arrived = 0;
    std::vector<sy::JoinHandle<void>> hs;
    for (int f = 0; f < kFibers; ++f)  // all alive at once: kFibers distinct stacks
      hs.push_back(Rt::spawn([&, f] {
        leave_pointers(depth_bytes, base + static_cast<std::uint32_t>(f * kPer), kPer);
        ++arrived;
        while (arrived < kFibers) Rt::yield();
      }));
    for (auto& h : hs) h.join();
    hs.clear();
    bool release = false;
    for (int f = 0; f < kFibers; ++f)  // reuse those stacks, suspended shallow
      hs.push_back(Rt::spawn([&] {
        while (!release) Rt::yield();
      }));
    Rt::yield();
    GC_gcollect();
    GC_gcollect();
    GC_invoke_finalizers();
    for (std::uint32_t i = base; i < base + kFibers * kPer; ++i)
      if (g_victim_dead[i % kVictims].load(std::memory_order_relaxed) != i) ++retained;
    release = true;
    for (auto& h : hs) h.join();
  });
  return retained;
}

TEST(GcRoots, StaleStackContents) {
  constexpr int kAll = 32 * 16;
  struct Case {
    const char* name;
    int (*fn)(Scan, int);
    Scan scan;
    int depth;
  };
  // pooled: the default release policy (when_deep) keeps the top 16 KiB resident and gives
  // the rest back with madvise(MADV_DONTNEED) only when the fiber went deeper than that.
  const Case cases[] = {
      {"pooled, 4 KiB deep (kept), scan used", &falsely_retained<sy::AsmPooledFifo>, Scan::used, 4096},
      {"pooled, 4 KiB deep (kept), scan whole", &falsely_retained<sy::AsmPooledFifo>, Scan::whole, 4096},
      {"pooled, 80 KiB deep (madvised), scan used", &falsely_retained<sy::AsmPooledFifo>, Scan::used, 81920},
      {"pooled, 80 KiB deep (madvised), scan whole", &falsely_retained<sy::AsmPooledFifo>, Scan::whole, 81920},
      {"fresh, 4 KiB deep, scan used", &falsely_retained<sy::AsmFreshFifo>, Scan::used, 4096},
      {"fresh, 4 KiB deep, scan whole", &falsely_retained<sy::AsmFreshFifo>, Scan::whole, 4096},
  };
  int got[6];
  for (int i = 0; i < 6; ++i) {
    got[i] = cases[i].fn(cases[i].scan, cases[i].depth);
    std::printf("stale stack contents: %-52s falsely retained %3d of %d objects\n", cases[i].name, got[i], kAll);
    ::testing::Test::RecordProperty("retained_" + std::to_string(i), got[i]);
  }
  EXPECT_LT(got[0], kAll / 10);  // below the new sp: never scanned
  EXPECT_GT(got[1], kAll / 2);   // the naive scan finds the stale pointers
  EXPECT_LT(got[2], kAll / 10);
  // Zeroed by madvise, mostly: when_deep decides "deep" from one mark word at hi - 16 KiB,
  // and a frame's alignment padding over it is never written (measured: about 4 of 32
  // stacks kept their stale contents), so a deep fiber is sometimes taken for shallow.
  EXPECT_LT(got[3], kAll / 4);
  EXPECT_LT(got[4], kAll / 10);
  EXPECT_LT(got[5], kAll / 10);  // a fresh stack is a fresh mapping
}

TEST(GcRoots, AttachChecksHooks) {
  using V = sy::AsmPooledFifo;
  sy::gc::Roots<V> roots;
  sy::Runtime<V> rt(sy::Options{.carriers = 1});
  EXPECT_THROW(roots.attach(rt), sy::FiberError);
}

}  // namespace
