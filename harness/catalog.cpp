// The catalogue (catalog.h): metrics and units here; scenarios, variants and peers come
// from their own registries (scenarios/registry.cpp, switchyard/variants.h, plan.cpp).
#include "catalog.h"

#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <string>

#include "plan.h"
#include "scenario.h"
#include "self_exe.h"
#include "switchyard/variants.h"

namespace sy::harness {

using nlohmann::json;

const std::vector<MetricInfo>& metrics() {
  using enum Better;
  static const std::vector<MetricInfo> m = {
      {"ns_per_switch", "ns", "one-way switch", kLower},
      {"ns_per_yield", "ns", "time per yield", kLower},
      {"ns_per_spawn_join", "ns", "spawn + join", kLower},
      {"ns_per_recycle", "ns", "stack recycle", kLower},
      {"time_s", "s", "wall time", kLower},
      {"ns_per_handoff", "ns", "hand-off", kLower},
      {"ns_per_roundtrip", "ns", "round trip", kLower},
      {"ns_per_lock", "ns", "time per iteration", kLower},
      {"requests_per_s", "req/s", "throughput", kHigher},
      {"latency_p50_us", "us", "latency p50", kLower},
      {"latency_p90_us", "us", "latency p90", kLower},
      {"latency_p99_us", "us", "latency p99", kLower},
      {"latency_max_us", "us", "latency max", kLower},
      {"lateness_p50_us", "us", "lateness p50", kLower},
      {"lateness_p99_us", "us", "lateness p99", kLower},
      {"lateness_max_us", "us", "lateness max", kLower},
      {"pause_ms", "ms", "collection pause", kLower},
      {"kib_per_conn", "KiB", "memory per connection", kLower},
      {"peak_rss_kib", "KiB", "peak resident memory", kLower},
      // How many fibers the workload kept alive: a property of the workload, not a cost.
      {"peak_live_fibers", "count", "peak live fibers", kUndefined},
      {"instructions_per_op", "instructions", "instructions per operation", kLower},
      // gc_scan (scenarios/gc_scan.cpp): what the root pusher handed the collector, and the
      // stack each suspended fiber really used. Both describe the workload.
      {"pushed_kib", "KiB", "pushed to the collector", kUndefined},
      {"used_kib", "KiB", "stack used per fiber", kUndefined},
      // http (the load driver): wrk's error counts, the server's processes under load, and
      // the parts of kib_per_conn. Diagnostics beside the headline metrics: no verdict.
      {"socket_errors_connect", "count", "connect errors", kUndefined},
      {"socket_errors_read", "count", "read errors", kUndefined},
      {"socket_errors_write", "count", "write errors", kUndefined},
      {"socket_errors_timeout", "count", "timeouts", kUndefined},
      {"http_errors_status", "count", "error responses (status > 399)", kUndefined},
      {"server_cpu_s", "s", "server CPU time", kUndefined},
      {"server_rss_kib", "KiB", "server peak resident", kUndefined},
      {"server_vm_kib", "KiB", "server peak address space", kUndefined},
      {"server_threads", "count", "server threads", kUndefined},
      {"rss_kib_per_conn", "KiB", "resident per connection", kUndefined},
      {"pte_kib_per_conn", "KiB", "page tables per connection", kUndefined},
      {"kstack_kib_per_conn", "KiB", "kernel stacks per connection", kUndefined},
      // coro peer (skynet, timers): the coroutine frame a suspended task holds.
      {"frame_kib_per_task", "KiB", "coroutine frame per task", kUndefined},
      // stacks: a live parked fiber's share of the process's resident and mapped size and of
      // its memory mappings, and the spawn that made it.
      {"rss_kib_per_fiber", "KiB", "resident memory per fiber", kLower},
      {"mapped_kib_per_fiber", "KiB", "mapped address space per fiber", kLower},
      {"mappings_per_fiber", "count", "memory mappings per fiber", kLower},
      {"ns_per_spawn", "ns", "time per spawn", kLower},
      // Derived by the analysis (figures): never in a results file.
      {"kib_per_fiber", "KiB", "resident memory per fiber", kLower, true},
      {"speedup", "x", "speedup", kUndefined, true},
  };
  return m;
}

const MetricInfo* find_metric(std::string_view name) {
  for (const MetricInfo& m : metrics())
    if (m.name == name) return &m;
  return nullptr;
}

const std::vector<UnitInfo>& units() {
  static const std::vector<UnitInfo> u = {{"ns", "ns"},       {"s", "s"},         {"us", "µs"},
                                          {"ms", "ms"},       {"req/s", "requests/s"}, {"KiB", "KiB"},
                                          {"count", "count"}, {"instructions", "instructions"}, {"x", "x"}};
  return u;
}

namespace {

json better_json(Better b) {
  switch (b) {
    case Better::kLower: return "lower";
    case Better::kHigher: return "higher";
    case Better::kUndefined: break;
  }
  return nullptr;
}

// A system program (nginx): the first executable in PATH or the extra directories.
std::string find_system_program(std::string_view name) {
  std::string dirs = std::getenv("PATH") ? std::getenv("PATH") : "";
  dirs += ":/usr/sbin:/usr/local/sbin:/usr/local/nginx/sbin";  // nginx lives in sbin
  for (const auto& d : split(dirs, ':')) {
    if (d.empty()) continue;
    const std::string p = d + "/" + std::string(name);
    if (access(p.c_str(), X_OK) == 0) return p;
  }
  return "";
}

json scenario_json(const scenarios::Scenario& sc) {
  json params = json::array();
  for (const auto& p : sc.params) {
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
  for (const auto& [peer, keys] : sc.peer_params)
    for (auto k : keys) peer_params[std::string(peer)].push_back(std::string(k));
  json e = {{"name", sc.name},
            {"summary", sc.summary},
            {"params", params},
            {"peers", json::array()},
            {"gbench_peers", json::array()},
            {"backends", json::array()},
            {"instructions", sc.has_instructions},
            {"peer_params", peer_params},
            // Peers measured inside `switchyard child --peer` (http), not by their own program.
            {"peers_driven_by_switchyard", sc.run_peer != nullptr}};
  for (auto p : sc.peers) e["peers"].push_back(std::string(p));
  for (auto p : sc.gbench_peers) e["gbench_peers"].push_back(std::string(p));
  for (auto b : sc.backends) e["backends"].push_back(std::string(b));
  return e;
}

}  // namespace

json catalog_json(bool with_availability) {
  json out = {{"catalog_version", kCatalogVersion}};

  // The dimensions and their choices, in the order the variants list them.
  const char* const dims[] = {"switch", "stacks", "scheduler"};
  auto dim_of = [](const sy::VariantInfo& v, std::string_view d) {
    return std::string(d == "switch" ? v.switch_name : d == "stacks" ? v.stacks : v.scheduler);
  };
  json dimensions = json::array();
  for (const char* d : dims) {
    json choices = json::array();
    for (const auto& v : sy::variants())
      if (std::find(choices.begin(), choices.end(), json(dim_of(v, d))) == choices.end()) choices.push_back(dim_of(v, d));
    dimensions.push_back({{"name", d}, {"choices", choices}});
  }
  out["dimensions"] = dimensions;
  json variants = json::array();
  for (const auto& v : sy::variants()) {
    json d = json::object();
    for (const char* k : dims) d[k] = dim_of(v, k);
    // breadth_first: the scheduler keeps the whole spawned tree alive (skynet's size rule).
    variants.push_back({{"name", v.name}, {"dimensions", d}, {"traits", {{"breadth_first", v.breadth_first}}}});
  }
  out["variants"] = variants;

  json scs = json::array();
  for (const scenarios::Scenario* sc : scenarios::all()) scs.push_back(scenario_json(*sc));
  out["scenarios"] = scs;

  json ms = json::array();
  for (const MetricInfo& m : metrics())
    ms.push_back({{"name", m.name}, {"unit", m.unit}, {"label", m.label}, {"better", better_json(m.better)},
                  {"derived", m.derived}});
  out["metrics"] = ms;
  json us = json::array();
  for (const UnitInfo& u : units()) us.push_back({{"name", u.name}, {"text", u.text}});
  out["units"] = us;

  json ps = json::array();
  // Our programs are built beside switchyard (execute.h's bin_dir, not linked here so that
  // the catalogue's test needs no process machinery).
  const std::string dir =
      with_availability ? std::filesystem::path(scenarios::self_exe()).parent_path().string() : "";
  for (const Peer& p : peers()) {
    json j = {{"name", p.name}, {"note", p.note}};
    if (with_availability) {
      // Where its program is and whether it can run here: a program of ours is built or
      // not; a system program (nginx) is installed or not.
      std::string path;
      bool ours = !p.binary.empty() || !p.server.empty();
      if (!p.binary.empty()) path = dir + "/" + std::string(p.binary);
      else if (!p.server.empty()) path = dir + "/" + std::string(p.server);
      else path = find_system_program(p.system_program);
      const bool ok = !path.empty() && access(path.c_str(), X_OK) == 0;
      j["program"] = path.empty() ? json(nullptr) : json(path);
      j["built"] = ours ? json(ok) : json(nullptr);
      j["available"] = ok;
    }
    ps.push_back(j);
  }
  out["peers"] = ps;
  return out;
}

}  // namespace sy::harness
