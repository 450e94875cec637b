// Command line and JSON output shared by the C++ peer programs (boost_fiber_peer,
// threads_peer). It implements the harness's child-process protocol:
//
//   prog --scenario NAME [--param key=value]... [--repetitions N]
//   prog --list                      (scenarios and their parameters, as JSON)
//   prog --scenario NAME [--param key=value]... --check
//                                    (validates the parameters, runs nothing)
//   prog --help                      (every flag, on stdout; exit 0)
//
// The command line is CLI11's: an unknown flag, a missing or malformed value
// ("--repetitions 2.5") or a stray argument is a usage error (exit 2).
//
// --list prints {"peer": P, "scenarios": [{"name", "summary", "params": {key: default},
// "spec": {key: {"default", "min", "max"} or {"default", "choices"}}, "notes": [...]}]}:
// the defaults as resolved on this machine (a default derived from the machine, e.g. a
// minimum stack size, is the derived value, and a note says why: the value after
// Params::machine_adjusted). A default that its own
// validation rejects makes --list a usage error (exit 2). --check prints
// {"status": "valid", "params": {...}, "notes": [...]} or a skip, so a test can give every
// listed default back on the command line without running the measurement.
//
// On success stdout carries exactly one JSON object:
//   {"status": "ok", "metrics": {"<metric>": {"unit": "ns", "samples": [...]}},
//    "peak_rss_kib": <ru_maxrss>, "notes": [...], "params": {<used, defaults filled>},
//    "distributions": {"<name>_quantiles_ns": {"quantiles": [...], "values": [[...] per repetition]}}}
//   ("distributions" only when the scenario records one)
// or {"status": "skipped"|"failed", "reason": "..."}. A usage error (unknown scenario,
// unknown or malformed parameter) prints a message on stderr and exits with code 2,
// printing nothing on stdout. Each sample is one timed repetition; one untimed warm-up
// repetition runs first.
#pragma once

#include <sys/resource.h>

#include <cstdint>
#include <cstdio>
#include <functional>
#include <iostream>
#include <map>
#include <memory>
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>
#include <set>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "../cli_integer.h"
#include "../param_text.h"  // the registry's parser: one grammar for --param values

namespace switchyard::peers {

// A bad command line; reported on stderr with exit code 2.
struct UsageError : std::runtime_error {
  using std::runtime_error::runtime_error;
};
// The scenario does not apply to this peer (or to these parameters); status "skipped".
struct Skipped : std::runtime_error {
  using std::runtime_error::runtime_error;
};
// The measurement ran but went wrong (wrong result, resource exhausted); status "failed".
struct Failed : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// The --param values given on the command line. A scenario asks for each key it
// understands, with its default and range; whatever it did not ask for is an error
// (check_all_used), so a misspelt key never silently measures the default.
class Params {
 public:
  explicit Params(std::map<std::string, std::string> given) : given_(std::move(given)) {}

  std::int64_t integer(const std::string& key, std::int64_t def, std::int64_t min,
                       std::int64_t max) {
    spec_[key] = {{"default", def}, {"min", min}, {"max", max}};
    // The written default goes through the same check: one outside its own range is a
    // usage error too (the defaults test relies on it).
    auto it = given_.find(key);
    const std::int64_t value = sy::param_text::integer<UsageError>(
        key, it != given_.end() ? it->second : std::to_string(def), min, max);
    used_[key] = value;
    return value;
  }

  // Records a value that the machine decided rather than the command line or the written
  // default: a default derived from the machine (carriers = its CPUs, at most a bound) or
  // a value raised to a minimum that depends on the CPU. The used value is what the result
  // reports under "params", and the note (in the result's notes) says why, so a run says
  // why its parameters differ from another machine's.
  void machine_adjusted(const std::string& key, std::int64_t written, std::int64_t used,
                        const std::string& why) {
    notes_.push_back(key + "=" + std::to_string(written) + " became " + std::to_string(used) +
                     " on this machine: " + why);
    if (used_.contains(key)) used_[key] = used;
  }

  std::string choice(const std::string& key, const std::string& def,
                     const std::vector<std::string>& allowed) {
    spec_[key] = {{"default", def}, {"choices", allowed}};
    auto it = given_.find(key);
    std::string value = sy::param_text::choice<UsageError>(key, it != given_.end() ? it->second : def, allowed);
    used_[key] = value;
    return value;
  }

  void check_all_used() const {
    for (const auto& [key, value] : given_)
      if (!used_.contains(key))
        throw UsageError("parameter " + key +
                         " is not used by this scenario (accepted: " + accepted() + ")");
  }

  bool given(const std::string& key) const { return given_.contains(key); }
  const nlohmann::json& used() const { return used_; }
  const nlohmann::json& spec() const { return spec_; }
  const std::vector<std::string>& notes() const { return notes_; }

 private:
  std::string accepted() const {
    std::string out;
    for (const auto& [key, value] : used_.items()) out += (out.empty() ? "" : ", ") + key;
    return out.empty() ? "none" : out;
  }

  std::map<std::string, std::string> given_;
  nlohmann::json used_ = nlohmann::json::object();
  nlohmann::json spec_ = nlohmann::json::object();
  std::vector<std::string> notes_;
};

// What one repetition reports.
class Report {
 public:
  void metric(const std::string& name, const std::string& unit, nlohmann::json value) {
    metrics_.push_back({name, unit, std::move(value)});
  }
  void note(const std::string& text) { notes_.insert(text); }
  // This repetition's row of a distribution (name ends in _quantiles_ns, values in ns, one
  // per quantile): the result carries it under "distributions", as the suite's children do.
  void quantiles(const std::string& name, std::vector<double> qs, std::vector<double> values) {
    distributions_.push_back({name, std::move(qs), std::move(values)});
  }

  struct Metric {
    std::string name, unit;
    nlohmann::json value;
  };
  struct Row {
    std::string name;
    std::vector<double> quantiles, values;
  };
  std::vector<Metric> metrics_;
  std::vector<Row> distributions_;
  std::set<std::string> notes_;
};

// A scenario, once its parameters are read: a repetition to run N+1 times (the first
// untimed), plus notes that hold for the whole run.
struct Plan {
  std::function<void(Report&)> repetition;
  std::vector<std::string> notes;
};

struct Scenario {
  const char* name;
  const char* summary;
  // Reads its parameters from Params (throwing UsageError or Skipped) and returns the
  // plan. Null: the scenario name is a suite scenario that this peer does not measure;
  // `summary` then gives the reason it is skipped.
  Plan (*prepare)(Params&);
};

// Scenario names of the suite. A name outside this list is a usage error; a
// name in it that a peer does not implement is reported as skipped.
inline const std::vector<std::string>& suite_scenarios() {
  static const std::vector<std::string> names = {"switch",      "yield",   "spawn_join", "skynet",
                                                 "io_pingpong", "channel", "mutex",      "timers",
                                                 "steal",       "http",    "gc_scan"};
  return names;
}

inline std::int64_t peak_rss_kib() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return usage.ru_maxrss;  // kilobytes on Linux
}

inline void print_json(const nlohmann::json& j) {
  std::cout << j.dump() << '\n';
  std::cout.flush();
}

// `extra_help`: what a peer reads before run_peer sees the command line (asio_peer's
// --listen), so that --help describes every flag the program accepts.
inline int run_peer(int argc, char** argv, const char* peer,
                    const std::vector<Scenario>& scenarios, const std::string& extra_help = "") {
  std::string scenario_name;
  std::map<std::string, std::string> given;
  long repetitions = 5;
  bool list = false;
  bool check = false;
  std::string names;
  for (const auto& n : suite_scenarios()) names += (names.empty() ? "" : ", ") + n;
  CLI::App app(std::string(peer) +
               " peer: measures one of the suite's scenarios in this process and prints one JSON "
               "object (the harness's peer protocol)");
  app.add_option("--scenario", scenario_name, "The scenario to measure: one of " + names)
      ->type_name("NAME");
  std::vector<std::string> param_texts;
  // One key=value per --param (the value may hold commas); repeated for several keys.
  app.add_option("--param", param_texts,
                 "A scenario parameter, repeatable; --list gives each scenario's keys, "
                 "defaults and ranges")
      ->allow_extra_args(false)
      ->type_name("KEY=VALUE");
  app.add_option("--repetitions", repetitions,
                 "Timed repetitions, one sample each (one untimed warm-up runs first)")
      ->check(sy::cli::integer_in(1, 1000))
      ->default_val(5)
      ->type_name("N");
  app.add_flag("--list", list, "Print the scenarios, their parameters and defaults as JSON");
  app.add_flag("--check", check, "Validate --scenario and its --param values; measure nothing");
  if (!extra_help.empty()) app.footer(extra_help);
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);  // the help on stdout, exit 0
  } catch (const CLI::ParseError& e) {
    // Every malformed command line exits 2 (CLI11's own codes differ per error).
    std::cerr << peer << ": " << e.what() << "\nRun '" << argv[0] << " --help' for the options.\n";
    return 2;
  }
  try {
    for (const std::string& kv : param_texts) {
      auto eq = kv.find('=');
      if (eq == std::string::npos || eq == 0)
        throw UsageError("--param " + kv + ": expected key=value");
      std::string key = kv.substr(0, eq);
      if (given.count(key)) throw UsageError("--param " + key + " given twice");
      given[key] = kv.substr(eq + 1);
    }
    if (list) {
      nlohmann::json out = nlohmann::json::array();
      for (const auto& s : scenarios) {
        nlohmann::json entry = {{"name", s.name}, {"summary", s.summary}};
        if (s.prepare) {
          // Prepares with every default: a default its own validation rejects throws
          // UsageError here (exit 2), so --list alone catches an invalid default.
          Params defaults({});
          try {
            s.prepare(defaults);
          } catch (const Skipped&) {
            // The scenario does not apply here; its parameters were all read first.
          } catch (const UsageError& e) {
            throw UsageError(std::string(s.name) + ": a default is invalid on this machine: " +
                             e.what());
          }
          entry["params"] = defaults.used();
          entry["spec"] = defaults.spec();
          entry["notes"] = defaults.notes();
        } else {
          entry["skipped"] = true;
        }
        out.push_back(entry);
      }
      print_json({{"peer", peer}, {"scenarios", out}});
      return 0;
    }
    if (scenario_name.empty()) throw UsageError("--scenario NAME is required");
  } catch (const UsageError& e) {
    std::cerr << peer << ": " << e.what() << '\n';
    return 2;
  }

  const Scenario* chosen = nullptr;
  for (const auto& s : scenarios)
    if (scenario_name == s.name) chosen = &s;
  bool in_suite = false;
  for (const auto& n : suite_scenarios()) in_suite |= (n == scenario_name);
  if (!in_suite) {
    std::cerr << peer << ": unknown scenario " << scenario_name << " (valid: " << names << ")\n";
    return 2;
  }
  if (!chosen || !chosen->prepare) {
    std::string reason =
        chosen ? chosen->summary : std::string(peer) + " has no " + scenario_name + " scenario";
    print_json({{"status", "skipped"}, {"reason", reason}});
    return 0;
  }

  Params params(given);
  Plan plan;
  try {
    plan = chosen->prepare(params);
    params.check_all_used();
    plan.notes.insert(plan.notes.end(), params.notes().begin(), params.notes().end());
    if (check) {
      print_json({{"status", "valid"}, {"params", params.used()}, {"notes", plan.notes}});
      return 0;
    }
  } catch (const UsageError& e) {
    std::cerr << peer << ": " << scenario_name << ": " << e.what() << '\n';
    return 2;
  } catch (const Skipped& e) {
    print_json({{"status", "skipped"}, {"reason", e.what()}});
    return 0;
  } catch (const std::exception& e) {
    print_json({{"status", "failed"}, {"reason", e.what()}});
    return 1;
  }

  try {
    Report warmup;
    plan.repetition(warmup);
    std::set<std::string> notes(plan.notes.begin(), plan.notes.end());
    notes.insert(warmup.notes_.begin(), warmup.notes_.end());
    nlohmann::json metrics = nlohmann::json::object();
    nlohmann::json distributions = nlohmann::json::object();
    for (long r = 0; r < repetitions; ++r) {
      Report report;
      plan.repetition(report);
      for (auto& m : report.metrics_) {
        auto& slot = metrics[m.name];
        slot["unit"] = m.unit;
        slot["samples"].push_back(m.value);
      }
      for (auto& d : report.distributions_) {
        auto& slot = distributions[d.name];
        slot["quantiles"] = d.quantiles;
        slot["values"].push_back(d.values);
      }
      notes.insert(report.notes_.begin(), report.notes_.end());
    }
    nlohmann::json result = {{"status", "ok"},
                              {"metrics", metrics},
                              {"peak_rss_kib", peak_rss_kib()},
                              {"notes", notes},
                              {"params", params.used()}};
    if (!distributions.empty()) result["distributions"] = distributions;
    print_json(result);
    return 0;
  } catch (const std::exception& e) {
    print_json({{"status", "failed"}, {"reason", e.what()}});
    return 1;
  }
}

}  // namespace switchyard::peers
