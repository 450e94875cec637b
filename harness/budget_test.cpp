// The budget-driven plan (budget.h) on synthetic estimates: what fits is left alone,
// repetitions go before runs, sizes shrink only where a scenario declares it, minimums
// hold, every reduction is written down, and a plan that cannot fit says so. Also the
// profiles' shapes that the budget relies on (profiles.h).
#include "budget.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <set>
#include <string>
#include <vector>

#include "plan.h"
#include "profiles.h"
#include "switchyard/variants.h"

namespace sy::harness {
namespace {

using nlohmann::json;

std::vector<Job> jobs_of(const std::string& scenario, const std::string& variants, const std::string& peers,
                         std::map<std::string, std::string> params, int reps, int runs) {
  Selection s;
  s.scenarios = {scenario};
  s.variants_given = true;
  if (!variants.empty()) s.variants = split(variants, ',');
  if (!peers.empty()) s.peers = split(peers, ',');
  s.params = std::move(params);
  s.repetitions = reps;
  std::vector<Job> jobs = plan(s);
  for (Job& j : jobs) j.runs = runs;
  return jobs;
}

std::map<std::string, Estimate> same_estimate(const std::vector<Job>& jobs, Estimate e) {
  std::map<std::string, Estimate> m;
  for (const Job& j : jobs) m[j.name()] = e;
  return m;
}

BudgetItem item(const std::string& name, int runs, int reps, double per_rep, double overhead, Minimums min = {3, 3}) {
  BudgetItem it;
  it.name = name;
  it.runs = runs;
  it.repetitions = reps;
  it.est = {per_rep, overhead};
  it.min = min;
  return it;
}

TEST(Budget, APlanThatFitsIsLeftAlone) {
  const Allocation a = allocate({item("a", 3, 5, 1, 0.5), item("b", 3, 9, 0.1, 0.2)}, 3600);
  EXPECT_TRUE(a.fits);
  EXPECT_TRUE(a.reductions.empty());
  EXPECT_EQ(a.items[0].repetitions, 5);
  EXPECT_EQ(a.items[1].repetitions, 9);
  EXPECT_DOUBLE_EQ(a.estimate_s, 3 * (0.5 + 5) + 3 * (0.2 + 0.9));
}

TEST(Budget, RepetitionsPerRunGoBeforeRuns) {
  // 5 runs x 4 repetitions of 10 s = 200 s; in 60 s the runs stay and repetitions drop to 1.
  const Allocation a = allocate({item("j", 5, 4, 10, 0)}, 60);
  EXPECT_TRUE(a.fits);
  EXPECT_EQ(a.items[0].runs, 5);
  EXPECT_EQ(a.items[0].repetitions, 1);
  // Only at one repetition per run do runs above the minimum go (5 -> 3 fits 30 s).
  const Allocation b = allocate({item("j", 5, 4, 10, 0)}, 30);
  EXPECT_TRUE(b.fits);
  EXPECT_EQ(b.items[0].runs, 3);
  EXPECT_EQ(b.items[0].repetitions, 1);
}

TEST(Budget, TheMostExpensiveJobIsCutFirst) {
  // 3 x (1 + 5 x 10) = 153 s and 3 x (1 + 5 x 1) = 18 s; 120 s is reached by the first alone.
  const Allocation a = allocate({item("slow", 3, 5, 10, 1), item("fast", 3, 5, 1, 1)}, 120);
  EXPECT_TRUE(a.fits);
  EXPECT_EQ(a.items[0].repetitions, 3);  // 3 x 31 = 93, + 18 = 111 <= 120; 4 reps: 123 + 18 > 120
  EXPECT_EQ(a.items[1].repetitions, 5);
  ASSERT_EQ(a.reductions.size(), 1u);
  EXPECT_EQ(a.reductions[0], "slow: repetitions 5 -> 3 per run (estimate 10 s/rep, 1 s/process)");
}

TEST(Budget, WhatASizeStepLeavesUnusedGoesBack) {
  // The big job (3 x 2 x 100 s) needs its size cut even at one repetition; once cut (3 x
  // 10 s), the small jobs, cut to one repetition on the way, get theirs back: 3 x (3 + 3 x
  // 1) = 18 s each, 66 s in all. The big job's second repetition (+30 s) does not fit.
  BudgetItem big = item("big", 3, 2, 100, 0);
  big.size_param = "fibers";
  big.size0 = big.size = 1000000;
  big.size_floor = 100000;
  big.size_divisor = 10;
  const Allocation a = allocate({big, item("s1", 3, 3, 1, 3), item("s2", 3, 3, 1, 3)}, 70);
  EXPECT_TRUE(a.fits) << allocation_text(a);
  EXPECT_EQ(a.items[0].size, 100000);
  EXPECT_EQ(a.items[0].repetitions, 1);
  EXPECT_DOUBLE_EQ(a.estimate_s, 66);
  ASSERT_EQ(a.reductions.size(), 1u);  // the small ones end as planned: nothing to record
  EXPECT_EQ(a.reductions[0].rfind("big: repetitions 2 -> 1 per run, fibers 1000000 -> 100000", 0), 0u);
  EXPECT_EQ(a.items[1].repetitions, 3);
  EXPECT_EQ(a.items[2].repetitions, 3);
}

TEST(Budget, MinimumsHoldAndAPlanThatCannotFitSaysSo) {
  // HTTP under load: at least 5 samples over at least 3 runs, so 2 repetitions per run.
  const Allocation a = allocate({item("http", 3, 4, 10, 2, {3, 5})}, 10);
  EXPECT_FALSE(a.fits);
  EXPECT_EQ(a.items[0].runs, 3);
  EXPECT_EQ(a.items[0].repetitions, 2);
  EXPECT_DOUBLE_EQ(a.estimate_s, 3 * (2 + 2 * 10));
  ASSERT_EQ(a.reductions.size(), 2u);
  EXPECT_EQ(a.reductions[0].rfind("DOES NOT FIT: estimated 1:06 ", 0), 0u) << a.reductions[0];
  EXPECT_NE(a.reductions[0].find("budget 10 s"), std::string::npos) << a.reductions[0];
  EXPECT_EQ(a.reductions[1], "http: repetitions 4 -> 2 per run (estimate 10 s/rep, 2 s/process)");
  // A plan below its minimums is raised to them, not reported as reduced.
  const Allocation b = allocate({item("low", 1, 1, 1, 0, {3, 5})}, 1000);
  EXPECT_EQ(b.items[0].runs, 3);
  EXPECT_EQ(b.items[0].repetitions, 2);
  EXPECT_TRUE(b.reductions.empty());
}

TEST(Budget, MinimumsPerJob) {
  const auto load = jobs_of("http", "asm-pooled-chaselev", "", {{"connections", "100"}}, 2, 3);
  const auto idle = jobs_of("http", "asm-pooled-chaselev", "", {{"mode", "idle"}}, 1, 3);
  const auto sky = jobs_of("skynet", "asm-pooled-fifo", "", {}, 5, 3);
  EXPECT_EQ(minimums(load[0], 3).runs, 3);
  EXPECT_EQ(minimums(load[0], 3).samples, 5);
  EXPECT_EQ(minimums(idle[0], 3).samples, 3);
  EXPECT_EQ(minimums(sky[0], 3).samples, 3);
  EXPECT_EQ(minimums(sky[0], 1).runs, 1);  // quick: one run
  Selection s;
  s.scenarios = {"yield"};
  s.instructions = true;
  EXPECT_EQ(minimums(plan(s)[0], 3).runs, 1);  // an instruction count is deterministic
}

TEST(Budget, SizesShrinkOnlyWhereAScenarioDeclaresIt) {
  // skynet declares fibers (down to 100,000, a power of 10 at a time); timers declares nothing.
  std::vector<Job> jobs = jobs_of("skynet", "asm-fresh-fifo", "", {{"fibers", "1000000"}}, 3, 3);
  const auto timers = jobs_of("timers", "asm-pooled-fifo", "", {{"fibers", "100000"}}, 3, 3);
  jobs.insert(jobs.end(), timers.begin(), timers.end());
  const auto items = budget_items(jobs, same_estimate(jobs, {30, 0}), 3);
  EXPECT_EQ(items[0].size_param, "fibers");
  EXPECT_EQ(items[1].size_param, "");
  // At the minimums (3 x 1 rep) the two cost 3 x 30 each = 180 s; 100 s needs skynet 10x smaller.
  const Allocation a = allocate(items, 100);
  EXPECT_TRUE(a.fits) << allocation_text(a);
  EXPECT_EQ(a.items[0].size, 100000);
  EXPECT_EQ(a.items[0].repetitions, 1);
  EXPECT_EQ(a.items[1].repetitions, 1);
  EXPECT_EQ(a.items[1].size, 0);
  EXPECT_EQ(a.reductions[0],
            "skynet/asm-fresh-fifo/carriers=2/fibers=1000000/guard=off/idle_spin_us=-1/stack_kib=16: "
            "repetitions 3 -> 1 per run, fibers 1000000 -> 100000 (estimate 30 s/rep at fibers=1000000, "
            "0 s/process)");
  // Never below the declared floor: in 20 s it does not fit and says so.
  const Allocation b = allocate(items, 20);
  EXPECT_FALSE(b.fits);
  EXPECT_EQ(b.items[0].size, 100000);
  // Written back: the job runs at the smaller size, under its new name.
  apply_allocation(a, jobs);
  EXPECT_EQ(jobs[0].params["fibers"], 100000);
  EXPECT_EQ(jobs[0].sent["fibers"], 100000);
  EXPECT_EQ(jobs[0].runs, 3);
  EXPECT_EQ(jobs[0].repetitions, 1);
  EXPECT_NE(jobs[0].name().find("fibers=100000/"), std::string::npos);
}

TEST(Budget, StealShrinksItsTreeNotFib) {
  const auto jobs = jobs_of("steal", "asm-pooled-chaselev", "", {{"workload", "skynet,fib"}, {"fibers", "100000"}}, 2, 3);
  const auto items = budget_items(jobs, same_estimate(jobs, {10, 0}), 3);
  ASSERT_EQ(items.size(), 2u);
  EXPECT_EQ(items[0].size_param, "fibers");  // workload=skynet
  EXPECT_EQ(items[1].size_param, "");        // workload=fib: fibers is not its size
}

TEST(Budget, AShrunkSizeNeverDuplicatesAnotherJob) {
  // The sweep already measures 100,000 leaves: the 1,000,000 job cannot become a second one.
  const auto jobs = jobs_of("skynet", "asm-pooled-fifo", "", {{"fibers", "100000,1000000"}}, 3, 3);
  const auto items = budget_items(jobs, same_estimate(jobs, {30, 1}), 3);
  ASSERT_EQ(items.size(), 2u);
  EXPECT_EQ(items[1].size0, 1000000);
  EXPECT_EQ(items[1].size_floor, 1000000);
  const Allocation a = allocate(items, 10);
  EXPECT_EQ(a.items[1].size, 1000000);
  EXPECT_FALSE(a.fits);
}

TEST(Budget, AShrunkSizeStaysValidForTheScenario) {
  // active=all splits ops over the pairs and needs one round trip per pair: 100,000 ops over
  // 9,000 pairs may halve to 25,000 (12,500 would still pass; 6,250 would not).
  const auto jobs = jobs_of("io_pingpong", "asm-pooled-fifo", "", {{"pairs", "9000"}, {"active", "all"},
                                                                    {"ops", "100000"}}, 1, 3);
  const auto items = budget_items(jobs, same_estimate(jobs, {10, 0}), 3);
  EXPECT_EQ(items[0].size_floor, 12500);
  const Allocation a = allocate(items, 1);
  EXPECT_EQ(a.items[0].size, 12500);
}

TEST(Budget, ParsesBudgets) {
  EXPECT_EQ(parse_budget("2h"), 7200.0);
  EXPECT_EQ(parse_budget("30m"), 1800.0);
  EXPECT_EQ(parse_budget("90s"), 90.0);
  EXPECT_EQ(parse_budget("90"), 90.0);
  EXPECT_EQ(parse_budget("1.5h"), 5400.0);
  EXPECT_EQ(parse_budget("none"), std::nullopt);
  for (const char* bad : {"", "2d", "h", "-1h", "0", "nan", "2 h", "inf"})
    EXPECT_THROW(parse_budget(bad), scenarios::UsageError) << bad;
}

TEST(Budget, EstimatesFromAFile) {
  const auto jobs = jobs_of("timers", "asm-pooled-fifo,asm-pooled-chaselev", "", {}, 3, 3);
  const json j = {{"default", {{"per_rep_s", 2}, {"overhead_s", 0.5}}},
                  {"jobs", {{jobs[1].name(), {{"per_rep_s", 7}}}}}};
  const auto est = estimates_from_json(j, jobs);
  EXPECT_EQ(est.at(jobs[0].name()).per_rep_s, 2);
  EXPECT_EQ(est.at(jobs[0].name()).overhead_s, 0.5);
  EXPECT_EQ(est.at(jobs[1].name()).per_rep_s, 7);
  EXPECT_EQ(est.at(jobs[1].name()).overhead_s, 0);
  EXPECT_THROW(estimates_from_json(json{{"jobs", json::object()}}, jobs), std::invalid_argument);  // no default
  EXPECT_THROW(estimates_from_json(json{{"defualt", {{"per_rep_s", 1}}}}, jobs), std::invalid_argument);
  EXPECT_THROW(estimates_from_json(json{{"default", {{"per_rep_s", -1}}}}, jobs), std::invalid_argument);
  EXPECT_THROW(budget_items(jobs, {}, 3), std::invalid_argument);  // a job without an estimate
}

TEST(Budget, ThePilotRunsEachJobOnceWithOneRepetition) {
  auto jobs = jobs_of("timers", "asm-pooled-fifo,asm-pooled-chaselev,boost-pooled-fifo", "", {}, 5, 3);
  jobs.push_back(jobs[0]);  // the same job twice: piloted once
  std::vector<std::string> seen;
  const Pilot p = run_pilot(jobs, 40, [&](const Job& j) {
    EXPECT_EQ(j.repetitions, 1);
    EXPECT_EQ(j.runs, 1);
    EXPECT_EQ(j.timeout_s, 40);
    seen.push_back(j.label());
    if (j.label() == "asm-pooled-fifo") return PilotRun{3.0, "ok", false};
    if (j.label() == "asm-pooled-chaselev") return PilotRun{0.5, "skipped", false};
    return PilotRun{40.0, "failed", true};
  });
  EXPECT_EQ(seen, (std::vector<std::string>{"asm-pooled-fifo", "asm-pooled-chaselev", "boost-pooled-fifo"}));
  EXPECT_DOUBLE_EQ(p.total_s, 43.5);
  // The only ok pilot bounds the overhead: half its 3 s, the rest per repetition.
  EXPECT_DOUBLE_EQ(p.estimates.at(jobs[0].name()).overhead_s, 1.5);
  EXPECT_DOUBLE_EQ(p.estimates.at(jobs[0].name()).per_rep_s, 1.5);
  EXPECT_DOUBLE_EQ(p.estimates.at(jobs[1].name()).overhead_s, 0.5);  // skipped: its pilot's time per run
  EXPECT_DOUBLE_EQ(p.estimates.at(jobs[1].name()).per_rep_s, 0);
  EXPECT_DOUBLE_EQ(p.estimates.at(jobs[2].name()).per_rep_s, 40);  // timed out: the timeout per repetition
  EXPECT_DOUBLE_EQ(pilot_timeout(7200), 360);
  EXPECT_DOUBLE_EQ(pilot_timeout(600), 30);
  // A job's own timeout, when shorter, stays.
  jobs[0].timeout_s = 10;
  run_pilot({jobs[0]}, 40, [&](const Job& j) {
    EXPECT_EQ(j.timeout_s, 10);
    return PilotRun{1, "ok", false};
  });
}

TEST(Budget, DesignFieldsPerResultsFile) {
  auto jobs = jobs_of("skynet", "asm-fresh-fifo", "", {{"fibers", "1000000"}}, 3, 3);
  const auto t = jobs_of("timers", "asm-pooled-fifo", "", {}, 3, 3);
  jobs.insert(jobs.end(), t.begin(), t.end());
  const Allocation a = allocate(budget_items(jobs, same_estimate(jobs, {30, 0}), 3), 100);
  const json d = design_fields(a, jobs, "timers", "pilot", 12.5);
  EXPECT_EQ(d["budget_s"], 100);
  EXPECT_EQ(d["estimates"]["source"], "pilot");
  EXPECT_EQ(d["estimates"]["pilot_s"], 12.5);
  ASSERT_EQ(d["estimates"]["jobs"].size(), 1u);
  EXPECT_EQ(d["estimates"]["jobs"][jobs[1].name()]["per_rep_s"], 30);
  ASSERT_EQ(d["reductions"].size(), 1u);
  EXPECT_EQ(d["reductions"][0].get<std::string>().rfind(jobs[1].name() + ": repetitions 3 -> 1", 0), 0u);
}

// ---- the profiles the budget plans

std::vector<Job> profile_jobs(const std::string& name) {
  std::vector<Job> out;
  for (const ProfileItem& it : profile(name))
    for (Job& j : plan_profile_item(it, "")) out.push_back(std::move(j));
  return out;
}

std::set<long> http_load_connections(const std::string& prof) {
  std::set<long> c;
  for (const Job& j : profile_jobs(prof))
    if (j.sc->name == "http" && j.params["mode"] == "load") c.insert(j.params["connections"].get<long>());
  return c;
}

TEST(Profiles, AllSweepsHttpAtThreeSizesAndHttpFullAtEvery) {
  EXPECT_EQ(http_load_connections("all"), (std::set<long>{100, 1000, 10000}));
  EXPECT_EQ(http_load_connections("http-full"), (std::set<long>{100, 1000, 2500, 5000, 10000}));
  for (const Job& j : profile_jobs("http-full")) EXPECT_EQ(j.sc->name, "http");
  const auto names = profile_names();
  EXPECT_NE(std::find(names.begin(), names.end(), "http-full"), names.end());
}

TEST(Profiles, RunsAndMinimums) {
  EXPECT_EQ(profile_runs("quick"), 1);  // CI's bench-quick stays at one run
  EXPECT_EQ(profile_runs("all"), 3);
  EXPECT_EQ(profile_runs("http-full"), 3);
  // Every job of `all` is planned at (or above) its minimums, so the budget only reduces.
  for (const Job& j : profile_jobs("all")) {
    const Minimums m = minimums(j, profile_runs("all"));
    EXPECT_GE(profile_runs("all") * j.repetitions, m.samples) << j.name();
  }
}

TEST(Profiles, FifoSkynetInAllIsTheSmallSize) {
  int fifo = 0;
  for (const Job& j : profile_jobs("all")) {
    if (j.sc->name != "skynet" || j.variant.empty() || !sy::find_variant(j.variant)->breadth_first) continue;
    ++fifo;
    EXPECT_EQ(j.params["fibers"], 10000) << j.name();
  }
  EXPECT_GT(fifo, 0);
}

}  // namespace
}  // namespace sy::harness
