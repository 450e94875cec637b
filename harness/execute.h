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

// The ETA of a progress line before jobs[next]: each remaining job estimated by its
// scenario's mean so far (a fast scenario's mean says nothing of a slow one's); jobs of
// scenarios not yet timed are counted, not guessed. "estimating" before the first.
std::string eta_text(const Progress& pg, const std::vector<Job>& jobs, std::size_t next);

// Runs jobs in order, printing progress on stderr; after each, hands the entry to `done`
// (which writes the file). Returns false when interrupted (SIGINT).
bool run_jobs(const std::vector<Job>& jobs, Progress& pg, const std::function<void(nlohmann::json)>& done);

// A results file with its machine and build blocks, and no entries yet.
ResultsFile new_results(const std::string& path, const std::string& command, const std::vector<std::string>& applied);

}  // namespace sy::harness
