// switchyard: runs the suite's scenarios on every variant and peer and writes results JSON
// (results/SCHEMA.md). Every measurement runs in a fresh child process with a timeout:
//   - gbench scenarios (switch, yield, spawn_join): switch_bench / runtime_bench with a
//     filter for one variant or backend, their JSON converted (one source of truth);
//   - native scenarios (timers, ...): `switchyard child ...`, code compiled per variant;
//   - peers: their own programs (boost_fiber_peer, threads_peer, go_peer, coro_peer,
//     asio_peer), same protocol;
//   - --instructions: `valgrind --tool=callgrind ... switchyard instr-child ...`.
// A child that crashes or times out becomes a `failed` entry; the run goes on.
//
// Three layers: this file reads command lines (the commands), plan.h turns a selection
// into jobs (a pure function, unit-tested), execute.h runs them. catalog.h is what `list`
// prints.
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <random>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "budget.h"
#include "catalog.h"
#include "execute.h"
#include "instructions.h"
#include "merge.h"
#include "plan.h"
#include "process.h"
#include "profiles.h"
#include "provenance.h"
#include "reference.h"
#include "results.h"
#include "scenario.h"
#include "switchyard/variants.h"

namespace sy::harness {
namespace {

using nlohmann::json;
using scenarios::Scenario;
using scenarios::UsageError;
namespace fs = std::filesystem;

std::string shell_join(int argc, char** argv) {
  std::string s;
  for (int i = 0; i < argc; ++i) {
    std::string a = argv[i];
    if (i == 0) a = fs::path(a).filename().string();
    bool plain = !a.empty() && a.find_first_of(" \t'\"\\$*?;&|<>()") == std::string::npos;
    s += (i ? " " : "") + (plain ? a : "'" + a + "'");
  }
  return s;
}

std::string number_text(double d) {
  char b[32];
  std::snprintf(b, sizeof b, d == static_cast<double>(static_cast<long long>(d)) ? "%.0f" : "%g", d);
  return b;
}

// A number option's check, with the same message for every one (CLI11 runs it on the
// text, before its own conversion): out of [lo, hi] (NaN included, which a plain
// comparison lets through), trailing text, or a fraction for an integer option
// ("--repetitions 2.5" is refused, not truncated).
CLI::Validator number_in(double lo, double hi, bool integer) {
  const std::string range = "[" + number_text(lo) + ", " + number_text(hi) + "]";
  const std::string what = std::string(integer ? "an integer" : "a number") + " in " + range;
  return CLI::Validator(
      [what, lo, hi, integer](std::string& v) -> std::string {
        char* end = nullptr;
        const double d = std::strtod(v.c_str(), &end);
        if (v.empty() || *end || !(d >= lo && d <= hi) ||
            (integer && v.find_first_not_of("0123456789") != std::string::npos))
          return v + ": expected " + what;
        return "";
      },
      "in " + range);
}

void add_param(std::map<std::string, std::string>& params, const std::string& kv) {
  auto eq = kv.find('=');
  if (eq == std::string::npos || eq == 0) throw UsageError("--param " + kv + ": expected key=value");
  const std::string key = kv.substr(0, eq);
  if (params.count(key)) throw UsageError("--param " + key + " given twice (sweep with key=a,b)");
  params[key] = kv.substr(eq + 1);
}

// A repeatable option taking one value per occurrence: "--param a=1 --param b=2"; with
// `comma`, "--scenario yield,switch" gives two.
CLI::Option* add_list(CLI::App* app, const std::string& name, std::vector<std::string>& into, const std::string& help,
                      bool comma) {
  CLI::Option* o = app->add_option(name, into, help)->allow_extra_args(false)->type_name("TEXT");
  if (comma) o->delimiter(',');
  return o;
}

// --json: the catalogue for programs (catalog.h); --portable leaves out what depends on
// this machine and build (the peers' programs and whether they are there): what
// harness/catalog.json holds.
struct ListOptions {
  bool as_json = false, portable = false;
};
int cmd_list(const ListOptions& o) {
  const bool as_json = o.as_json, portable = o.portable;
  if (as_json) {
    std::cout << catalog_json(!portable).dump(2) << '\n';
    return 0;
  }
  std::printf("scenarios:\n");
  for (const Scenario* sc : scenarios::all()) {
    std::printf("  %-12s %s\n", std::string(sc->name).c_str(), std::string(sc->summary).c_str());
    for (const auto& p : sc->params)
      std::printf("      --param %-28s %s\n", p.describe().c_str(), p.help.c_str());
    std::string peers;
    for (auto p : sc->peers) peers += (peers.empty() ? "" : ", ") + std::string(p);
    if (!peers.empty()) std::printf("      peers: %s\n", peers.c_str());
    if (!sc->backends.empty()) {
      std::string b;
      for (auto x : sc->backends) b += (b.empty() ? "" : ", ") + std::string(x);
      std::printf("      entries per switch backend: %s\n", b.c_str());
    }
    if (sc->has_instructions) std::printf("      --instructions: instruction count per operation (callgrind)\n");
  }
  std::printf("variants:\n");
  for (const auto& v : sy::variants()) std::printf("  %s\n", v.name.c_str());
  std::printf("peers:\n");
  const json catalog = catalog_json(true);
  for (const json& p : catalog["peers"]) {
    const std::string state = p["available"].get<bool>() ? (p["built"].is_null() ? "installed" : "built")
                              : p["built"].is_null()     ? "not installed"
                                                         : "not built";
    std::printf("  %-12s %s (%s)\n", p["name"].get<std::string>().c_str(), p["note"].get<std::string>().c_str(),
                state.c_str());
  }
  std::printf("profiles (switchyard bench --profile P --out-dir DIR):");
  for (const std::string& p : profile_names()) std::printf(" %s", p.c_str());
  std::printf("\n");
  return 0;
}

// How measurements are repeated and isolated, shared by run and bench (results/SCHEMA.md,
// design).
struct CampaignOptions {
  int runs = 1;
  bool runs_given = false;
  std::string order, shard;
  unsigned long long seed = 0;
  bool seed_given = false;
  bool pin_carriers = false, pin_loadgen = false, no_noise_floor = false;
};

void add_campaign_options(CLI::App* app, CampaignOptions& c, bool bench) {
  app->add_option("--runs", c.runs,
                  "Fresh processes each measurement runs in: N rounds, each running every measurement once "
                  "(default 1)")
      ->check(number_in(1, 100, true));
  app->add_option("--order", c.order,
                  "The order of the measurements within each round: shuffled (a permutation per round drawn "
                  "from --seed; the default with several rounds), interleaved (the plan order rotated per round) "
                  "or sequential (each measurement's runs back to back)")
      ->check(CLI::IsMember({"interleaved", "shuffled", "sequential"}));
  app->add_option("--seed", c.seed, "The seed of the shuffled order (default: drawn at random; always recorded)")
      ->check(number_in(0, 9007199254740991.0, true));
  app->add_option("--shard", c.shard,
                  std::string("Run only part K of N of the ") + (bench ? "profile" : "selection") +
                      ", split by measurement name (the same on every machine); `switchyard merge` joins the parts")
      ->type_name("K/N");
  app->add_flag("--pin-carriers", c.pin_carriers,
                "Pin each carrier thread of our runtime to its own CPU of the affinity mask (carrier i on the "
                "i-th CPU, wrapping); our variants only");
  app->add_flag("--pin-loadgen", c.pin_loadgen,
                "http under load: run wrk on CPUs apart from the server's (the affinity mask split in two); needs "
                "at least 2 CPUs");
  app->add_flag("--no-noise-floor", c.no_noise_floor,
                std::string("Do not measure the reference workload at the start and end of every round") +
                    (bench ? "" : " (measured when --runs > 1)"));
}

// The design of a campaign, its options checked against the jobs (an option that cannot
// apply is refused, as plan.h does), each job given its runs. Sets the environment the
// children inherit for the isolation options (SY_PIN_CARRIERS, read by the runtime;
// SY_PIN_LOADGEN, read by the http driver).
Design make_design(const CampaignOptions& c, std::vector<Job>& jobs, bool bench) {
  Design d;
  if (c.runs_given)
    for (Job& j : jobs) j.runs = c.runs;
  const int rounds = rounds_of(jobs);
  if (!c.order.empty() && rounds < 2)
    throw UsageError("--order applies only with several rounds (--runs 2 or more): one round runs in plan order");
  d.order = !c.order.empty() ? parse_order(c.order) : rounds > 1 ? Order::shuffled : Order::sequential;
  if (c.seed_given && d.order != Order::shuffled)
    throw UsageError("--seed applies only to the shuffled order (--order shuffled with --runs 2 or more)");
  d.seed = c.seed_given ? c.seed : std::random_device{}();
  d.shard = c.shard;
  d.noise_floor = !c.no_noise_floor && (bench || rounds > 1);
  if (c.no_noise_floor && !bench && rounds < 2)
    throw UsageError("--no-noise-floor applies only with --runs 2 or more (run measures no noise floor in one run)");
  if (c.pin_carriers) {
    if (std::none_of(jobs.begin(), jobs.end(), [](const Job& j) { return !j.variant.empty() && !j.instructions; }))
      throw UsageError("--pin-carriers does not apply: no selected measurement runs our runtime's carriers (switch "
                       "backends, peers and instruction counts have none)");
    d.pin_carriers = true;
    setenv("SY_PIN_CARRIERS", "1", 1);
  }
  if (c.pin_loadgen) {
    if (std::none_of(jobs.begin(), jobs.end(), [](const Job& j) {
          return j.sc->name == "http" && !j.instructions && j.params.value("mode", std::string()) == "load";
        }))
      throw UsageError("--pin-loadgen applies only to http under load (mode=load): no selected measurement runs wrk");
    if (affinity_cpus().size() < 2)
      throw UsageError("--pin-loadgen needs at least 2 CPUs in the affinity mask to keep wrk apart from the server; "
                       "this process may run on " + std::to_string(affinity_cpus().size()));
    d.pin_loadgen = true;
    setenv("SY_PIN_LOADGEN", "1", 1);
  }
  if (d.pin_carriers || d.pin_loadgen) d.cpus = affinity_cpus();
  return d;
}

// Shards the jobs when asked; says so on stderr.
void apply_shard(const CampaignOptions& c, std::vector<Job>& jobs) {
  if (c.shard.empty()) return;
  const Shard s = parse_shard(c.shard);
  const std::size_t before = jobs.size();
  jobs = select_shard(jobs, s);
  std::fprintf(stderr, "shard %s: %zu of %zu measurements\n", s.text().c_str(), jobs.size(), before);
}

void print_noise_floor(const json& nf) {
  if (!nf.is_object() || nf["drift"].is_null()) return;
  std::fprintf(stderr, "noise floor: drift %+.2f%% (median of the round ends against their starts), floor %.2f%%\n",
               nf["drift"].get<double>() * 100, nf["floor"].get<double>() * 100);
}

struct RunOptions {
  std::vector<std::string> scenarios, variants, peers, params;
  int repetitions = 5;
  std::string out, filter;
  double timeout_s = 900, min_time = 0;
  long instr_ops = 0;
  bool instructions = false, dry_run = false;
  bool repetitions_given = false;
  std::string format = "table";  // what standard output gets: the summary table, or the results JSON
  CampaignOptions campaign;
};

// The table that closes a run: one row per measurement, its status and what it measured
// (or why not). entries[i] is jobs[i]'s, null when it did not run (interrupted).
std::string summary_table(const std::vector<Job>& jobs, const std::vector<json>& entries) {
  std::size_t width = std::string("measurement").size();
  for (std::size_t i = 0; i < entries.size() && i < jobs.size(); ++i) width = std::max(width, jobs[i].name().size());
  char line[64];
  std::snprintf(line, sizeof line, "%%-%zus  %%-7s  %%s\n", width);
  std::string out;
  auto row = [&](const std::string& a, const std::string& b, const std::string& c) {
    std::vector<char> buf(a.size() + b.size() + c.size() + width + 32);
    std::snprintf(buf.data(), buf.size(), line, a.c_str(), b.c_str(), c.c_str());
    out += buf.data();
  };
  row("measurement", "status", "median [min–max] unit");
  for (std::size_t i = 0; i < entries.size() && i < jobs.size(); ++i) {
    const json& e = entries[i];
    if (e.is_null()) continue;
    std::string result = measured_text(e);
    if (result.rfind(": ", 0) == 0) result.erase(0, 2);
    if (e["reason"].is_string()) result = e["reason"].get<std::string>().substr(0, 120);
    row(jobs[i].name(), e.value("status", std::string("?")), result);
  }
  return out;
}
int cmd_run(const RunOptions& o, const std::string& command) {
  Selection sel;
  sel.scenarios = o.scenarios;
  sel.variants_given = !o.variants.empty();
  sel.variants = o.variants;
  sel.peers = o.peers;
  for (const auto& kv : o.params) add_param(sel.params, kv);
  sel.repetitions = o.repetitions;
  sel.repetitions_given = o.repetitions_given;
  sel.filter = o.filter;
  sel.timeout_s = o.timeout_s;
  sel.min_time = o.min_time;
  sel.instr_ops = o.instr_ops;
  sel.instructions = o.instructions;
  const std::string& out = o.out;
  const bool dry_run = o.dry_run;
  std::vector<Job> jobs = plan(sel);
  if (jobs.empty()) throw UsageError("nothing to run: the filter matched no measurement");
  apply_shard(o.campaign, jobs);
  const Design design = make_design(o.campaign, jobs, false);
  // Where the results go, checked before anything is measured (a measurement is minutes).
  if (!out.empty()) try {
      check_writable(out);
    } catch (const std::runtime_error& e) {
      throw UsageError("--out " + out + ": " + e.what());
    }
  if (dry_run) {  // every name and value validated (plan), nothing run: what would run
    json list = json::array();
    for (const Job& j : jobs)
      list.push_back({{"name", j.name()}, {"label", j.label()}, {"params", j.sent}, {"runs", j.runs}});
    std::cout << json{{"jobs", list}, {"design", design.to_json(rounds_of(jobs))}}.dump(2) << '\n';
    return 0;
  }
  if (jobs.empty()) {
    std::fprintf(stderr, "shard %s holds no measurement of this selection: nothing run, nothing written\n",
                 design.shard.c_str());
    return 0;
  }

  ResultsFile f = new_results(out, command, {}, design.to_json(rounds_of(jobs)));
  install_sigint_handler();
  Progress pg;
  pg.total = schedule(jobs, design.order, design.seed).size();
  std::vector<json> pooled(jobs.size());
  auto write = [&] {
    f.entries = json::array();
    for (const json& e : pooled)
      if (!e.is_null()) f.entries.push_back(e);
    if (!out.empty()) f.write();  // after every measurement: a crash of the harness loses nothing
  };
  bool complete = run_rounds(
      jobs, design, pg,
      [&](std::size_t i, const json& e) {
        pooled[i] = e;
        write();
      },
      [&](const json& nf) {
        f.doc["noise_floor"] = nf;
        write();
      });
  write();
  if (!out.empty()) std::fprintf(stderr, "wrote %s (%zu entries)\n", out.c_str(), f.entries.size());
  print_noise_floor(f.doc["noise_floor"]);
  if (o.format == "json") std::cout << f.full().dump(2) << '\n';
  else std::cout << summary_table(jobs, pooled) << std::flush;
  if (!complete) {
    std::fprintf(stderr, "interrupted: %zu of %zu measurements finished and were written\n", pg.finished, pg.total);
    return 130;
  }
  return 0;
}

// The kernel settings a fiber benchmark needs (as the seed's benchmark set them).
std::vector<std::string> apply_kernel_settings() {
  struct Setting {
    const char* name;
    const char* path;
    long long value;
  };
  const Setting settings[] = {{"vm.max_map_count", "/proc/sys/vm/max_map_count", 262144},
                              {"net.core.somaxconn", "/proc/sys/net/core/somaxconn", 65535}};
  std::vector<std::string> applied;
  if (geteuid() != 0) {
    std::fprintf(stderr, "bench: not root: kernel settings left as they are (recorded in machine.limits); "
                         "runs that need more are skipped with the reason\n");
    return applied;
  }
  for (const auto& s : settings) {
    const long long now = scenarios::read_proc_sys(s.path);
    if (now >= s.value) continue;
    std::FILE* f = std::fopen(s.path, "w");
    bool ok = f && std::fprintf(f, "%lld\n", s.value) > 0;
    if (f) ok = (std::fclose(f) == 0) && ok;
    if (ok && scenarios::read_proc_sys(s.path) == s.value) {
      applied.push_back(std::string(s.name) + "=" + std::to_string(s.value));
      std::fprintf(stderr, "bench: set %s=%lld (was %lld)\n", s.name, s.value, now);
    } else {
      std::fprintf(stderr, "bench: could not set %s=%lld (it stays %lld)\n", s.name, s.value, now);
    }
  }
  return applied;
}

struct BenchOptions {
  std::string profile, out_dir, filter;
  CampaignOptions campaign;
  std::string budget;     // --budget as given; "" = the profile's (profile_budget_s)
  std::string estimates;  // --estimates FILE: instead of the pilot
  bool dry_run = false;
};

// ---- the budget (budget.h): each job's runs, estimates (a pilot, or --estimates), and an
// allocation of runs, repetitions and sizes that fits the budget, written into the jobs.
struct BenchBudget {
  std::optional<Allocation> alloc;  // none: no budget
  std::vector<Job> planned;         // every job as planned, parallel to alloc->items
  std::string source;               // "pilot" or "file"
  std::optional<double> pilot_s;
  bool interrupted = false;  // SIGINT during the pilot
  // The design fields of one scenario's results file (null without a budget).
  json design(std::string_view scenario) const {
    return alloc ? design_fields(*alloc, planned, scenario, source, pilot_s) : json(nullptr);
  }
};
// `jobs` come with their runs (--runs or the profile's): the allocation's minimum.
BenchBudget plan_bench_budget(const BenchOptions& o, std::vector<Job>& jobs) {
  BenchBudget b;
  int runs = 1;
  for (const Job& j : jobs)
    if (!j.instructions) runs = std::max(runs, j.runs);
  const std::optional<double> budget =
      o.budget.empty() ? (profile_budget_s(o.profile) > 0 ? std::optional<double>(profile_budget_s(o.profile))
                                                          : std::nullopt)
                       : parse_budget(o.budget);
  if (!budget) {
    if (!o.estimates.empty()) throw UsageError("--estimates applies only with a budget (--budget; not none)");
    return b;
  }
  b.planned = jobs;
  std::map<std::string, Estimate> est;
  double left = *budget;
  if (!o.estimates.empty()) {
    std::ifstream in(o.estimates);
    if (!in) throw UsageError("--estimates " + o.estimates + ": cannot read it");
    try {
      est = estimates_from_json(json::parse(in), b.planned);
    } catch (const std::exception& e) {
      throw UsageError("--estimates " + o.estimates + ": " + e.what());
    }
    b.source = "file";
  } else if (o.dry_run) {
    std::printf("budget %s: a real run first pilots each of the %zu measurements once (1 repetition, a fresh "
                "process each) and allocates what is left; give --estimates FILE to see an allocation\n",
                o.budget.empty() ? "(the profile's)" : o.budget.c_str(), b.planned.size());
    return b;
  } else {
    // The pilot: its own wall time is taken off the budget before allocating, so pilot
    // and measurements together fit it. Its samples are estimates only, never results.
    std::fprintf(stderr, "bench: budget %.0f s: pilot of %zu measurements (1 repetition each, timeout %.0f s)\n",
                 *budget, b.planned.size(), pilot_timeout(*budget));
    std::size_t k = 0;
    const Pilot p = run_pilot(b.planned, pilot_timeout(*budget), [&](const Job& j) {
      if (g_interrupted) return PilotRun{0, "failed", false};  // the rest not started
      const auto t = std::chrono::steady_clock::now();
      const json e = execute(j);
      PilotRun r;
      r.elapsed_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
      r.status = e.value("status", std::string("failed"));
      r.timed_out = r.status == "failed" && r.elapsed_s >= 0.99 * j.timeout_s;
      std::fprintf(stderr, "  pilot %zu/%zu %s: %s in %.1f s\n", ++k, b.planned.size(), j.name().c_str(),
                   r.status.c_str(), r.elapsed_s);
      return r;
    });
    if (g_interrupted) {
      std::fprintf(stderr, "interrupted during the pilot: nothing was measured\n");
      b.interrupted = true;
      return b;
    }
    est = p.estimates;
    b.source = "pilot";
    b.pilot_s = p.total_s;
    left = std::max(0.0, *budget - p.total_s);
    std::fprintf(stderr, "bench: pilot took %s; %s of the budget left\n", fmt_duration(p.total_s).c_str(),
                 fmt_duration(left).c_str());
  }
  b.alloc = allocate(budget_items(b.planned, est, runs), left);
  b.alloc->budget_s = *budget;  // recorded: the budget as given, the pilot's share in estimates.pilot_s
  apply_allocation(*b.alloc, jobs);
  std::FILE* to = o.dry_run ? stdout : stderr;
  std::fprintf(to, "budget allocation (%s estimates):\n%s", b.source.c_str(), allocation_text(*b.alloc).c_str());
  for (const std::string& r : b.alloc->reductions) std::fprintf(to, "  reduced: %s\n", r.c_str());
  if (!b.alloc->fits) std::fprintf(stderr, "bench: WARNING: %s\n", b.alloc->reductions.front().c_str());
  return b;
}
// ---- end of the budget
int cmd_bench(const BenchOptions& o, const std::string& command) {
  const std::string &prof = o.profile, &dir = o.out_dir, &filter = o.filter;
  const std::vector<ProfileItem>* items;
  try {
    items = &profile(prof);
  } catch (const std::invalid_argument& e) {
    throw UsageError(e.what());
  }
  // Plan everything before running anything: a bad profile or filter fails at once. One
  // list of jobs (a round runs the whole profile), each with the file it goes to.
  std::vector<Job> jobs;
  std::vector<std::string> file_of;
  std::map<std::string, double> budget_of;  // per scenario file: its items' budgets
  for (const ProfileItem& it : *items) {
    for (Job& j : plan_profile_item(it, filter)) {
      jobs.push_back(std::move(j));
      file_of.push_back(it.scenario);
    }
    budget_of[it.scenario] += it.budget_s;
  }
  // As `run`: nothing planned is a bad command line, and nothing (no sysctl) is changed.
  if (jobs.empty()) throw UsageError("nothing to run: --filter " + filter + " matched no measurement of profile " + prof);
  if (!o.campaign.shard.empty()) {
    const Shard s = parse_shard(o.campaign.shard);
    std::vector<Job> kept;
    std::vector<std::string> kept_files;
    for (std::size_t i = 0; i < jobs.size(); ++i)
      if (shard_of(jobs[i], s.n) == s.k) {
        kept.push_back(jobs[i]);
        kept_files.push_back(file_of[i]);
      }
    std::fprintf(stderr, "shard %s: %zu of %zu measurements\n", s.text().c_str(), kept.size(), jobs.size());
    jobs = std::move(kept);
    file_of = std::move(kept_files);
  }
  // Runs per measurement: --runs, else the profile's (an instruction count is
  // deterministic: one run). make_design applies --runs when given.
  if (!o.campaign.runs_given)
    for (Job& j : jobs) j.runs = profile_runs(prof);
  Design design = make_design(o.campaign, jobs, true);
  for (Job& j : jobs)
    if (j.instructions) j.runs = 1;
  // Where the results go, checked before anything is measured or set.
  {
    std::error_code ec;
    fs::create_directories(dir, ec);
    if (ec) throw UsageError("--out-dir " + dir + ": cannot create it: " + ec.message());
    for (const std::string& file : std::set<std::string>(file_of.begin(), file_of.end())) try {
        check_writable(dir + "/" + file + ".json");
      } catch (const std::runtime_error& e) {
        throw UsageError("--out-dir " + dir + ": " + e.what());
      }
  }
  if (jobs.empty()) {
    std::fprintf(stderr, "shard %s holds no measurement of profile %s: nothing run, nothing written\n",
                 design.shard.c_str(), prof.c_str());
    return 0;
  }
  if (!o.budget.empty()) parse_budget(o.budget);  // a bad --budget fails before anything runs
  if (o.dry_run) {
    const BenchBudget bud = plan_bench_budget(o, jobs);  // the budget (above)
    if (!bud.alloc)
      for (const Job& j : jobs) std::printf("%s  runs %d  repetitions %d\n", j.name().c_str(), j.runs, j.repetitions);
    return 0;
  }
  std::map<std::string, std::size_t> count_of;
  for (const std::string& f : file_of) ++count_of[f];
  double budget = 0;
  std::fprintf(stderr, "bench --profile %s: %zu measurements x %d round(s) (%s order, seed %llu) into %s\n",
               prof.c_str(), jobs.size(), rounds_of(jobs), order_name(design.order), design.seed, dir.c_str());
  std::fprintf(stderr, "  %-12s %5s %9s\n", "scenario", "meas.", "budget");
  for (const auto& [file, n] : count_of) {
    std::fprintf(stderr, "  %-12s %5zu %9s\n", file.c_str(), n, fmt_duration(budget_of[file]).c_str());
    budget += budget_of[file];
  }
  std::fprintf(stderr, "  %-12s %5zu %9s  per round (each run is also bounded by its scenario's budget)\n", "total",
               jobs.size(), fmt_duration(budget).c_str());

  const std::vector<std::string> applied = apply_kernel_settings();
  install_sigint_handler();
  const BenchBudget bud = plan_bench_budget(o, jobs);  // the budget (above): after the settings the pilot needs
  if (bud.interrupted) return 130;
  // The allocation may have changed runs (and so the rounds), repetitions and sizes.
  const int rounds = rounds_of(jobs);
  if (bud.alloc) design.budget_s = bud.alloc->budget_s;
  Progress pg;
  pg.total = schedule(jobs, design.order, design.seed).size();
  std::map<std::string, ResultsFile> files;  // items of one scenario (http) share its file
  for (const auto& [file, n] : count_of) {
    json d = design.to_json(rounds);
    if (bud.alloc) d.update(bud.design(file));  // the budget's part: estimates and this file's reductions
    files[file] = new_results(dir + "/" + file + ".json", command, applied, d);
  }
  std::vector<json> pooled(jobs.size());
  std::map<std::string, double> seconds;
  auto write = [&](const std::string& file) {
    ResultsFile& f = files.at(file);
    f.entries = json::array();
    for (std::size_t i = 0; i < jobs.size(); ++i)
      if (file_of[i] == file && !pooled[i].is_null()) f.entries.push_back(pooled[i]);
    f.write();
  };
  bool complete = run_rounds(
      jobs, design, pg,
      [&](std::size_t i, const json& e) {
        pooled[i] = e;
        write(file_of[i]);
      },
      [&](const json& nf) {
        for (auto& [file, f] : files) {
          f.doc["noise_floor"] = nf;
          write(file);
        }
      });
  for (std::size_t i = 0; i < jobs.size(); ++i)
    if (!pooled[i].is_null())
      for (const json& r : pooled[i]["runs"]) seconds[file_of[i]] += r.value("elapsed_s", 0.0);
  for (auto& [file, f] : files) {
    write(file);
    const double took = seconds[file];
    std::fprintf(stderr, "%s: %zu entries, %s measuring (budget %s per round)%s -> %s\n", file.c_str(),
                 f.entries.size(), fmt_duration(took).c_str(), fmt_duration(budget_of[file]).c_str(),
                 took > budget_of[file] * rounds ? " OVER BUDGET" : "", f.path.c_str());
  }
  print_noise_floor(files.begin()->second.doc["noise_floor"]);
  if (!complete) {
    std::fprintf(stderr, "interrupted: %zu of %zu measurements finished and were written\n", pg.finished, pg.total);
    return 130;
  }
  std::fprintf(stderr, "bench done in %s\n", fmt_duration(pg.elapsed()).c_str());
  if (bud.alloc) {
    std::fprintf(stderr, "budget %s, estimated %s:%s\n", fmt_duration(bud.alloc->budget_s).c_str(),
                 fmt_duration(bud.alloc->estimate_s + bud.pilot_s.value_or(0)).c_str(),
                 bud.alloc->reductions.empty() ? " nothing reduced" : "");
    for (const std::string& r : bud.alloc->reductions) std::fprintf(stderr, "  reduced: %s\n", r.c_str());
  }
  return 0;
}

// Hidden: one native measurement, in this fresh process (the protocol on stdout).
struct ChildOptions {
  std::string scenario, variant, peer;
  std::vector<std::string> params;
  int repetitions = 5;
  bool reference = false;
};
int cmd_child(const ChildOptions& opt) {
  const std::string &scenario = opt.scenario, &variant = opt.variant, &peer = opt.peer;
  if (opt.reference) {  // the noise floor's workload (reference.h)
    if (!scenario.empty() || !variant.empty() || !peer.empty() || !opt.params.empty())
      throw UsageError("child --reference runs the fixed reference workload: it takes no scenario, variant, peer "
                       "or parameter");
    std::cout << json{{"workload", reference_workload()}, {"samples", reference_samples()}}.dump() << std::endl;
    return 0;
  }
  if (scenario.empty()) throw UsageError("child: --scenario is required");
  std::map<std::string, std::string> given;
  for (const auto& kv : opt.params) add_param(given, kv);
  const int reps = opt.repetitions;
  const Scenario& sc = scenarios::find(scenario);
  if (!peer.empty()) {  // scenarios that drive servers measure their peers here too (http)
    if (!variant.empty()) throw UsageError("child: --variant and --peer exclude each other");
    if (!sc.run_peer) throw UsageError("scenario " + scenario + " measures peers with their own programs");
    find_peer(peer);
  } else {
    if (!sc.run) throw UsageError("scenario " + scenario + " is not measured in a child of switchyard");
    if (!sy::find_variant(variant)) throw sy::UnknownVariant(variant);
  }
  const json params = resolve_params(sc, std::move(given));
  // For the harness's own test that a crashing child becomes a `failed` entry naming the
  // signal (harness/tiny_all.sh); never set in a real run.
  if (std::getenv("SY_CHILD_CRASH_FOR_TEST")) std::raise(SIGSEGV);
  scenarios::Outcome o;
  try {
    o = peer.empty() ? sc.run(variant, params, reps) : sc.run_peer(peer, params, reps);
  } catch (const std::exception& e) {
    o.status = "failed";
    o.reason = e.what();
  }
  std::cout << scenarios::child_json(o).dump() << std::endl;
  return o.status == "failed" ? 1 : 0;
}

struct InstrChildOptions {
  std::string op, who;
  long ops = 0;
};
int cmd_instr_child(const InstrChildOptions& o) {
  const std::string &op = o.op, &who = o.who;
  const long ops = o.ops;
  long done = 0;
  try {
    done = instructions_child(op, who, ops);
  } catch (const std::invalid_argument& e) {
    throw UsageError(e.what());
  }
  std::cout << json{{"ops", done}}.dump() << std::endl;
  return 0;
}

CLI::App* find_command(CLI::App& app, const std::string& name) {
  for (CLI::App* sub : app.get_subcommands([](CLI::App*) { return true; }))
    if (sub->get_name() == name) return sub;
  return nullptr;
}

// Options that take a value, given as "--name VALUE", are joined into "--name=VALUE"
// before CLI11 sees them: a value may start with '-' (--filter's negation, "-fifo$"),
// which CLI11 would otherwise read as an option of its own.
std::vector<std::string> join_values(CLI::App& app, int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty()) return args;
  CLI::App* sub = find_command(app, args[0]);
  if (!sub) return args;
  std::set<std::string> takes_value;
  for (const CLI::Option* o : sub->get_options())
    if (o->get_expected_max() > 0 && o->get_type_size_max() > 0)  // not a flag
      for (const auto& n : o->get_lnames()) takes_value.insert("--" + n);
  std::vector<std::string> out = {args[0]};
  for (std::size_t i = 1; i < args.size(); ++i) {
    if (args[i] == "--") {  // everything after it is a positional: CLI11 rejects it as such
      out.insert(out.end(), args.begin() + static_cast<long>(i), args.end());
      break;
    }
    if (takes_value.count(args[i]) && i + 1 < args.size()) {
      out.push_back(args[i] + "=" + args[i + 1]);
      ++i;
    } else {
      out.push_back(args[i]);
    }
  }
  return out;
}

std::string version_with_variants() {
  std::string v = version_text() + "\nvariants";
  for (const auto& info : sy::variants()) v += " " + info.name;
  return v;
}

}  // namespace
}  // namespace sy::harness

int main(int argc, char** argv) {
  using namespace sy::harness;
  CLI::App app("switchyard: runs the suite's scenarios on every variant and peer and writes results JSON "
               "(results/SCHEMA.md).",
               "switchyard");
  app.set_version_flag("--version", version_with_variants(), "Print the commit, compiler, Boost and variants; exit");
  app.require_subcommand(1);
  app.footer(
      "Run `switchyard COMMAND --help` for a command's options.\n"
      "Exit codes: 0 done, 1 error, 2 bad command line, 130 interrupted.");

  ListOptions lo;
  CLI::App* list = app.add_subcommand("list", "List scenarios (with their parameters), variants, peers and profiles");
  list->add_flag("--json", lo.as_json, "The catalogue as JSON, for programs (harness/catalog.h)");
  list->add_flag("--portable", lo.portable,
                 "With --json: leave out what depends on this machine and build (what harness/catalog.json holds)")
      ->needs("--json");

  RunOptions ro;
  CLI::App* run = app.add_subcommand("run", "Measure scenarios on variants and peers, each in a fresh child process");
  add_list(run, "--scenario", ro.scenarios, "Scenarios to run, S[,S...] (switchyard list)", true)->required();
  add_list(run, "--variant", ro.variants,
           "Variants V[,V...] or all; without --variant and --peer, all variants run", true);
  add_list(run, "--peer", ro.peers, "Peers P[,P...], or all: each scenario's own peers", true);
  add_list(run, "--param", ro.params, "A scenario parameter key=value; key=a,b sweeps it. Repeatable", false)
      ->type_name("KEY=VALUE");
  run->add_option("--repetitions", ro.repetitions, "Timed repetitions per measurement (default 5)")
      ->check(number_in(1, 1000, true));
  run->add_option("--out", ro.out, "Write the results to FILE.json (checked before anything runs; rewritten "
                                   "after every measurement)")
      ->type_name("FILE");
  run->add_option("--filter", ro.filter,
                  "Run only measurements whose scenario/label/key=value... name matches REGEX; a leading '-' "
                  "negates (as Google Benchmark's)")
      ->type_name("REGEX");
  run->add_flag("--instructions", ro.instructions,
                "Count instructions per operation under callgrind instead of timing (switch, yield, spawn_join)");
  run->add_option("--instr-ops", ro.instr_ops, "With --instructions: operations counted (default per scenario)")
      ->check(number_in(2, 1e9, true));
  run->add_option("--timeout", ro.timeout_s, "Seconds after which one measurement is stopped and failed (default 900)")
      ->check(number_in(1, 86400, false));
  run->add_option("--min-time", ro.min_time,
                  "Google Benchmark scenarios (switch, yield, spawn_join): --benchmark_min_time in seconds")
      ->check(number_in(0.001, 60, false));
  run->add_option("--format", ro.format,
                  "What standard output gets at the end: table (a summary, the default) or json (the results "
                  "file's JSON); progress goes to standard error")
      ->check(CLI::IsMember({"table", "json"}));
  run->add_flag("--dry-run", ro.dry_run, "Validate everything and print the measurements that would run; run none");
  add_campaign_options(run, ro.campaign, false);

  BenchOptions bo;
  CLI::App* bench = app.add_subcommand("bench", "Run a fixed matrix (profile) into one results file per scenario; "
                                                "as root, raises vm.max_map_count and net.core.somaxconn first");
  bench->add_option("--profile", bo.profile, "quick (minutes), all (two hours) or http-full (the whole HTTP sweep)")
      ->required()
      ->check(CLI::IsMember(profile_names()));
  bench->add_option("--out-dir", bo.out_dir, "Directory for SCENARIO.json (created; checked before anything runs)")
      ->required()
      ->type_name("DIR");
  bench->add_option("--filter", bo.filter, "As run's --filter, over the profile's measurements")->type_name("REGEX");
  add_campaign_options(bench, bo.campaign, true);

  MergeOptions mo;
  CLI::App* merge = app.add_subcommand(
      "merge", "Merge results (bench shards, repeated runs, several machines) into one: OUT IN... with IN folders "
               "(OUT a folder, files joined by name) or files (OUT a file); repeated measurements are pooled");
  merge->add_option("out", mo.out, "Where the merged results go (a folder when the inputs are folders)")
      ->required()
      ->type_name("OUT");
  merge->add_option("inputs", mo.inputs, "Results folders or files (schema version 1 or 2)")
      ->required()
      ->type_name("IN...");
  bench->add_option("--budget", bo.budget,
                    "Wall time to plan for: 90s, 30m, 2h, or none (default: all and http-full 2h, quick none). "
                    "Each measurement is piloted once first; repetitions, then sizes, are reduced to fit "
                    "(recorded in design.reductions)")
      ->type_name("DURATION");
  bench->add_option("--estimates", bo.estimates,
                    "Seconds per measurement from FILE ({\"default\": {\"per_rep_s\": S, \"overhead_s\": S}, "
                    "\"jobs\": {NAME: ...}}) instead of the pilot")
      ->type_name("FILE");
  bench->add_flag("--dry-run", bo.dry_run,
                  "Validate and print the plan (with --estimates, the budget's allocation); run nothing");

  // The harness's own child processes (execute.cpp starts them); hidden from --help.
  ChildOptions co;
  CLI::App* child = app.add_subcommand("child", "One native measurement in this process (the peer protocol)");
  child->group("");
  child->add_option("--scenario", co.scenario, "Scenario");
  child->add_flag("--reference", co.reference, "The noise floor's reference workload instead of a scenario");
  child->add_option("--variant", co.variant, "Variant");
  child->add_option("--peer", co.peer, "Peer (scenarios that drive servers)");
  add_list(child, "--param", co.params, "key=value", false);
  child->add_option("--repetitions", co.repetitions, "Repetitions")->check(number_in(1, 1000, true));
  InstrChildOptions io;
  CLI::App* instr = app.add_subcommand("instr-child", "One operation's loop under callgrind");
  instr->group("");
  instr->add_option("--op", io.op, "Operation (scenario)")->required();
  instr->add_option("--who", io.who, "Variant or switch backend")->required();
  instr->add_option("--ops", io.ops, "Operations")->required()->check(number_in(2, 1e10, true));

  if (argc < 2) {
    std::fputs(app.help().c_str(), stderr);
    return 2;
  }
  std::string cmd = argv[1];
  if (cmd == "help") {
    std::fputs(app.help().c_str(), stdout);
    return 0;
  }
  if (cmd.rfind("-", 0) != 0 && !find_command(app, cmd)) {
    std::fprintf(stderr, "switchyard: unknown command '%s' (commands: list, run, bench, merge; see switchyard --help)\n",
                 cmd.c_str());
    return 2;
  }
  std::vector<std::string> args = join_values(app, argc, argv);
  std::reverse(args.begin(), args.end());  // CLI11 takes them last first
  try {
    app.parse(args);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    // Every malformed command line exits 2 (CLI11's own codes differ per error).
    const bool sub = cmd.rfind("-", 0) != 0;
    std::fprintf(stderr, "switchyard%s: %s\nRun 'switchyard%s --help' for the options.\n",
                 sub ? (" " + cmd).c_str() : "", e.what(), sub ? (" " + cmd).c_str() : "");
    return 2;
  }
  const std::string command = shell_join(argc, argv);
  try {
    if (list->parsed()) return cmd_list(lo);
    if (run->parsed()) {
      ro.repetitions_given = run->count("--repetitions") > 0;
      ro.campaign.runs_given = run->count("--runs") > 0;
      ro.campaign.seed_given = run->count("--seed") > 0;
      return cmd_run(ro, command);
    }
    if (bench->parsed()) {
      bo.campaign.runs_given = bench->count("--runs") > 0;
      bo.campaign.seed_given = bench->count("--seed") > 0;
      return cmd_bench(bo, command);
    }
    if (merge->parsed()) return merge_results(mo, command);
    if (child->parsed()) return cmd_child(co);
    if (instr->parsed()) return cmd_instr_child(io);
    return 2;  // require_subcommand(1) makes this unreachable
  } catch (const sy::scenarios::UsageError& e) {
    std::fprintf(stderr, "switchyard %s: %s\n", cmd.c_str(), e.what());
    return 2;
  } catch (const sy::UnknownVariant& e) {
    std::fprintf(stderr, "switchyard %s: %s\n", cmd.c_str(), e.what());
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "switchyard %s: error: %s\n", cmd.c_str(), e.what());
    return 1;
  }
}
