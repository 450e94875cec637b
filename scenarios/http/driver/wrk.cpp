#include "wrk.h"

#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cmath>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <vector>

#include <nlohmann/json.hpp>

#include "common.h"
#include "process.h"
#include "server_process.h"

namespace sy::http::driver {

using nlohmann::json;

const char* const kWrkScript = R"lua(-- switchyard (scenario http): wrk's results as one JSON line. Latency in microseconds.
done = function(summary, latency, requests)
  local e = summary.errors
  local mean = latency.mean
  if summary.requests == 0 or mean ~= mean then mean = 0 end
  io.write(string.format(
    'SWITCHYARD_WRK {"duration_us":%d,"requests":%d,"bytes":%d,"connect":%d,"read":%d,"write":%d,' ..
    '"status":%d,"timeout":%d,"p50_us":%d,"p90_us":%d,"p99_us":%d,"max_us":%d,"mean_us":%.3f}\n',
    summary.duration, summary.requests, summary.bytes, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max, mean))
end
)lua";

WrkResult parse_wrk_output(const std::string& out) {
  const std::string tag = "SWITCHYARD_WRK ";
  std::istringstream lines(out);
  std::string found;
  for (std::string line; std::getline(lines, line);)
    if (line.rfind(tag, 0) == 0) found = line.substr(tag.size());
  if (found.empty()) throw std::runtime_error("wrk printed no result line (its done() hook did not run): " + tail_of(out, 300));
  json j;
  try {
    j = json::parse(found);
  } catch (const json::exception& e) {
    throw std::runtime_error("wrk's result line is not JSON (" + std::string(e.what()) + "): " + found);
  }
  WrkResult r;
  auto num = [&](const char* k) {
    if (!j.contains(k) || !j[k].is_number() || !std::isfinite(j[k].get<double>()) || j[k].get<double>() < 0)
      throw std::runtime_error(std::string("wrk's result line lacks a valid ") + k + ": " + found);
    return j[k].get<double>();
  };
  r.duration_s = num("duration_us") / 1e6;
  if (r.duration_s <= 0) throw std::runtime_error("wrk ran for no time: " + found);
  r.requests = static_cast<std::int64_t>(num("requests"));
  r.bytes = static_cast<std::int64_t>(num("bytes"));
  r.err_connect = static_cast<std::int64_t>(num("connect"));
  r.err_read = static_cast<std::int64_t>(num("read"));
  r.err_write = static_cast<std::int64_t>(num("write"));
  r.err_status = static_cast<std::int64_t>(num("status"));
  r.err_timeout = static_cast<std::int64_t>(num("timeout"));
  r.p50_us = num("p50_us");
  r.p90_us = num("p90_us");
  r.p99_us = num("p99_us");
  r.max_us = num("max_us");
  r.mean_us = num("mean_us");
  return r;
}

CpuSplit loadgen_split() {
  const char* v = std::getenv("SY_PIN_LOADGEN");
  if (!v || std::string(v) != "1") return {};
  const std::vector<int> cpus = harness::affinity_cpus();
  if (cpus.size() < 2)
    throw std::runtime_error("SY_PIN_LOADGEN=1 needs at least 2 CPUs in the affinity mask (this process has " +
                             std::to_string(cpus.size()) + ")");
  const auto server_n = static_cast<long>(cpus.size() - cpus.size() / 2);
  return {{cpus.begin(), cpus.begin() + server_n}, {cpus.begin() + server_n, cpus.end()}};
}

LoadSample run_wrk(ServerProcess& server, const std::string& dir, int connections, int threads, double duration_s) {
  const std::string script = dir + "/report.lua";
  std::ofstream(script) << kWrkScript;
  std::vector<std::string> argv = {"wrk",
                                   "-t" + std::to_string(std::min(threads, connections)),
                                   "-c" + std::to_string(connections),
                                   "-d" + std::to_string(static_cast<int>(std::lround(duration_s))) + "s",
                                   "--timeout",
                                   std::to_string(kWrkTimeoutS) + "s",
                                   "-s",
                                   script,
                                   "http://" + std::string(kHost) + ":" + std::to_string(server.port()) + "/"};
  const std::vector<pid_t> tree = server.processes();
  auto before = sample_processes(tree);
  if (!before) throw std::runtime_error("cannot read /proc of the server's processes");
  LoadSample out;
  harness::SpawnOptions o;
  o.die_with_parent = true;  // wrk does not outlive the measurement
  o.stderr_path = dir + "/wrk.stderr";
  o.cpus = loadgen_split().loadgen;
  harness::Child w = harness::Child::spawn(argv, o);
  // Connecting 10,000 sockets and tearing them down takes wrk a while on a loaded machine.
  const double limit = duration_s + 30 + connections / 200.0;
  const auto t0 = Clock::now();
  for (;;) {
    w.wait_output(kSampleMs);
    server.drain();
    if (auto s = sample_processes(tree)) {
      out.peak.rss_kib = std::max(out.peak.rss_kib, s->status.rss_kib);
      out.peak.vm_kib = std::max(out.peak.vm_kib, s->status.vm_kib);
      out.peak.pte_kib = std::max(out.peak.pte_kib, s->status.pte_kib);
      out.peak.threads = std::max(out.peak.threads, s->status.threads);
      ++out.samples;
    }
    if (w.try_reap()) break;
    try {
      server.check_alive();
    } catch (...) {
      kill_and_reap({w.pid()});
      w.close_output();
      throw;
    }
    if (since(t0) > limit) {
      kill_and_reap({w.pid()});
      w.close_output();
      throw std::runtime_error("wrk did not finish within " + std::to_string(static_cast<int>(limit)) +
                               " s (killed)");
    }
  }
  auto after = sample_processes(tree);
  for (int i = 0; i < 50 && !w.output_closed(); ++i) w.wait_output(10);  // the rest of its report
  w.close_output();
  const int st = w.status();
  server.check_alive();
  const std::string err = tail_of(read_small_file(dir + "/wrk.stderr"));
  if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
    throw std::runtime_error("wrk " + harness::describe_wait_status(st) + (err.empty() ? "" : "; stderr: " + err) +
                             "; stdout: " + tail_of(w.out(), 300));
  try {
    out.wrk = parse_wrk_output(w.out());
  } catch (const std::runtime_error& e) {
    throw std::runtime_error(std::string(e.what()) + (err.empty() ? "" : "; wrk's stderr: " + err));
  }
  if (!after) throw std::runtime_error("the server's processes vanished during the run");
  out.cpu_s = static_cast<double>(after->cpu_ticks - before->cpu_ticks) / static_cast<double>(sysconf(_SC_CLK_TCK));
  return out;
}

}  // namespace sy::http::driver
