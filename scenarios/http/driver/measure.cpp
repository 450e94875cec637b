#include "measure.h"

#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <stdexcept>
#include <thread>

#include "common.h"
#include "idle_clients.h"
#include "procfs.h"
#include "self_exe.h"
#include "server_process.h"
#include "wrk.h"

namespace sy::http::driver {

using nlohmann::json;
using scenarios::Outcome;
namespace fs = std::filesystem;

namespace {

// x86-64's THREAD_SIZE: each thread's kernel stack (not in any /proc figure).
constexpr std::int64_t kKernelStackKib = 16;
constexpr double kWarmupS = 1.0;

// A number in /proc/sys; -1 when unreadable. (Not scenarios::read_proc_sys: this library
// stays free of the scenario registry, which pulls in the whole runtime.)
std::int64_t read_proc_number(const char* path) {
  long long v = -1;
  if (std::FILE* f = std::fopen(path, "r")) {
    if (std::fscanf(f, "%lld", &v) != 1) v = -1;
    std::fclose(f);
  }
  return v;
}

std::string self_bin_dir() { return fs::path(scenarios::self_exe()).parent_path().string(); }

// A temporary folder for one measurement (scripts, nginx's configuration and logs).
struct TempDir {
  std::string path;
  TempDir() {
    const char* t = std::getenv("TMPDIR");
    std::string tmpl = std::string(t && *t ? t : "/tmp") + "/switchyard-http-XXXXXX";
    if (!mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp " + tmpl + ": " + std::strerror(errno));
    path = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
};

std::string peer_binary_missing(const std::string& path, const std::string& what) {
  return access(path.c_str(), X_OK) == 0 ? "" : path + " is not built (" + what + ")";
}

// The settings the run needs from the machine; notes say what was found and changed.
struct Limits {
  std::int64_t open_files = 0;  // soft RLIMIT_NOFILE after raising it to the hard limit
  std::int64_t backlog = 0;     // what listen() gets: somaxconn in effect
};

Limits prepare_limits(int connections, std::vector<std::string>& notes) {
  Limits l;
  rlimit r{};
  getrlimit(RLIMIT_NOFILE, &r);
  const rlim_t before = r.rlim_cur;
  if (r.rlim_cur < r.rlim_max) {
    r.rlim_cur = r.rlim_max;
    setrlimit(RLIMIT_NOFILE, &r);
    getrlimit(RLIMIT_NOFILE, &r);
  }
  l.open_files = r.rlim_cur == RLIM_INFINITY ? (1 << 20) : static_cast<std::int64_t>(r.rlim_cur);
  notes.push_back("open files: RLIMIT_NOFILE " + std::to_string(l.open_files) +
                  (before < r.rlim_cur ? " (soft limit raised from " + std::to_string(before) + " to the hard limit)"
                                       : "") +
                  ", inherited by the server and wrk");
  const char* path = "/proc/sys/net/core/somaxconn";
  std::int64_t somax = read_proc_number(path);
  if (somax >= 0 && somax < connections) {
    if (geteuid() == 0) {
      const std::int64_t want = 65535;
      if (std::FILE* f = std::fopen(path, "w")) {
        std::fprintf(f, "%lld\n", static_cast<long long>(want));
        std::fclose(f);
      }
      const std::int64_t now = read_proc_number(path);
      notes.push_back(now == want ? "raised net.core.somaxconn from " + std::to_string(somax) + " to " +
                                        std::to_string(now) + " (as root, like sysctl -w) for " +
                                        std::to_string(connections) + " connections"
                                  : "could not raise net.core.somaxconn (" + std::to_string(somax) + ")");
      somax = now;
    } else {
      notes.push_back("net.core.somaxconn is " + std::to_string(somax) + " < " + std::to_string(connections) +
                      " connections and this is not root: accept queues are capped at it");
    }
  }
  l.backlog = somax > 0 ? somax : 4096;
  notes.push_back("listen backlog " + std::to_string(l.backlog) + " for every server (net.core.somaxconn, as Go uses)");
  return l;
}

// The server's command line, or the reason it cannot run here.
std::string make_spec(const Who& who, const json& p, const Limits& lim, const std::string& dir, ServerSpec& spec,
                      std::vector<std::string>& notes) {
  const std::string bin = self_bin_dir();
  const std::string listen = std::string(kHost) + ":0";
  const std::string backlog = std::to_string(lim.backlog);
  if (who.kind == "fibers" || who.kind == "threads" || who.kind == "eventloop") {
    const std::string server = bin + "/switchyard_http_server";
    if (auto why = peer_binary_missing(server, "the HTTP server, scenarios/http/"); !why.empty()) return why;
    spec.name = "switchyard_http_server --taskmaster " + who.kind;
    spec.argv = {server, "--taskmaster", who.kind};
    if (who.kind == "fibers") {
      spec.argv.insert(spec.argv.end(),
                       {"--variant", who.variant, "--registration", p.at("registration").get<std::string>(),
                        "--io-backend", p.at("io_backend").get<std::string>()});
    }
    if (who.kind != "threads") spec.argv.insert(spec.argv.end(), {"--carriers", p.at("carriers").dump()});
    // No idle timeout (Go's and nginx's keep-alives here do not expire either): idle
    // connections of the memory measurement must stay while thousands more are set up.
    spec.argv.insert(spec.argv.end(), {"--listen", listen, "--backlog", backlog, "--idle-timeout-ms", "0"});
    return "";
  }
  if (who.kind == "go") {
    const std::string go = bin + "/go_peer";
    if (auto why = peer_binary_missing(go, "Go was not found when the build was configured"); !why.empty()) return why;
    spec.name = "go_peer --scenario http";
    spec.argv = {go, "--scenario", "http", "--listen", listen, "--param", "carriers=" + p.at("carriers").dump()};
    return "";
  }
  if (who.kind == "asio") {
    const std::string asio = bin + "/asio_peer";
    if (auto why = peer_binary_missing(asio, "Boost.Beast headers were not found when the build was configured");
        !why.empty())
      return why;
    spec.name = "asio_peer --scenario http";
    spec.argv = {asio, "--scenario", "http", "--listen", listen, "--param", "carriers=" + p.at("carriers").dump()};
    return "";
  }
  if (who.kind == "nginx") {
    const std::string nginx = find_program("nginx", {"/usr/sbin", "/usr/local/sbin", "/usr/local/nginx/sbin"});
    if (nginx.empty()) return "nginx is not installed (Debian package nginx-light or nginx)";
    const int workers = p.at("workers").get<int>();
    spec.name = "nginx (" + std::to_string(workers) + " worker" + (workers > 1 ? "s" : "") + ")";
    spec.nginx = true;
    spec.prints_port = false;
    spec.nginx_config.dir = dir;
    spec.nginx_config.workers = workers;
    spec.nginx_config.rlimit_nofile = static_cast<int>(std::min<std::int64_t>(lim.open_files, 1 << 20));
    // Each worker may end up holding every connection (accept is not balanced).
    spec.nginx_config.worker_connections =
        static_cast<int>(std::min<std::int64_t>(p.at("connections").get<std::int64_t>() + 256, lim.open_files - 64));
    spec.nginx_config.backlog = static_cast<int>(lim.backlog);
    spec.argv = {nginx, "-p", dir + "/", "-c", dir + "/nginx.conf", "-e", "stderr"};
    if (p.at("mode") == "idle")
      notes.push_back("nginx allocates its connection and event arrays for worker_connections when a worker "
                      "starts, before the baseline sample: that part of its per-connection memory is not counted");
    notes.push_back("nginx: configuration generated (daemon off, master_process on, " + std::to_string(workers) +
                    " worker(s), worker_connections " + std::to_string(spec.nginx_config.worker_connections) +
                    ", keepalive_requests 1000000000, access_log off, return 200 \"Hello, World!\" as text/plain); "
                    "memory and CPU summed over master and workers");
    return "";
  }
  throw std::runtime_error("unknown server kind " + who.kind);
}

void add_common_load_notes(std::vector<std::string>& notes, int connections, int threads, double duration,
                           std::int64_t open_files) {
  notes.push_back("load: wrk -t" + std::to_string(std::min(threads, connections)) + " -c" +
                  std::to_string(connections) + " -d" + std::to_string(static_cast<int>(duration)) + "s --timeout " +
                  std::to_string(kWrkTimeoutS) + "s, keep-alive GET /; numbers from wrk's done() hook (latency "
                  "percentiles of completed requests, no coordinated-omission correction); wrk shares the machine's " +
                  std::to_string(std::thread::hardware_concurrency()) + " cores with the server");
  notes.push_back("one untimed 1 s wrk warm-up, then one wrk run per repetition against the same server process");
  notes.push_back("server_cpu_s: utime+stime from /proc/PID/stat over each wrk run; server_rss_kib, server_vm_kib, "
                  "server_threads: peaks of VmRSS, VmSize, Threads in /proc/PID/status sampled every " +
                  std::to_string(kSampleMs) + " ms during the run");
  notes.push_back("socket_errors_*: wrk's connect/read/write/timeout counts; http_errors_status: responses with "
                  "status > 399");
  if (connections >= 10000 && open_files < 25000 + 64)
    notes.push_back("the seed's 25,000-connection point is out of reach here: RLIMIT_NOFILE is " +
                    std::to_string(open_files));
}

}  // namespace

std::vector<std::string_view> params_for(std::string_view kind) {
  std::vector<std::string_view> p = {"connections", "mode", "duration_s", "wrk_threads"};
  if (kind == "fibers") p.insert(p.end(), {"carriers", "registration", "io_backend"});
  else if (kind == "eventloop" || kind == "go" || kind == "asio") p.push_back("carriers");
  else if (kind == "nginx") p.push_back("workers");
  return p;
}

Outcome measure(const Who& who, const json& p, int repetitions) {
  const int connections = p.at("connections").get<int>();
  const std::string mode = p.at("mode").get<std::string>();
  const int wrk_threads = p.at("wrk_threads").get<int>();
  const double duration = p.at("duration_s").get<double>();
  Outcome out;
  for (auto k : params_for(who.kind)) out.params[std::string(k)] = p.at(std::string(k));
  if (who.kind == "fibers" || who.kind == "threads" || who.kind == "eventloop") out.params["taskmaster"] = who.kind;

  if (mode == "load" && find_program("wrk").empty())
    return Outcome::skipped("wrk is not installed (Debian package wrk)");
  Limits lim = prepare_limits(connections, out.notes);
  // The server holds one descriptor per connection plus its own; so does wrk (or the idle
  // client, this process).
  const std::int64_t need = connections + 64;
  if (need > lim.open_files)
    return Outcome::skipped(std::to_string(connections) + " connections need about " + std::to_string(need) +
                            " open files per process; RLIMIT_NOFILE allows " + std::to_string(lim.open_files) +
                            (connections >= 25000 ? " (the seed's 25,000 connections are out of reach here)" : ""));
  TempDir dir;
  ServerSpec spec;
  if (std::string why = make_spec(who, p, lim, dir.path, spec, out.notes); !why.empty()) return Outcome::skipped(why);
  // nginx's workers must come back to us if their master dies: we reap and kill them.
  prctl(PR_SET_CHILD_SUBREAPER, 1);
  std::int64_t peak_rss = 0;

  if (mode == "load") {
    add_common_load_notes(out.notes, connections, wrk_threads, duration, lim.open_files);
    const CpuSplit split = loadgen_split();
    if (!split.server.empty()) {
      spec.cpus = split.server;
      auto list = [](const std::vector<int>& v) {
        std::string t;
        for (int c : v) t += (t.empty() ? "" : ",") + std::to_string(c);
        return t;
      };
      out.notes.push_back("--pin-loadgen: the server on CPUs " + list(split.server) + ", wrk on CPUs " +
                          list(split.loadgen) + " (they share none)");
    }
    ServerProcess server(spec, dir.path);
    server.start();
    // Warm-up: not recorded, but said when the timed runs then get nothing done.
    const std::int64_t warm = run_wrk(server, dir.path, connections, wrk_threads, kWarmupS).wrk.requests;
    for (int r = 0; r < repetitions; ++r) {
      LoadSample s = run_wrk(server, dir.path, connections, wrk_threads, duration);
      if (s.wrk.requests == 0)
        throw std::runtime_error("no request completed in " + std::to_string(s.wrk.duration_s) +
                                 " s of repetition " + std::to_string(r + 1) + " (wrk errors: connect " +
                                 std::to_string(s.wrk.err_connect) + ", read " + std::to_string(s.wrk.err_read) +
                                 ", write " + std::to_string(s.wrk.err_write) + ", timeout " +
                                 std::to_string(s.wrk.err_timeout) + "); the warm-up before completed " +
                                 std::to_string(warm) + " requests");
      out.add("requests_per_s", "req/s", static_cast<double>(s.wrk.requests) / s.wrk.duration_s);
      out.add("latency_p50_us", "us", s.wrk.p50_us);
      out.add("latency_p90_us", "us", s.wrk.p90_us);
      out.add("latency_p99_us", "us", s.wrk.p99_us);
      out.add("latency_max_us", "us", s.wrk.max_us);
      out.add("socket_errors_connect", "count", static_cast<double>(s.wrk.err_connect));
      out.add("socket_errors_read", "count", static_cast<double>(s.wrk.err_read));
      out.add("socket_errors_write", "count", static_cast<double>(s.wrk.err_write));
      out.add("socket_errors_timeout", "count", static_cast<double>(s.wrk.err_timeout));
      out.add("http_errors_status", "count", static_cast<double>(s.wrk.err_status));
      out.add("server_cpu_s", "s", s.cpu_s);
      out.add("server_rss_kib", "KiB", static_cast<double>(s.peak.rss_kib));
      out.add("server_vm_kib", "KiB", static_cast<double>(s.peak.vm_kib));
      out.add("server_threads", "count", static_cast<double>(s.peak.threads));
      peak_rss = std::max(peak_rss, s.peak.rss_kib);
    }
    for (auto& n : server.stop()) out.notes.push_back(n);
  } else {
    out.notes.push_back(
        "idle: " + std::to_string(connections) +
        " keep-alive connections held by the driver, each after one GET / and its whole response; a fresh server "
        "per repetition, sampled before the first connection and 1 s after the last response");
    out.notes.push_back("kib_per_conn = rss_kib_per_conn (VmRSS growth) + pte_kib_per_conn (VmPTE growth) + "
                        "kstack_kib_per_conn (Threads growth x " + std::to_string(kKernelStackKib) +
                        " KiB, x86-64's kernel stack per thread), over the connections; socket buffers and other "
                        "kernel objects (sockets, files, epoll items) are left out");
    for (int r = 0; r < repetitions; ++r) {
      ServerProcess server(spec, dir.path);
      server.start();
      sleep_s(0.3);  // let the probe's connection close and the server settle
      auto before = sample_processes(server.processes());
      if (!before) throw std::runtime_error("cannot read /proc of the server's processes");
      const double limit = 30 + connections / 100.0;
      IdleClients clients(server.port(), connections, limit);
      server.check_alive();
      if (clients.idle() != connections)
        throw std::runtime_error(
            "only " + std::to_string(clients.idle()) + " of " + std::to_string(connections) +
            " idle connections were set up within " + std::to_string(static_cast<int>(limit)) + " s (" +
            std::to_string(clients.failed()) + " failed, " + std::to_string(clients.unfinished()) +
            " unfinished; first error: " + (clients.first_error().empty() ? "none" : clients.first_error()) + ")");
      sleep_s(1.0);
      server.drain();
      auto after = sample_processes(server.processes());
      if (!after) throw std::runtime_error("the server's processes vanished while holding idle connections");
      const double n = connections;
      const double rss = static_cast<double>(after->status.rss_kib - before->status.rss_kib) / n;
      const double pte = static_cast<double>(after->status.pte_kib - before->status.pte_kib) / n;
      const double kstack =
          static_cast<double>((after->status.threads - before->status.threads) * kKernelStackKib) / n;
      out.add("kib_per_conn", "KiB", rss + pte + kstack);
      out.add("rss_kib_per_conn", "KiB", rss);
      out.add("pte_kib_per_conn", "KiB", pte);
      out.add("kstack_kib_per_conn", "KiB", kstack);
      out.add("server_rss_kib", "KiB", static_cast<double>(after->status.rss_kib));
      out.add("server_vm_kib", "KiB", static_cast<double>(after->status.vm_kib));
      out.add("server_threads", "count", static_cast<double>(after->status.threads));
      peak_rss = std::max(peak_rss, after->status.rss_kib);
      for (auto& note : server.stop()) out.notes.push_back(note);
    }
  }
  // The measured process here is the server, not this driver.
  out.peak_rss_kib = peak_rss;
  out.notes.push_back("peak_rss_kib: the server's largest sampled VmRSS (summed over its processes)");
  // Repetitions repeat the server's own notes: keep each once, in order.
  std::vector<std::string> uniq;
  for (auto& n : out.notes)
    if (std::find(uniq.begin(), uniq.end(), n) == uniq.end()) uniq.push_back(n);
  out.notes = std::move(uniq);
  return out;
}

}  // namespace sy::http::driver
