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

#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "catalog.h"
#include "execute.h"
#include "instructions.h"
#include "plan.h"
#include "process.h"
#include "profiles.h"
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

// Reads "--name value" or "--name=value" arguments. flag() marks options without a value.
struct Args {
  std::vector<std::pair<std::string, std::string>> opts;
  Args(int argc, char** argv, int from, const std::set<std::string>& with_value, const std::set<std::string>& flags) {
    for (int i = from; i < argc; ++i) {
      std::string a = argv[i], v;
      bool inline_value = false;
      if (auto eq = a.find('='); a.rfind("--", 0) == 0 && eq != std::string::npos) {
        v = a.substr(eq + 1);
        a = a.substr(0, eq);
        inline_value = true;
      }
      if (flags.count(a)) {
        if (inline_value) throw UsageError(a + " takes no value");
        opts.emplace_back(a, "");
      } else if (with_value.count(a)) {
        if (!inline_value) {
          if (i + 1 >= argc) throw UsageError(a + " needs a value");
          v = argv[++i];
        }
        opts.emplace_back(a, v);
      } else {
        throw UsageError("unknown argument '" + a + "'");
      }
    }
  }
};

double parse_number(const std::string& opt, const std::string& v, double lo, double hi) {
  char* end = nullptr;
  double d = std::strtod(v.c_str(), &end);
  if (v.empty() || *end || !(d >= lo && d <= hi))
    throw UsageError(opt + " " + v + ": expected a number in [" + std::to_string(lo) + ", " + std::to_string(hi) + "]");
  return d;
}

void add_param(std::map<std::string, std::string>& params, const std::string& kv) {
  auto eq = kv.find('=');
  if (eq == std::string::npos || eq == 0) throw UsageError("--param " + kv + ": expected key=value");
  const std::string key = kv.substr(0, eq);
  if (params.count(key)) throw UsageError("--param " + key + " given twice (sweep with key=a,b)");
  params[key] = kv.substr(eq + 1);
}

// --json: the catalogue for programs (catalog.h); --portable leaves out what depends on
// this machine and build (the peers' programs and whether they are there): what
// harness/catalog.json holds.
int cmd_list(int argc, char** argv) {
  Args a(argc, argv, 2, {}, {"--json", "--portable"});
  bool as_json = false, portable = false;
  for (const auto& [k, v] : a.opts) {
    if (k == "--json") as_json = true;
    else if (k == "--portable") portable = true;
  }
  if (portable && !as_json) throw UsageError("--portable applies to --json");
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
  std::printf("profiles (switchyard bench --profile P --out-dir DIR): quick, all\n");
  return 0;
}

int cmd_run(int argc, char** argv) {
  Args a(argc, argv, 2,
         {"--scenario", "--variant", "--peer", "--param", "--repetitions", "--out", "--filter", "--timeout",
          "--min-time", "--instr-ops"},
         {"--instructions", "--dry-run"});
  Selection sel;
  std::string out;
  bool dry_run = false;
  for (const auto& [k, v] : a.opts) {
    if (k == "--scenario") for (auto& s : split(v, ',')) sel.scenarios.push_back(s);
    else if (k == "--variant") {
      sel.variants_given = true;
      for (auto& s : split(v, ',')) sel.variants.push_back(s);
    } else if (k == "--peer") for (auto& s : split(v, ',')) sel.peers.push_back(s);
    else if (k == "--param") add_param(sel.params, v);
    else if (k == "--repetitions") sel.repetitions = static_cast<int>(parse_number(k, v, 1, 1000));
    else if (k == "--out") out = v;
    else if (k == "--filter") sel.filter = v;
    else if (k == "--timeout") sel.timeout_s = parse_number(k, v, 1, 86400);
    else if (k == "--min-time") sel.min_time = parse_number(k, v, 0.001, 60);
    else if (k == "--instr-ops") sel.instr_ops = static_cast<long>(parse_number(k, v, 2, 1e9));
    else if (k == "--instructions") sel.instructions = true;
    else if (k == "--dry-run") dry_run = true;
  }
  std::vector<Job> jobs = plan(sel);
  if (jobs.empty()) throw UsageError("nothing to run: the filter matched no measurement");
  if (dry_run) {  // every name and value validated (plan), nothing run: what would run
    json list = json::array();
    for (const Job& j : jobs) list.push_back({{"name", j.name()}, {"label", j.label()}, {"params", j.sent}});
    std::cout << json{{"jobs", list}}.dump(2) << '\n';
    return 0;
  }

  ResultsFile f = new_results(out, shell_join(argc, argv), {});
  install_sigint_handler();
  Progress pg;
  pg.total = jobs.size();
  bool complete = run_jobs(jobs, pg, [&](json e) {
    f.entries.push_back(std::move(e));
    if (!out.empty()) f.write();  // after every entry: a crash of the harness loses nothing
  });
  if (!out.empty()) {
    f.write();
    std::fprintf(stderr, "wrote %s (%zu entries)\n", out.c_str(), f.entries.size());
  } else {
    std::cout << f.full().dump(2) << '\n';
  }
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

int cmd_bench(int argc, char** argv) {
  Args a(argc, argv, 2, {"--profile", "--out-dir", "--filter"}, {});
  std::string prof, dir, filter;
  for (const auto& [k, v] : a.opts) {
    if (k == "--profile") prof = v;
    else if (k == "--out-dir") dir = v;
    else if (k == "--filter") filter = v;
  }
  if (prof.empty() || dir.empty()) throw UsageError("bench needs --profile quick|all and --out-dir DIR");
  const std::vector<ProfileItem>* items;
  try {
    items = &profile(prof);
  } catch (const std::invalid_argument& e) {
    throw UsageError(e.what());
  }
  // Plan everything before running anything: a bad profile fails at once.
  std::vector<std::pair<const ProfileItem*, std::vector<Job>>> planned;
  std::size_t total = 0;
  for (const ProfileItem& it : *items) {
    Selection sel;
    sel.scenarios = {it.scenario};
    sel.variants_given = true;
    if (!it.variants.empty()) sel.variants = split(it.variants, ',');
    if (!it.peers.empty()) sel.peers = split(it.peers, ',');
    for (const auto& [k, v] : it.params) sel.params[k] = v;
    sel.repetitions = it.repetitions;
    sel.timeout_s = it.budget_s;
    sel.min_time = it.min_time;
    sel.filter = filter;
    std::vector<Job> jobs = scenarios::find(it.scenario).backends.empty() && sel.variants.empty() && sel.peers.empty()
                                ? std::vector<Job>{}
                                : plan(sel);
    if (it.instructions) {
      sel.instructions = true;
      sel.peers.clear();
      for (Job& j : plan(sel)) jobs.push_back(std::move(j));
    }
    total += jobs.size();
    planned.emplace_back(&it, std::move(jobs));
  }
  double budget = 0;
  std::fprintf(stderr, "bench --profile %s: %zu measurements into %s\n", prof.c_str(), total, dir.c_str());
  std::fprintf(stderr, "  %-12s %5s %5s %9s\n", "scenario", "runs", "reps", "budget");
  for (const auto& [it, jobs] : planned) {
    std::fprintf(stderr, "  %-12s %5zu %5d %9s\n", it->scenario.c_str(), jobs.size(), it->repetitions,
                 fmt_duration(it->budget_s).c_str());
    budget += it->budget_s;
  }
  std::fprintf(stderr, "  %-12s %5zu %5s %9s  (each run is also bounded by its scenario's budget)\n", "total", total,
               "", fmt_duration(budget).c_str());

  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) throw std::runtime_error("cannot create " + dir + ": " + ec.message());
  const std::vector<std::string> applied = apply_kernel_settings();
  install_sigint_handler();
  Progress pg;
  pg.total = total;
  const std::string command = shell_join(argc, argv);
  std::map<std::string, ResultsFile> files;  // items of one scenario (http) share its file
  for (const auto& [it, jobs] : planned) {
    if (jobs.empty()) continue;
    auto [slot, first] = files.try_emplace(it->scenario);
    if (first) slot->second = new_results(dir + "/" + it->scenario + ".json", command, applied);
    ResultsFile& f = slot->second;
    const auto t = std::chrono::steady_clock::now();
    bool complete = run_jobs(jobs, pg, [&](json e) {
      f.entries.push_back(std::move(e));
      f.write();
    });
    f.write();
    const double took = std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
    std::fprintf(stderr, "%s: %zu entries in %s (budget %s)%s -> %s\n", it->scenario.c_str(), f.entries.size(),
                 fmt_duration(took).c_str(), fmt_duration(it->budget_s).c_str(),
                 took > it->budget_s ? " OVER BUDGET" : "", f.path.c_str());
    if (!complete) {
      std::fprintf(stderr, "interrupted: %zu of %zu measurements finished and were written\n", pg.finished, pg.total);
      return 130;
    }
  }
  std::fprintf(stderr, "bench done in %s\n", fmt_duration(pg.elapsed()).c_str());
  return 0;
}

// Hidden: one native measurement, in this fresh process (the protocol on stdout).
int cmd_child(int argc, char** argv) {
  Args a(argc, argv, 2, {"--scenario", "--variant", "--peer", "--param", "--repetitions"}, {});
  std::string scenario, variant, peer;
  std::map<std::string, std::string> given;
  int reps = 5;
  for (const auto& [k, v] : a.opts) {
    if (k == "--scenario") scenario = v;
    else if (k == "--variant") variant = v;
    else if (k == "--peer") peer = v;
    else if (k == "--param") add_param(given, v);
    else if (k == "--repetitions") reps = static_cast<int>(parse_number(k, v, 1, 1000));
  }
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

int cmd_instr_child(int argc, char** argv) {
  Args a(argc, argv, 2, {"--op", "--who", "--ops"}, {});
  std::string op, who;
  long ops = 0;
  for (const auto& [k, v] : a.opts) {
    if (k == "--op") op = v;
    else if (k == "--who") who = v;
    else if (k == "--ops") ops = static_cast<long>(parse_number(k, v, 2, 1e10));
  }
  long done = 0;
  try {
    done = instructions_child(op, who, ops);
  } catch (const std::invalid_argument& e) {
    throw UsageError(e.what());
  }
  std::cout << json{{"ops", done}}.dump() << std::endl;
  return 0;
}

void usage(std::FILE* to) {
  std::fprintf(to,
               "usage:\n"
               "  switchyard list [--json [--portable]]\n"
               "  switchyard run --scenario S[,S...] [--variant V[,V...]|all] [--peer P[,P...]|all]\n"
               "                 [--param k=v[,v...]]... [--repetitions N] [--out FILE.json] [--filter REGEX]\n"
               "                 [--instructions] [--timeout SECONDS] [--min-time SECONDS] [--dry-run]\n"
               "  switchyard bench --profile quick|all --out-dir DIR [--filter REGEX]\n"
               "A comma-separated parameter value sweeps it. Without --variant and --peer, all variants run.\n"
               "--filter matches scenario/label/key=value... (a leading '-' negates), like Google Benchmark's.\n"
               "--dry-run validates everything and prints the measurements it would run, running none.\n"
               "Results: results/SCHEMA.md. Exit codes: 0 done, 1 error, 2 bad command line, 130 interrupted.\n");
}

}  // namespace
}  // namespace sy::harness

int main(int argc, char** argv) {
  using namespace sy::harness;
  if (argc < 2) {
    usage(stderr);
    return 2;
  }
  const std::string cmd = argv[1];
  try {
    if (cmd == "list") return cmd_list(argc, argv);
    if (cmd == "run") return cmd_run(argc, argv);
    if (cmd == "bench") return cmd_bench(argc, argv);
    if (cmd == "child") return cmd_child(argc, argv);
    if (cmd == "instr-child") return cmd_instr_child(argc, argv);
    if (cmd == "help" || cmd == "--help" || cmd == "-h") {
      usage(stdout);
      return 0;
    }
    std::fprintf(stderr, "switchyard: unknown command '%s'\n", cmd.c_str());
    usage(stderr);
    return 2;
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
