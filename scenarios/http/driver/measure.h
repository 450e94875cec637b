// The load driver of scenario `http` (issue 7): starts one HTTP server on 127.0.0.1 with an
// ephemeral port, drives it with wrk, samples the server's processes in /proc, holds idle
// keep-alive connections for the memory measurement, and stops everything it started.
//
// It runs inside `switchyard child --scenario http ...` (a fresh process in its own process
// group, killed whole by the harness on timeout), so servers and wrk stay in that group.
// It needs nothing of the runtime: its tests build in seconds (http_driver_test).
//
// Servers measured (Who):
//   fibers     switchyard_http_server --taskmaster fibers --variant V (one fiber per connection)
//   threads    switchyard_http_server --taskmaster threads (one OS thread per connection)
//   eventloop  switchyard_http_server --taskmaster eventloop (epoll loops, no fibers)
//   go         go_peer --scenario http (Go's net/http)
//   asio       asio_peer --scenario http (Boost.Beast on C++20 coroutines, an io_context per thread)
//   nginx      Debian's nginx, configuration generated into a temporary folder
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "scenario.h"

namespace sy::http_driver {

// ------------------------------------------------------------------ what is measured

struct Who {
  std::string kind;     // fibers | threads | eventloop | go | asio | nginx
  std::string variant;  // kind == fibers: the runtime variant
};

// The whole measurement of one entry: mode "load" (wrk at `connections`) or "idle"
// (`connections` idle keep-alive connections, memory per connection). Skipped with the
// reason when a program is missing or the machine's limits do not allow it; throws
// std::runtime_error when the server misbehaves (the child reports `failed`).
scenarios::Outcome measure(const Who& who, const nlohmann::json& params, int repetitions);

// The parameters that apply to a kind of server (what its entries record).
std::vector<std::string_view> params_for(std::string_view kind);

// ------------------------------------------------------------------ /proc

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

// ------------------------------------------------------------------ wrk

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

// ------------------------------------------------------------------ nginx

struct NginxConfig {
  std::string dir;  // pid file, error log and temp paths live here
  std::uint16_t port = 0;
  int workers = 1;
  int worker_connections = 1024;
  int rlimit_nofile = 1024;
  int backlog = 511;
};
std::string nginx_config(const NginxConfig& c);

// ------------------------------------------------------------------ helpers

// A port nobody listens on now (bind 127.0.0.1:0, read it, close). For servers that cannot
// report the port they bound (nginx); a lost race shows as a failed start and is retried.
std::uint16_t pick_free_port();
// The path of an executable: `name` in PATH, then in the extra folders; "" when absent.
std::string find_program(const std::string& name, const std::vector<std::string>& extra_dirs = {});

// Checks a response to `GET /` as every server here must answer it: 1 when complete and
// right (HTTP/1.1 200, Content-Length, body "Hello, World!"), 0 when more bytes are
// needed, -1 when wrong (*why says how).
int check_hello_response(std::string_view bytes, std::string* why);

// Holds `n` keep-alive connections to 127.0.0.1:port. Each sends one `GET /` and reads the
// whole response (status 200, body "Hello, World!"), so the server has fully set the
// connection up; then it stays open and idle until this object is destroyed. At most
// `in_flight` connections are being set up at once (the accept queue is not flooded).
class IdleClients {
 public:
  IdleClients(std::uint16_t port, int n, double timeout_s, int in_flight = 200);
  ~IdleClients();
  IdleClients(const IdleClients&) = delete;
  IdleClients& operator=(const IdleClients&) = delete;

  int idle() const { return idle_; }      // connections that got their response
  int failed() const { return failed_; }  // connections that failed (error, bad response)
  int unfinished() const { return unfinished_; }  // still in progress at the deadline
  const std::string& first_error() const { return first_error_; }

 private:
  std::vector<int> fds_;
  int idle_ = 0, failed_ = 0, unfinished_ = 0;
  std::string first_error_;
};

}  // namespace sy::http_driver
