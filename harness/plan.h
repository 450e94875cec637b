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

// ---- the design of a measurement campaign: rounds, their order, shards (results/SCHEMA.md)

// The order of the jobs within each round. interleaved: the plan order rotated by a
// different offset each round; shuffled: a permutation drawn from the seed per round;
// sequential: every run of a job back to back (rounds are then not interleaved in time).
enum class Order { interleaved, shuffled, sequential };
Order parse_order(const std::string& text);  // UsageError listing the three
const char* order_name(Order o);

// One fresh process to start: jobs[job], its run number `round`.
struct Slot {
  std::size_t job = 0;
  int round = 0;
  bool operator==(const Slot& o) const { return job == o.job && round == o.round; }
};

// The whole schedule: rounds = the largest Job::runs; a job takes part in its first
// `runs` rounds only. interleaved: round r visits the plan order starting at position
// r * n / rounds (so each job sits at a different point of the round in every round);
// shuffled: round r is a Fisher-Yates permutation from a mt19937_64 seeded with
// seed + (r + 1) * 0x9E3779B97F4A7C15 (the same on every machine and standard library);
// sequential: job by job, each one's runs in a row. Deterministic in (jobs' runs, order,
// seed); every (job, round < job.runs) appears exactly once.
std::vector<Slot> schedule(const std::vector<Job>& jobs, Order order, unsigned long long seed);
int rounds_of(const std::vector<Job>& jobs);

// --shard K/N: "K/N" with 1 <= K <= N <= 1000, else a UsageError.
struct Shard {
  int k = 1, n = 1;
  std::string text() const { return std::to_string(k) + "/" + std::to_string(n); }
};
Shard parse_shard(const std::string& text);
// Which shard (1-based) a job falls in: FNV-1a (64 bit) of Job::name() modulo n, plus 1.
// Depends on the name only: not on the seed, the machine, the plan order or the filter,
// so N machines planning the same profile split it the same way.
int shard_of(const Job& job, int n);
// The jobs of shard s.k of s.n, in plan order.
std::vector<Job> select_shard(const std::vector<Job>& jobs, const Shard& s);

// "a,b" -> {"a", "b"}; "" -> {""}.
std::vector<std::string> split(const std::string& s, char sep);

}  // namespace sy::harness
