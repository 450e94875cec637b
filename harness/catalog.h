// The catalogue: everything switchyard knows how to measure, as data. `switchyard list
// --json` prints it; harness/catalog.json is the machine-independent part, committed, and
// what the Python side (validators, analysis, peer tests) reads instead of lists of its own.
#pragma once

#include <nlohmann/json.hpp>

#include <optional>
#include <string_view>
#include <vector>

namespace sy::harness {

// Bumped when a field changes meaning or goes away (adding one does not bump it).
inline constexpr int kCatalogVersion = 1;

enum class Better { kLower, kHigher, kUndefined };

// A metric a results entry may carry (results/SCHEMA.md), or one the analysis derives.
struct MetricInfo {
  std::string_view name;   // "ns_per_yield"
  std::string_view unit;   // what its name promises: "ns"
  std::string_view label;  // for axes and tables: "time per yield"
  Better better;           // kUndefined: a property of the workload or a diagnostic
  bool derived = false;    // computed by the analysis from other metrics, never in results
};
const std::vector<MetricInfo>& metrics();
const MetricInfo* find_metric(std::string_view name);

// Units and how a reader sees them ("us" -> "µs").
struct UnitInfo {
  std::string_view name, text;
};
const std::vector<UnitInfo>& units();

// The catalogue as JSON. With availability: each peer's program path and whether it is
// built or installed here (varies by machine and build, so catalog.json leaves it out).
nlohmann::json catalog_json(bool with_availability);

}  // namespace sy::harness
