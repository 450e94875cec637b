// Planning: what a command line asks for, turned into the list of measurements (jobs).
// A pure function of the selection and the catalogues (scenarios, variants, peers): it
// runs nothing and reads no file, so its rules are unit-tested (plan_test.cpp).
#pragma once

#include <nlohmann/json.hpp>

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "profiles.h"
#include "scenario.h"

namespace sy::harness {

// A peer: another system measured on the same scenarios (scenarios/peers/, go/).
struct Peer {
  std::string_view name;
  std::string_view binary;  // its program in switchyard's directory; empty: no program of its own
  std::string_view note;
  // Peers without a program of their own, measured by the http driver: the server it
  // starts from switchyard's directory (eventloop), or a system program (nginx).
  std::string_view server = {}, system_program = {};
};
const std::vector<Peer>& peers();
// Throws UsageError listing the valid names.
const Peer& find_peer(std::string_view name);

// One measurement: one scenario, one variant/peer/backend, one set of parameter values.
struct Job {
  const scenarios::Scenario* sc = nullptr;
  std::string variant, peer, backend;  // exactly one is set
  nlohmann::json params;               // every parameter of the scenario, resolved
  nlohmann::json sent;                 // the settable ones that apply (what a child is given)
  int repetitions = 5;
  int runs = 1;  // fresh processes (rounds) this job is measured in
  bool instructions = false;
  double timeout_s = 900;
  double min_time = 0;
  long instr_ops = 0;

  std::string label() const { return !variant.empty() ? variant : !peer.empty() ? peer : backend; }
  // What --filter matches: "scenario/label[/key=value...]" (settable parameters only).
  std::string name() const;
};

// What `run` (or one item of a `bench` profile) asks for, as given.
struct Selection {
  std::vector<std::string> scenarios, variants, peers;  // names, or "all"
  bool variants_given = false;  // false: all variants unless peers were given
  std::map<std::string, std::string> params;  // as given: "a,b" sweeps
  int repetitions = 5;
  bool repetitions_given = false;  // given on the command line: refused where it cannot apply
  bool instructions = false;
  double timeout_s = 900;
  double min_time = 0;  // 0 = Google Benchmark's default; given: a gbench scenario must be selected
  long instr_ops = 0;   // 0 = the default per operation; given: --instructions must be too
  std::string filter;  // a regular expression over Job::name(); a leading '-' negates
};

// Operations an instruction count runs when --instr-ops is not given.
long default_instr_ops(std::string_view scenario);

// Turns a selection into jobs, validating every name and value first (UsageError,
// sy::UnknownVariant). An option that no selected scenario uses is refused (UsageError
// naming it and why) rather than ignored: --variant where every scenario runs per switch
// backend, --min-time without a Google Benchmark scenario or with --instructions,
// --instr-ops without --instructions, --repetitions (given) with --instructions. Jobs come scenario by scenario, then per combination of the swept
// values (in the scenario's parameter order), then variants (or backends), then peers.
std::vector<Job> plan(const Selection& sel);

// One item of a `bench` profile (profiles.h) as jobs: its variants and peers with its
// parameters, repetitions, budget (each run's timeout) and min_time, then, when it counts
// instructions, its variants or backends again under --instructions. `filter` as --filter.
std::vector<Job> plan_profile_item(const ProfileItem& item, const std::string& filter);

// One scenario's parameters from key -> text: every parameter resolved (a default where
// not given; a fixed one keeps its value), the scenario's check applied. Unknown keys are a UsageError. What `child` runs with.
nlohmann::json resolve_params(const scenarios::Scenario& sc, std::map<std::string, std::string> given);

// "a,b" -> {"a", "b"}; "" -> {""}.
std::vector<std::string> split(const std::string& s, char sep);

}  // namespace sy::harness
