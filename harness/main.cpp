// switchyard: runs the suite's scenarios on every variant and peer and writes results JSON
// (results/SCHEMA.md). Every measurement runs in a fresh child process with a timeout:
//   - gbench scenarios (switch, yield, spawn_join): switch_bench / runtime_bench with a
//     filter for one variant or backend, their JSON converted (one source of truth);
//   - native scenarios (timers, ...): `switchyard child ...`, code compiled per variant;
//   - peers: their own programs (boost_fiber_peer, threads_peer, go_peer, coro_peer,
//     asio_peer), same protocol;
//   - --instructions: `valgrind --tool=callgrind ... switchyard instr-child ...`.
// A child that crashes or times out becomes a `failed` entry; the run goes on.
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <optional>
#include <iostream>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "instructions.h"
#include "process.h"
#include "profiles.h"
#include "provenance.h"
#include "results.h"
#include "scenario.h"
#include "self_exe.h"
#include "switchyard/variants.h"

#ifndef SY_HAVE_GO
#define SY_HAVE_GO 0
#endif

namespace sy::harness {
namespace {

using nlohmann::json;
using scenarios::Scenario;
using scenarios::UsageError;
namespace fs = std::filesystem;

// ------------------------------------------------------------------------------ peers

struct Peer {
  std::string_view name, binary, note;
};
const std::vector<Peer>& peers() {
  static const std::vector<Peer> p = {
      {"boost_fiber", "boost_fiber_peer", "Boost.Fiber, default scheduler and stacks"},
      {"go", "go_peer", "Go goroutines (GOMAXPROCS = carriers)"},
      {"threads", "threads_peer", "OS threads"},
      {"coro", "coro_peer", "C++20 stackless coroutines on a minimal FIFO scheduler (the stackless floor)"},
      {"asio", "asio_peer", "Boost.Asio/Beast on C++20 coroutines (co_spawn, use_awaitable)"},
      {"eventloop", "", "http only: our server's epoll event-loop taskmaster (no fibers)"},
      {"nginx", "", "http only: Debian's nginx, driven by the http scenario"},
  };
  return p;
}
const Peer& find_peer(std::string_view name) {
  std::string names;
  for (const Peer& p : peers()) {
    if (p.name == name) return p;
    names += (names.empty() ? "" : ", ") + std::string(p.name);
  }
  throw UsageError("unknown peer '" + std::string(name) + "' (valid: " + names + ", all)");
}

// ------------------------------------------------------------------------------ helpers

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> out;
  std::string cur;
  for (char c : s) {
    if (c == sep) {
      out.push_back(cur);
      cur.clear();
    } else {
      cur += c;
    }
  }
  out.push_back(cur);
  return out;
}

using scenarios::self_exe;  // scenarios/self_exe.h
// What our own children exec: exactly the binary that is running, even if it was rebuilt
// (and its path replaced) since the run started.
const char* const kSelfForChildren = "/proc/self/exe";
std::string bin_dir() { return fs::path(self_exe()).parent_path().string(); }

std::string fmt_duration(double s) {
  long t = static_cast<long>(s + 0.5);
  char buf[32];
  if (t >= 3600) std::snprintf(buf, sizeof buf, "%ld:%02ld:%02ld", t / 3600, t / 60 % 60, t % 60);
  else std::snprintf(buf, sizeof buf, "%ld:%02ld", t / 60, t % 60);
  return buf;
}

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

std::string temp_path(const std::string& tag) {
  static int counter = 0;
  const char* dir = std::getenv("TMPDIR");
  return std::string(dir && *dir ? dir : "/tmp") + "/switchyard-" + std::to_string(getpid()) + "-" +
         std::to_string(++counter) + "-" + tag;
}

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// ------------------------------------------------------------------------------ jobs

// One measurement: one scenario, one variant/peer/backend, one set of parameter values.
struct Job {
  const Scenario* sc = nullptr;
  std::string variant, peer, backend;  // exactly one is set
  json params;                         // every parameter of the scenario, resolved
  json sent;                           // the settable ones (what a child is given)
  int repetitions = 5;
  bool instructions = false;
  double timeout_s = 900;
  double min_time = 0;
  long instr_ops = 0;

  std::string label() const { return !variant.empty() ? variant : !peer.empty() ? peer : backend; }
  // What --filter matches: "scenario/label[/key=value...]" (settable parameters only).
  std::string name() const {
    std::string n = std::string(sc->name) + "/" + label();
    for (const auto& [k, v] : sent.items()) n += "/" + k + "=" + (v.is_string() ? v.get<std::string>() : v.dump());
    if (instructions) n += "/instructions";
    return n;
  }
};

struct Selection {
  std::vector<std::string> scenarios, variants, peers;
  bool variants_given = false;
  std::map<std::string, std::string> params;  // as given: "a,b" sweeps
  int repetitions = 5;
  bool instructions = false;
  double timeout_s = 900;
  double min_time = 0;
  long instr_ops = 0;  // 0 = the default per operation
  std::string filter;
};

long default_instr_ops(std::string_view scenario) { return scenario == "spawn_join" ? 20000 : 200000; }

// Turns a selection into jobs, validating every name and value first (UsageError).
std::vector<Job> plan(const Selection& sel) {
  std::vector<const Scenario*> scs;
  for (const auto& s : sel.scenarios) scs.push_back(&scenarios::find(s));
  if (scs.empty()) throw UsageError("--scenario is required (see `switchyard list`)");

  std::vector<std::string> variants;
  for (const auto& v : sel.variants) {
    if (v == "all") {
      for (const auto& info : sy::variants()) variants.push_back(info.name);
    } else {
      if (!sy::find_variant(v)) throw sy::UnknownVariant(v);
      variants.push_back(v);
    }
  }
  if (!sel.variants_given && sel.peers.empty())
    for (const auto& info : sy::variants()) variants.push_back(info.name);
  bool all_peers = false;
  std::vector<std::string> explicit_peers;
  for (const auto& p : sel.peers) {
    if (p == "all") all_peers = true;
    else explicit_peers.push_back(std::string(find_peer(p).name));
  }

  // A given parameter must be settable in at least one chosen scenario.
  for (const auto& [key, value] : sel.params) {
    bool settable = false;
    std::string accepted;
    for (const Scenario* sc : scs)
      for (const auto& p : sc->params) {
        if (p.name == key && !p.fixed) settable = true;
        if (!p.fixed) accepted += (accepted.empty() ? "" : ", ") + p.name;
      }
    if (!settable) {
      const scenarios::ParamSpec* fixed = nullptr;
      for (const Scenario* sc : scs)
        if (const auto* p = sc->param(key)) fixed = p;
      if (fixed) fixed->parse(value);  // throws "fixed at ..."
      throw UsageError("unknown parameter '" + key + "' for scenario(s) " + [&] {
        std::string n;
        for (const Scenario* sc : scs) n += (n.empty() ? "" : ",") + std::string(sc->name);
        return n;
      }() + " (accepted: " + (accepted.empty() ? "none" : accepted) + ")");
    }
  }
  if (sel.instructions)
    for (const Scenario* sc : scs)
      if (!sc->has_instructions)
        throw UsageError("--instructions: scenario " + std::string(sc->name) +
                         " has no instruction-count mode (switch, yield and spawn_join have)");

  std::optional<std::regex> filter;
  bool negate = false;
  if (!sel.filter.empty()) {
    std::string f = sel.filter;
    if (f[0] == '-') {
      negate = true;
      f.erase(0, 1);
    }
    try {
      filter.emplace(f);
    } catch (const std::regex_error& e) {
      throw UsageError("--filter " + sel.filter + ": not a valid regular expression (" + e.what() + ")");
    }
  }

  std::vector<Job> jobs;
  for (const Scenario* sc : scs) {
    // The cartesian product of the swept values, in the scenario's parameter order.
    std::vector<json> combos = {json::object()};
    for (const auto& spec : sc->params) {
      std::vector<json> values;
      auto it = sel.params.find(spec.name);
      if (it == sel.params.end() || spec.fixed) {
        values.push_back(spec.def);
      } else {
        for (const auto& text : split(it->second, ',')) values.push_back(spec.parse(text));
      }
      std::vector<json> next;
      for (const auto& c : combos)
        for (const auto& v : values) {
          json n = c;
          n[spec.name] = v;
          next.push_back(n);
        }
      combos = std::move(next);
    }
    std::vector<std::string> scenario_peers = explicit_peers;
    if (all_peers)
      for (auto p : sc->peers)
        if (std::find(scenario_peers.begin(), scenario_peers.end(), p) == scenario_peers.end())
          scenario_peers.emplace_back(p);
    for (const json& params : combos) {
      if (sc->check) sc->check(params);  // e.g. skynet's power of 10, before anything runs
      json sent = json::object();
      for (const auto& spec : sc->params)
        if (!spec.fixed) sent[spec.name] = params[spec.name];
      auto add = [&](Job j) {
        j.sc = sc;
        j.params = params;
        if (j.sent.is_null()) j.sent = sent;
        j.repetitions = sel.instructions ? 1 : sel.repetitions;
        j.instructions = sel.instructions;
        j.timeout_s = sel.timeout_s;
        j.min_time = sel.min_time;
        j.instr_ops = sel.instr_ops ? sel.instr_ops : default_instr_ops(sc->name);
        if (filter && std::regex_search(j.name(), *filter) == negate) return;
        jobs.push_back(std::move(j));
      };
      if (!sc->backends.empty()) {
        if (!variants.empty() || scenario_peers.empty())
          for (auto b : sc->backends) {
            Job j;
            j.backend = b;
            add(j);
          }
      } else {
        for (const auto& v : variants) {
          Job j;
          j.variant = v;
          if (!sc->variant_params.empty()) {  // given (and recording) only what applies to them
            j.sent = json::object();
            for (auto k : sc->variant_params) j.sent[std::string(k)] = sent.at(std::string(k));
          }
          add(j);
        }
      }
      for (const auto& p : scenario_peers) {
        Job j;
        j.peer = p;
        // A peer is given only the parameters it accepts (Scenario::peer_params).
        for (const auto& [peer, keys] : sc->peer_params)
          if (peer == p) {
            j.sent = json::object();
            for (auto k : keys) j.sent[std::string(k)] = sent.at(std::string(k));
          }
        add(j);
      }
    }
  }
  return jobs;
}

// ------------------------------------------------------------------------------ running

json base_entry(const Job& job) {
  json e;
  e["scenario"] = job.sc->name;
  e["variant"] = job.variant.empty() ? json(nullptr) : json(job.variant);
  if (!job.variant.empty()) {
    const sy::VariantInfo* v = sy::find_variant(job.variant);
    e["dimensions"] = {{"switch", v->switch_name}, {"stacks", v->stacks}, {"scheduler", v->scheduler}};
  } else if (!job.backend.empty()) {
    e["dimensions"] = {{"switch", job.backend}};
  } else {
    e["dimensions"] = nullptr;
  }
  e["peer"] = job.peer.empty() ? json(nullptr) : json(job.peer);
  e["label"] = job.label();
  e["params"] = job.peer.empty() && job.sc->variant_params.empty() ? job.params : job.sent;
  e["status"] = "ok";
  e["reason"] = nullptr;
  e["repetitions"] = job.repetitions;
  e["metrics"] = json::object();
  e["peak_rss_kib"] = nullptr;
  e["notes"] = json::array();
  return e;
}

json failed(json e, const std::string& status, const std::string& reason) {
  e["status"] = status;
  e["reason"] = reason;
  e["metrics"] = json::object();
  return e;
}

// A child that speaks the protocol (our `child` mode and the peers).
json from_protocol(json e, const ChildResult& r, double timeout_s) {
  if (r.timed_out || r.signal) return failed(e, "failed", r.describe_failure(timeout_s));
  if (r.exit_code == 2) return failed(e, "failed", "the child rejected its command line: " + r.describe_failure(timeout_s));
  json j;
  auto try_parse = [&](const std::string& text) {
    try {
      j = json::parse(text);
      return j.is_object() && j.contains("status");
    } catch (const json::exception&) {
      return false;
    }
  };
  if (!try_parse(r.out)) {
    // Tolerate chatter before the result: the protocol's object is the last line.
    std::string last;
    for (const auto& line : split(r.out, '\n'))
      if (!line.empty()) last = line;
    if (!try_parse(last))
      return failed(e, "failed", "no JSON result on stdout; " + r.describe_failure(timeout_s));
  }
  const std::string status = j.value("status", "");
  if (status == "skipped" || status == "failed")
    return failed(e, status, j.value("reason", std::string("(no reason given)")));
  if (status != "ok") return failed(e, "failed", "child reported status '" + status + "'");
  if (r.exit_code != 0) return failed(e, "failed", "reported ok but " + r.describe_failure(timeout_s));
  if (!j.contains("metrics") || !j["metrics"].is_object() || j["metrics"].empty())
    return failed(e, "failed", "child reported ok without metrics");
  for (const auto& [name, m] : j["metrics"].items()) {
    std::vector<double> samples;
    for (const auto& s : m.at("samples")) {
      if (!s.is_number()) return failed(e, "failed", "metric " + name + " has a non-numeric sample");
      samples.push_back(s.get<double>());
    }
    e["metrics"][name] = metric_json(m.value("unit", std::string("")), samples);
  }
  if (j.contains("peak_rss_kib") && j["peak_rss_kib"].is_number()) e["peak_rss_kib"] = j["peak_rss_kib"];
  else e["peak_rss_kib"] = r.maxrss_kib;
  if (j.contains("notes") && j["notes"].is_array())
    for (const auto& n : j["notes"])
      if (n.is_string()) e["notes"].push_back(n);
  if (j.contains("params") && j["params"].is_object())
    for (const auto& [k, v] : j["params"].items()) e["params"][k] = v;
  return e;
}

json run_gbench(const Job& job, const std::string& who, json e) {
  const auto& g = *job.sc->gbench;
  const std::string bin = bin_dir() + "/" + std::string(g.binary);
  if (access(bin.c_str(), X_OK) != 0)
    return failed(e, "failed", bin + " is missing: build the target " + std::string(g.binary));
  const std::string bench = std::string(g.prefix) + who;
  const std::string out = temp_path("gbench.json");
  std::vector<std::string> argv = {bin,
                                   "--benchmark_filter=^" + bench + "$",
                                   "--benchmark_repetitions=" + std::to_string(job.repetitions),
                                   "--benchmark_format=json",
                                   "--benchmark_out_format=json",
                                   "--benchmark_out=" + out};
  if (job.min_time > 0) argv.push_back("--benchmark_min_time=" + std::to_string(job.min_time));
  ChildResult r = run_child(argv, job.timeout_s);
  std::string text = read_file(out);
  std::remove(out.c_str());
  if (r.timed_out || r.signal || r.interrupted) return failed(e, "failed", r.describe_failure(job.timeout_s));
  json j;
  try {
    j = json::parse(text);
  } catch (const json::exception&) {
    return failed(e, "failed", "no Google Benchmark JSON from " + bench + "; " + r.describe_failure(job.timeout_s));
  }
  std::vector<double> samples;
  for (const auto& row : j.value("benchmarks", json::array())) {
    // One row per repetition ("iteration"); the mean/median/stddev rows are aggregates.
    if (row.value("run_type", "iteration") != "iteration") continue;
    if (row.value("error_occurred", false))
      return failed(e, "failed", bench + ": " + row.value("error_message", std::string("error")));
    if (!row.contains(g.counter)) return failed(e, "failed", bench + " reported no counter " + std::string(g.counter));
    samples.push_back(row[std::string(g.counter)].get<double>());
  }
  if (samples.empty())
    return failed(e, "failed", "no repetition of " + bench + " ran (" + r.describe_failure(job.timeout_s) + ")");
  if (r.exit_code != 0) return failed(e, "failed", bench + ": " + r.describe_failure(job.timeout_s));
  e["metrics"][std::string(g.counter)] = metric_json(std::string(g.unit), samples);
  e["peak_rss_kib"] = r.maxrss_kib;
  e["notes"].push_back("measured by " + std::string(g.binary) + " --benchmark_filter=^" + bench + "$ (" +
                       std::to_string(samples.size()) + " repetitions, one sample each)");
  e["notes"].push_back("peak_rss_kib: the benchmark process's peak (wait4 rusage)");
  return e;
}

json run_instructions(const Job& job, json e) {
  if (!job.peer.empty())
    return failed(e, "skipped", "instruction counts are taken for our variants and switch backends only");
  const std::string who = job.label();
  if (!job.backend.empty() &&
      std::find(instruction_backends().begin(), instruction_backends().end(), who) == instruction_backends().end())
    return failed(e, "skipped", "instructions are counted through the runtime's switch interface; " + who +
                                    " is measured in time only");
  const std::string out = temp_path("callgrind.out");
  std::vector<std::string> argv = {"valgrind", "--tool=callgrind", "--collect-atstart=no",
                                   "--callgrind-out-file=" + out, self_exe(), "instr-child",
                                   "--op", std::string(job.sc->name), "--who", who,
                                   "--ops", std::to_string(job.instr_ops)};
  ChildResult r = run_child(argv, job.timeout_s);
  std::string text = read_file(out);
  std::remove(out.c_str());
  if (r.exit_code == 127 && r.err.find("cannot execute valgrind") != std::string::npos)
    return failed(e, "skipped", "valgrind is not installed");
  if (r.timed_out || r.signal || r.interrupted || r.exit_code != 0)
    return failed(e, "failed", "callgrind run: " + r.describe_failure(job.timeout_s));
  long ops = 0;
  try {
    ops = json::parse(r.out).at("ops").get<long>();
  } catch (const json::exception&) {
    return failed(e, "failed", "instr-child printed no operation count");
  }
  // callgrind's file ends with "totals: <Ir>" (older versions write "summary:").
  double total = -1;
  for (const auto& line : split(text, '\n'))
    if (line.rfind("totals:", 0) == 0 || (total < 0 && line.rfind("summary:", 0) == 0))
      total = std::strtod(line.c_str() + line.find(':') + 1, nullptr);
  if (total < 0 || ops <= 0) return failed(e, "failed", "no instruction total in callgrind's output");
  e["repetitions"] = 1;
  e["metrics"]["instructions_per_op"] = metric_json("instructions", {total / static_cast<double>(ops)});
  e["peak_rss_kib"] = nullptr;  // valgrind's own footprint would be meaningless here
  e["notes"].push_back("valgrind --tool=callgrind: instructions executed (Ir) over " + std::to_string(ops) +
                       " operations between collection toggles, after a warm-up; deterministic on one carrier");
  return e;
}

// Runs a child that speaks the peer protocol (a peer binary, or this program's `child`):
// the job's parameters and repetitions are appended to argv.
json run_protocol_child(std::vector<std::string> argv, const Job& job, json& e) {
  for (const auto& [k, v] : job.sent.items()) {
    argv.push_back("--param");
    argv.push_back(k + "=" + (v.is_string() ? v.get<std::string>() : v.dump()));
  }
  argv.push_back("--repetitions");
  argv.push_back(std::to_string(job.repetitions));
  return from_protocol(e, run_child(argv, job.timeout_s), job.timeout_s);
}

json execute(const Job& job) {
  json e = base_entry(job);
  if (job.instructions) return run_instructions(job, e);
  if (!job.peer.empty() && job.sc->run_peer)  // http: our driver starts the peer's server
    return run_protocol_child({kSelfForChildren, "child", "--scenario", std::string(job.sc->name), "--peer", job.peer},
                              job, e);
  if (!job.peer.empty()) {
    const Peer& p = find_peer(job.peer);
    if (std::find(job.sc->gbench_peers.begin(), job.sc->gbench_peers.end(), job.peer) != job.sc->gbench_peers.end())
      return run_gbench(job, job.peer, e);
    if (p.binary.empty()) return failed(e, "skipped", "the " + job.peer + " peer is " + std::string(p.note));
    const std::string bin = bin_dir() + "/" + std::string(p.binary);
    if (access(bin.c_str(), X_OK) != 0) {
      if (job.peer == "go" && !SY_HAVE_GO)
        return failed(e, "skipped", "Go was not found when the build was configured: go_peer not built");
      return failed(e, "skipped", bin + " is not built");
    }
    return run_protocol_child({bin, "--scenario", std::string(job.sc->name)}, job, e);
  }
  if (job.sc->gbench) return run_gbench(job, job.label(), e);
  return run_protocol_child(
      {kSelfForChildren, "child", "--scenario", std::string(job.sc->name), "--variant", job.variant}, job, e);
}

// Runs jobs in order; after each, hands the entry to `done` (which writes the file).
// Returns false when interrupted.
struct Progress {
  std::size_t total = 0, finished = 0;
  std::chrono::steady_clock::time_point t0 = std::chrono::steady_clock::now();
  double elapsed() const { return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(); }
};

bool run_jobs(const std::vector<Job>& jobs, Progress& pg, const std::function<void(json)>& done) {
  for (const Job& job : jobs) {
    if (g_interrupted) return false;
    const double el = pg.elapsed();
    std::string left = pg.finished ? "~" + fmt_duration(el / static_cast<double>(pg.finished) *
                                                          static_cast<double>(pg.total - pg.finished)) + " left"
                                   : "estimating";
    std::fprintf(stderr, "[%zu/%zu] %s  (elapsed %s, %s)\n", pg.finished + 1, pg.total, job.name().c_str(),
                 fmt_duration(el).c_str(), left.c_str());
    const auto t = std::chrono::steady_clock::now();
    json e = execute(job);
    if (g_interrupted) return false;  // the entry of an interrupted child is not a result
    ++pg.finished;
    std::fprintf(stderr, "        %s in %.1f s%s%s\n", e["status"].get<std::string>().c_str(),
                 std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count(),
                 e["reason"].is_string() ? ": " : "",
                 e["reason"].is_string() ? e["reason"].get<std::string>().substr(0, 300).c_str() : "");
    done(std::move(e));
  }
  return true;
}

ResultsFile new_results(const std::string& path, const std::string& command, const std::vector<std::string>& applied) {
  ResultsFile f;
  f.path = path;
  f.doc = {{"schema", "switchyard-results"}, {"schema_version", kSchemaVersion}, {"created", utc_now()},
           {"command", command},           {"machine", machine_info(applied)},  {"build", build_info()}};
  f.doc["load_average"] = {{"before", load_average()}, {"after", nullptr}};  // "after": set by each write
  return f;
}

// ------------------------------------------------------------------------------ commands

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

// The same as JSON, for programs (the defaults test walks it): every scenario with its
// parameters (default, range or choices, fixed), the peers it runs and what each is given,
// the variants, and the peers' programs.
int cmd_list_json() {
  json out = {{"scenarios", json::array()}, {"variants", json::array()}, {"peers", json::array()}};
  for (const Scenario* sc : scenarios::all()) {
    json params = json::array();
    for (const auto& p : sc->params) {
      json j = {{"name", p.name}, {"help", p.help}, {"default", p.def}, {"fixed", p.fixed}};
      if (p.choices.empty()) {
        j["min"] = p.min;
        j["max"] = p.max;
      } else {
        j["choices"] = p.choices;
      }
      params.push_back(j);
    }
    json peer_params = json::object();
    for (const auto& [peer, keys] : sc->peer_params)
      for (auto k : keys) peer_params[std::string(peer)].push_back(std::string(k));
    json e = {{"name", sc->name},
              {"summary", sc->summary},
              {"params", params},
              {"peers", json::array()},
              {"gbench_peers", json::array()},
              {"peer_params", peer_params},
              // Peers measured inside `switchyard child --peer` (http), not by their own program.
              {"peers_driven_by_switchyard", sc->run_peer != nullptr}};
    for (auto p : sc->peers) e["peers"].push_back(std::string(p));
    for (auto p : sc->gbench_peers) e["gbench_peers"].push_back(std::string(p));
    out["scenarios"].push_back(e);
  }
  for (const auto& v : sy::variants()) out["variants"].push_back(v.name);
  const std::string dir = bin_dir();
  for (const Peer& p : peers()) {
    const std::string path = p.binary.empty() ? "" : dir + "/" + std::string(p.binary);
    out["peers"].push_back({{"name", p.name},
                            {"program", path.empty() ? json(nullptr) : json(path)},
                            {"built", path.empty() ? json(nullptr) : json(access(path.c_str(), X_OK) == 0)}});
  }
  std::cout << out.dump(2) << '\n';
  return 0;
}

int cmd_list(int argc, char** argv) {
  Args a(argc, argv, 2, {}, {"--json"});
  if (!a.opts.empty()) return cmd_list_json();
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
  const std::string dir = bin_dir();
  for (const Peer& p : peers()) {
    std::string state = p.binary.empty() ? "not available"
                        : access((dir + "/" + std::string(p.binary)).c_str(), X_OK) == 0 ? "built"
                                                                                           : "not built";
    std::printf("  %-12s %s (%s)\n", std::string(p.name).c_str(), std::string(p.note).c_str(), state.c_str());
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
  json params = json::object();
  for (const auto& spec : sc.params) {
    auto it = given.find(spec.name);
    params[spec.name] = it == given.end() || spec.fixed ? spec.def : spec.parse(it->second);
    if (it != given.end()) given.erase(it);
  }
  if (!given.empty()) throw UsageError("unknown parameter '" + given.begin()->first + "' for " + scenario);
  if (sc.check) sc.check(params);
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
               "  switchyard list [--json]\n"
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
