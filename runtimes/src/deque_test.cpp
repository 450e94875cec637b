// Tests of sy::ChaseLevDeque: sequential model checks against std::deque, growth and
// index wraparound, and multi-thread stress where every item must be taken exactly once.
// The known bugs of other deques (STYLE.md) each have a test:
//   - an item stolen twice when the buffer is swapped  -> ThievesRacingGrowth...
//   - the slot read after the CAS once the buffer wraps -> TinyBufferWraps...
//   - old buffers freed while a thief still reads them -> ThievesRacingGrowth... under ASan
// deque_broken_test (deque_broken_test.cpp) shows the stress catches a missing fence.
#include <gtest/gtest.h>

#include <cstdint>
#include <cstdio>
#include <deque>
#include <random>
#include <stdexcept>
#include <vector>

#include "deque_stress.h"
#include "switchyard/deque.h"
#include "test_support.h"

namespace {

using sy::ChaseLevDeque;
using sy::StealStatus;

// ThreadSanitizer slows this test ~30x on 2 shared cores: fewer items, same shapes.
// ASan costs little here (10M items in about a second), and more growth rounds mean more
// chances to catch a retired buffer freed too early, so it keeps the full counts.
// SY_TEST_SCALE (test_support.h) divides the counts further for emulated runs (qemu-user).
#if defined(SY_TSAN)
const std::size_t kStressItems = sy::test::scaled<std::size_t>(1'000'000, sy::test::env_scale());
const int kGrowthRounds = sy::test::scaled(40, sy::test::env_scale(), 4);
const std::size_t kWrapItems = sy::test::scaled<std::size_t>(20'000, sy::test::env_scale(), 2'000);
const int kBrokenShapeBatches = sy::test::scaled(5, sy::test::env_scale());
const std::uint64_t kModelSeeds = sy::test::scaled<std::uint64_t>(10, sy::test::env_scale());  // single-threaded: TSan adds nothing there
const int kWrapSteps = sy::test::scaled(200'000, sy::test::env_scale());
#else
const std::size_t kStressItems = sy::test::scaled<std::size_t>(10'000'000, sy::test::env_scale());
const int kGrowthRounds = sy::test::scaled(300, sy::test::env_scale(), 4);
const std::size_t kWrapItems = sy::test::scaled<std::size_t>(200'000, sy::test::env_scale(), 2'000);
const int kBrokenShapeBatches = sy::test::scaled(50, sy::test::env_scale());
const std::uint64_t kModelSeeds = sy::test::scaled<std::uint64_t>(50, sy::test::env_scale());
const int kWrapSteps = sy::test::scaled(1'000'000, sy::test::env_scale());
#endif

// Values are fake pointers: sequential tests never dereference them.
int* as_ptr(std::uintptr_t v) { return reinterpret_cast<int*>(v); }

void print(const char* name, const sy::deque_stress::Report& r) {
  std::printf("[%s] %.3f s: popped %zu, stolen %zu, aborts %zu, capacity %zu -> %zu; "
              "lost %zu, doubled %zu, corrupt %zu\n",
              name, r.seconds, r.popped, r.stolen, r.aborts, r.initial_capacity,
              r.final_capacity, r.lost, r.doubled, r.corrupt);
}

TEST(ChaseLevDeque, CapacityRoundsUpToPowerOfTwo) {
  EXPECT_EQ(ChaseLevDeque<int*>().capacity(), 64u);
  EXPECT_EQ(ChaseLevDeque<int*>(1).capacity(), 1u);
  EXPECT_EQ(ChaseLevDeque<int*>(100).capacity(), 128u);
  EXPECT_EQ(ChaseLevDeque<int*>(128).capacity(), 128u);
}

TEST(ChaseLevDeque, RejectsBadInputAndLosesNothing) {
  EXPECT_THROW(ChaseLevDeque<int*>(0), std::invalid_argument);
  ChaseLevDeque<int*> dq(2);
  dq.push(as_ptr(8));
  try {
    dq.push(nullptr);
    FAIL() << "push(nullptr) must throw";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("nullptr"), std::string::npos) << e.what();
  }
  EXPECT_EQ(dq.size_approx(), 1u);
  EXPECT_EQ(dq.pop(), as_ptr(8));
  EXPECT_EQ(dq.pop(), nullptr);
}

TEST(ChaseLevDeque, EmptyDequeSaysEmpty) {
  ChaseLevDeque<int*> dq;
  EXPECT_TRUE(dq.empty_approx());
  EXPECT_EQ(dq.pop(), nullptr);
  EXPECT_EQ(dq.steal(), nullptr);
  const auto r = dq.steal_ex();
  EXPECT_EQ(r.status, StealStatus::kEmpty);
  EXPECT_EQ(r.item, nullptr);
  // Popping an empty deque must not corrupt the indices for later use.
  for (int i = 0; i < 5; ++i) EXPECT_EQ(dq.pop(), nullptr);
  dq.push(as_ptr(8));
  const auto s = dq.steal_ex();
  EXPECT_EQ(s.status, StealStatus::kSuccess);
  EXPECT_EQ(s.item, as_ptr(8));
  EXPECT_TRUE(dq.empty_approx());
}

TEST(ChaseLevDeque, OwnerIsLifoThievesAreFifo) {
  ChaseLevDeque<int*> dq;
  for (std::uintptr_t v = 1; v <= 4; ++v) dq.push(as_ptr(v * 8));
  EXPECT_EQ(dq.pop(), as_ptr(32));
  EXPECT_EQ(dq.steal(), as_ptr(8));
  EXPECT_EQ(dq.pop(), as_ptr(24));
  EXPECT_EQ(dq.steal(), as_ptr(16));
  EXPECT_EQ(dq.pop(), nullptr);
}

// Random push/pop/steal sequences from one thread against std::deque. The push
// probability drifts between phases so the deque repeatedly fills (growing from tiny
// capacities), drains to empty, and wraps.
TEST(ChaseLevDeque, SequentialModelCheck) {
  std::size_t checked_ops = 0;
  for (std::size_t initial : {1u, 2u, 3u, 64u}) {
    for (std::uint64_t seed = 1; seed <= kModelSeeds; ++seed) {
      std::mt19937_64 rng(seed * 977 + initial);
      ChaseLevDeque<int*> dq(initial);
      std::deque<int*> model;
      std::uintptr_t next = 1;
      std::size_t max_capacity = dq.capacity();
      for (int phase = 0; phase < 20; ++phase) {
        const unsigned push_percent = 20 + static_cast<unsigned>(rng() % 61);  // 20..80
        for (int op = 0; op < 500; ++op, ++checked_ops) {
          const unsigned dice = static_cast<unsigned>(rng() % 100);
          if (dice < push_percent) {
            dq.push(as_ptr(next * 8));
            model.push_back(as_ptr(next * 8));
            ++next;
          } else if (dice % 2 == 0) {
            int* expect = model.empty() ? nullptr : model.back();
            if (!model.empty()) model.pop_back();
            ASSERT_EQ(dq.pop(), expect) << "seed " << seed << " op " << op;
          } else {
            const auto r = dq.steal_ex();
            if (model.empty()) {
              ASSERT_EQ(r.status, StealStatus::kEmpty) << "seed " << seed;
              ASSERT_EQ(r.item, nullptr);
            } else {
              ASSERT_EQ(r.status, StealStatus::kSuccess) << "seed " << seed;
              ASSERT_EQ(r.item, model.front()) << "seed " << seed << " op " << op;
              model.pop_front();
            }
          }
          ASSERT_EQ(dq.size_approx(), model.size());
          ASSERT_EQ(dq.empty_approx(), model.empty());
          // Capacity is a power of two, never shrinks, and holds the contents.
          const std::size_t cap = dq.capacity();
          ASSERT_EQ(cap & (cap - 1), 0u);
          ASSERT_GE(cap, max_capacity);
          ASSERT_GE(cap, model.size());
          max_capacity = cap;
        }
      }
      // Drain alternately from both ends.
      while (!model.empty()) {
        ASSERT_EQ(dq.steal(), model.front());
        model.pop_front();
        if (model.empty()) break;
        ASSERT_EQ(dq.pop(), model.back());
        model.pop_back();
      }
      ASSERT_EQ(dq.pop(), nullptr);
      ASSERT_EQ(dq.steal(), nullptr);
    }
  }
  EXPECT_EQ(checked_ops, 4u * kModelSeeds * 20 * 500);
}

// Push far past 64 with interleaved pops and steals; contents survive every doubling
// and come out in order from both ends.
TEST(ChaseLevDeque, GrowsFarPastInitialCapacity) {
  ChaseLevDeque<int*> dq;
  std::deque<int*> model;
  std::uintptr_t next = 1;
  std::size_t previous_capacity = dq.capacity();
  int doublings = 0;
  for (int i = 0; i < 200'000; ++i) {
    dq.push(as_ptr(next * 8));
    model.push_back(as_ptr(next * 8));
    ++next;
    if (i % 7 == 3) {
      ASSERT_EQ(dq.pop(), model.back());
      model.pop_back();
    }
    if (i % 5 == 1) {
      ASSERT_EQ(dq.steal(), model.front());
      model.pop_front();
    }
    if (dq.capacity() != previous_capacity) {
      ASSERT_EQ(dq.capacity(), 2 * previous_capacity);  // doubled, once at a time
      previous_capacity = dq.capacity();
      ++doublings;
    }
  }
  EXPECT_GE(doublings, 10);  // 64 -> 65536 at least
  ASSERT_EQ(dq.size_approx(), model.size());
  while (!model.empty()) {
    ASSERT_EQ(dq.steal(), model.front());
    model.pop_front();
  }
}

// Indices keep growing while the slots they map to wrap round the same 64-slot buffer
// thousands of times; the buffer must not grow when it never holds more than 64.
TEST(ChaseLevDeque, IndicesWrapRoundTheBufferWithoutGrowing) {
  ChaseLevDeque<int*> dq;
  std::deque<int*> model;
  std::uintptr_t next = 1;
  for (int i = 0; i < 64; ++i) {  // exactly full
    dq.push(as_ptr(next * 8));
    model.push_back(as_ptr(next++ * 8));
  }
  for (int i = 0; i < kWrapSteps; ++i) {
    ASSERT_EQ(dq.steal(), model.front());
    model.pop_front();
    dq.push(as_ptr(next * 8));  // reuses the slot just freed
    model.push_back(as_ptr(next++ * 8));
    if (i % 3 == 0) {
      ASSERT_EQ(dq.pop(), model.back());
      model.pop_back();
      dq.push(as_ptr(next * 8));
      model.push_back(as_ptr(next++ * 8));
    }
  }
  EXPECT_EQ(dq.capacity(), 64u);
  EXPECT_EQ(dq.size_approx(), 64u);
}

// 1 owner, 3 thieves, 10M items (1M under TSan); the owner pushes bursts of up to 256
// and pops about half of each, so the deque grows from 64 and the thieves take about
// half of the items. (Draining now and then, tried too, starves the thieves on 2 shared
// cores: they find it empty and yield. The races for the last element are the business
// of TinyBufferWraps... and BrokenFenceShape..., whose owner drains every burst.)
TEST(ChaseLevDequeStress, OneOwnerThreeThievesEachItemTakenOnce) {
  sy::deque_stress::Config cfg;
  cfg.items = kStressItems;
  cfg.thieves = 3;
  cfg.max_burst = 256;
  const auto r = sy::deque_stress::run(cfg);
  print("stress", r);
  EXPECT_EQ(r.lost, 0u);
  EXPECT_EQ(r.doubled, 0u);
  EXPECT_EQ(r.corrupt, 0u);
  EXPECT_EQ(r.popped + r.stolen, kStressItems);
  EXPECT_GT(r.final_capacity, 64u) << "the stress must include growth";
  EXPECT_GT(r.stolen, 0u);
  EXPECT_GT(r.popped, 0u);
}

// Thieves racing with growth: each round starts a fresh deque at capacity 1, so it
// doubles about 10 times while 3 thieves steal from it. Catches an item stolen twice
// across a buffer swap (the crossbeam bug) and, under ASan, a retired buffer freed while
// a thief still reads it.
TEST(ChaseLevDequeStress, ThievesRacingGrowthTakeEachItemOnce) {
  std::size_t grew = 0;
  for (int round = 0; round < kGrowthRounds; ++round) {
    sy::deque_stress::Config cfg;
    cfg.items = 20'000;
    cfg.thieves = 3;
    cfg.initial_capacity = 1;
    cfg.max_burst = 1024;
    cfg.seed = static_cast<std::uint64_t>(round) + 1;
    const auto r = sy::deque_stress::run(cfg);
    ASSERT_TRUE(r.ok()) << "round " << round << ": lost " << r.lost << ", doubled "
                        << r.doubled << ", corrupt " << r.corrupt;
    grew += r.final_capacity >= 512 ? 1 : 0;
  }
  std::printf("[growth] %zu of %d rounds grew from 1 to >= 512 slots\n", grew, kGrowthRounds);
  EXPECT_GT(grew, static_cast<std::size_t>(kGrowthRounds) / 2);
}

// The slot must be read before the CAS on top. Here the buffer has 2 slots; the owner
// pushes 1..2 items, spins until a thief takes one, then drains the rest. So the indices
// wrap round the 2 slots every other burst, and the owner rewrites a slot within
// nanoseconds of a thief's CAS winning it. A thief that read its slot after the CAS would
// return the new item: one doubled, one lost. (With that mutation, 4 of 5 runs of 200k
// items caught it on a machine with load average 9.)
TEST(ChaseLevDequeStress, TinyBufferWrapsUnderThievesEachItemOnce) {
  sy::deque_stress::Config cfg;
  cfg.items = kWrapItems;
  cfg.thieves = 3;
  cfg.initial_capacity = 2;
  cfg.max_burst = 2;
  cfg.drain_one_in = 1;
  cfg.wait_for_steal = true;
  const auto r = sy::deque_stress::run(cfg);
  print("wrap", r);
  EXPECT_TRUE(r.ok());
  EXPECT_EQ(r.popped + r.stolen, kWrapItems);
  EXPECT_EQ(r.final_capacity, 2u) << "must wrap, not grow";
  // The owner waits for a steal in every burst of 1..2, so at least half are stolen.
  EXPECT_GE(2 * r.stolen, kWrapItems) << "the owner must have waited for a steal";
}

// The exact shape that catches the missing take fence in deque_broken_test within
// milliseconds, run against the real deque: it must stay clean, so what the broken
// build catches is the missing fence and not a flaw of the harness.
TEST(ChaseLevDequeStress, BrokenFenceShapeIsCleanWithTheFence) {
  sy::deque_stress::Config cfg = sy::deque_stress::broken_fence_config();
  std::size_t stolen = 0;
  for (int batch = 0; batch < kBrokenShapeBatches; ++batch) {
    cfg.seed = static_cast<std::uint64_t>(batch) + 1;
    const auto r = sy::deque_stress::run(cfg);
    ASSERT_TRUE(r.ok()) << "batch " << batch << ": lost " << r.lost << ", doubled "
                        << r.doubled << ", corrupt " << r.corrupt;
    stolen += r.stolen;
  }
  std::printf("[broken-shape] %d batches of %zu items clean, %zu stolen\n",
              kBrokenShapeBatches, cfg.items, stolen);
  EXPECT_GT(stolen, 0u) << "the thief must take part for the race to exist";
}

}  // namespace
