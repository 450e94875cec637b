// `switchyard bench` profiles: the fixed matrices, as data (profiles.cpp).
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace sy::harness {

// One scenario of a profile; its results go to OUT_DIR/<scenario>.json.
struct ProfileItem {
  std::string scenario;
  std::string variants;  // "all", a comma list, or "" for none
  std::string peers;     // a comma list or ""
  std::vector<std::pair<std::string, std::string>> params;  // key, value ("a,b" sweeps)
  int repetitions = 5;   // per run (fresh process); a job's samples are runs x repetitions
  double budget_s = 60;  // printed before the run; also the timeout of each of its runs
  double min_time = 0;   // Google Benchmark --benchmark_min_time for gbench scenarios (0 = its default)
  bool instructions = false;  // also count instructions under callgrind (extra entries)
};

// Throws std::invalid_argument naming the valid profiles.
const std::vector<ProfileItem>& profile(std::string_view name);
std::vector<std::string> profile_names();
// Fresh processes (rounds) each measurement of the profile gets unless --runs says
// otherwise: quick 1 (CI's bench-quick), all and http-full 3. Also the least the budget
// leaves a job (budget.h, minimums).
int profile_runs(std::string_view name);
// The budget `bench` plans the profile for when --budget is not given (seconds; 0: none):
// all 2 hours, http-full 2 hours, quick none (it is a fixed few minutes).
double profile_budget_s(std::string_view name);

}  // namespace sy::harness
