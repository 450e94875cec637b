// The budget-driven plan: how many fresh processes (runs) and repetitions each job of a
// `bench` profile gets, and at what size, so that the whole fits a wall-clock budget.
//
// Estimates come from a pilot (every job once, one repetition, in a fresh process) or, for
// tests and dry runs, from a file (job name -> estimate). The allocator is a pure function
// of the jobs, their estimates, their minimums and the budget: it runs nothing, so its
// rules are unit-tested (budget_test.cpp).
//
// Order of reductions when the plan does not fit: first fewer repetitions per run (runs
// are preferred over repetitions: run-to-run variance is what a fresh process adds), then
// runs above the minimum, then, where a scenario declares a parameter that may shrink
// (kShrinkable in budget.cpp), smaller sizes. The most expensive job is reduced first, one
// step at a time; what a later step leaves unused goes back (runs, then repetitions, the
// cheapest first). Nothing goes below its minimums; when the plan still does not fit, the
// allocation says so (fits = false and a reduction line starting "DOES NOT FIT").
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "plan.h"

namespace sy::harness {

// "7200", "90s", "30m", "2h", "1.5h": seconds (> 0); "none": no budget (nullopt).
// Throws scenarios::UsageError saying what is accepted.
std::optional<double> parse_budget(const std::string& text);

// The time one job takes: each fresh process costs overhead_s (start, set-up, warm-up,
// tear-down) plus per_rep_s per timed repetition.
struct Estimate {
  double per_rep_s = 0;
  double overhead_s = 0;
};

// A parameter the budget may shrink in one scenario: divided by `divisor` per step, never
// below `floor`; only in jobs whose `when_param` is `when_value` (when set). A job's time
// per repetition is taken as proportional to it.
struct Shrinkable {
  std::string_view scenario, param;
  std::int64_t floor, divisor;
  std::string_view when_param, when_value;
};
const std::vector<Shrinkable>& shrinkables();

// The least a job may get: runs >= runs, and runs x repetitions >= samples.
struct Minimums {
  int runs = 1;
  int samples = 1;
};
// A job's minimums when the profile asks for at least `min_runs` runs: http under load
// 5 samples, http idle memory 3; an instruction count (deterministic) 1 run.
Minimums minimums(const Job& job, int min_runs);

// The allocator's view of one job.
struct BudgetItem {
  std::string name;
  int runs = 1, repetitions = 1;  // as planned; the allocation lowers them
  Minimums min;
  Estimate est;  // measured at size0
  // The shrinkable parameter (empty: none) and its values: as planned (size0), now, floor.
  std::string size_param;
  std::int64_t size0 = 0, size = 0, size_floor = 0, size_divisor = 1;
};
// Estimated seconds of one item as it stands (runs x (overhead + repetitions x per rep)).
double cost(const BudgetItem& item);

struct Allocation {
  std::vector<BudgetItem> items;  // parallel to the input
  double budget_s = 0;
  double estimate_s = 0;  // the total after the reductions
  bool fits = true;
  // Human-readable, one per reduced job ("skynet/asm-fresh-fifo/...: repetitions 5 -> 2
  // per run (estimate 38 s/rep)"), and the DOES NOT FIT line first when it does not fit.
  std::vector<std::string> reductions;
};
Allocation allocate(std::vector<BudgetItem> items, double budget_s);

// The items for jobs (their runs and repetitions as planned), estimates by Job::name().
// A job without an estimate is an error (std::invalid_argument naming it). A shrinkable
// parameter stops above any value that would give the job another job's name.
std::vector<BudgetItem> budget_items(const std::vector<Job>& jobs, const std::map<std::string, Estimate>& estimates,
                                     int min_runs);
// The allocation written back into the jobs (runs, repetitions, shrunk parameters).
void apply_allocation(const Allocation& a, std::vector<Job>& jobs);

// Estimates from a JSON object: {"default": E, "jobs": {"<job name>": E}} where E is
// {"per_rep_s": x, "overhead_s": y}; "default" applies to jobs not listed. Throws
// std::invalid_argument on a malformed object.
std::map<std::string, Estimate> estimates_from_json(const nlohmann::json& j, const std::vector<Job>& jobs);

// The pilot: every job once with one repetition in a fresh process (`measure` runs it with
// the timeout given and returns its wall time and status). A pilot of elapsed E gives
// overhead o = half the smallest E of all ok pilots (the fastest job bounds what a fresh
// process costs; halved to err towards overestimating repetitions) and per_rep_s = E - o;
// a skipped job costs E per run and nothing per repetition; one that timed out is
// estimated at the timeout per repetition (the allocator then cuts it first).
struct PilotRun {
  double elapsed_s = 0;
  std::string status;  // ok | skipped | failed
  bool timed_out = false;
};
struct Pilot {
  std::map<std::string, Estimate> estimates;
  std::map<std::string, PilotRun> runs;
  double total_s = 0;  // the pilot's own wall time: taken off the budget before allocating
};
Pilot run_pilot(const std::vector<Job>& jobs, double timeout_s, const std::function<PilotRun(const Job&)>& measure);
// The pilot's timeout per job (run_pilot keeps a job's own timeout when shorter): a
// twentieth of the budget (6 minutes of 2 hours), at least 30 s. A repetition longer than
// that would take a sixth of the budget over 3 runs; the allocator cuts it first.
double pilot_timeout(double budget_s);

// What the results file's `design` gets from the budget: budget_s, reductions and
// estimates (design.estimates: {"source": "pilot"|"file", "pilot_s": total or null,
// "jobs": {"<job name as planned>": {"per_rep_s", "overhead_s"}}}), for the jobs of one
// scenario (one results file). `jobs` is parallel to a.items, as planned (before the
// allocation was applied); the DOES NOT FIT line goes to every file.
nlohmann::json design_fields(const Allocation& a, const std::vector<Job>& jobs, std::string_view scenario,
                             const std::string& source, std::optional<double> pilot_s);

// The allocation as a table (job, runs, repetitions, size, estimated time) and the total.
std::string allocation_text(const Allocation& a);

}  // namespace sy::harness
