#include "procfs.h"

#include <dirent.h>

#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <map>
#include <sstream>
#include <string>

#include "common.h"

namespace sy::http::driver {

std::optional<ProcStatus> parse_proc_status(std::string_view text) {
  ProcStatus s;
  int found = 0;
  std::size_t pos = 0;
  while (pos < text.size()) {
    std::size_t end = text.find('\n', pos);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(pos, end - pos);
    pos = end + 1;
    auto field = [&](std::string_view key, std::int64_t& to) {
      if (line.substr(0, key.size()) != key) return;
      to = std::strtoll(std::string(line.substr(key.size())).c_str(), nullptr, 10);
      ++found;
    };
    field("VmRSS:", s.rss_kib);
    field("VmSize:", s.vm_kib);
    field("VmPTE:", s.pte_kib);
    field("Threads:", s.threads);
  }
  if (found != 4) return std::nullopt;
  return s;
}

std::optional<ProcStat> parse_proc_stat(std::string_view text) {
  const std::size_t paren = text.rfind(')');
  if (paren == std::string_view::npos) return std::nullopt;
  // After ") ": state(3) ppid(4) pgrp(5) session(6) tty_nr(7) tpgid(8) flags(9) minflt(10)
  // cminflt(11) majflt(12) cmajflt(13) utime(14) stime(15).
  std::istringstream in{std::string(text.substr(paren + 1))};
  std::string state;
  long long f[12] = {};  // fields 4..15
  in >> state;
  for (auto& x : f) in >> x;
  if (!in) return std::nullopt;
  ProcStat st;
  st.ppid = static_cast<pid_t>(f[0]);
  st.cpu_ticks = f[10] + f[11];
  return st;
}

std::vector<pid_t> process_tree(pid_t root) {
  std::multimap<pid_t, pid_t> children;
  if (DIR* d = opendir("/proc")) {
    while (dirent* e = readdir(d)) {
      if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
      const pid_t pid = static_cast<pid_t>(std::atoi(e->d_name));
      if (auto st = parse_proc_stat(read_small_file(std::string("/proc/") + e->d_name + "/stat")))
        children.emplace(st->ppid, pid);
    }
    closedir(d);
  }
  std::vector<pid_t> out;
  if (kill(root, 0) != 0 && errno == ESRCH) return out;
  out.push_back(root);
  for (std::size_t i = 0; i < out.size(); ++i) {
    auto [a, b] = children.equal_range(out[i]);
    for (auto it = a; it != b; ++it) out.push_back(it->second);
  }
  return out;
}

std::optional<TreeSample> sample_processes(const std::vector<pid_t>& pids) {
  TreeSample t;
  int read_ok = 0;
  for (pid_t p : pids) {
    const std::string base = "/proc/" + std::to_string(p);
    auto status = parse_proc_status(read_small_file(base + "/status"));
    auto stat = parse_proc_stat(read_small_file(base + "/stat"));
    if (!status || !stat) continue;
    t.status.rss_kib += status->rss_kib;
    t.status.vm_kib += status->vm_kib;
    t.status.pte_kib += status->pte_kib;
    t.status.threads += status->threads;
    t.cpu_ticks += stat->cpu_ticks;
    ++read_ok;
  }
  if (read_ok == 0) return std::nullopt;
  return t;
}

}  // namespace sy::http::driver
