// wrk: the load generator. Its results come back through a Lua done() hook as one JSON
// line; run_wrk drives one run against a server and samples the server meanwhile.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "procfs.h"

namespace sy::http::driver {

class ServerProcess;

// The Lua script that makes wrk print its results as one JSON line (its done() hook).
extern const char* const kWrkScript;
struct WrkResult {
  double duration_s = 0;
  std::int64_t requests = 0, bytes = 0;
  std::int64_t err_connect = 0, err_read = 0, err_write = 0, err_status = 0, err_timeout = 0;
  double p50_us = 0, p90_us = 0, p99_us = 0, max_us = 0, mean_us = 0;
};
// Finds the script's line in wrk's stdout; throws std::runtime_error when it is missing or
// malformed.
WrkResult parse_wrk_output(const std::string& out);

// wrk's --timeout: a request slower than this counts as a timeout error (wrk's default).
inline constexpr int kWrkTimeoutS = 2;
// How often the server's processes are sampled during a wrk run.
inline constexpr int kSampleMs = 100;

// --pin-loadgen (the harness sets SY_PIN_LOADGEN=1): the affinity mask split in two, the
// server on the first part and wrk on the rest (with n CPUs, the server gets n - n/2).
// Both empty when not asked; a UsageError-like std::runtime_error when asked with fewer
// than 2 CPUs.
struct CpuSplit {
  std::vector<int> server, loadgen;
};
CpuSplit loadgen_split();

// One wrk run and what the server did meanwhile.
struct LoadSample {
  WrkResult wrk;
  double cpu_s = 0;  // the server's utime + stime over the run
  ProcStatus peak;   // the largest of each field seen while wrk ran
  int samples = 0;
};
// Runs wrk at `connections` for duration_s against the server (its script and stderr go
// into `dir`); throws std::runtime_error when wrk fails, overruns or the server dies.
LoadSample run_wrk(ServerProcess& server, const std::string& dir, int connections, int threads, double duration_s);

}  // namespace sy::http::driver
