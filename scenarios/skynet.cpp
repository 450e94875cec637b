// Scenario `skynet`: the public fan-out benchmark (github.com/atemerev/skynet).
//
// A fiber with more than one leaf below it spawns 10 children, each over a tenth of its
// range, and joins them in order, summing their results; a leaf returns its number. With
// `fibers` leaves the tree has 1.111 x fibers fibers; the root is the runtime's main fiber.
//
// How much of the tree is alive at once is the scheduler's doing. FIFO (work sharing) runs
// the tree breadth first: every fiber has spawned its children before any leaf returns,
// so the whole tree (1.11M fibers for 1M leaves) is alive at once. Chase-Lev's owner pops
// the newest fiber first, so a carrier runs depth first and holds about depth x fan-out
// fibers plus what it stole. That is why such runs use small unguarded stacks by default:
// 1.11M guarded stacks would need 2.2M memory mappings (vm.max_map_count is 65530 by
// default, 262144 under `bench` as root), and even unguarded ones touch a page or two each.
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <stdexcept>
#include <string>

#include "scenario.h"
#include "switchyard/variants.h"

namespace sy::scenarios {
namespace {

// The highest live-fiber count the sampling leaves saw. relaxed: a statistic; it is read
// after rt.run() returned, which joins the carrier threads (that join orders every store).
std::atomic<std::int64_t> g_live_peak{0};

void note_live(std::int64_t n) {
  std::int64_t old = g_live_peak.load(std::memory_order_relaxed);
  while (n > old && !g_live_peak.compare_exchange_weak(old, n, std::memory_order_relaxed)) {
  }
}

template <class Rt>
std::uint64_t skynet(const Rt* rt, std::uint64_t num, std::uint64_t size) {
  if (size == 1) {
    // Every 1024th leaf samples the runtime's live count (one relaxed load of a counter
    // the spawns update anyway): ~1000 samples per million leaves, at least one in any
    // tree, so the sampling costs nothing measurable. A lower bound of the true peak.
    if ((num & 1023) == 0) note_live(rt->live());
    return num;
  }
  const std::uint64_t step = size / 10;
  std::array<JoinHandle<std::uint64_t>, 10> kids;
  for (std::uint64_t i = 0; i < 10; ++i)
    kids[i] = Rt::spawn([rt, n = num + i * step, step] { return skynet(rt, n, step); });
  std::uint64_t sum = 0;
  for (auto& k : kids) sum += k.join();
  return sum;
}

}  // namespace

SkynetConfig skynet_config(const nlohmann::json& p) {
  SkynetConfig cfg{p.at("fibers").get<std::int64_t>(), p.at("carriers").get<std::int64_t>(),
                   p.at("stack_kib").get<std::int64_t>(), p.at("guard").get<std::string>() == "on",
                   p.value("idle_spin_us", std::int64_t{-1})};
  // The tree is complete only when the leaves are a power of the fan-out.
  std::int64_t power = 1;
  while (power < cfg.fibers) power *= 10;
  if (power != cfg.fibers)
    throw UsageError("parameter fibers=" + std::to_string(cfg.fibers) + ": must be a power of 10");
  return cfg;
}

std::optional<std::string> skynet_cannot_run(std::string_view variant, const SkynetConfig& cfg) {
  // Fibers alive at once: the whole tree under a breadth-first scheduler (the scheduler's
  // trait, SchedulerPolicy::breadth_first: FIFO's); under a depth-first one (Chase-Lev) a
  // few hundred (depth x fan-out per carrier plus stolen subtrees), so no limit applies.
  const VariantInfo* v = find_variant(variant);
  if (!v || !v->breadth_first) return std::nullopt;
  const std::string sched(v->scheduler);
  const std::int64_t tree = cfg.fibers + (cfg.fibers - 1) / 9;
  if (cfg.guard) {
    if (const std::string why = guarded_stacks_exceed_map_count(tree); !why.empty())
      return "guard=on under " + sched + " (breadth first) keeps all " + std::to_string(tree) + " fibers alive: " + why;
  }
  // Each live fiber touches its stack's top pages (its block and saved frame): measured
  // 13,339,920 KiB peak RSS for 1,111,111 fibers (asm-pooled-fifo, 16 KiB stacks), 12 KiB
  // each: three 4 KiB pages. Counted in pages of this machine (64 KiB on some AArch64
  // kernels). More than the memory available would end in the OOM killer, not a result.
  const std::int64_t page_kib = std::max<std::int64_t>(4, sysconf(_SC_PAGESIZE) / 1024);
  const std::int64_t need_kib = tree * 3 * page_kib;
  const std::int64_t avail = mem_available_kib();
  if (avail >= 0 && need_kib > avail * 9 / 10)
    return sched + " (breadth first) keeps all " + std::to_string(tree) + " fibers alive: about " + std::to_string(need_kib / 1024) +
           " MiB resident, MemAvailable is " + std::to_string(avail / 1024) + " MiB";
  return std::nullopt;
}

double skynet_once(std::string_view variant, const SkynetConfig& cfg, std::int64_t* peak_live,
                   std::vector<std::vector<std::uint64_t>>* counters) {
  return sy::with_variant(variant, [&]<class V>() {
    using Rt = sy::Runtime<V>;
    sy::Options o;
    o.carriers = static_cast<unsigned>(cfg.carriers);
    o.stack_size = static_cast<std::size_t>(cfg.stack_kib) * 1024;
    o.guard = cfg.guard;
    if (cfg.idle_spin_us >= 0) o.idle_spin = std::chrono::microseconds(cfg.idle_spin_us);  // else adaptive
    g_live_peak.store(0, std::memory_order_relaxed);  // no carrier runs yet
    const auto leaves = static_cast<std::uint64_t>(cfg.fibers);
    std::uint64_t result = 0;
    double seconds = 0;
    {
      Rt rt(o);
      const Rt* rtp = &rt;
      // Timed: carriers start, the tree, carriers stop. Not timed: the runtime's
      // destruction (returning a million stacks to the kernel), as no peer times its own.
      const auto t0 = std::chrono::steady_clock::now();
      result = rt.run([rtp, leaves] { return skynet(rtp, 0, leaves); });
      seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      if (counters) *counters = counter_rows(rt.carrier_counters());
    }
    const std::uint64_t expected = leaves * (leaves - 1) / 2;  // leaves 0 .. n-1
    if (result != expected)
      throw std::runtime_error("skynet result " + std::to_string(result) + ", expected " + std::to_string(expected));
    if (peak_live) *peak_live = g_live_peak.load(std::memory_order_relaxed);
    return seconds;
  });
}

std::string skynet_stack_note(const SkynetConfig& cfg) {
  return "stacks: " + std::to_string(cfg.stack_kib) + " KiB, " +
         (cfg.guard ? "guarded (a guard page each)"
                    : "unguarded (carved from shared slabs, canary instead of a guard page)");
}

namespace {

Outcome run_skynet(std::string_view variant, const nlohmann::json& p, int repetitions) {
  const SkynetConfig cfg = skynet_config(p);
  if (auto why = skynet_cannot_run(variant, cfg)) return Outcome::skipped(*why);
  Outcome out;
  out.params = p;
  out.notes.push_back(skynet_stack_note(cfg));
  out.notes.push_back("fan-out 10, children joined in order; time_s: carriers' start, the tree and their "
                      "stop (rt.run), not the runtime's destruction");
  out.notes.push_back("peak_live_fibers: the runtime's live count (rt.live(), including the root), sampled "
                      "by every 1024th leaf (a close lower bound)");
  // One untimed warm-up first (the stack pool, page faults, caches), as the Go and
  // Boost.Fiber peers do. A wrong sum throws: the child reports it as a `failed` entry.
  out.notes.push_back("one untimed warm-up run first");
  (void)skynet_once(variant, cfg, nullptr);
  for (int r = 0; r < repetitions; ++r) {
    std::int64_t peak = 0;
    std::vector<std::vector<std::uint64_t>> counters;
    const double s = skynet_once(variant, cfg, &peak, &counters);
    out.add("time_s", "s", s);
    out.carrier_counters.push_back(std::move(counters));
    out.add("peak_live_fibers", "count", static_cast<double>(peak));
  }
  out.peak_rss_kib = peak_rss_kib();
  return out;
}

}  // namespace

extern const Scenario kSkynet{
    .name = "skynet",
    .summary = "fan-out 10 fiber tree, `fibers` leaves summed by their parents (skynet benchmark)",
    .params = {{"fibers", "leaves (a power of 10); the tree has 1.111x as many fibers", 1000000, 1, 100000000, {},
                false},
               {"carriers", "carrier threads", 2, 1, 64, {}, false},
               {"stack_kib", "usable stack per fiber (KiB)", 16, 8, 1024, {}, false},
               {"guard", "guard pages (off: unguarded stacks from slabs)", "off", 0, 0, {"on", "off"}, false},
               kIdleSpinParam},
    .peers = {"boost_fiber", "go", "coro"},
    .gbench_peers = {},
    .gbench = std::nullopt,
    .backends = {},
    .run = &run_skynet,
    .has_instructions = false,
    // Go's goroutine stacks grow on demand: it has no stack size or guard to set.
    // idle_spin_us is our runtime's option: neither peer has it.
    .peer_params = {{"go", {"fibers", "carriers"}},
                    {"boost_fiber", {"fibers", "carriers", "stack_kib", "guard"}},
                    {"coro", {"fibers", "carriers"}}},  // a coroutine frame has no stack to size
    .check = [](const nlohmann::json& p) { skynet_config(p); },
};

}  // namespace sy::scenarios
