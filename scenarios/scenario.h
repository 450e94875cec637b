// The scenario registry: what `switchyard` can measure, with which parameters, and how.
//
// A scenario is measured one of two ways:
//   - native: code compiled per variant in scenarios/<name>.cpp, run in a fresh child
//     process (`switchyard child ...`) through Scenario::run, which dispatches to the
//     variant with sy::with_variant. The child prints the protocol JSON (child_json).
//   - gbench: a Google Benchmark binary already measures it (switch, yield, spawn_join);
//     the harness runs that binary and converts its JSON. One source of truth.
//
// Adding a scenario: a file scenarios/<name>.cpp that defines `const Scenario k<Name>`
// (params, peers, run) and one line in SY_FOR_EACH_SCENARIO (scenarios/registry.cpp).
// This header is light on purpose: the harness includes it, and only the scenario files
// include the runtime templates, one translation unit each so they compile in parallel.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace sy::scenarios {

// A bad parameter or name on the command line (exit code 2).
struct UsageError : std::invalid_argument {
  using std::invalid_argument::invalid_argument;
};

struct ParamSpec {
  std::string name;
  std::string help;
  nlohmann::json def;                // the default (an integer or a string)
  std::int64_t min = 0, max = 0;     // integers: accepted range
  std::vector<std::string> choices;  // non-empty: a string parameter with these values
  bool fixed = false;                // recorded in results, not settable (e.g. yield's carriers)

  // Parses one command-line value; throws UsageError naming the parameter and what it accepts.
  nlohmann::json parse(std::string_view text) const;
  std::string describe() const;  // "fibers=100000 (1..10000000)"
};

// Options::idle_spin in microseconds, a parameter of the scenarios that set it.
// -1 (the default): the runtime's adaptive idle policy (sy::kIdleSpinAdaptive); 0: no spin.
inline const ParamSpec kIdleSpinParam{"idle_spin_us",
                                      "an idle carrier polls this long before blocking (Options::idle_spin); "
                                      "-1: the adaptive policy (the default), 0: off",
                                      -1, -1, 10000, {}, false};

// What one measurement produced (the child protocol, see results/SCHEMA.md).
struct Metric {
  std::string unit;
  std::vector<double> samples;
};
// A distribution recorded beside the metrics: the value at each quantile (in [0, 1],
// increasing), one row per repetition. Its name ends in `_quantiles_ns` and its values are
// nanoseconds (results/SCHEMA.md); the harness copies it into the entry under that name.
struct Distribution {
  std::vector<double> quantiles;
  std::vector<std::vector<double>> values;
};
// The quantiles a lateness distribution records: the body, and the tail to 1 in 10^4.
inline const std::vector<double> kLatenessQuantiles = {0, .1, .25, .5, .75, .9, .95, .99, .995, .999, .9999, 1};

struct Outcome {
  std::string status = "ok";  // ok | skipped | failed
  std::string reason;
  std::map<std::string, Metric> metrics;
  std::map<std::string, Distribution> distributions;
  std::optional<std::int64_t> peak_rss_kib;
  // The runtime's per-carrier scheduler counters (results/SCHEMA.md `carrier_counters`):
  // one row per repetition, in it one row per carrier of the counters in
  // sy::CarrierCounters::kNames order. Empty: not recorded.
  std::vector<std::vector<std::vector<std::uint64_t>>> carrier_counters;
  std::vector<std::string> notes;
  nlohmann::json params = nlohmann::json::object();

  static Outcome skipped(std::string why) {
    Outcome o;
    o.status = "skipped";
    o.reason = std::move(why);
    return o;
  }
  void add(const std::string& metric, const std::string& unit, double value) {
    Metric& m = metrics[metric];
    m.unit = unit;
    m.samples.push_back(value);
  }
  // One repetition's row of a distribution: `sorted_ns` (ascending) read at `quantiles`
  // by nearest rank (percentile_sorted).
  void add_quantiles(const std::string& name, const std::vector<double>& quantiles,
                     const std::vector<double>& sorted_ns);
};

// One repetition's carrier_counters row from Runtime::carrier_counters() (a template so
// that this header need not include the runtime).
template <class Counters>
std::vector<std::vector<std::uint64_t>> counter_rows(const std::vector<Counters>& per_carrier) {
  std::vector<std::vector<std::uint64_t>> rows;
  for (const Counters& c : per_carrier) {
    std::vector<std::uint64_t>& row = rows.emplace_back();
    for (unsigned i = 0; i < std::size(Counters::kNames); ++i) row.push_back(c[i]);
  }
  return rows;
}
nlohmann::json child_json(const Outcome&);

struct GbenchSource {
  std::string_view binary;   // in the same bin/ directory as switchyard
  std::string_view prefix;   // "BM_Yield/": the benchmark is prefix + variant or backend
  std::string_view counter;  // the user counter that is the metric ("ns_per_yield")
  std::string_view unit;
};

struct Scenario {
  std::string_view name;
  std::string_view summary;
  std::vector<ParamSpec> params;
  // Peers with a meaningful version of this scenario: what `--peer all` runs.
  std::vector<std::string_view> peers;
  // Peers whose numbers come from `gbench.binary` (e.g. BM_Yield/boost_fiber).
  std::vector<std::string_view> gbench_peers;
  std::optional<GbenchSource> gbench;
  // Entries per switch backend instead of per variant (the `switch` scenario).
  std::vector<std::string_view> backends;
  // Native scenarios: runs `repetitions` timed repetitions on the named variant, in the
  // calling (child) process. params holds every parameter, resolved and validated.
  Outcome (*run)(std::string_view variant, const nlohmann::json& params, int repetitions) = nullptr;
  // Operations with an instruction-count mode (`--instructions`): yield, spawn_join, switch.
  bool has_instructions = false;
  // Peers that accept only some of the parameters (Go has no stack size to set): peer ->
  // the parameters it is given. A peer not listed is given every settable parameter.
  std::vector<std::pair<std::string_view, std::vector<std::string_view>>> peer_params;
  // Checks a resolved combination beyond each parameter's range (skynet: fibers must be a
  // power of 10); throws UsageError. The harness calls it before running anything.
  void (*check)(const nlohmann::json& params) = nullptr;
  // Scenarios that drive servers (http): a peer, too, is measured in `switchyard child
  // --peer P` through this function, not by running the peer's program directly.
  Outcome (*run_peer)(std::string_view peer, const nlohmann::json& params, int repetitions) = nullptr;
  // The parameters variants are given and record (http: nginx's workers do not apply to
  // them); empty: every settable parameter.
  std::vector<std::string_view> variant_params;

  const ParamSpec* param(std::string_view n) const {
    for (const auto& p : params)
      if (p.name == n) return &p;
    return nullptr;
  }
};

const std::vector<const Scenario*>& all();
// Throws UsageError listing the valid names.
const Scenario& find(std::string_view name);

// skynet's tree, shared by `skynet` and `steal` (defined in skynet.cpp).
struct SkynetConfig {
  std::int64_t fibers, carriers, stack_kib;  // fibers = leaves, a power of 10
  bool guard;
  std::int64_t idle_spin_us = -1;  // Options::idle_spin in us, -1 adaptive (skynet's parameter; steal keeps the default)
};
SkynetConfig skynet_config(const nlohmann::json& params);  // UsageError unless a power of 10
// Why this variant cannot run this tree here (mapping or memory limits), or nullopt.
std::optional<std::string> skynet_cannot_run(std::string_view variant, const SkynetConfig&);
// One timed tree: seconds; throws std::runtime_error on a wrong sum. peak_live may be null.
// counters, if not null, receives the repetition's carrier_counters row (counter_rows).
double skynet_once(std::string_view variant, const SkynetConfig&, std::int64_t* peak_live,
                   std::vector<std::vector<std::uint64_t>>* counters = nullptr);
std::string skynet_stack_note(const SkynetConfig&);

// Helpers for native scenarios.
std::int64_t peak_rss_kib();                    // getrusage(RUSAGE_SELF).ru_maxrss
std::int64_t read_proc_sys(const char* path);   // -1 when unreadable
// Why `stacks` guarded stacks (a guard page each: two mappings) would not fit
// vm.max_map_count, with the process's own mappings; "" when they fit or the limit is
// unreadable. Said up front, as a skip, instead of failing midway.
std::string guarded_stacks_exceed_map_count(std::int64_t stacks);
std::int64_t mem_available_kib();              // MemAvailable in /proc/meminfo; -1 when unreadable
// The p-th percentile (0..100) of sorted values, nearest-rank.
double percentile_sorted(const std::vector<double>& sorted, double p);

}  // namespace sy::scenarios
