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
