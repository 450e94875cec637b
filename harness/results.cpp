#include "results.h"

#include "provenance.h"

#include <fcntl.h>
#include <sys/resource.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <boost/version.hpp>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <stdexcept>

#include "build_info.h"

namespace sy::harness {
namespace {

std::string trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ' || s.back() == '\t')) s.pop_back();
  std::size_t i = 0;
  while (i < s.size() && (s[i] == ' ' || s[i] == '\t')) ++i;
  return s.substr(i);
}

// The value after "key:" in a /proc file like cpuinfo or meminfo.
std::string proc_field(const char* path, const std::string& key) {
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line))
    if (line.rfind(key, 0) == 0) {
      auto colon = line.find(':');
      if (colon != std::string::npos) return trim(line.substr(colon + 1));
    }
  return {};
}

nlohmann::json proc_sys_int(const char* path) {
  std::ifstream in(path);
  long long v;
  if (in >> v) return v;
  return nullptr;
}

}  // namespace

std::string utc_now() {
  std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

nlohmann::json machine_info(const std::vector<std::string>& settings_applied) {
  nlohmann::json m;
  char host[256] = {};
  gethostname(host, sizeof host - 1);
  m["hostname"] = host;
  std::string cpu = proc_field("/proc/cpuinfo", "model name");
  if (cpu.empty()) {
    // arm64 kernels print no "model name": the implementer and part numbers identify the
    // core (e.g. 0x41 / 0xd0c = Arm Neoverse N1).
    const std::string impl = proc_field("/proc/cpuinfo", "CPU implementer");
    const std::string part = proc_field("/proc/cpuinfo", "CPU part");
    if (!impl.empty()) cpu = "implementer " + impl + " part " + part;
  }
  m["cpu_model"] = cpu;
  // The architecture the suite was built for, a dimension of every result beside the host
  // (switch costs are per ISA); uname's machine says what ran it (under qemu-user it
  // reports the emulated one).
#if defined(__x86_64__)
  m["arch"] = "x86_64";
#elif defined(__aarch64__)
  m["arch"] = "aarch64";
#else
  m["arch"] = "unknown";
#endif
  m["cores"] = sysconf(_SC_NPROCESSORS_ONLN);
  utsname u{};
  uname(&u);
  m["kernel"] = u.release;
  m["uname_machine"] = u.machine;
  std::string mem = proc_field("/proc/meminfo", "MemTotal");  // "24000000 kB"
  m["memory_kib"] = mem.empty() ? nlohmann::json(nullptr) : nlohmann::json(std::stoll(mem));
  rlimit nofile{};
  getrlimit(RLIMIT_NOFILE, &nofile);
  m["limits"] = {{"vm.max_map_count", proc_sys_int("/proc/sys/vm/max_map_count")},
                 {"net.core.somaxconn", proc_sys_int("/proc/sys/net/core/somaxconn")},
                 {"open_files", nofile.rlim_cur == RLIM_INFINITY ? nlohmann::json(nullptr)
                                                                 : nlohmann::json(nofile.rlim_cur)}};
  m["settings_applied"] = settings_applied;
  m.update(machine_provenance());
  return m;
}

nlohmann::json build_info() {
  nlohmann::json b;
  b["compiler"] = SY_COMPILER;
  b["flags"] = trim(SY_CXX_FLAGS);
  b["build_type"] = SY_BUILD_TYPE;
  b["sanitize"] = SY_SANITIZE;
  b.update(build_provenance());  // the commit embedded at build time, and the checkout now
  std::string v = BOOST_LIB_VERSION;  // "1_74"
  std::replace(v.begin(), v.end(), '_', '.');
  b["boost_version"] = v;
  return b;
}

double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const std::size_t n = v.size();
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

nlohmann::json metric_json(const std::string& unit, const std::vector<double>& samples) {
  nlohmann::json m{{"unit", unit}, {"samples", samples}};
  if (samples.empty()) {
    m["median"] = m["min"] = m["max"] = nullptr;
  } else {
    m["median"] = median(samples);
    m["min"] = *std::min_element(samples.begin(), samples.end());
    m["max"] = *std::max_element(samples.begin(), samples.end());
  }
  return m;
}

double quantile(std::vector<double> v, double p) {
  std::sort(v.begin(), v.end());
  const double pos = p * static_cast<double>(v.size() - 1);
  const std::size_t lo = static_cast<std::size_t>(pos);
  const std::size_t hi = std::min(lo + 1, v.size() - 1);
  return v[lo] + (v[hi] - v[lo]) * (pos - static_cast<double>(lo));
}

namespace {

bool is_distribution(const std::string& key) {
  const std::string suffix = "_quantiles_ns";
  return key.size() > suffix.size() && key.compare(key.size() - suffix.size(), suffix.size(), suffix) == 0;
}
// Fields whose `values` hold one row per repetition: distributions and carrier counters.
bool has_rows(const std::string& key) { return is_distribution(key) || key == "carrier_counters"; }

}  // namespace

nlohmann::json as_round(nlohmann::json e, int round, double elapsed_s) {
  using nlohmann::json;
  if (e.contains("runs")) return e;  // already pooled (a version-2 entry)
  for (auto& [name, m] : e["metrics"].items())
    if (m.is_object() && m.contains("samples")) m["runs"] = std::vector<int>(m["samples"].size(), round);
  for (auto& [key, d] : e.items())
    if (has_rows(key) && d.is_object() && d.contains("values"))
      d["runs"] = std::vector<int>(d["values"].size(), round);
  e["runs"] = json::array({{{"round", round},
                            {"status", e.value("status", std::string("failed"))},
                            {"reason", e.value("reason", json())},
                            {"peak_rss_kib", e.value("peak_rss_kib", json())},
                            {"elapsed_s", elapsed_s < 0 ? json() : json(elapsed_s)}}});
  return e;
}

void shift_rounds(nlohmann::json& e, int offset) {
  auto shift = [offset](nlohmann::json& arr) {
    for (auto& r : arr) r = r.get<int>() + offset;
  };
  for (auto& [name, m] : e["metrics"].items())
    if (m.contains("runs")) shift(m["runs"]);
  for (auto& [key, d] : e.items())
    if (has_rows(key) && d.is_object() && d.contains("runs")) shift(d["runs"]);
  for (auto& r : e["runs"]) r["round"] = r["round"].get<int>() + offset;
}

nlohmann::json pool_entries(const std::vector<nlohmann::json>& parts) {
  using nlohmann::json;
  if (parts.empty()) throw std::invalid_argument("pool_entries: nothing to pool");
  std::size_t base = 0;
  for (std::size_t i = 0; i < parts.size(); ++i)
    if (parts[i]["metrics"].is_object() && !parts[i]["metrics"].empty()) {
      base = i;
      break;
    }
  json e = parts[base];
  json runs = json::array(), notes = json::array();
  json metrics = json::object();
  std::map<std::string, std::pair<std::vector<double>, std::vector<int>>> samples;
  std::vector<std::string> metric_order;
  json peak = nullptr;
  for (const json& p : parts) {
    for (const json& r : p["runs"]) runs.push_back(r);
    for (const json& n : p["notes"])
      if (std::find(notes.begin(), notes.end(), n) == notes.end()) notes.push_back(n);
    if (p["peak_rss_kib"].is_number() && (peak.is_null() || p["peak_rss_kib"].get<long long>() > peak.get<long long>()))
      peak = p["peak_rss_kib"];
    for (const auto& [name, m] : p["metrics"].items()) {
      auto [it, first] = samples.try_emplace(name);
      if (first) {
        metric_order.push_back(name);
        metrics[name] = {{"unit", m["unit"]}};
      }
      for (const json& x : m["samples"]) it->second.first.push_back(x.get<double>());
      for (const json& x : m["runs"]) it->second.second.push_back(x.get<int>());
    }
  }
  for (const std::string& name : metric_order) {
    json m = metric_json(metrics[name]["unit"].get<std::string>(), samples[name].first);
    m["runs"] = samples[name].second;
    metrics[name] = std::move(m);
  }
  // Rows (distributions, carrier counters): every part's, with their rounds.
  for (auto it = e.begin(); it != e.end();)
    it = has_rows(it.key()) ? e.erase(it) : std::next(it);
  for (const json& p : parts)
    for (const auto& [key, d] : p.items()) {
      if (!has_rows(key) || !d.is_object()) continue;
      if (!e.contains(key)) {
        e[key] = d;
        continue;
      }
      for (const json& row : d["values"]) e[key]["values"].push_back(row);
      for (const json& r : d["runs"]) e[key]["runs"].push_back(r);
    }
  std::stable_sort(runs.begin(), runs.end(),
                   [](const json& a, const json& b) { return a["round"].get<int>() < b["round"].get<int>(); });
  // Status: ok only if every run was; a failed run outweighs a skipped one.
  const json* first_bad = nullptr;
  std::size_t bad = 0;
  for (const json& r : runs)
    if (r["status"] != "ok") {
      ++bad;
      if (!first_bad || (r["status"] == "failed" && (*first_bad)["status"] != "failed")) first_bad = &r;
    }
  if (!first_bad) {
    e["status"] = "ok";
    e["reason"] = nullptr;
  } else {
    std::string reason = "round " + std::to_string((*first_bad)["round"].get<int>()) + ": " +
                         (*first_bad)["reason"].get<std::string>();
    if (bad > 1) reason += " (" + std::to_string(bad) + " of " + std::to_string(runs.size()) + " runs not ok)";
    e["status"] = (*first_bad)["status"];
    e["reason"] = reason;
  }
  e["metrics"] = std::move(metrics);
  e["runs"] = std::move(runs);
  e["notes"] = std::move(notes);
  e["peak_rss_kib"] = peak;
  return e;
}

nlohmann::json noise_floor_json(const std::string& workload, const nlohmann::json& rounds) {
  std::vector<double> start, end;
  for (const auto& r : rounds) {
    for (const auto& x : r["start"]) start.push_back(x.get<double>());
    for (const auto& x : r["end"]) end.push_back(x.get<double>());
  }
  std::vector<double> all = start;
  all.insert(all.end(), end.begin(), end.end());
  nlohmann::json nf = {{"workload", workload}, {"metric", "ns_per_op"}, {"unit", "ns"}, {"rounds", rounds}};
  nf["drift"] = start.empty() || end.empty() ? nlohmann::json() : nlohmann::json(median(end) / median(start) - 1);
  nf["floor"] = all.empty() ? nlohmann::json() : nlohmann::json((quantile(all, 0.95) - quantile(all, 0.05)) / 2 / median(all));
  return nf;
}

nlohmann::json ResultsFile::full() const {
  nlohmann::json j = doc;
  // Every write after an entry refreshes it, so the last write holds the load average
  // after the last measurement (also when the run was interrupted).
  if (j.contains("load_average")) j["load_average"]["after"] = load_average();
  j["entries"] = entries;
  return j;
}

void ResultsFile::write() const {
  const std::string text = full().dump(2) + "\n";  // before the temporary exists: a throw here leaves nothing
  const std::string tmp = path + ".tmp";
  // Every failure after the temporary was created removes it: nothing stray beside the target.
  auto fail = [&](const std::string& what) {
    const std::string reason = std::strerror(errno);
    std::remove(tmp.c_str());
    throw std::runtime_error(what + ": " + reason);
  };
  {
    std::ofstream out(tmp);
    if (!out) throw std::runtime_error("cannot write " + tmp + ": " + std::strerror(errno));
    out << text;
    if (!out.flush()) fail("cannot write " + tmp);
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) fail("cannot rename " + tmp + " to " + path);
}

void check_writable(const std::string& path) {
  std::error_code ec;
  if (path.empty()) throw std::runtime_error("an empty path");
  if (std::filesystem::is_directory(path, ec))
    throw std::runtime_error(path + " is a directory (a results file is expected)");
  // What write() does first: create the temporary beside the target (the rename needs the
  // same directory). One that was there already (an interrupted run's) is left as it was.
  const std::string tmp = path + ".tmp";
  const bool existed = std::filesystem::exists(tmp, ec);
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) throw std::runtime_error("cannot create " + tmp + ": " + std::strerror(errno));
  ::close(fd);
  if (!existed) std::remove(tmp.c_str());
}

}  // namespace sy::harness
