// Execution: running planned jobs (plan.h) in fresh child processes with timeouts, and
// turning what each child did into a results entry (results/SCHEMA.md).
#pragma once

#include <nlohmann/json.hpp>

#include <chrono>
#include <cstddef>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "plan.h"
#include "results.h"

namespace sy::harness {

// The directory switchyard runs from: where the benchmarks and peers are built.
std::string bin_dir();
// "1:05", "2:03:04".
std::string fmt_duration(double seconds);

// One job, in a child (a benchmark binary, a peer, `switchyard child` or callgrind). A
// child that crashes or times out becomes a `failed` entry; nothing throws for it.
nlohmann::json execute(const Job& job);

// What a progress line ends with: each metric of an entry as
// ": name median [min–max] unit; ...", "" for an entry without values.
std::string measured_text(const nlohmann::json& entry);

struct Progress {
  std::size_t total = 0, finished = 0;
  std::chrono::steady_clock::time_point t0 = std::chrono::steady_clock::now();
  // Seconds taken and measurements finished, per scenario: the ETA's estimates.
  std::map<std::string, std::pair<double, std::size_t>> seconds_per_scenario;
  double elapsed() const { return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(); }
};

// The ETA of a progress line, given the measurements still to start (the next first):
// each estimated by its scenario's mean so far (a fast scenario's mean says nothing of a
// slow one's); those of scenarios not yet timed are counted, not guessed. "estimating"
// before the first.
std::string eta_text(const Progress& pg, const std::vector<const Job*>& remaining);

// How a campaign is run (results/SCHEMA.md, `design`): rounds, their order and seed, the
// shard, isolation, the noise floor, and what a budget reduced.
struct Design {
  Order order = Order::sequential;
  unsigned long long seed = 0;
  std::string shard;  // "K/N"; empty: null
  bool pin_carriers = false, pin_loadgen = false;
  std::vector<int> cpus;  // the CPUs of the affinity mask, recorded when pinning
  bool noise_floor = false;
  double budget_s = 0;  // 0: null
  std::vector<std::string> reductions;
  // rounds: the schedule's (the largest Job::runs).
  nlohmann::json to_json(int rounds) const;
};

// The reference workload in a fresh `switchyard child --reference`: its samples (ns per
// iteration), or empty with `why` set when it failed.
std::vector<double> measure_reference(std::string& why);

// Runs the schedule (plan.h) of `jobs`: every slot in a fresh process, each round framed by
// a noise-floor measurement when d.noise_floor (sequential: once before and once after
// everything, as round 0). After each measurement, `entry` gets the job's index and its
// entry pooled over every run so far (results.h, pool_entries); after each noise-floor
// measurement, `noise` gets the whole noise_floor object. Progress on stderr says the
// round. Returns false when interrupted (SIGINT); what finished was handed over.
bool run_rounds(const std::vector<Job>& jobs, const Design& d, Progress& pg,
                const std::function<void(std::size_t, const nlohmann::json&)>& entry,
                const std::function<void(const nlohmann::json&)>& noise);

// A results file with its machine, build and design blocks, no noise floor and no entries yet.
ResultsFile new_results(const std::string& path, const std::string& command, const std::vector<std::string>& applied,
                        const nlohmann::json& design);

}  // namespace sy::harness
