#include "measure.h"
#include "self_exe.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <stdexcept>
#include <thread>

namespace sy::http_driver {

using nlohmann::json;
using scenarios::Outcome;
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

constexpr const char* kHost = "127.0.0.1";
constexpr const char* kHello = "Hello, World!";
// x86-64's THREAD_SIZE: each thread's kernel stack (not in any /proc figure).
constexpr std::int64_t kKernelStackKib = 16;
// How often the server's processes are sampled during a wrk run.
constexpr int kSampleMs = 100;
// wrk's --timeout: a request slower than this counts as a timeout error (wrk's default).
constexpr int kWrkTimeoutS = 2;
constexpr double kWarmupS = 1.0;
constexpr double kStartTimeoutS = 20;
constexpr double kStopGraceS = 10;  // Go's peer shuts down gracefully within 5 s

double since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }
void sleep_s(double s) { std::this_thread::sleep_for(std::chrono::duration<double>(s)); }

std::string read_small_file(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

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

std::string tail_of(const std::string& text, std::size_t n = 600) {
  std::string t = text.size() > n ? "..." + text.substr(text.size() - n) : text;
  while (!t.empty() && (t.back() == '\n' || t.back() == ' ')) t.pop_back();
  return t;
}

std::string self_bin_dir() { return fs::path(scenarios::self_exe()).parent_path().string(); }

std::string describe_status(int st) {
  if (WIFSIGNALED(st)) {
    const char* abbrev = sigabbrev_np(WTERMSIG(st));
    return "killed by signal " + std::to_string(WTERMSIG(st)) + " (SIG" + (abbrev ? abbrev : "?") + ")";
  }
  return "exit code " + std::to_string(WEXITSTATUS(st));
}

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

// A started program: stdout into a pipe we read (nonblocking), stderr into a file.
struct Spawned {
  pid_t pid = -1;
  int out = -1;
  std::string out_text;
  bool out_eof = false;

  // Reads what is available now.
  void drain() {
    if (out < 0 || out_eof) return;
    char buf[8192];
    for (;;) {
      ssize_t n = read(out, buf, sizeof buf);
      if (n > 0) {
        out_text.append(buf, static_cast<std::size_t>(n));
        continue;
      }
      if (n == 0) out_eof = true;
      else if (errno == EINTR) continue;
      break;
    }
  }
  void close_out() {
    if (out >= 0) close(out);
    out = -1;
  }
};

Spawned spawn(const std::vector<std::string>& argv, const std::string& stderr_path) {
  int p[2];
  if (pipe2(p, O_CLOEXEC) != 0) throw std::runtime_error(std::string("pipe: ") + std::strerror(errno));
  int err = open(stderr_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (err < 0) {
    close(p[0]);
    close(p[1]);
    throw std::runtime_error("open " + stderr_path + ": " + std::strerror(errno));
  }
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  const pid_t parent = getpid();
  pid_t pid = fork();
  if (pid < 0) {
    int e = errno;
    close(p[0]);
    close(p[1]);
    close(err);
    throw std::runtime_error(std::string("fork: ") + std::strerror(e));
  }
  if (pid == 0) {
    // If this driver dies (the harness's timeout kills the whole group anyway), so does
    // the program: nothing outlives a measurement.
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(127);
    dup2(p[1], 1);
    dup2(err, 2);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    signal(SIGPIPE, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    execvp(args[0], args.data());
    dprintf(2, "cannot execute %s: %s\n", args[0], std::strerror(errno));
    _exit(127);
  }
  close(p[1]);
  close(err);
  fcntl(p[0], F_SETFL, fcntl(p[0], F_GETFL) | O_NONBLOCK);
  Spawned s;
  s.pid = pid;
  s.out = p[0];
  return s;
}

// Waits for pid up to timeout_s (draining its stdout meanwhile); true when it exited.
bool wait_exit(Spawned& s, double timeout_s, int* status) {
  const auto t0 = Clock::now();
  for (;;) {
    s.drain();
    pid_t r = waitpid(s.pid, status, WNOHANG);
    if (r == s.pid) return true;
    if (r < 0 && errno != EINTR) {
      *status = 0;
      return true;  // not our child any more: nothing to wait for
    }
    if (since(t0) >= timeout_s) return false;
    pollfd pf{s.out, POLLIN, 0};
    poll(&pf, s.out >= 0 && !s.out_eof ? 1 : 0, 20);
  }
}

// Everything that was started, stopped: SIGKILL to the recorded processes, then reaping
// whatever became our child (we are a subreaper: orphaned nginx workers come to us).
void kill_and_reap(const std::vector<pid_t>& pids) {
  for (pid_t p : pids)
    if (p > 0) kill(p, SIGKILL);
  int st;
  for (pid_t p : pids)
    if (p > 0) waitpid(p, &st, WNOHANG);
  while (waitpid(-1, &st, WNOHANG) > 0) {
  }
}

// ------------------------------------------------------------------ the server

struct ServerSpec {
  std::string name;               // for messages: "switchyard_http_server --taskmaster fibers"
  std::vector<std::string> argv;  // without the port for nginx (see make_argv)
  bool prints_port = true;        // prints "LISTENING <port>" (ours, Go); nginx does not
  bool nginx = false;
  NginxConfig nginx_config;
};

class Server {
 public:
  Server(ServerSpec spec, std::string dir) : spec_(std::move(spec)), dir_(std::move(dir)) {}
  ~Server() {
    if (proc_.pid > 0 && !exited_) kill_and_reap(tree_with_root());
    proc_.close_out();
  }
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Starts it and waits until it answers `GET /` correctly; throws with the reason.
  void start() {
    const int attempts = spec_.nginx ? 3 : 1;  // nginx: the free port may be taken meanwhile
    for (int attempt = 1;; ++attempt) {
      std::string why = try_start();
      if (why.empty()) return;
      if (attempt >= attempts || why.find("Address already in use") == std::string::npos)
        throw std::runtime_error(spec_.name + " did not start: " + why);
    }
  }

  std::uint16_t port() const { return port_; }
  pid_t pid() const { return proc_.pid; }
  std::vector<pid_t> processes() const { return process_tree(proc_.pid); }
  void drain() { proc_.drain(); }

  // Throws when the server has died (to be called while it should be serving).
  void check_alive() {
    int st = 0;
    if (!exited_ && waitpid(proc_.pid, &st, WNOHANG) == proc_.pid) {
      exited_ = true;
      throw std::runtime_error(spec_.name + " died during the run: " + describe_status(st) + stderr_suffix());
    }
  }

  // SIGTERM, a grace period, then SIGKILL. Returns notes; throws when the server reported
  // a failure or exited with an error.
  std::vector<std::string> stop() {
    std::vector<std::string> notes;
    if (exited_) return notes;
    const std::vector<pid_t> tree = tree_with_root();
    kill(proc_.pid, SIGTERM);
    int st = 0;
    bool clean = wait_exit(proc_, kStopGraceS, &st);
    if (!clean) {
      kill_and_reap(tree);
      waitpid(proc_.pid, &st, 0);
      notes.push_back(spec_.name + " did not stop within " + std::to_string(static_cast<int>(kStopGraceS)) +
                      " s of SIGTERM: killed");
    }
    exited_ = true;
    std::vector<pid_t> rest;  // nginx's workers, should the master have left any
    for (pid_t p : tree)
      if (p != proc_.pid) rest.push_back(p);
    kill_and_reap(rest);
    for (int i = 0; i < 50 && !proc_.out_eof; ++i) {
      proc_.drain();
      if (!proc_.out_eof) sleep_s(0.01);
    }
    proc_.close_out();
    if (!clean) return notes;
    if (spec_.prints_port) {
      // The protocol's JSON object is the last line.
      std::string last;
      std::istringstream lines(proc_.out_text);
      for (std::string line; std::getline(lines, line);)
        if (!line.empty()) last = line;
      json j;
      try {
        j = json::parse(last);
      } catch (const json::exception&) {
        throw std::runtime_error(spec_.name + " printed no JSON result when stopped (" + describe_status(st) + ")" +
                                 stderr_suffix());
      }
      if (j.value("status", "") != "ok")
        throw std::runtime_error(spec_.name + " reported " + j.value("status", std::string("?")) + ": " +
                                 j.value("reason", std::string("(no reason)")));
      if (j.contains("notes") && j["notes"].is_array())
        for (const auto& n : j["notes"])
          if (n.is_string()) notes.push_back("server: " + n.get<std::string>());
    }
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
      throw std::runtime_error(spec_.name + " ended with " + describe_status(st) + " when stopped" + stderr_suffix());
    return notes;
  }

 private:
  std::string stderr_path() const { return dir_ + "/server.stderr"; }
  std::string stderr_suffix() const {
    std::string t = tail_of(read_small_file(stderr_path()));
    return t.empty() ? "" : "; stderr: " + t;
  }
  std::vector<pid_t> tree_with_root() const {
    std::vector<pid_t> t = process_tree(proc_.pid);
    if (std::find(t.begin(), t.end(), proc_.pid) == t.end()) t.push_back(proc_.pid);
    return t;
  }

  std::string try_start() {
    std::vector<std::string> argv = spec_.argv;
    if (spec_.nginx) {
      spec_.nginx_config.port = port_ = pick_free_port();
      std::ofstream(dir_ + "/nginx.conf") << nginx_config(spec_.nginx_config);
    }
    proc_ = spawn(argv, stderr_path());
    exited_ = false;
    const auto t0 = Clock::now();
    int st = 0;
    auto died = [&] {
      if (waitpid(proc_.pid, &st, WNOHANG) != proc_.pid) return false;
      exited_ = true;
      return true;
    };
    auto give_up = [&](const std::string& why) {
      if (!exited_) kill_and_reap(tree_with_root());
      exited_ = true;
      proc_.close_out();
      return why;
    };
    if (spec_.prints_port) {
      for (;;) {
        proc_.drain();
        auto at = proc_.out_text.find("LISTENING ");
        if (at != std::string::npos && proc_.out_text.find('\n', at) != std::string::npos) {
          port_ = static_cast<std::uint16_t>(std::strtoul(proc_.out_text.c_str() + at + 10, nullptr, 10));
          if (port_ == 0) return give_up("it printed a bad port: " + tail_of(proc_.out_text, 200));
          break;
        }
        if (died()) return give_up(describe_status(st) + " before LISTENING" + stderr_suffix());
        if (since(t0) > kStartTimeoutS)
          return give_up("no LISTENING line within " + std::to_string(static_cast<int>(kStartTimeoutS)) + " s" +
                         stderr_suffix());
        pollfd pf{proc_.out, POLLIN, 0};
        poll(&pf, proc_.out_eof ? 0 : 1, 50);
      }
    }
    // Ready when it answers a request correctly (nginx: once it listens).
    std::string last_error;
    for (;;) {
      {
        IdleClients probe(port_, 1, 2.0, 1);
        if (probe.idle() == 1) return "";
        last_error = probe.first_error().empty() ? "no response within 2 s" : probe.first_error();
        if (last_error.find("refused") == std::string::npos && last_error.find("no response") == std::string::npos)
          return give_up("its answer to GET / is wrong: " + last_error);
      }
      proc_.drain();
      if (died()) return give_up(describe_status(st) + " while starting" + stderr_suffix());
      if (since(t0) > kStartTimeoutS)
        return give_up("no correct answer to GET / within " + std::to_string(static_cast<int>(kStartTimeoutS)) +
                       " s (" + last_error + ")" + stderr_suffix());
      sleep_s(0.05);
    }
  }

  ServerSpec spec_;
  std::string dir_;
  Spawned proc_;
  bool exited_ = true;
  std::uint16_t port_ = 0;
};

// ------------------------------------------------------------------ wrk

struct LoadSample {
  WrkResult wrk;
  double cpu_s = 0;
  ProcStatus peak;  // the largest of each field seen while wrk ran
  int samples = 0;
};

LoadSample run_wrk(Server& server, const std::string& dir, int connections, int threads, double duration_s) {
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
  Spawned w = spawn(argv, dir + "/wrk.stderr");
  // Connecting 10,000 sockets and tearing them down takes wrk a while on a loaded machine.
  const double limit = duration_s + 30 + connections / 200.0;
  const auto t0 = Clock::now();
  int st = 0;
  bool finished = false;
  while (!finished) {
    pollfd pf{w.out, POLLIN, 0};
    poll(&pf, w.out_eof ? 0 : 1, kSampleMs);
    w.drain();
    server.drain();
    if (auto s = sample_processes(tree)) {
      out.peak.rss_kib = std::max(out.peak.rss_kib, s->status.rss_kib);
      out.peak.vm_kib = std::max(out.peak.vm_kib, s->status.vm_kib);
      out.peak.pte_kib = std::max(out.peak.pte_kib, s->status.pte_kib);
      out.peak.threads = std::max(out.peak.threads, s->status.threads);
      ++out.samples;
    }
    if (waitpid(w.pid, &st, WNOHANG) == w.pid) {
      finished = true;
      break;
    }
    try {
      server.check_alive();
    } catch (...) {
      kill_and_reap({w.pid});
      w.close_out();
      throw;
    }
    if (since(t0) > limit) {
      kill_and_reap({w.pid});
      w.close_out();
      throw std::runtime_error("wrk did not finish within " + std::to_string(static_cast<int>(limit)) +
                               " s (killed)");
    }
  }
  auto after = sample_processes(tree);
  for (int i = 0; i < 50 && !w.out_eof; ++i) {
    w.drain();
    if (!w.out_eof) sleep_s(0.01);
  }
  w.close_out();
  server.check_alive();
  const std::string err = tail_of(read_small_file(dir + "/wrk.stderr"));
  if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
    throw std::runtime_error("wrk " + describe_status(st) + (err.empty() ? "" : "; stderr: " + err) +
                             "; stdout: " + tail_of(w.out_text, 300));
  try {
    out.wrk = parse_wrk_output(w.out_text);
  } catch (const std::runtime_error& e) {
    throw std::runtime_error(std::string(e.what()) + (err.empty() ? "" : "; wrk's stderr: " + err));
  }
  if (!after) throw std::runtime_error("the server's processes vanished during the run");
  out.cpu_s = static_cast<double>(after->cpu_ticks - before->cpu_ticks) / static_cast<double>(sysconf(_SC_CLK_TCK));
  return out;
}

// ------------------------------------------------------------------ measure

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
    if (auto why = peer_binary_missing(server, "issue 7's server, scenarios/http/"); !why.empty()) return why;
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

// ------------------------------------------------------------------ public pieces

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

std::string nginx_config(const NginxConfig& c) {
  const std::string d = c.dir;
  std::ostringstream s;
  s << "# Generated by switchyard (scenario http). Answers GET / as every server in the run does.\n"
    << "daemon off;\n"
    << "master_process on;\n"
    << "worker_processes " << c.workers << ";\n"
    << "worker_rlimit_nofile " << c.rlimit_nofile << ";\n"
    << "pid " << d << "/nginx.pid;\n"
    << "error_log stderr warn;\n"
    << "events {\n"
    << "    worker_connections " << c.worker_connections << ";\n"
    << "    use epoll;\n"
    << "}\n"
    << "http {\n"
    << "    access_log off;\n"
    << "    keepalive_timeout 300s;\n"
    << "    keepalive_requests 1000000000;\n"  // the default 1000 would make wrk reconnect
    << "    client_body_temp_path " << d << "/client_body;\n"
    << "    proxy_temp_path " << d << "/proxy;\n"
    << "    fastcgi_temp_path " << d << "/fastcgi;\n"
    << "    uwsgi_temp_path " << d << "/uwsgi;\n"
    << "    scgi_temp_path " << d << "/scgi;\n"
    << "    server {\n"
    << "        listen " << kHost << ":" << c.port << " backlog=" << c.backlog << ";\n"
    << "        location / {\n"
    << "            default_type text/plain;\n"
    << "            return 200 \"" << kHello << "\";\n"
    << "        }\n"
    << "    }\n"
    << "}\n";
  return s.str();
}

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

std::uint16_t pick_free_port() {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw std::runtime_error(std::string("socket: ") + std::strerror(errno));
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = 0;
  inet_pton(AF_INET, kHost, &a.sin_addr);
  socklen_t len = sizeof a;
  if (bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
      getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
    int e = errno;
    close(fd);
    throw std::runtime_error(std::string("picking a free port: ") + std::strerror(e));
  }
  close(fd);
  return ntohs(a.sin_port);
}

std::string find_program(const std::string& name, const std::vector<std::string>& extra_dirs) {
  std::vector<std::string> dirs;
  if (const char* path = std::getenv("PATH")) {
    std::string cur;
    for (const char* c = path;; ++c) {
      if (*c == ':' || *c == 0) {
        if (!cur.empty()) dirs.push_back(cur);
        cur.clear();
        if (*c == 0) break;
      } else {
        cur += *c;
      }
    }
  }
  dirs.insert(dirs.end(), extra_dirs.begin(), extra_dirs.end());
  for (const auto& d : dirs) {
    const std::string p = d + "/" + name;
    if (access(p.c_str(), X_OK) == 0) return p;
  }
  return "";
}

int check_hello_response(std::string_view b, std::string* why) {
  const std::size_t head_end = b.find("\r\n\r\n");
  if (head_end == std::string_view::npos) {
    if (b.size() > 16384) {
      *why = "no end of headers in 16 KiB";
      return -1;
    }
    return 0;
  }
  const std::string_view head = b.substr(0, head_end);
  const std::string_view status = head.substr(0, head.find("\r\n"));
  if (status.substr(0, 12) != "HTTP/1.1 200") {
    *why = "status line '" + std::string(status) + "'";
    return -1;
  }
  long long length = -1;
  std::size_t pos = status.size() + 2;
  while (pos < head.size()) {
    std::size_t end = head.find("\r\n", pos);
    if (end == std::string_view::npos) end = head.size();
    std::string line(head.substr(pos, end - pos));
    pos = end + 2;
    std::string key = line.substr(0, line.find(':'));
    std::transform(key.begin(), key.end(), key.begin(), [](unsigned char c) { return std::tolower(c); });
    if (key == "content-length" && line.find(':') != std::string::npos)
      length = std::strtoll(line.c_str() + line.find(':') + 1, nullptr, 10);
  }
  if (length < 0) {
    *why = "no Content-Length header";
    return -1;
  }
  const std::size_t body_at = head_end + 4;
  if (b.size() < body_at + static_cast<std::size_t>(length)) return 0;
  const std::string_view body = b.substr(body_at, static_cast<std::size_t>(length));
  if (body != kHello || b.size() != body_at + body.size()) {
    *why = "body '" + std::string(b.substr(body_at, 40)) + "' (want '" + kHello + "')";
    return -1;
  }
  return 1;
}

IdleClients::IdleClients(std::uint16_t port, int n, double timeout_s, int in_flight) {
  static const char kRequest[] = "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
  const int ep = epoll_create1(EPOLL_CLOEXEC);
  if (ep < 0) throw std::runtime_error(std::string("epoll_create1: ") + std::strerror(errno));
  struct Conn {
    int fd = -1;
    bool connected = false;
    std::string buf;
  };
  std::vector<Conn> conns;
  conns.reserve(static_cast<std::size_t>(n));
  fds_.reserve(static_cast<std::size_t>(n));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  inet_pton(AF_INET, kHost, &addr.sin_addr);
  int started = 0, active = 0;
  auto fail = [&](Conn& c, const std::string& why) {
    if (first_error_.empty()) first_error_ = why;
    ++failed_;
    --active;
    epoll_ctl(ep, EPOLL_CTL_DEL, c.fd, nullptr);
    close(c.fd);
    c.fd = -1;
  };
  const auto t0 = Clock::now();
  while (idle_ + failed_ < n) {
    while (started < n && active < in_flight) {
      ++started;
      Conn c;
      c.fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
      if (c.fd < 0) {
        if (first_error_.empty()) first_error_ = std::string("socket: ") + std::strerror(errno);
        ++failed_;
        continue;
      }
      conns.push_back(std::move(c));
      Conn& cc = conns.back();
      ++active;
      if (connect(cc.fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0 && errno != EINPROGRESS) {
        fail(cc, std::string("connect: ") + std::strerror(errno));
        continue;
      }
      epoll_event ev{};
      ev.events = EPOLLOUT;
      ev.data.u64 = conns.size() - 1;
      if (epoll_ctl(ep, EPOLL_CTL_ADD, cc.fd, &ev) != 0) fail(cc, std::string("epoll_ctl: ") + std::strerror(errno));
    }
    const double left = timeout_s - since(t0);
    if (left <= 0 || active == 0) break;
    epoll_event evs[256];
    const int got = epoll_wait(ep, evs, 256, static_cast<int>(std::min(100.0, left * 1000) + 1));
    for (int i = 0; i < got; ++i) {
      Conn& c = conns[evs[i].data.u64];
      if (c.fd < 0) continue;
      if (!c.connected) {
        int err = 0;
        socklen_t len = sizeof err;
        getsockopt(c.fd, SOL_SOCKET, SO_ERROR, &err, &len);
        if (err != 0) {
          fail(c, std::string("connect: ") + std::strerror(err));
          continue;
        }
        c.connected = true;
        // 35 bytes into an empty socket buffer: never a partial write.
        if (send(c.fd, kRequest, sizeof kRequest - 1, MSG_NOSIGNAL) != static_cast<ssize_t>(sizeof kRequest - 1)) {
          fail(c, std::string("send: ") + std::strerror(errno));
          continue;
        }
        epoll_event ev{};
        ev.events = EPOLLIN;
        ev.data.u64 = evs[i].data.u64;
        epoll_ctl(ep, EPOLL_CTL_MOD, c.fd, &ev);
        continue;
      }
      char buf[2048];
      bool closed = false;
      std::string error;
      for (;;) {
        ssize_t r = read(c.fd, buf, sizeof buf);
        if (r > 0) {
          c.buf.append(buf, static_cast<std::size_t>(r));
          continue;
        }
        if (r == 0) closed = true;
        else if (errno == EINTR) continue;
        else if (errno != EAGAIN) error = std::string("read: ") + std::strerror(errno);
        break;
      }
      std::string why;
      const int verdict = check_hello_response(c.buf, &why);
      if (verdict < 0) {
        fail(c, "bad response: " + why);
      } else if (verdict > 0) {
        epoll_ctl(ep, EPOLL_CTL_DEL, c.fd, nullptr);
        fds_.push_back(c.fd);  // kept open and idle
        c.fd = -1;
        c.buf.clear();
        c.buf.shrink_to_fit();
        ++idle_;
        --active;
      } else if (!error.empty()) {
        fail(c, error);
      } else if (closed) {
        fail(c, "closed by the server before a whole response");
      }
    }
  }
  for (Conn& c : conns)
    if (c.fd >= 0) {
      close(c.fd);
      ++unfinished_;
    }
  unfinished_ += n - started;
  close(ep);
}

IdleClients::~IdleClients() {
  for (int fd : fds_) close(fd);
}

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
    Server server(spec, dir.path);
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
      Server server(spec, dir.path);
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

}  // namespace sy::http_driver
