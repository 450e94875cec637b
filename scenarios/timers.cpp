// Scenario `timers`: many sleeping fibers, how late each one wakes.
//
// `fibers` fibers each sleep a random 0..max_ms milliseconds, starting from their first
// run (so the spawn loop's own duration does not count as lateness). Lateness = the time
// the fiber runs again minus its deadline: it includes the deadline heap, the carrier's
// idle sleep granularity and the run-queue wait behind the other fibers woken at once.
// A million-scale sleeper set is the reason for small, unguarded stacks: 100k guarded
// stacks would need 200k memory mappings, over Linux's default vm.max_map_count (65530).
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "scenario.h"
#include "switchyard/variants.h"

namespace sy::scenarios {
namespace {

struct TimersConfig {
  std::int64_t fibers, max_ms, stack_kib, carriers;
  bool guard;
};

template <class V>
void one_repetition(const TimersConfig& cfg, std::uint64_t seed, Outcome& out) {
  using Rt = sy::Runtime<V>;
  sy::Options o;
  o.carriers = static_cast<unsigned>(cfg.carriers);
  o.stack_size = static_cast<std::size_t>(cfg.stack_kib) * 1024;
  o.guard = cfg.guard;
  const auto n = static_cast<std::size_t>(cfg.fibers);
  std::vector<double> late_us(n);
  // The sleeps are drawn up front so a fiber's stack holds no generator state.
  std::vector<std::int32_t> sleep_us(n);
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<std::int32_t> dist(0, static_cast<std::int32_t>(cfg.max_ms * 1000));
  for (auto& s : sleep_us) s = dist(rng);

  const auto t0 = std::chrono::steady_clock::now();
  {
    Rt rt(o);
    rt.run([&] {
      for (std::size_t i = 0; i < n; ++i) {
        Rt::spawn([&late_us, &sleep_us, i] {
          const auto deadline = sy::Clock::now() + std::chrono::microseconds(sleep_us[i]);
          Rt::sleep_until(deadline);
          late_us[i] = std::chrono::duration<double, std::micro>(sy::Clock::now() - deadline).count();
        }).detach();
      }
    });
  }  // the runtime's stacks are returned before the clock stops
  const double time_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::sort(late_us.begin(), late_us.end());
  out.add("lateness_p50_us", "us", percentile_sorted(late_us, 50));
  out.add("lateness_p99_us", "us", percentile_sorted(late_us, 99));
  out.add("lateness_max_us", "us", late_us.back());
  // The whole distribution too (the CDF figure), in ns as the schema's distributions are.
  for (double& v : late_us) v *= 1000.0;
  out.add_quantiles("lateness_quantiles_ns", kLatenessQuantiles, late_us);
  out.add("time_s", "s", time_s);
}

Outcome run_timers(std::string_view variant, const nlohmann::json& p, int repetitions) {
  TimersConfig cfg{p.at("fibers").get<std::int64_t>(), p.at("max_ms").get<std::int64_t>(),
                   p.at("stack_kib").get<std::int64_t>(), p.at("carriers").get<std::int64_t>(),
                   p.at("guard").get<std::string>() == "on"};
  Outcome out;
  out.params = p;
  if (cfg.guard) {
    // A guarded stack is two mappings (guard + usable); say so instead of failing midway.
    if (const std::string why = guarded_stacks_exceed_map_count(cfg.fibers); !why.empty())
      return Outcome::skipped("guard=on with " + std::to_string(cfg.fibers) + " fibers needs " + why +
                              " (bench as root raises it to 262144)");
    out.notes.push_back("stacks: " + std::to_string(cfg.stack_kib) + " KiB, guarded (a guard page each)");
  } else {
    out.notes.push_back("stacks: " + std::to_string(cfg.stack_kib) +
                        " KiB, unguarded (carved from shared slabs, canary instead of a guard page)");
  }
  out.notes.push_back("each fiber sleeps a uniform random 0.." + std::to_string(cfg.max_ms) +
                      " ms from its first run; lateness = wake time - deadline");
  sy::with_variant(variant, [&]<class V>() {
    for (int r = 0; r < repetitions; ++r) one_repetition<V>(cfg, 0x5EED0000u + static_cast<unsigned>(r), out);
  });
  out.peak_rss_kib = peak_rss_kib();
  return out;
}

}  // namespace

extern const Scenario kTimers{
    .name = "timers",
    .summary = "sleeping fibers with random deadlines: wake lateness percentiles",
    .params = {{"fibers", "sleeping fibers", 100000, 1, 10000000, {}, false},
               {"max_ms", "longest sleep (ms); each draws uniform 0..max_ms", 200, 0, 60000, {}, false},
               {"stack_kib", "usable stack per fiber (KiB)", 16, 8, 1024, {}, false},
               {"guard", "guard pages (off: unguarded stacks from slabs)", "off", 0, 0, {"on", "off"}, false},
               {"carriers", "carrier threads", 1, 1, 64, {}, false}},
    .peers = {"coro"},
    .gbench_peers = {},
    .gbench = std::nullopt,
    .backends = {},
    .run = &run_timers,
    .has_instructions = false,
    // The coroutine peer's sleepers are frames, not stacks: no stack size or guard.
    .peer_params = {{"coro", {"fibers", "max_ms", "carriers"}}},
};

}  // namespace sy::scenarios
