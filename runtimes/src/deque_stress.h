// Multi-thread stress for sy::ChaseLevDeque, shared by deque_test (correct deque) and
// deque_broken_test (the same deque built with SY_DEQUE_TEST_BROKEN_TAKE_FENCE).
//
// One owner pushes and pops, `thieves` threads steal. Every item is a slot in one array
// with a take counter, so the check at the end is exact: a counter at 0 is a lost item,
// above 1 a doubled one. Each item also carries a plain (non-atomic) payload that the
// owner writes just before push and every taker reads: a wrong value, or a ThreadSanitizer
// report, means the deque did not give the taker a happens-before edge from the push.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <thread>
#include <vector>

#include "switchyard/deque.h"

namespace sy::deque_stress {

struct Item {
  std::atomic<std::uint32_t> takes{0};  // relaxed increments; read after join
  std::uint32_t payload = 0;            // plain on purpose (see above)
};

struct Config {
  std::size_t items = 1'000'000;
  int thieves = 3;
  std::size_t max_burst = 256;  // the owner pushes bursts of 1..max_burst items
  // After each burst the owner pops a random part of it (about half: the deque grows and
  // the thieves get the rest), or, with probability 1/drain_one_in, pops until empty (so
  // its pops race the thieves for the last elements). 1 = always drain, 0 = never.
  std::size_t drain_one_in = 0;
  // After each burst, wait until a thief has taken something before popping: poll
  // size_approx() (reacting to a steal within nanoseconds, while the thief may still be
  // finishing it: the race the wrap test wants), yielding every 100 polls. Without it,
  // thieves on a loaded machine rarely catch a deque the owner drains at once.
  bool wait_for_steal = false;
  // A thief that found the deque empty this many times in a row yields its core (there
  // are more threads than the 2 cores); fewer means it misses short-lived items.
  int thief_spins = 64;
  std::size_t initial_capacity = 64;
  std::uint64_t seed = 1;
};

struct Report {
  std::size_t lost = 0;     // never taken
  std::size_t doubled = 0;  // taken more than once
  std::size_t corrupt = 0;  // pointer outside the array, nullptr success, wrong payload
  std::size_t popped = 0, stolen = 0, aborts = 0;
  std::size_t initial_capacity = 0, final_capacity = 0;
  double seconds = 0;
  bool ok() const { return lost == 0 && doubled == 0 && corrupt == 0; }
};

// The shape deque_broken_test runs in batches: short bursts (1..4) that the owner
// drains itself while one thief steals, so the owner's pop and the thief's steals race
// for the last two elements over and over; that is where a missing take fence shows.
// deque_test runs the same shape against the real deque, which must stay clean.
inline Config broken_fence_config() {
  Config cfg;
  cfg.items = 200'000;
  cfg.thieves = 1;
  cfg.max_burst = 4;
  cfg.drain_one_in = 1;
  return cfg;
}

// xorshift64*: cheap enough not to dominate the owner's loop.
struct Rng {
  std::uint64_t s;
  explicit Rng(std::uint64_t seed) : s(seed * 0x9E3779B97F4A7C15ull + 1) {}
  std::uint64_t next() {
    s ^= s >> 12;
    s ^= s << 25;
    s ^= s >> 27;
    return s * 0x2545F4914F6CDD1Dull;
  }
  std::size_t below(std::size_t n) { return static_cast<std::size_t>(next() % n); }
};

inline std::uint32_t payload_of(std::size_t index) {
  return static_cast<std::uint32_t>(index * 2654435761u) ^ 0x5A5A5A5Au;
}

inline Report run(const Config& cfg) {
  using Deque = ChaseLevDeque<Item*>;
  const std::size_t n = cfg.items;
  std::unique_ptr<Item[]> items(new Item[n]);
  Deque dq(cfg.initial_capacity);

  // One per thread, merged after join.
  struct Counts {
    std::size_t taken = 0, aborts = 0, corrupt = 0;
  };
  auto take = [&](Item* p, Counts& c) {
    const auto addr = reinterpret_cast<std::uintptr_t>(p);
    const auto lo = reinterpret_cast<std::uintptr_t>(items.get());
    const auto hi = reinterpret_cast<std::uintptr_t>(items.get() + n);
    if (addr < lo || addr >= hi || (addr - lo) % sizeof(Item) != 0) {
      ++c.corrupt;  // never dereference a pointer the deque made up
      return;
    }
    const std::size_t index = static_cast<std::size_t>(p - items.get());
    if (p->payload != payload_of(index)) ++c.corrupt;
    p->takes.fetch_add(1, std::memory_order_relaxed);  // relaxed: read after join
    ++c.taken;
  };

  std::atomic<bool> go{false};    // release by main, acquire by workers: start together
  std::atomic<bool> done{false};  // release by the owner after its final drain, acquire
                                  // by thieves: once seen, Empty means empty for good
  Counts owner_counts;
  std::vector<Counts> thief_counts(static_cast<std::size_t>(cfg.thieves));
  Report report;
  report.initial_capacity = dq.capacity();

  auto owner = [&] {
    while (!go.load(std::memory_order_acquire)) std::this_thread::yield();
    Rng rng(cfg.seed);
    Counts& c = owner_counts;
    std::size_t next = 0;
    auto push_next = [&] {
      items[next].payload = payload_of(next);
      dq.push(&items[next]);
      ++next;
    };
    while (next < n) {
      const std::size_t burst = 1 + rng.below(cfg.max_burst);
      for (std::size_t k = 0; k < burst && next < n; ++k) push_next();
      if (cfg.wait_for_steal) {
        // A thief may already have taken some: then wait for one more. 0 left (all
        // taken, or lost by a broken deque) must not wait for a steal that cannot come.
        const std::size_t pushed = dq.size_approx();
        for (unsigned spin = 1; pushed > 0 && dq.size_approx() >= pushed; ++spin) {
          if (spin % 100 == 0) std::this_thread::yield();
        }
      }
      const bool drain =
          cfg.drain_one_in == 1 || (cfg.drain_one_in > 1 && rng.below(cfg.drain_one_in) == 0);
      const std::size_t pops = drain ? SIZE_MAX : rng.below(burst + 1);
      for (std::size_t k = 0; k < pops; ++k) {
        Item* p = dq.pop();
        if (p == nullptr) break;
        take(p, c);
      }
    }
    while (Item* p = dq.pop()) take(p, c);
    report.final_capacity = dq.capacity();
    done.store(true, std::memory_order_release);
  };

  auto thief = [&](Counts& c) {
    while (!go.load(std::memory_order_acquire)) std::this_thread::yield();
    int idle = 0;
    for (;;) {
      const StealResult<Item*> r = dq.steal_ex();
      if (r.status == StealStatus::kSuccess) {
        if (r.item == nullptr) {
          ++c.corrupt;
        } else {
          take(r.item, c);
        }
        idle = 0;
      } else if (r.status == StealStatus::kAbort) {
        ++c.aborts;
      } else if (done.load(std::memory_order_acquire)) {
        break;
      } else if (++idle >= cfg.thief_spins) {
        std::this_thread::yield();  // more threads than cores: do not starve the owner
        idle = 0;
      }
    }
  };

  std::vector<std::thread> threads;
  threads.emplace_back(owner);
  for (auto& c : thief_counts) threads.emplace_back(thief, std::ref(c));
  const auto start = std::chrono::steady_clock::now();
  go.store(true, std::memory_order_release);
  for (auto& t : threads) t.join();
  report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

  report.popped = owner_counts.taken;
  report.corrupt = owner_counts.corrupt;
  for (const Counts& c : thief_counts) {
    report.stolen += c.taken;
    report.aborts += c.aborts;
    report.corrupt += c.corrupt;
  }
  for (std::size_t i = 0; i < n; ++i) {
    const std::uint32_t takes = items[i].takes.load(std::memory_order_relaxed);
    if (takes == 0) ++report.lost;
    if (takes > 1) ++report.doubled;
  }
  return report;
}

}  // namespace sy::deque_stress
