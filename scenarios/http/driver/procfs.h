// /proc sampling: the memory, threads and CPU time of a server's processes.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

namespace sy::http::driver {

struct ProcStatus {
  std::int64_t rss_kib = 0, vm_kib = 0, pte_kib = 0, threads = 0;
};
// From the text of /proc/PID/status (VmRSS, VmSize, VmPTE, Threads); nullopt when a field
// is missing (a zombie has no Vm* lines).
std::optional<ProcStatus> parse_proc_status(std::string_view text);

// From the text of /proc/PID/stat: the parent pid and utime + stime in clock ticks.
// The command name (field 2) may hold spaces and parentheses: fields are counted after
// its last ')'.
struct ProcStat {
  pid_t ppid = 0;
  std::int64_t cpu_ticks = 0;
};
std::optional<ProcStat> parse_proc_stat(std::string_view text);

// The process and its descendants, now (scans /proc).
std::vector<pid_t> process_tree(pid_t root);

// Summed over processes (nginx: master and workers); nullopt when none is readable.
struct TreeSample {
  ProcStatus status;
  std::int64_t cpu_ticks = 0;
};
std::optional<TreeSample> sample_processes(const std::vector<pid_t>& pids);

}  // namespace sy::http::driver
