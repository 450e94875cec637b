// The planning rules (plan.h), on the real catalogues: which jobs a selection gives, in
// which order, with which parameters, and which selections are refused before anything runs.
#include "plan.h"

#include <gtest/gtest.h>

#include <map>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "switchyard/variants.h"

namespace sy::harness {
namespace {

using nlohmann::json;
using scenarios::UsageError;

Selection select(std::vector<std::string> scs) {
  Selection s;
  s.scenarios = std::move(scs);
  return s;
}

std::vector<std::string> names(const std::vector<Job>& jobs) {
  std::vector<std::string> out;
  for (const Job& j : jobs) out.push_back(j.name());
  return out;
}

std::vector<std::string> all_variant_names() {
  std::vector<std::string> out;
  for (const auto& v : sy::variants()) out.push_back(v.name);
  return out;
}

// The message of the UsageError (or UnknownVariant) that plan throws; "" if none.
std::string plan_error(const Selection& s) {
  try {
    plan(s);
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  return "";
}

TEST(Plan, WithoutVariantsOrPeersEveryVariantRunsWithTheDefaults) {
  const std::vector<Job> jobs = plan(select({"timers"}));
  ASSERT_EQ(jobs.size(), sy::variants().size());
  std::vector<std::string> labels;
  for (const Job& j : jobs) {
    labels.push_back(j.label());
    EXPECT_TRUE(j.peer.empty() && j.backend.empty());
    EXPECT_EQ(j.repetitions, 5);
    EXPECT_FALSE(j.instructions);
    EXPECT_EQ(j.params, (json{{"fibers", 100000}, {"max_ms", 200}, {"stack_kib", 16}, {"guard", "off"},
                              {"carriers", 1}}));
    EXPECT_EQ(j.sent, j.params);  // every timers parameter is settable
  }
  EXPECT_EQ(labels, all_variant_names());  // in the registry's order
}

TEST(Plan, NamedVariantsOnlyAndAllMeansEvery) {
  Selection s = select({"timers"});
  s.variants_given = true;
  s.variants = {"boost-fresh-chaselev", "asm-pooled-fifo"};
  EXPECT_EQ(names(plan(s)), (std::vector<std::string>{
                                "timers/boost-fresh-chaselev/carriers=1/fibers=100000/guard=off/max_ms=200/stack_kib=16",
                                "timers/asm-pooled-fifo/carriers=1/fibers=100000/guard=off/max_ms=200/stack_kib=16"}));
  s.variants = {"all"};
  EXPECT_EQ(plan(s).size(), sy::variants().size());
}

TEST(Plan, PeersAloneRunNoVariantAndGetOnlyTheirParameters) {
  Selection s = select({"timers"});
  s.peers = {"all"};  // timers' peers: coro
  const std::vector<Job> jobs = plan(s);
  ASSERT_EQ(jobs.size(), 1u);
  EXPECT_EQ(jobs[0].peer, "coro");
  EXPECT_EQ(jobs[0].label(), "coro");
  // The coroutine peer has no stacks: it is given fibers, max_ms and carriers only.
  EXPECT_EQ(jobs[0].sent, (json{{"fibers", 100000}, {"max_ms", 200}, {"carriers", 1}}));
  EXPECT_EQ(jobs[0].params.size(), 5u);
}

TEST(Plan, AllPeersMeansTheScenariosOwnPeersAfterTheVariants) {
  Selection s = select({"yield"});
  s.variants_given = true;
  s.variants = {"asm-pooled-fifo"};
  s.peers = {"threads", "all"};  // explicit first, then the scenario's, without repeats
  std::vector<std::string> labels;
  for (const Job& j : plan(s)) labels.push_back(j.label());
  EXPECT_EQ(labels, (std::vector<std::string>{"asm-pooled-fifo", "threads", "boost_fiber", "go", "coro", "asio"}));
}

TEST(Plan, BackendScenariosRunPerBackendNotPerVariant) {
  const std::vector<Job> jobs = plan(select({"switch"}));
  ASSERT_FALSE(jobs.empty());
  for (const Job& j : jobs) {
    EXPECT_FALSE(j.backend.empty());
    EXPECT_TRUE(j.variant.empty());
  }
  EXPECT_EQ(jobs.front().name(), "switch/asm");
  // Only peers asked for: no backend entries.
  Selection s = select({"switch"});
  s.peers = {"threads"};
  for (const Job& j : plan(s)) EXPECT_EQ(j.peer, "threads");
}

TEST(Plan, ACommaSweepsInTheScenariosParameterOrder) {
  Selection s = select({"timers"});
  s.variants_given = true;
  s.variants = {"asm-pooled-fifo"};
  s.params = {{"max_ms", "5,7"}, {"fibers", "10,20"}};
  std::vector<std::pair<int, int>> got;
  for (const Job& j : plan(s)) got.emplace_back(j.params["fibers"].get<int>(), j.params["max_ms"].get<int>());
  // fibers is declared before max_ms, so it varies slowest.
  EXPECT_EQ(got, (std::vector<std::pair<int, int>>{{10, 5}, {10, 7}, {20, 5}, {20, 7}}));
}

TEST(Plan, RepetitionsTimeoutAndMinTimeReachEveryJob) {
  Selection s = select({"yield"});
  s.repetitions = 3;
  s.timeout_s = 42;
  s.min_time = 0.5;
  for (const Job& j : plan(s)) {
    EXPECT_EQ(j.repetitions, 3);
    EXPECT_EQ(j.timeout_s, 42);
    EXPECT_EQ(j.min_time, 0.5);
  }
}

TEST(Plan, InstructionCountsRunOnceWithTheDefaultOperationsPerScenario) {
  Selection s = select({"yield", "spawn_join"});
  s.instructions = true;
  s.repetitions = 9;  // an instruction count is deterministic: one run
  for (const Job& j : plan(s)) {
    EXPECT_EQ(j.repetitions, 1);
    EXPECT_TRUE(j.instructions);
    EXPECT_EQ(j.instr_ops, j.sc->name == "spawn_join" ? 20000 : 200000) << j.name();
    EXPECT_EQ(j.name().substr(j.name().size() - 13), "/instructions");
  }
  s.instr_ops = 77;
  for (const Job& j : plan(s)) EXPECT_EQ(j.instr_ops, 77);
}

TEST(Plan, FilterSelectsByNameAndALeadingMinusNegates) {
  Selection s = select({"yield"});
  s.filter = "fifo$";
  const std::vector<Job> fifo = plan(s);
  ASSERT_FALSE(fifo.empty());
  for (const Job& j : fifo) EXPECT_EQ(j.variant.substr(j.variant.size() - 4), "fifo");
  s.filter = "-fifo$";
  const std::vector<Job> rest = plan(s);
  EXPECT_EQ(fifo.size() + rest.size(), sy::variants().size());
  for (const Job& j : rest) EXPECT_NE(j.variant.substr(j.variant.size() - 4), "fifo");
}

TEST(Plan, UnknownNamesAreRefusedListingTheValidOnes) {
  EXPECT_NE(plan_error(select({"nope"})).find("unknown scenario 'nope' (valid: switch, yield"), std::string::npos);
  Selection v = select({"yield"});
  v.variants_given = true;
  v.variants = {"asm-pooled-lifo"};
  EXPECT_NE(plan_error(v).find("asm-pooled-fifo"), std::string::npos);
  Selection p = select({"yield"});
  p.peers = {"erlang"};
  EXPECT_NE(plan_error(p).find("unknown peer 'erlang'"), std::string::npos);
  EXPECT_NE(plan_error(Selection{}).find("--scenario is required"), std::string::npos);
}

TEST(Plan, ParametersMustApplyAndParse) {
  auto with = [](std::string sc, std::string k, std::string v) {
    Selection s = select({sc});
    s.params = {{k, v}};
    return plan_error(s);
  };
  EXPECT_NE(with("timers", "fiberz", "10").find("unknown parameter 'fiberz' for scenario(s) timers (accepted: fibers"),
            std::string::npos);
  EXPECT_NE(with("yield", "carriers", "2").find("carriers is fixed at 1"), std::string::npos);
  EXPECT_NE(with("timers", "fibers", "many").find("fibers=many: not an integer"), std::string::npos);
  EXPECT_NE(with("timers", "fibers", "0").find("fibers=0: must be in [1, 10000000]"), std::string::npos);
  EXPECT_NE(with("timers", "fibers", "10,x").find("fibers=x: not an integer"), std::string::npos);
  EXPECT_NE(with("timers", "guard", "maybe").find("guard=maybe: expected one of on, off"), std::string::npos);
  // A combination its scenario rejects: skynet's leaves must be a power of 10.
  EXPECT_NE(with("skynet", "fibers", "15"), "");
  EXPECT_EQ(with("skynet", "fibers", "100"), "");
  // stacks: each range, and sizes that are not whole pages (the allocator would round them).
  EXPECT_NE(with("stacks", "stack_kib", "4").find("stack_kib=4: must be in [8, 1024]"), std::string::npos);
  EXPECT_NE(with("stacks", "fibers", "0").find("fibers=0: must be in [1, 1000000]"), std::string::npos);
  EXPECT_NE(with("stacks", "stack_kib", "18").find("stack_kib=18 is not a whole number of 4 KiB pages"),
            std::string::npos);
  EXPECT_EQ(with("stacks", "stack_kib", "16,64,256"), "");
}

TEST(Plan, AParameterOfOneOfSeveralScenariosIsAccepted) {
  Selection s = select({"yield", "timers"});
  s.variants_given = true;
  s.variants = {"asm-pooled-fifo"};
  s.params = {{"fibers", "7"}};  // timers' (yield's fibers is fixed and keeps its value)
  const std::vector<Job> jobs = plan(s);
  ASSERT_EQ(jobs.size(), 2u);
  EXPECT_EQ(jobs[0].params["fibers"], 2);
  EXPECT_EQ(jobs[1].params["fibers"], 7);
}

TEST(Plan, InapplicableOptionsAreRefused) {
  Selection s = select({"timers"});
  s.instructions = true;
  EXPECT_NE(plan_error(s).find("--instructions: scenario timers has no instruction-count mode"), std::string::npos);
  Selection f = select({"yield"});
  f.filter = "(";
  EXPECT_NE(plan_error(f).find("--filter (: not a valid regular expression"), std::string::npos);
}

// Options that only some scenarios or modes use are refused where none uses them, naming
// the option and why, and accepted as soon as one selected scenario uses them.
TEST(Plan, OptionsNoSelectedScenarioUsesAreRefused) {
  Selection ops = select({"yield"});
  ops.instr_ops = 1000;
  EXPECT_NE(plan_error(ops).find("--instr-ops applies only with --instructions"), std::string::npos);
  ops.instructions = true;
  EXPECT_EQ(plan_error(ops), "");

  Selection reps = select({"yield"});
  reps.instructions = true;
  reps.repetitions = 3;
  reps.repetitions_given = true;
  EXPECT_NE(plan_error(reps).find("--repetitions does not apply with --instructions"), std::string::npos);
  reps.instructions = false;
  EXPECT_EQ(plan_error(reps), "");

  Selection mt = select({"timers"});
  mt.min_time = 0.01;
  const std::string no_gbench = plan_error(mt);
  EXPECT_NE(no_gbench.find("--min-time applies only to the Google Benchmark scenarios (switch, yield, spawn_join)"),
            std::string::npos)
      << no_gbench;
  EXPECT_NE(no_gbench.find("none is selected (timers)"), std::string::npos) << no_gbench;
  mt.scenarios = {"timers", "spawn_join"};  // one of them is a gbench scenario
  EXPECT_EQ(plan_error(mt), "");
  mt.scenarios = {"spawn_join"};
  mt.instructions = true;
  EXPECT_NE(plan_error(mt).find("--min-time does not apply with --instructions"), std::string::npos);

  Selection v = select({"switch"});
  v.variants_given = true;
  v.variants = {"asm-pooled-fifo"};
  const std::string per_backend = plan_error(v);
  EXPECT_NE(per_backend.find("--variant does not apply: no selected scenario runs per variant (switch measures "
                             "each switch backend: asm,"),
            std::string::npos)
      << per_backend;
  v.variants = {"all"};
  EXPECT_NE(plan_error(v).find("--variant does not apply"), std::string::npos);
  v.scenarios = {"switch", "yield"};  // yield runs per variant
  EXPECT_EQ(plan_error(v), "");
  // Without --variant, switch runs its backends (as `bench` plans it: variants given, none).
  Selection b = select({"switch"});
  b.variants_given = true;
  EXPECT_EQ(plan_error(b), "");
}

// `bench` plans every item of a profile before running any: each must plan (no option it
// gives is refused) and give measurements.
TEST(Plan, EveryProfileItemPlans) {
  for (const std::string& name : profile_names())
    for (const ProfileItem& item : profile(name)) {
      std::vector<Job> jobs;
      EXPECT_NO_THROW(jobs = plan_profile_item(item, "")) << name << ": " << item.scenario;
      EXPECT_FALSE(jobs.empty()) << name << ": " << item.scenario;
    }
  // A filter that matches nothing gives no job (bench refuses that before any setting).
  EXPECT_TRUE(plan_profile_item(profile("quick").front(), "^nothing$").empty());
}

// No profile measures the same thing twice: two items whose sweeps overlap would spend the
// budget on a copy, and the analysis keeps only one of two entries with equal parameters.
TEST(Plan, NoProfileMeasuresTheSameJobTwice) {
  for (const std::string& name : profile_names()) {
    std::map<std::string, int> seen;  // scenario/label/parameters/instructions -> item index
    int index = 0;
    for (const ProfileItem& item : profile(name)) {
      for (const Job& j : plan_profile_item(item, "")) {
        const std::string key = std::string(j.sc->name) + "/" + j.label() + "/" + j.params.dump() +
                                (j.instructions ? "/instructions" : "");
        const auto [it, fresh] = seen.emplace(key, index);
        EXPECT_TRUE(fresh) << name << ": " << j.name() << " is planned by items " << it->second << " and " << index;
      }
      ++index;
    }
  }
}

TEST(ResolveParams, DefaultsFilledUnknownKeysRefused) {
  const auto& timers = scenarios::find("timers");
  const json p = resolve_params(timers, {{"fibers", "3"}});
  EXPECT_EQ(p["fibers"], 3);
  EXPECT_EQ(p["guard"], "off");
  EXPECT_THROW(resolve_params(timers, {{"nope", "1"}}), UsageError);
  EXPECT_THROW(resolve_params(timers, {{"fibers", "-1"}}), UsageError);
  EXPECT_THROW(resolve_params(scenarios::find("skynet"), {{"fibers", "15"}}), UsageError);
}

TEST(Peers, FindNamesTheValidOnes) {
  EXPECT_EQ(find_peer("go").binary, "go_peer");
  try {
    find_peer("erlang");
    FAIL() << "no error";
  } catch (const UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("boost_fiber, go, threads"), std::string::npos);
  }
}

// ---- rounds, orders and shards

std::vector<Job> jobs_with_runs(std::vector<int> runs) {
  std::vector<Job> jobs = plan(select({"timers"}));
  jobs.resize(runs.size());
  for (std::size_t i = 0; i < runs.size(); ++i) jobs[i].runs = runs[i];
  return jobs;
}

// Every (job, round < its runs) exactly once: nothing lost, nothing measured twice.
void expect_complete(const std::vector<Job>& jobs, const std::vector<Slot>& s) {
  std::set<std::pair<std::size_t, int>> want, got;
  for (std::size_t j = 0; j < jobs.size(); ++j)
    for (int r = 0; r < jobs[j].runs; ++r) want.insert({j, r});
  for (const Slot& x : s) EXPECT_TRUE(got.insert({x.job, x.round}).second) << "job " << x.job << " round " << x.round;
  EXPECT_EQ(got, want);
  EXPECT_EQ(s.size(), want.size());
}

TEST(Schedule, OneRunIsThePlanOrderInEveryOrder) {
  const std::vector<Job> jobs = jobs_with_runs({1, 1, 1, 1});
  for (Order o : {Order::interleaved, Order::sequential}) {
    const std::vector<Slot> s = schedule(jobs, o, 7);
    ASSERT_EQ(s.size(), 4u);
    for (std::size_t i = 0; i < 4; ++i) EXPECT_EQ(s[i], (Slot{i, 0}));
  }
  expect_complete(jobs, schedule(jobs, Order::shuffled, 7));
}

TEST(Schedule, RoundsRunEveryJobOnceInTheirOwnOrder) {
  const std::vector<Job> jobs = jobs_with_runs(std::vector<int>(8, 3));
  for (Order o : {Order::interleaved, Order::shuffled, Order::sequential}) expect_complete(jobs, schedule(jobs, o, 42));
  // Interleaved and shuffled: rounds follow one another, each a permutation of all jobs.
  for (Order o : {Order::interleaved, Order::shuffled}) {
    const std::vector<Slot> s = schedule(jobs, o, 42);
    for (std::size_t i = 0; i < s.size(); ++i) EXPECT_EQ(s[i].round, static_cast<int>(i / 8));
  }
  // Interleaved: round r starts r*n/rounds positions further into the plan order.
  const std::vector<Slot> il = schedule(jobs, Order::interleaved, 0);
  EXPECT_EQ(il[0].job, 0u);
  EXPECT_EQ(il[8].job, 2u);   // 1 * 8 / 3
  EXPECT_EQ(il[16].job, 5u);  // 2 * 8 / 3
  // Sequential: a job's runs back to back.
  const std::vector<Slot> sq = schedule(jobs, Order::sequential, 0);
  EXPECT_EQ(sq[0], (Slot{0, 0}));
  EXPECT_EQ(sq[2], (Slot{0, 2}));
  EXPECT_EQ(sq[3], (Slot{1, 0}));
}

TEST(Schedule, ShuffledIsDeterministicInTheSeedAndDiffersAcrossSeedsAndRounds) {
  const std::vector<Job> jobs = jobs_with_runs(std::vector<int>(12, 4));
  EXPECT_EQ(schedule(jobs, Order::shuffled, 123), schedule(jobs, Order::shuffled, 123));
  EXPECT_NE(schedule(jobs, Order::shuffled, 123), schedule(jobs, Order::shuffled, 124));
  const std::vector<Slot> s = schedule(jobs, Order::shuffled, 123);
  std::set<std::vector<std::size_t>> orders;
  for (int r = 0; r < 4; ++r) {
    std::vector<std::size_t> o;
    for (std::size_t i = 0; i < 12; ++i) o.push_back(s[static_cast<std::size_t>(r) * 12 + i].job);
    orders.insert(o);
  }
  EXPECT_EQ(orders.size(), 4u);  // 12! orders: four equal ones would mean the round is ignored
  // Fixed by mt19937_64 and our own Fisher-Yates: the same on every machine and library.
  const std::vector<Job> three = jobs_with_runs({1, 1, 1});
  std::vector<std::size_t> first;
  for (const Slot& x : schedule(three, Order::shuffled, 1)) first.push_back(x.job);
  std::mt19937_64 rng(1 + 0x9E3779B97F4A7C15ull);
  std::vector<std::size_t> want = {0, 1, 2};
  for (std::size_t i = 3; i > 1; --i) std::swap(want[i - 1], want[rng() % i]);
  EXPECT_EQ(first, want);
}

TEST(Schedule, AJobWithFewerRunsTakesPartInItsFirstRoundsOnly) {
  const std::vector<Job> jobs = jobs_with_runs({3, 1, 2});
  EXPECT_EQ(rounds_of(jobs), 3);
  for (Order o : {Order::interleaved, Order::shuffled, Order::sequential}) {
    const std::vector<Slot> s = schedule(jobs, o, 5);
    expect_complete(jobs, s);
    for (const Slot& x : s) EXPECT_LT(x.round, jobs[x.job].runs);
  }
}

TEST(Shard, ShardsAreDisjointAndTheirUnionIsTheWholePlan) {
  Selection s = select({"timers", "skynet"});
  s.params["carriers"] = "1,2";
  const std::vector<Job> all = plan(s);
  ASSERT_GT(all.size(), 20u);
  for (int n : {1, 2, 3, 7}) {
    std::multiset<std::string> joined;
    for (int k = 1; k <= n; ++k)
      for (const Job& j : select_shard(all, Shard{k, n})) joined.insert(j.name());
    const std::vector<std::string> whole = names(all);
    EXPECT_EQ(joined, std::multiset<std::string>(whole.begin(), whole.end())) << n << " shards";
  }
  // Two shards of a plan this size both get work (a hash that put everything in one
  // shard would pass the union check).
  EXPECT_FALSE(select_shard(all, Shard{1, 2}).empty());
  EXPECT_FALSE(select_shard(all, Shard{2, 2}).empty());
  // By name only: the same job falls in the same shard whatever else is planned.
  const std::vector<Job> one = plan(select({"skynet"}));
  for (const Job& j : one)
    for (const Job& k : all)
      if (k.name() == j.name()) {
        EXPECT_EQ(shard_of(j, 3), shard_of(k, 3));
      }
}

TEST(Shard, BadShardsAreRefused) {
  EXPECT_EQ(parse_shard("2/3").text(), "2/3");
  for (const char* bad : {"0/2", "3/2", "1/0", "1", "/2", "1/", "a/b", "1/2/3", "-1/2", "1/1001"})
    EXPECT_THROW(parse_shard(bad), UsageError) << bad;
  EXPECT_THROW(parse_order("random"), UsageError);
  EXPECT_EQ(order_name(parse_order("interleaved")), std::string("interleaved"));
}

}  // namespace
}  // namespace sy::harness
