// Scenario `steal`: how a workload scales over carriers (sweep carriers=1,2,...).
//
// Two workloads, both all spawn and join, nothing else to wait for:
//   skynet  the tree of the `skynet` scenario (same code, same checks).
//   fib     fine-grained fork-join: fib(n) spawns a fiber for fib(n-1), computes fib(n-2)
//           itself and joins; below `cutoff` it recurses sequentially, so each fiber's
//           own work is small (fib(cutoff-1): ~100-300 calls, well under a microsecond
//           per leaf task) and the scheduler's costs dominate. The result is checked.
// One time_s per repetition; the speedup is time(1 carrier) / time(N) from one run.
// Work stealing should scale; one shared FIFO queue (work sharing) contends on its lock.
#include <chrono>
#include <cstdint>
#include <stdexcept>
#include <string>

#include "scenario.h"
#include "switchyard/variants.h"

namespace sy::scenarios {
namespace {

// noinline: one real call per node, so the amount of work does not depend on how far
// the compiler would unroll or memoise a recursion it can see through.
[[gnu::noinline]] std::uint64_t fib_seq(int n) { return n < 2 ? static_cast<std::uint64_t>(n) : fib_seq(n - 1) + fib_seq(n - 2); }

template <class Rt>
std::uint64_t fib_par(int n, int cutoff) {
  if (n < cutoff) return fib_seq(n);
  auto h = Rt::spawn([n, cutoff] { return fib_par<Rt>(n - 1, cutoff); });
  const std::uint64_t b = fib_par<Rt>(n - 2, cutoff);
  return h.join() + b;
}

std::uint64_t fib_expected(int n) {
  std::uint64_t a = 0, b = 1;
  for (int i = 0; i < n; ++i) {
    const std::uint64_t t = a + b;
    a = b;
    b = t;
  }
  return a;
}

// Fibers a fib_par(n) spawns: one per call with n >= cutoff, so F(k) = 1 + F(k-1) + F(k-2)
// for k >= cutoff and 0 below (iterated: the recursion would be as slow as fib itself).
std::int64_t fib_fibers(int n, int cutoff) {
  std::int64_t prev2 = 0, prev1 = 0;  // F(k-2), F(k-1)
  for (int k = 0; k <= n; ++k) {
    const std::int64_t f = k < cutoff ? 0 : 1 + prev1 + prev2;
    prev2 = prev1;
    prev1 = f;
  }
  return prev1;
}

double fib_once(std::string_view variant, const nlohmann::json& p, std::vector<std::vector<std::uint64_t>>* counters) {
  const int n = static_cast<int>(p.at("fib_n").get<std::int64_t>());
  const int cutoff = static_cast<int>(p.at("cutoff").get<std::int64_t>());
  return sy::with_variant(variant, [&]<class V>() {
    using Rt = sy::Runtime<V>;
    sy::Options o;
    o.carriers = static_cast<unsigned>(p.at("carriers").get<std::int64_t>());
    o.stack_size = static_cast<std::size_t>(p.at("stack_kib").get<std::int64_t>()) * 1024;
    o.guard = p.at("guard").get<std::string>() == "on";
    std::uint64_t result = 0;
    double seconds = 0;
    {
      Rt rt(o);
      const auto t0 = std::chrono::steady_clock::now();
      result = rt.run([n, cutoff] { return fib_par<Rt>(n, cutoff); });
      seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      if (counters) *counters = counter_rows(rt.carrier_counters());
    }
    if (result != fib_expected(n))
      throw std::runtime_error("fib(" + std::to_string(n) + ") = " + std::to_string(result) + ", expected " +
                               std::to_string(fib_expected(n)));
    return seconds;
  });
}

void check_steal(const nlohmann::json& p) {
  if (p.at("workload").get<std::string>() == "skynet") skynet_config(p);
}

Outcome run_steal(std::string_view variant, const nlohmann::json& p, int repetitions) {
  Outcome out;
  out.params = p;
  const bool skynet = p.at("workload").get<std::string>() == "skynet";
  if (skynet) {
    const SkynetConfig cfg = skynet_config(p);
    if (auto why = skynet_cannot_run(variant, cfg)) return Outcome::skipped(*why);
    out.notes.push_back("workload skynet: " + std::to_string(cfg.fibers) + " leaves, fan-out 10 (as the skynet scenario)");
    out.notes.push_back(skynet_stack_note(cfg));
    // One untimed warm-up first (the stack pool, page faults, caches), as the Go peer's
    // protocol does: otherwise the first sample of every fresh process is a cold start.
    (void)skynet_once(variant, cfg, nullptr);
    for (int r = 0; r < repetitions; ++r)
      out.add("time_s", "s", skynet_once(variant, cfg, nullptr, &out.carrier_counters.emplace_back()));
  } else {
    const int n = static_cast<int>(p.at("fib_n").get<std::int64_t>());
    const int cutoff = static_cast<int>(p.at("cutoff").get<std::int64_t>());
    out.notes.push_back("workload fib: fib(" + std::to_string(n) + "), a fiber per call with n >= " +
                        std::to_string(cutoff) + " (" + std::to_string(fib_fibers(n, cutoff)) +
                        " fibers), sequential below");
    out.notes.push_back("stacks: " + std::to_string(p.at("stack_kib").get<std::int64_t>()) + " KiB, " +
                        (p.at("guard").get<std::string>() == "on" ? "guarded" : "unguarded"));
    (void)fib_once(variant, p, nullptr);  // untimed warm-up, as above
    for (int r = 0; r < repetitions; ++r) out.add("time_s", "s", fib_once(variant, p, &out.carrier_counters.emplace_back()));
  }
  out.notes.push_back("time_s: carriers' start, the work and their stop (rt.run), after one untimed warm-up run; "
                      "speedup = time at 1 carrier / time at N, medians from one run");
  out.peak_rss_kib = peak_rss_kib();
  return out;
}

}  // namespace

extern const Scenario kSteal{
    .name = "steal",
    .summary = "scaling over carriers: skynet and fine-grained fork-join fib (sweep carriers=1,2)",
    .params = {{"workload", "skynet | fib (fork-join)", "fib", 0, 0, {"skynet", "fib"}, false},
               {"carriers", "carrier threads", 1, 1, 64, {}, false},
               {"fibers", "skynet: leaves (a power of 10)", 1000000, 1, 100000000, {}, false},
               {"fib_n", "fib: n", 32, 1, 45, {}, false},
               {"cutoff", "fib: calls with n below it run sequentially in their fiber", 12, 2, 45, {}, false},
               {"stack_kib", "usable stack per fiber (KiB)", 16, 8, 1024, {}, false},
               {"guard", "guard pages (off: unguarded stacks from slabs)", "off", 0, 0, {"on", "off"}, false}},
    // Go's speedup over GOMAXPROCS beside ours (scenarios/peers/go/steal.go: the same two
    // workloads and checks).
    .peers = {"go"},
    .gbench_peers = {},
    .gbench = std::nullopt,
    .backends = {},
    .run = &run_steal,
    .has_instructions = false,
    // Goroutine stacks grow on demand: no stack size or guard to set.
    .peer_params = {{"go", {"workload", "carriers", "fibers", "fib_n", "cutoff"}}},
    .check = &check_steal,
};

}  // namespace sy::scenarios
