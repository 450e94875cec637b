// The results file (schema: results/SCHEMA.md): machine, build, entries.
#pragma once

#include <nlohmann/json.hpp>

#include <string>
#include <vector>

namespace sy::harness {

inline constexpr int kSchemaVersion = 1;

// The machine as it is now: CPU, memory, kernel and the limits in effect, and the
// provenance of provenance.h.
nlohmann::json machine_info(const std::vector<std::string>& settings_applied);
// How this binary was built (from CMake compile definitions), the commit embedded at build
// time, and how the source checkout compares with it now (provenance.h).
nlohmann::json build_info();
// {"unit", "samples", "median", "min", "max"}
nlohmann::json metric_json(const std::string& unit, const std::vector<double>& samples);
double median(std::vector<double> v);
// "2026-11-28T07:10:00Z"
std::string utc_now();

struct ResultsFile {
  std::string path;
  nlohmann::json doc;  // everything but "entries"; a "load_average" in it gets its "after"
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
