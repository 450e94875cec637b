#include "provenance.h"

#include <gnu/libc-version.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <boost/uuid/name_generator_sha1.hpp>
#include <boost/uuid/string_generator.hpp>
#include <boost/uuid/uuid_io.hpp>
#include <boost/version.hpp>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <regex>
#include <sstream>
#include <vector>

#include "process.h"

#include "build_info.h"

namespace sy::harness {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

// A version command or git answers in milliseconds; a hung one (an NFS mount, a broken
// wrapper script) must not hold up the run.
constexpr double kToolTimeoutS = 5;

// git's blob id of the uncommitted changes to tracked files; the same command as
// embed_commit.cmake's, so that the two ids compare.
constexpr const char* kDiffCommand =
    "set -o pipefail; git -C \"$0\" diff --no-color --no-ext-diff --no-textconv --binary HEAD -- | "
    "git hash-object --stdin";
constexpr const char* kEmptyBlob = "e69de29bb2d1d6434b8b29ae775ad8c2e48c5391";

std::string trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ' || s.back() == '\t')) s.pop_back();
  std::size_t i = 0;
  while (i < s.size() && (s[i] == ' ' || s[i] == '\t')) ++i;
  return s.substr(i);
}

std::optional<std::string> read_text(const fs::path& p) {
  std::ifstream in(p);
  if (!in) return std::nullopt;
  std::stringstream ss;
  ss << in.rdbuf();
  if (in.bad()) return std::nullopt;
  return trim(ss.str());
}

json text_or_null(const fs::path& p) {
  auto t = read_text(p);
  return t && !t->empty() ? json(*t) : json(nullptr);
}

json int_or_null(const std::string& s) {
  if (s.empty()) return nullptr;
  char* end = nullptr;
  const long long v = std::strtoll(s.c_str(), &end, 0);  // base 0: AArch64 writes 0x41
  return *end == '\0' ? json(v) : json(nullptr);
}

// The first processor's "key : value" lines of /proc/cpuinfo (keys trimmed).
std::map<std::string, std::string> cpuinfo_first_cpu() {
  std::map<std::string, std::string> kv;
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (trim(line).empty()) {
      if (!kv.empty()) break;
      continue;
    }
    auto colon = line.find(':');
    if (colon == std::string::npos) continue;
    kv.emplace(trim(line.substr(0, colon)), trim(line.substr(colon + 1)));
  }
  return kv;
}

std::string get(const std::map<std::string, std::string>& kv, const char* a, const char* b = nullptr) {
  if (auto it = kv.find(a); it != kv.end()) return it->second;
  if (b)
    if (auto it = kv.find(b); it != kv.end()) return it->second;
  return {};
}

// "always [madvise] never" -> "madvise"
json bracketed_choice(const fs::path& p) {
  auto t = read_text(p);
  if (!t) return nullptr;
  auto a = t->find('['), b = t->find(']');
  if (a == std::string::npos || b == std::string::npos || b < a) return *t;
  return t->substr(a + 1, b - a - 1);
}

// A derived, stable id: a name-based (SHA-1) UUID of the host's id in a namespace of our
// own, as machine-id(5) asks, so the raw id never leaves the machine and the value cannot
// be matched with other programs' records.
json machine_id(json& source) {
  static const boost::uuids::uuid ns = boost::uuids::string_generator()("59a82061-4b04-4304-9e7f-0b84586c597b");
  static const std::regex hex32("^[0-9a-fA-F]{32}$"), uuid_re("^[0-9a-fA-F-]{36}$");
  const std::pair<const char*, const std::regex*> sources[] = {{"/etc/machine-id", &hex32},
                                                               {"/sys/class/dmi/id/product_uuid", &uuid_re}};
  for (const auto& [path, re] : sources) {
    auto t = read_text(path);  // product_uuid is readable by root only
    if (!t || !std::regex_match(*t, *re)) continue;  // empty or "uninitialized" in some images
    source = path;
    return boost::uuids::to_string(boost::uuids::name_generator_sha1(ns)(std::string(path) + ":" + *t));
  }
  source = nullptr;
  return nullptr;
}

// A tool's version: its version command's first line (stdout, else stderr: nginx -v writes
// there, wrk -v exits 1), reduced to the version by `re`'s first group when it matches.
// null when the tool is not installed or prints nothing within the timeout.
json tool_version(const std::string& name, const std::vector<std::string>& args, const std::regex& re) {
  const std::string bin = find_program(name, {"/usr/sbin", "/usr/local/sbin", "/usr/local/bin"});
  if (bin.empty()) return nullptr;
  std::vector<std::string> argv{bin};
  argv.insert(argv.end(), args.begin(), args.end());
  ChildResult r = run_child(argv, kToolTimeoutS);
  if (r.timed_out || r.interrupted || r.signal) return nullptr;
  std::string text = trim(r.out).empty() ? r.err : r.out;
  text = trim(text.substr(0, text.find('\n')));
  if (text.empty()) return nullptr;
  std::smatch m;
  if (std::regex_search(text, m, re)) return m[1].str();
  return text;
}

// stdout of a git command in `src` (trimmed), or nullopt when it fails.
std::optional<std::string> git(const std::string& src, std::vector<std::string> args) {
  std::vector<std::string> argv{"git", "-C", src};
  argv.insert(argv.end(), args.begin(), args.end());
  ChildResult r = run_child(argv, kToolTimeoutS);
  if (r.timed_out || r.interrupted || r.signal || r.exit_code != 0) return std::nullopt;
  return trim(r.out);
}

json machine_static() {
  json m;
  utsname u{};
  uname(&u);
  m["arch"] = u.machine;
  json src;
  m["machine_id"] = machine_id(src);
  m["machine_id_source"] = src;

  // x86 names first, then AArch64's (implementer, part, revision, Features).
  const auto cpu = cpuinfo_first_cpu();
  auto str_or_null = [](const std::string& s) { return s.empty() ? json(nullptr) : json(s); };
  m["cpu_vendor"] = str_or_null(get(cpu, "vendor_id", "CPU implementer"));
  m["cpu_family"] = int_or_null(get(cpu, "cpu family", "CPU implementer"));
  m["cpu_model_id"] = int_or_null(get(cpu, "model", "CPU part"));
  m["cpu_stepping"] = int_or_null(get(cpu, "stepping", "CPU revision"));
  m["cpu_microcode"] = str_or_null(get(cpu, "microcode"));
  m["cpu_flags"] = str_or_null(get(cpu, "flags", "Features"));
  m["cpu_bugs"] = str_or_null(get(cpu, "bugs"));

  const fs::path sys = "/sys/devices/system/cpu";
  json smt = {{"control", text_or_null(sys / "smt/control")}, {"active", nullptr}};
  if (auto a = read_text(sys / "smt/active")) smt["active"] = *a == "1";
  m["smt"] = smt;

  const fs::path freq = sys / "cpu0/cpufreq";
  if (fs::exists(freq)) {
    auto khz = [&](const char* f) {
      auto t = read_text(freq / f);
      return t ? int_or_null(*t) : json(nullptr);
    };
    json boost = nullptr;
    if (auto b = read_text(sys / "cpufreq/boost")) boost = *b == "1";
    else if (auto nt = read_text(sys / "intel_pstate/no_turbo")) boost = *nt == "0";
    m["cpufreq"] = {{"driver", text_or_null(freq / "scaling_driver")},
                    {"governor", text_or_null(freq / "scaling_governor")},
                    {"min_khz", khz("scaling_min_freq")},
                    {"max_khz", khz("scaling_max_freq")},
                    {"boost", boost}};
  } else {
    m["cpufreq"] = nullptr;  // no frequency scaling exposed (common in VMs)
  }

  m["kernel_cmdline"] = text_or_null("/proc/cmdline");
  json mit = json::object();
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(sys / "vulnerabilities", ec))
    mit[e.path().filename().string()] = text_or_null(e.path());
  m["mitigations"] = mit.empty() ? json(nullptr) : mit;
  m["clocksource"] = text_or_null("/sys/devices/system/clocksource/clocksource0/current_clocksource");
  m["transparent_hugepages"] = {{"enabled", bracketed_choice("/sys/kernel/mm/transparent_hugepage/enabled")},
                                {"defrag", bracketed_choice("/sys/kernel/mm/transparent_hugepage/defrag")}};

  m["software"] = {
      {"glibc", gnu_get_libc_version()},
      {"go", tool_version("go", {"version"}, std::regex(R"(\bgo(\d[^\s]*))"))},
      {"nginx", tool_version("nginx", {"-v"}, std::regex(R"(nginx/(\S+))"))},
      {"wrk", tool_version("wrk", {"-v"}, std::regex(R"(^wrk\s+(\S+))"))},
  };
  return m;
}

}  // namespace

json load_average() {
  double l[3];
  if (getloadavg(l, 3) != 3) return nullptr;
  return json::array({l[0], l[1], l[2]});
}

json machine_provenance() {
  // Nothing here changes during a run: read once per process (bench writes a file per
  // scenario, and the analysis takes files whose machine blocks differ for other hosts).
  static const json fixed = machine_static();
  return fixed;
}

CheckoutState compare_with_checkout(const EmbeddedCommit& built, const std::string& src) {
  CheckoutState s;
  auto top = git(src, {"rev-parse", "--show-toplevel"});
  std::error_code e1, e2;
  // As at build time: only a tree whose top level is `src` is this project's checkout.
  if (!top || fs::canonical(*top, e1) != fs::canonical(src, e2) || e1 || e2) return s;
  auto head = git(src, {"rev-parse", "HEAD"});
  if (!head) return s;
  ChildResult d = run_child({"/bin/bash", "-c", kDiffCommand, src}, kToolTimeoutS);
  if (d.timed_out || d.interrupted || d.signal || d.exit_code != 0) return s;
  s.found = true;
  s.commit = *head;
  const std::string id = trim(d.out);
  s.dirty = id != kEmptyBlob;
  s.diff_id = s.dirty ? id : "";
  if (!*built.commit) s.relation = "unknown";
  else if (s.commit == built.commit) s.relation = s.diff_id == built.diff_id ? "same" : "edited";
  else if (git(src, {"merge-base", "--is-ancestor", built.commit, s.commit})) s.relation = "older";
  else s.relation = "other";
  return s;
}

json build_provenance() {
  const EmbeddedCommit& c = kEmbeddedCommit;
  json b;
  b["commit"] = *c.commit ? json(c.commit) : json(nullptr);
  b["describe"] = *c.describe ? json(c.describe) : json(nullptr);
  b["dirty"] = c.dirty < 0 ? json(nullptr) : json(c.dirty == 1);
  static const CheckoutState now = compare_with_checkout(c, SY_SOURCE_DIR);
  if (!now.found) {
    b["checkout"] = nullptr;
    b["binary_older_than_checkout"] = nullptr;
    return b;
  }
  b["checkout"] = {{"commit", now.commit}, {"dirty", now.dirty}, {"relation", now.relation}};
  b["binary_older_than_checkout"] = now.relation == "older" || now.relation == "edited" ? json(true)
                                    : now.relation == "same"                            ? json(false)
                                                                                        : json(nullptr);
  static bool warned = false;
  if (now.relation != "same" && !warned) {
    warned = true;
    const std::string head = now.commit.substr(0, 12) + (now.dirty ? " with uncommitted changes" : "");
    const char* what = now.relation == "older"    ? "an older commit"
                       : now.relation == "edited" ? "the same commit, but the tracked files changed since the build"
                       : now.relation == "other"  ? "a commit that is not an ancestor of the checkout's"
                                                  : "an unknown commit";
    std::fprintf(stderr,
                 "switchyard: warning: this binary was built from %s (%s); the checkout %s is at %s: rebuild to "
                 "measure the checkout (recorded as build.checkout.relation = %s)\n",
                 *c.describe ? c.describe : "unknown", what, SY_SOURCE_DIR, head.c_str(), now.relation.c_str());
  }
  return b;
}

std::string version_text() {
  const EmbeddedCommit& c = kEmbeddedCommit;
  std::string v = "switchyard ";
  v += *c.describe ? c.describe : "unknown";
  v += "\ncommit ";
  v += *c.commit ? c.commit : "unknown";
  if (c.dirty == 1) v += " (with uncommitted changes)";
  v += "\ncompiler " SY_COMPILER ", " SY_BUILD_TYPE;
  v += "\nflags " + trim(SY_CXX_FLAGS);
  std::string boost = BOOST_LIB_VERSION;  // "1_74"
  for (char& ch : boost)
    if (ch == '_') ch = '.';
  v += "\nBoost " + boost;
  return v;
}

}  // namespace sy::harness
