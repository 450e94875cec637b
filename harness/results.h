// The results file (schema: results/SCHEMA.md): machine, build, entries.
#pragma once

#include <nlohmann/json.hpp>

#include <string>
#include <vector>

namespace sy::harness {

inline constexpr int kSchemaVersion = 2;

// The machine as it is now: CPU, memory, kernel and the limits in effect, and the
// provenance of provenance.h.
nlohmann::json machine_info(const std::vector<std::string>& settings_applied);
// How this binary was built (from CMake compile definitions), the commit embedded at build
// time, and how the source checkout compares with it now (provenance.h).
nlohmann::json build_info();
// {"unit", "samples", "median", "min", "max"}
nlohmann::json metric_json(const std::string& unit, const std::vector<double>& samples);
double median(std::vector<double> v);
// The p-quantile (p in [0, 1]) by linear interpolation between closest ranks (numpy's
// default), of a non-empty vector.
double quantile(std::vector<double> v, double p);

// ---- version 2: measurements in several fresh processes (rounds)

// One run's entry (execute()) in the pooled shape, as round `round`: each metric, each
// distribution and carrier_counters get `runs` (the round, once per sample or row); the
// entry gets runs = [{round, status, reason, peak_rss_kib, elapsed_s}] (elapsed_s < 0:
// null). Also reads a version-1 entry (merge), whose samples all come from one process.
nlohmann::json as_round(nlohmann::json entry, int round, double elapsed_s);
// Shifts every round number in an entry in the pooled shape by `offset` (merge).
void shift_rounds(nlohmann::json& entry, int offset);
// The entry of one measurement from its parts (each in the pooled shape, in order):
// samples, rows and run records concatenated (nothing dropped), median/min/max recomputed;
// status ok only if every run was; otherwise failed (any failed run) or skipped, the reason
// naming the round; peak_rss_kib the largest; notes kept once each; params, repetitions and
// the rest from the first part with an ok run (else the first).
nlohmann::json pool_entries(const std::vector<nlohmann::json>& parts);

// The noise_floor object from its rounds ([{round, start, end}]): workload, metric, unit,
// rounds, drift (median of every end sample against every start sample, relative) and
// floor ((p95 - p5) / 2 / median over every sample); drift and floor null without samples.
nlohmann::json noise_floor_json(const std::string& workload, const nlohmann::json& rounds);
// "2026-11-28T07:10:00Z"
std::string utc_now();

struct ResultsFile {
  std::string path;
  nlohmann::json doc;  // everything but "entries" (noise_floor included); a "load_average" in it gets its "after"
                       // from every write
  nlohmann::json entries = nlohmann::json::array();
  // Writes atomically (temporary file + rename), so a reader or an interruption never
  // sees half a file. Throws std::runtime_error on failure.
  void write() const;
  nlohmann::json full() const;
};

// Checks, before anything is measured, that a results file can be written at `path` as
// write() does it (not a directory; a temporary creatable beside it). Leaves nothing
// behind; throws std::runtime_error saying why not.
void check_writable(const std::string& path);

}  // namespace sy::harness
