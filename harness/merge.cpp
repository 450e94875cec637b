#include "merge.h"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>

#include "results.h"
#include "scenario.h"

namespace sy::harness {

using nlohmann::json;
using scenarios::UsageError;
namespace fs = std::filesystem;

namespace {

// Instruction counts share scenario, label and params with the timed entry beside them
// (results/SCHEMA.md): told apart by their metric, or, when they did not run, by what
// their notes and reason say of callgrind.
bool is_instruction_entry(const json& e) {
  if (e["metrics"].is_object() && e["metrics"].contains("instructions_per_op")) return true;
  auto mentions = [](const json& s) {
    if (!s.is_string()) return false;
    const std::string t = s.get<std::string>();
    return t.find("callgrind") != std::string::npos || t.find("valgrind") != std::string::npos ||
           t.rfind("instruction", 0) == 0;
  };
  if (mentions(e["reason"])) return true;
  for (const json& n : e["notes"])
    if (mentions(n)) return true;
  return false;
}

// One measurement: scenario, label, parameters (json objects dump with sorted keys), and
// whether it counts instructions.
std::string key_of(const json& e) {
  return e["scenario"].get<std::string>() + "\n" + e["label"].get<std::string>() + "\n" + e["params"].dump() +
         (is_instruction_entry(e) ? "\ninstructions" : "");
}

// What makes two builds measure differently: the code and how it was compiled.
json build_identity(const json& b) {
  json id = json::object();
  for (const char* k : {"commit", "dirty", "compiler", "flags", "build_type", "sanitize"})
    if (b.contains(k)) id[k] = b[k];
  return id;
}

json machine_identity(const json& m) {
  json id = json::object();
  for (const char* k : {"hostname", "machine_id", "cpu_model", "kernel"})
    if (m.contains(k)) id[k] = m[k];
  return id;
}

int rounds_in(const json& doc) {
  if (doc.value("schema_version", 1) >= 2 && doc.contains("design") && doc["design"].is_object())
    return std::max(1, doc["design"].value("runs", 1));
  return 1;
}

// The merged shard: null when the parts cover every shard of one split (or none was a
// shard), "K/N" when they are all the same part, "K1,K2/N" for several parts of one split.
json merged_shard(const std::vector<json>& docs) {
  std::set<int> ks;
  std::set<int> ns;
  bool any = false, unsharded = false;
  for (const json& d : docs) {
    const json s = d.contains("design") ? d["design"].value("shard", json()) : json();
    if (!s.is_string()) {
      unsharded = true;
      continue;
    }
    any = true;
    const std::string t = s.get<std::string>();
    const auto slash = t.find('/');
    ks.insert(std::stoi(t.substr(0, slash)));
    ns.insert(std::stoi(t.substr(slash + 1)));
  }
  if (!any) return nullptr;
  if (unsharded || ns.size() > 1) {
    std::fprintf(stderr, "merge: warning: the inputs mix shards of different splits (or unsharded runs)\n");
    return nullptr;
  }
  const int n = *ns.begin();
  if (static_cast<int>(ks.size()) == n) return nullptr;  // every part: the whole plan
  std::string text;
  for (int k : ks) text += (text.empty() ? "" : ",") + std::to_string(k);
  return text + "/" + std::to_string(n);
}

}  // namespace

json merge_documents(const std::vector<json>& docs, const std::vector<std::string>& names, const std::string& command) {
  if (docs.empty()) throw UsageError("merge: no input");
  for (std::size_t i = 0; i < docs.size(); ++i) {
    const json& d = docs[i];
    if (!d.is_object() || d.value("schema", std::string()) != "switchyard-results")
      throw UsageError("merge: " + names[i] + " is not a switchyard results file");
    const int v = d.value("schema_version", 0);
    if (v != 1 && v != 2)
      throw UsageError("merge: " + names[i] + " has schema_version " + std::to_string(v) + " (1 and 2 are read)");
    if (!d.contains("entries") || !d["entries"].is_array())
      throw UsageError("merge: " + names[i] + " has no entries array");
  }
  bool builds_differ = false, machines_differ = false;
  for (const json& d : docs) {
    builds_differ |= build_identity(d.value("build", json::object())) != build_identity(docs[0].value("build", json::object()));
    machines_differ |=
        machine_identity(d.value("machine", json::object())) != machine_identity(docs[0].value("machine", json::object()));
  }
  if (builds_differ)
    std::fprintf(stderr, "merge: warning: the inputs come from different builds (commits or flags): each entry keeps "
                         "its own `build`\n");
  if (machines_differ)
    std::fprintf(stderr, "merge: warning: the inputs come from different machines: each entry keeps its own "
                         "`machine`; an entry measured on several is pooled across them\n");

  std::vector<std::string> order;
  std::map<std::string, std::vector<json>> parts;
  std::set<std::string> seen;
  json nf_rounds = json::array();
  std::string workload;
  int next_free = 0;
  for (std::size_t i = 0; i < docs.size(); ++i) {
    const json& d = docs[i];
    std::set<std::string> keys;
    for (const json& e : d["entries"]) keys.insert(key_of(e));
    // Rounds of a part whose measurements were not seen yet (another shard) keep their
    // numbers; a part that repeats a measurement gets rounds after every one so far.
    const bool repeats = std::any_of(keys.begin(), keys.end(), [&](const std::string& k) { return seen.count(k); });
    const int offset = repeats ? next_free : 0;
    next_free = std::max(next_free, offset + rounds_in(d));
    seen.insert(keys.begin(), keys.end());
    for (json e : d["entries"]) {
      e = as_round(std::move(e), 0, -1);  // a version-1 entry: one process, round 0
      shift_rounds(e, offset);
      if (builds_differ && !e.contains("build")) e["build"] = d["build"];
      if (machines_differ && !e.contains("machine")) e["machine"] = d["machine"];
      const std::string k = key_of(e);
      if (!parts.count(k)) order.push_back(k);
      parts[k].push_back(std::move(e));
    }
    const json& nf = d.value("noise_floor", json());
    if (nf.is_object()) {
      if (workload.empty()) workload = nf.value("workload", std::string());
      else if (nf.value("workload", std::string()) != workload)
        std::fprintf(stderr, "merge: warning: %s measured another reference workload; its noise floor is pooled "
                             "anyway\n", names[i].c_str());
      for (json r : nf["rounds"]) {
        r["round"] = r["round"].get<int>() + offset;
        auto same = std::find_if(nf_rounds.begin(), nf_rounds.end(), [&](const json& x) { return x["round"] == r["round"]; });
        if (same == nf_rounds.end()) {
          nf_rounds.push_back(r);
        } else {  // the same round on another machine (shards): both kept
          for (const json& x : r["start"]) (*same)["start"].push_back(x);
          for (const json& x : r["end"]) (*same)["end"].push_back(x);
        }
      }
    }
  }

  json out = docs[0];
  out.erase("entries");
  out.erase("load_average");  // of one input's machine and time: not of the merge
  out["schema_version"] = 2;
  out["created"] = utc_now();
  std::string cmd = command + "  # merged:";
  for (const json& d : docs) cmd += " [" + d.value("command", std::string("?")) + "]";
  out["command"] = cmd;
  json design = docs[0].value("design", json());
  if (!design.is_object())
    design = {{"order", "sequential"}, {"seed", nullptr}, {"isolation", {{"pin_carriers", false}, {"pin_loadgen", false}, {"cpus", nullptr}}},
              {"budget_s", nullptr}, {"reductions", json::array()}};
  design["runs"] = next_free;
  for (const json& d : docs) {
    const json other = d.value("design", json());
    const std::string order_i = other.is_object() ? other.value("order", std::string("sequential")) : "sequential";
    if (order_i != design.value("order", std::string())) {
      std::fprintf(stderr, "merge: warning: the inputs used different orders; recorded as %s\n",
                   design["order"].get<std::string>().c_str());
    }
    if (!other.is_object() || other.value("seed", json()) != design.value("seed", json())) design["seed"] = nullptr;
    if (other.is_object() && other.contains("isolation") && other["isolation"] != design["isolation"])
      std::fprintf(stderr, "merge: warning: the inputs were isolated differently; the first's isolation is recorded\n");
    if (other.is_object())
      for (const json& r : other.value("reductions", json::array()))
        if (std::find(design["reductions"].begin(), design["reductions"].end(), r) == design["reductions"].end())
          design["reductions"].push_back(r);
  }
  design["shard"] = merged_shard(docs);
  out["design"] = design;
  std::sort(nf_rounds.begin(), nf_rounds.end(), [](const json& a, const json& b) { return a["round"] < b["round"]; });
  out["noise_floor"] = nf_rounds.empty() ? json() : noise_floor_json(workload, nf_rounds);
  json entries = json::array();
  for (const std::string& k : order) entries.push_back(pool_entries(parts[k]));
  out["entries"] = std::move(entries);
  return out;
}

namespace {

json read_results(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw UsageError("merge: cannot read " + path);
  try {
    return json::parse(in);
  } catch (const json::exception& e) {
    throw UsageError("merge: " + path + " is not JSON: " + e.what());
  }
}

void write_doc(const std::string& path, json doc) {
  ResultsFile f;
  f.path = path;
  f.entries = doc["entries"];
  doc.erase("entries");
  f.doc = std::move(doc);
  f.write();
}

}  // namespace

int merge_results(const MergeOptions& o, const std::string& command) {
  std::error_code ec;
  std::size_t dirs = 0;
  for (const std::string& in : o.inputs) {
    if (!fs::exists(in, ec)) throw UsageError("merge: " + in + " does not exist");
    dirs += fs::is_directory(in, ec);
    if (fs::exists(o.out, ec) && fs::equivalent(in, o.out, ec))
      throw UsageError("merge: OUT " + o.out + " is also an input (write the merge elsewhere)");
  }
  if (dirs != 0 && dirs != o.inputs.size())
    throw UsageError("merge: the inputs mix folders and files (give folders, or files)");
  if (dirs == 0) {
    if (fs::is_directory(o.out, ec)) throw UsageError("merge: the inputs are files, so OUT must be a file: " + o.out + " is a folder");
    check_writable(o.out);
    std::vector<json> docs;
    for (const std::string& in : o.inputs) docs.push_back(read_results(in));
    json merged = merge_documents(docs, o.inputs, command);
    write_doc(o.out, merged);
    std::fprintf(stderr, "wrote %s (%zu entries, %d rounds)\n", o.out.c_str(), merged["entries"].size(),
                 merged["design"]["runs"].get<int>());
    return 0;
  }
  // Folders: every results file by name (bench writes SCENARIO.json).
  std::map<std::string, std::vector<std::string>> by_name;
  for (const std::string& in : o.inputs)
    for (const auto& f : fs::directory_iterator(in)) {
      if (!f.is_regular_file() || f.path().extension() != ".json") continue;
      const json d = read_results(f.path().string());
      if (!d.is_object() || d.value("schema", std::string()) != "switchyard-results") {
        std::fprintf(stderr, "merge: %s is not a results file: left out\n", f.path().c_str());
        continue;
      }
      by_name[f.path().filename().string()].push_back(f.path().string());
    }
  if (by_name.empty()) throw UsageError("merge: no results file in the input folders");
  fs::create_directories(o.out, ec);
  if (ec) throw UsageError("merge: cannot create " + o.out + ": " + ec.message());
  for (const auto& [name, paths] : by_name) {
    std::vector<json> docs;
    for (const std::string& p : paths) docs.push_back(read_results(p));
    json merged = merge_documents(docs, paths, command);
    const std::string out = (fs::path(o.out) / name).string();
    write_doc(out, merged);
    std::fprintf(stderr, "wrote %s from %zu file(s) (%zu entries, %d rounds)\n", out.c_str(), paths.size(),
                 merged["entries"].size(), merged["design"]["runs"].get<int>());
  }
  return 0;
}

}  // namespace sy::harness
