// The helpers every native scenario shares (scenario.h): process and system readings, a
// percentile. Apart from the scenario list (registry.cpp), so that a test can build one
// scenario file without the others (variant_registration_test does).
#include <sys/resource.h>

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "scenario.h"

namespace sy::scenarios {

std::int64_t peak_rss_kib() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return u.ru_maxrss;  // KiB on Linux
}

std::string guarded_stacks_exceed_map_count(std::int64_t stacks) {
  const std::int64_t limit = read_proc_sys("/proc/sys/vm/max_map_count");
  const std::int64_t need = 2 * stacks + 1000;  // guard + usable per stack, + the process's own
  if (limit < 0 || need <= limit) return "";
  return "about " + std::to_string(need) + " memory mappings; vm.max_map_count is " + std::to_string(limit);
}

std::int64_t read_proc_sys(const char* path) {
  std::FILE* f = std::fopen(path, "r");
  if (!f) return -1;
  long long v = -1;
  if (std::fscanf(f, "%lld", &v) != 1) v = -1;
  std::fclose(f);
  return v;
}

std::int64_t mem_available_kib() {
  std::FILE* f = std::fopen("/proc/meminfo", "r");
  if (!f) return -1;
  char line[256];
  long long kib = -1;
  while (std::fgets(line, sizeof line, f))
    if (std::sscanf(line, "MemAvailable: %lld kB", &kib) == 1) break;
  std::fclose(f);
  return kib;
}

double percentile_sorted(const std::vector<double>& s, double p) {
  if (s.empty()) return 0;
  // Nearest rank: the smallest value with at least p% of the values at or below it.
  auto rank = static_cast<std::size_t>(std::ceil(p / 100.0 * static_cast<double>(s.size())));
  return s[std::clamp<std::size_t>(rank, 1, s.size()) - 1];
}

}  // namespace sy::scenarios
