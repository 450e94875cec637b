// Execution (execute.h): each job in a fresh child process, bounded in time; whatever
// the child does (crash, timeout, garbage on stdout) becomes an entry, never an exception.
#include "execute.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "instructions.h"
#include "process.h"
#include "reference.h"
#include "provenance.h"
#include "self_exe.h"
#include "switchyard/variants.h"

#ifndef SY_HAVE_GO
#define SY_HAVE_GO 0
#endif

namespace sy::harness {

using nlohmann::json;
using scenarios::self_exe;  // scenarios/self_exe.h
namespace fs = std::filesystem;

std::string bin_dir() { return fs::path(self_exe()).parent_path().string(); }

std::string fmt_duration(double s) {
  long t = static_cast<long>(s + 0.5);
  char buf[32];
  if (t >= 3600) std::snprintf(buf, sizeof buf, "%ld:%02ld:%02ld", t / 3600, t / 60 % 60, t % 60);
  else std::snprintf(buf, sizeof buf, "%ld:%02ld", t / 60, t % 60);
  return buf;
}

namespace {

// What our own children exec: exactly the binary that is running, even if it was rebuilt
// (and its path replaced) since the run started.
const char* const kSelfForChildren = "/proc/self/exe";

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

// Why a child's "distributions" object does not have the schema's shape, or "": names end
// in _quantiles_ns, quantiles in [0, 1] strictly increasing, each repetition's row one
// number per quantile and nondecreasing. Checked here so a bad child fails its own entry
// instead of writing a file the validator rejects.
std::string distributions_problem(const json& ds) {
  if (!ds.is_object()) return "'distributions' is not an object";
  const std::string suffix = "_quantiles_ns";
  for (const auto& [name, d] : ds.items()) {
    if (name.size() <= suffix.size() || name.compare(name.size() - suffix.size(), suffix.size(), suffix) != 0)
      return name + ": the name does not end in " + suffix;
    if (!d.is_object() || d.size() != 2 || !d.contains("quantiles") || !d.contains("values"))
      return name + ": needs exactly quantiles and values";
    const json& qs = d["quantiles"];
    if (!qs.is_array() || qs.empty()) return name + ": quantiles is not a non-empty list";
    for (std::size_t i = 0; i < qs.size(); ++i) {
      if (!qs[i].is_number() || qs[i].get<double>() < 0 || qs[i].get<double>() > 1)
        return name + ": a quantile is not a number in [0, 1]";
      if (i > 0 && qs[i].get<double>() <= qs[i - 1].get<double>()) return name + ": quantiles do not increase";
    }
    const json& rows = d["values"];
    if (!rows.is_array() || rows.empty()) return name + ": values is not a non-empty list of rows";
    for (const auto& row : rows) {
      if (!row.is_array() || row.size() != qs.size()) return name + ": a row does not hold one value per quantile";
      for (std::size_t i = 0; i < row.size(); ++i) {
        if (!row[i].is_number() || !std::isfinite(row[i].get<double>())) return name + ": a value is not finite";
        if (i > 0 && row[i].get<double>() < row[i - 1].get<double>()) return name + ": a row decreases";
      }
    }
  }
  return "";
}

// Why a child's "carrier_counters" object does not have the schema's shape, or "":
// counters a non-empty list of names, values one row per repetition, each a non-empty list
// of carriers, each carrier one non-negative integer per counter.
std::string carrier_counters_problem(const json& cc) {
  if (!cc.is_object() || cc.size() != 2 || !cc.contains("counters") || !cc.contains("values"))
    return "needs exactly counters and values";
  const json& names = cc["counters"];
  if (!names.is_array() || names.empty()) return "counters is not a non-empty list";
  for (const auto& n : names)
    if (!n.is_string()) return "a counter name is not a string";
  const json& reps = cc["values"];
  if (!reps.is_array() || reps.empty()) return "values is not a non-empty list of repetitions";
  for (const auto& rep : reps) {
    if (!rep.is_array() || rep.empty()) return "a repetition is not a non-empty list of carriers";
    for (const auto& row : rep) {
      if (!row.is_array() || row.size() != names.size()) return "a carrier's row does not hold one value per counter";
      for (const auto& v : row)
        if (!v.is_number_unsigned()) return "a counter is not a non-negative integer";
    }
  }
  return "";
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
  if (j.contains("distributions")) {
    const std::string bad = distributions_problem(j["distributions"]);
    if (!bad.empty()) return failed(e, "failed", "child reported a malformed distribution: " + bad);
    // Each one becomes a field of the entry under its own name (results/SCHEMA.md).
    for (const auto& [name, d] : j["distributions"].items()) e[name] = d;
  }
  if (j.contains("carrier_counters")) {
    const std::string bad = carrier_counters_problem(j["carrier_counters"]);
    if (!bad.empty()) return failed(e, "failed", "child reported malformed carrier_counters: " + bad);
    e["carrier_counters"] = j["carrier_counters"];
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

}  // namespace

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

std::string measured_text(const json& entry) {
  std::string text;
  const json& metrics = entry.value("metrics", json::object());
  for (const auto& [name, m] : metrics.items()) {
    if (!m.is_object() || !m.value("median", json()).is_number()) continue;
    char b[160];
    std::snprintf(b, sizeof b, "%s %s %.4g [%.4g\u2013%.4g] %s", text.empty() ? ":" : ";", name.c_str(),
                  m["median"].get<double>(), m.value("min", 0.0), m.value("max", 0.0),
                  m.value("unit", std::string()).c_str());
    text += b;
  }
  return text;
}

std::string eta_text(const Progress& pg, const std::vector<const Job*>& remaining) {
  if (pg.finished == 0) return "estimating";
  double known = 0;
  std::size_t untimed = 0;
  for (const Job* j : remaining) {
    auto it = pg.seconds_per_scenario.find(std::string(j->sc->name));
    if (it == pg.seconds_per_scenario.end()) ++untimed;
    else known += it->second.first / static_cast<double>(it->second.second);
  }
  std::string t = "~" + fmt_duration(known) + " left";
  if (untimed) t += " + " + std::to_string(untimed) + " measurement(s) not yet estimated";
  return t;
}

json Design::to_json(int rounds) const {
  json d = {{"runs", rounds},
            {"order", order_name(order)},
            {"seed", seed},
            {"shard", shard.empty() ? json() : json(shard)},
            {"isolation", {{"pin_carriers", pin_carriers}, {"pin_loadgen", pin_loadgen}, {"cpus", json()}}},
            {"budget_s", budget_s > 0 ? json(budget_s) : json()},
            {"reductions", reductions}};
  if (!cpus.empty()) d["isolation"]["cpus"] = cpus;
  return d;
}

std::vector<double> measure_reference(std::string& why) {
  ChildResult r = run_child({kSelfForChildren, "child", "--reference"}, 120);
  if (r.timed_out || r.signal || r.interrupted || r.exit_code != 0) {
    why = r.describe_failure(120);
    return {};
  }
  try {
    std::vector<double> out = json::parse(r.out).at("samples").get<std::vector<double>>();
    if (out.empty()) why = "no samples";
    return out;
  } catch (const json::exception& e) {
    why = std::string("unreadable output: ") + e.what();
    return {};
  }
}

bool run_rounds(const std::vector<Job>& jobs, const Design& d, Progress& pg,
                const std::function<void(std::size_t, const json&)>& entry,
                const std::function<void(const json&)>& noise) {
  const std::vector<Slot> slots = schedule(jobs, d.order, d.seed);
  const int rounds = rounds_of(jobs);
  std::vector<std::vector<json>> parts(jobs.size());
  json nf_rounds = json::array();
  // The noise floor of round r at `when` ("start", "end"): its samples, the object handed on.
  auto reference = [&](int r, const char* when) {
    if (!d.noise_floor || g_interrupted) return;
    std::string why;
    const auto t = std::chrono::steady_clock::now();
    std::vector<double> s = measure_reference(why);
    if (g_interrupted) return;
    if (s.empty()) std::fprintf(stderr, "        noise floor (%s of round %d) failed: %s\n", when, r + 1, why.c_str());
    json* row = nullptr;
    for (json& x : nf_rounds)
      if (x["round"] == r) row = &x;
    if (!row) {
      nf_rounds.push_back({{"round", r}, {"start", json::array()}, {"end", json::array()}});
      row = &nf_rounds.back();
    }
    (*row)[when] = s;
    std::fprintf(stderr, "        noise floor, %s of round %d/%d: median %.4g ns per op in %.1f s\n", when, r + 1, rounds,
                 s.empty() ? 0.0 : median(s),
                 std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count());
    noise(noise_floor_json(reference_workload(), nf_rounds));
  };
  const bool per_round = d.order != Order::sequential;
  int current = -1;
  for (std::size_t i = 0; i < slots.size(); ++i) {
    if (g_interrupted) return false;
    const Slot& slot = slots[i];
    if (per_round && slot.round != current) {
      if (current >= 0) reference(current, "end");
      current = slot.round;
      reference(current, "start");
    } else if (!per_round && current < 0) {
      current = 0;
      reference(0, "start");
    }
    if (g_interrupted) return false;
    const Job& job = jobs[slot.job];
    std::vector<const Job*> remaining;
    for (std::size_t k = i; k < slots.size(); ++k) remaining.push_back(&jobs[slots[k].job]);
    // The round is said only when there are several.
    const std::string round_text =
        rounds > 1 ? "round " + std::to_string(slot.round + 1) + "/" + std::to_string(rounds) + " " : "";
    std::fprintf(stderr, "[%zu/%zu] %s%s  (elapsed %s, %s)\n", pg.finished + 1, pg.total, round_text.c_str(),
                 job.name().c_str(), fmt_duration(pg.elapsed()).c_str(), eta_text(pg, remaining).c_str());
    const auto t = std::chrono::steady_clock::now();
    json e = execute(job);
    if (g_interrupted) return false;  // the entry of an interrupted child is not a result
    const double took = std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
    ++pg.finished;
    auto& [sum, count] = pg.seconds_per_scenario[std::string(job.sc->name)];
    sum += took;
    ++count;
    std::fprintf(stderr, "        %s in %.1f s%s%s%s\n", e["status"].get<std::string>().c_str(), took,
                 e["reason"].is_string() ? ": " : "",
                 e["reason"].is_string() ? e["reason"].get<std::string>().substr(0, 300).c_str() : "",
                 measured_text(e).c_str());
    parts[slot.job].push_back(as_round(std::move(e), slot.round, took));
    entry(slot.job, pool_entries(parts[slot.job]));
  }
  if (current >= 0) reference(per_round ? current : 0, "end");
  return !g_interrupted;
}

ResultsFile new_results(const std::string& path, const std::string& command, const std::vector<std::string>& applied,
                        const json& design) {
  ResultsFile f;
  f.path = path;
  f.doc = {{"schema", "switchyard-results"}, {"schema_version", kSchemaVersion}, {"created", utc_now()},
           {"command", command},           {"machine", machine_info(applied)},  {"build", build_info()}};
  f.doc["load_average"] = {{"before", load_average()}, {"after", nullptr}};  // "after": set by each write
  f.doc["design"] = design;
  f.doc["noise_floor"] = nullptr;  // set as it is measured
  return f;
}
}  // namespace sy::harness
