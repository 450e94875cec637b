// Scenario `mutex`: `fibers` fibers on `carriers` carriers contend for one sy::Mutex.
//
// Each fiber does its share of `ops` iterations of: lock; `inside` steps of a shared
// linear congruential generator (a dependent chain the compiler cannot fold into one add);
// unlock; `outside` steps of a private generator (the non-critical section). The threads
// peer (std::mutex) and the Go peer (sync.Mutex) run the same loop with the same
// parameters. ns_per_lock = wall time / ops (one lock + critical section + unlock + the
// non-critical section, per iteration); time_s = the whole timed section.
//
// Correctness is checked, not assumed: the shared generator applied ops x inside times
// gives one known value whatever order the fibers ran in (every step is the same
// function), and the iteration count must be exactly ops.
#include <chrono>
#include <cstdint>
#include <mutex>
#include <stdexcept>
#include <string>
#include <vector>

#include "lcg.h"
#include "scenario.h"
#include "switchyard/primitives.h"
#include "switchyard/variants.h"

namespace sy::scenarios {
namespace {

struct MutexConfig {
  std::int64_t fibers, carriers, ops, inside, outside;
};

template <class V>
double mutex_once(const MutexConfig& cfg) {
  using Rt = sy::Runtime<V>;
  sy::Options o;
  o.carriers = static_cast<unsigned>(cfg.carriers);
  o.stack_size = 32 * 1024;
  o.guard = false;  // 1000s of fibers: slabs, not two mappings each
  sy::Mutex<Rt> mu;
  std::uint64_t shared = 1;  // guarded by mu
  std::int64_t count = 0;    // guarded by mu
  std::vector<std::uint64_t> sinks(static_cast<std::size_t>(cfg.fibers));
  double ns = 0;
  Rt rt(o);
  rt.run([&] {
    // Every worker is spawned, then parks on the gate; the clock starts when the gate
    // opens, so spawning is outside the timed section (as the peers start their threads
    // and goroutines first).
    sy::Mutex<Rt> gate_mu;
    sy::CondVar<Rt> gate_cv;
    bool open = false;  // guarded by gate_mu
    std::vector<JoinHandle<void>> workers;
    workers.reserve(static_cast<std::size_t>(cfg.fibers));
    for (std::int64_t t = 0; t < cfg.fibers; ++t) {
      const std::int64_t mine = cfg.ops / cfg.fibers + (t < cfg.ops % cfg.fibers ? 1 : 0);
      workers.push_back(Rt::spawn([&, t, mine] {
        {
          std::unique_lock g(gate_mu);
          gate_cv.wait(g, [&] { return open; });
        }
        std::uint64_t local = static_cast<std::uint64_t>(t) + 1;
        for (std::int64_t i = 0; i < mine; ++i) {
          {
            std::lock_guard g(mu);
            ++count;
            for (std::int64_t k = 0; k < cfg.inside; ++k) shared = shared * kLcgA + kLcgC;
          }
          for (std::int64_t k = 0; k < cfg.outside; ++k) local = local * kLcgA + kLcgC;
        }
        sinks[static_cast<std::size_t>(t)] = local;  // keeps the private work observable
      }));
    }
    const auto t0 = std::chrono::steady_clock::now();
    {
      std::lock_guard g(gate_mu);
      open = true;
    }
    gate_cv.notify_all();
    for (auto& w : workers) w.join();
    ns = std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - t0).count();
  });
  const std::uint64_t expect = lcg_skip(1, static_cast<std::uint64_t>(cfg.ops * cfg.inside));
  if (count != cfg.ops || shared != expect)
    throw std::runtime_error("mutex: " + std::to_string(count) + " critical sections (expected " +
                             std::to_string(cfg.ops) + "), shared state " + std::to_string(shared) +
                             (shared == expect ? " (right)" : " (wrong: a lost update)"));
  return ns;
}

Outcome run_mutex(std::string_view variant, const nlohmann::json& p, int repetitions) {
  const MutexConfig cfg{p.at("fibers").get<std::int64_t>(), p.at("carriers").get<std::int64_t>(),
                        p.at("ops").get<std::int64_t>(), p.at("inside").get<std::int64_t>(),
                        p.at("outside").get<std::int64_t>()};
  Outcome out;
  out.params = p;
  out.notes.push_back(std::to_string(cfg.fibers) + " fibers on " + std::to_string(cfg.carriers) +
                      " carriers share ops iterations of: sy::Mutex lock, " + std::to_string(cfg.inside) +
                      " steps of a shared LCG, unlock, " + std::to_string(cfg.outside) +
                      " steps of a private LCG; ns_per_lock = wall time / ops, time_s = wall time");
  out.notes.push_back("sy::Mutex hands ownership to the first waiter (FIFO, no barging); spawning is "
                      "outside the timed section (the fibers wait on a CondVar gate); stacks 32 KiB unguarded");
  sy::with_variant(variant, [&]<class V>() {
    (void)mutex_once<V>(cfg);  // warm-up
    for (int r = 0; r < repetitions; ++r) {
      const double ns = mutex_once<V>(cfg);
      out.add("ns_per_lock", "ns", ns / static_cast<double>(cfg.ops));
      out.add("time_s", "s", ns / 1e9);
    }
  });
  out.peak_rss_kib = peak_rss_kib();
  return out;
}

}  // namespace

extern const Scenario kMutex{
    .name = "mutex",
    .summary = "fibers contending for one mutex (short critical section, short private work): ns per lock",
    .params = {{"fibers", "contending fibers (threads / goroutines for the peers)", 100, 1, 100000, {}, false},
               {"carriers", "carrier threads (threads: CPUs; Go: GOMAXPROCS)", 2, 1, 64, {}, false},
               {"ops", "lock/unlock pairs in all, split evenly over the fibers", 1000000, 1, 1000000000, {}, false},
               {"inside", "steps of the shared LCG inside the critical section", 4, 0, 1000, {}, false},
               {"outside", "steps of a private LCG outside it (non-critical work)", 16, 0, 100000, {}, false}},
    .peers = {"threads", "go", "coro"},
    .gbench_peers = {},
    .gbench = std::nullopt,
    .backends = {},
    .run = &run_mutex,
    .has_instructions = false,
    .peer_params = {},
    .check = [](const nlohmann::json& p) {
      if (p.at("fibers").get<std::int64_t>() > p.at("ops").get<std::int64_t>())
        throw UsageError("parameter fibers=" + p.at("fibers").dump() + ": more fibers than ops (" +
                         p.at("ops").dump() + "); every fiber needs at least one iteration");
    },
};

}  // namespace sy::scenarios
