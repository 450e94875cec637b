// The list of scenarios, and parameter parsing (the /proc helpers live in helpers.cpp).
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <stdexcept>

#include "param_text.h"
#include "scenario.h"
#include "switchyard/handles.h"

namespace sy::scenarios {

// One line per scenario, in the order `switchyard list` and the report show them. Each k<Name> is
// defined in its own file (scenarios/<name>.cpp).
#define SY_FOR_EACH_SCENARIO(X) \
  X(kSwitch)                    \
  X(kYield)                     \
  X(kSpawnJoin)                 \
  X(kSkynet)                    \
  X(kSteal)                     \
  X(kIoPingpong)                \
  X(kChannel)                   \
  X(kMutex)                     \
  X(kTimers)                    \
  X(kStacks)                    \
  X(kHttp)                      \
  X(kGcScan)

#define SY_DECLARE(s) extern const Scenario s;
SY_FOR_EACH_SCENARIO(SY_DECLARE)
#undef SY_DECLARE

const std::vector<const Scenario*>& all() {
#define SY_ADDRESS(s) &s,
  static const std::vector<const Scenario*> list = {SY_FOR_EACH_SCENARIO(SY_ADDRESS)};
#undef SY_ADDRESS
  return list;
}

const Scenario& find(std::string_view name) {
  std::string names;
  for (const Scenario* s : all()) {
    if (s->name == name) return *s;
    names += (names.empty() ? "" : ", ") + std::string(s->name);
  }
  throw UsageError("unknown scenario '" + std::string(name) + "' (valid: " + names + ")");
}

nlohmann::json ParamSpec::parse(std::string_view text) const {
  if (fixed)
    throw UsageError("parameter " + name + " is fixed at " + def.dump() + " in this scenario");
  if (!choices.empty()) return param_text::choice<UsageError>(name, text, choices);
  return param_text::integer<UsageError>(name, text, min, max);
}

std::string ParamSpec::describe() const {
  std::string d = name + "=" + (def.is_string() ? def.get<std::string>() : def.dump());
  if (fixed) return d + " (fixed)";
  if (!choices.empty()) {
    std::string list;
    for (const auto& c : choices) list += (list.empty() ? "" : "|") + c;
    return d + " (" + list + ")";
  }
  return d + " (" + std::to_string(min) + ".." + std::to_string(max) + ")";
}

nlohmann::json child_json(const Outcome& o) {
  nlohmann::json j;
  j["status"] = o.status;
  if (o.status != "ok") {
    j["reason"] = o.reason;
    return j;
  }
  j["metrics"] = nlohmann::json::object();
  for (const auto& [name, m] : o.metrics) j["metrics"][name] = {{"unit", m.unit}, {"samples", m.samples}};
  j["peak_rss_kib"] = o.peak_rss_kib ? nlohmann::json(*o.peak_rss_kib) : nlohmann::json(nullptr);
  j["notes"] = o.notes;
  j["params"] = o.params;
  if (!o.distributions.empty()) {
    j["distributions"] = nlohmann::json::object();
    for (const auto& [name, d] : o.distributions)
      j["distributions"][name] = {{"quantiles", d.quantiles}, {"values", d.values}};
  }
  if (!o.carrier_counters.empty()) {
    std::vector<std::string> names(std::begin(CarrierCounters::kNames), std::end(CarrierCounters::kNames));
    j["carrier_counters"] = {{"counters", names}, {"values", o.carrier_counters}};
  }
  return j;
}

void Outcome::add_quantiles(const std::string& name, const std::vector<double>& quantiles,
                            const std::vector<double>& sorted_ns) {
  Distribution& d = distributions[name];
  if (!d.values.empty() && d.quantiles != quantiles)
    throw std::logic_error("distribution " + name + ": repetitions read at different quantiles");
  d.quantiles = quantiles;
  std::vector<double>& row = d.values.emplace_back();
  row.reserve(quantiles.size());
  for (double q : quantiles) row.push_back(percentile_sorted(sorted_ns, q * 100));
}

}  // namespace sy::scenarios
