// switchyard_http_server: the HTTP "Hello, World!" server under a chosen taskmaster.
//
//   switchyard_http_server --taskmaster threads|eventloop|fibers [--variant NAME]
//       [--carriers N] [--registration oneshot|persistent|level] [--io-backend epoll|poll]
//       [--listen HOST:PORT] [--backlog N] [--max-conns N] [--idle-timeout-ms N]
//       [--request-timeout-ms N] [--shutdown-grace-ms N]
//
// The protocol is the Go peer's (scenarios/peers/go/http.go): "LISTENING <port>" on stdout once listening;
// serve until SIGTERM or SIGINT; stop accepting, let in-flight requests finish (at most
// --shutdown-grace-ms), close the rest; print one JSON line; exit 0. A bad command line
// (unknown taskmaster or variant included): a message on stderr, exit code 2.
#include <pthread.h>
#include <signal.h>
#include <sys/resource.h>
#include <unistd.h>

#include <charconv>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "switchyard/runtime.h"  // available_cpus()
#include "taskmaster.h"

namespace {

using sy::http::UsageError;

long parse_int(std::string_view flag, std::string_view v, long lo, long hi) {
  long x = 0;
  const auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), x);
  if (ec != std::errc() || p != v.data() + v.size() || x < lo || x > hi)
    throw UsageError(std::string(flag) + " " + std::string(v) + ": expected an integer in [" + std::to_string(lo) +
                     ", " + std::to_string(hi) + "]");
  return x;
}

struct Cli {
  sy::http::TaskmasterOptions tm;
  sy::http::ServerConfig cfg;
  std::string host = "127.0.0.1";
  unsigned port = 0;
  int backlog = 16384;
};

Cli parse_cli(int argc, char** argv) {
  Cli c;
  for (int i = 1; i < argc; ++i) {
    std::string_view a = argv[i], v;
    bool inline_value = false;
    if (const auto eq = a.find('='); a.substr(0, 2) == "--" && eq != std::string_view::npos) {
      v = a.substr(eq + 1);
      a = a.substr(0, eq);
      inline_value = true;
    }
    auto value = [&]() -> std::string_view {
      if (inline_value) return v;
      if (i + 1 >= argc) throw UsageError(std::string(a) + " needs a value");
      return argv[++i];
    };
    if (a == "--taskmaster") c.tm.name = value();
    else if (a == "--variant") c.tm.variant = value();
    else if (a == "--carriers") c.tm.carriers = static_cast<unsigned>(parse_int(a, value(), 1, 1024));
    else if (a == "--registration") c.tm.registration = value();
    else if (a == "--io-backend") c.tm.io_backend = value();
    else if (a == "--backlog") c.backlog = static_cast<int>(parse_int(a, value(), 1, 1 << 20));
    else if (a == "--max-conns") c.cfg.max_conns = parse_int(a, value(), 0, 1 << 24);
    else if (a == "--idle-timeout-ms") c.cfg.idle_timeout_ms = static_cast<int>(parse_int(a, value(), 0, 86'400'000));
    else if (a == "--request-timeout-ms") c.cfg.request_timeout_ms = static_cast<int>(parse_int(a, value(), 0, 86'400'000));
    else if (a == "--shutdown-grace-ms") c.cfg.shutdown_grace_ms = static_cast<int>(parse_int(a, value(), 0, 600'000));
    else if (a == "--listen") {
      const std::string_view l = value();
      const auto colon = l.rfind(':');
      if (colon == std::string_view::npos) throw UsageError("--listen " + std::string(l) + ": expected HOST:PORT");
      c.host = std::string(l.substr(0, colon));
      c.port = static_cast<unsigned>(parse_int("--listen port", l.substr(colon + 1), 0, 65535));
    } else {
      throw UsageError("unknown argument " + std::string(a));
    }
  }
  return c;
}

// Connection counts in the tens of thousands need as many fds: take the hard limit.
rlim_t raise_nofile() {
  rlimit rl{};
  if (::getrlimit(RLIMIT_NOFILE, &rl) != 0) return 0;
  rl.rlim_cur = rl.rlim_max;
  ::setrlimit(RLIMIT_NOFILE, &rl);
  ::getrlimit(RLIMIT_NOFILE, &rl);
  return rl.rlim_cur;
}

long somaxconn() {
  long v = -1;
  if (std::FILE* f = std::fopen("/proc/sys/net/core/somaxconn", "r")) {
    if (std::fscanf(f, "%ld", &v) != 1) v = -1;
    std::fclose(f);
  }
  return v;
}

}  // namespace

int main(int argc, char** argv) {
  Cli cli;
  std::unique_ptr<sy::http::Taskmaster> tm;
  std::unique_ptr<sy::http::Server> srv;
  try {
    cli = parse_cli(argc, argv);
    srv = std::make_unique<sy::http::Server>(cli.cfg);
    tm = sy::http::make_taskmaster(*srv, cli.tm);
  } catch (const UsageError& e) {
    std::fprintf(stderr, "switchyard_http_server: %s\n", e.what());
    return 2;
  }

  nlohmann::json notes = nlohmann::json::array();
  const rlim_t nofile = raise_nofile();
  notes.push_back("RLIMIT_NOFILE " + std::to_string(nofile));
  if (const long m = somaxconn(); m >= 0 && m < cli.backlog)
    notes.push_back("listen backlog " + std::to_string(cli.backlog) + " is capped by net.core.somaxconn = " +
                    std::to_string(m));

  // The signals are blocked in every thread (they inherit the mask) and taken by sigwait
  // below, before LISTENING is printed, so a signal sent as soon as the port is read is
  // never lost to the default action. SIGPIPE: a peer that went away is an EPIPE.
  sigset_t sigs;
  sigemptyset(&sigs);
  sigaddset(&sigs, SIGTERM);
  sigaddset(&sigs, SIGINT);
  pthread_sigmask(SIG_BLOCK, &sigs, nullptr);
  ::signal(SIGPIPE, SIG_IGN);

  unsigned port = 0;
  const int lfd = sy::http::listen_socket(cli.host, cli.port, cli.backlog, &port);
  if (lfd < 0) {
    const std::string why = std::strerror(errno);
    std::printf("%s\n", nlohmann::json{{"status", "failed"},
                                       {"reason", "listen on " + cli.host + ":" + std::to_string(cli.port) + ": " + why}}
                            .dump()
                            .c_str());
    return 1;
  }
  try {
    tm->start(lfd);
  } catch (const std::exception& e) {
    std::printf("%s\n", nlohmann::json{{"status", "failed"}, {"reason", std::string("start: ") + e.what()}}.dump().c_str());
    return 1;
  }
  std::printf("LISTENING %u\n", port);
  std::fflush(stdout);

  int sig = 0;
  sigwait(&sigs, &sig);
  srv->drain();
  tm->stop_accepting();
  bool clean = tm->wait_done(std::chrono::milliseconds(cli.cfg.shutdown_grace_ms));
  if (!clean) {
    srv->force();
    notes.push_back("shutdown: connections still busy after " + std::to_string(cli.cfg.shutdown_grace_ms) +
                    " ms were closed");
    clean = tm->wait_done(std::chrono::seconds(2));
    if (!clean) notes.push_back("shutdown: some handlers were still running at exit (a long /sleep)");
  }
  for (auto& n : tm->notes()) notes.push_back(n);
  sy::http::ServerStats& st = srv->stats();
  notes.push_back(std::string("stopped by ") + (sig == SIGINT ? "SIGINT" : "SIGTERM") + " after " +
                  std::to_string(st.requests.load()) + " requests");
  nlohmann::json out = {
      {"status", "ok"},
      {"taskmaster", cli.tm.name},
      {"requests", st.requests.load()},
      {"hello_served", st.hello.load()},
      {"rejected", st.rejected.load()},
      {"idle_timeouts", st.idle_timeouts.load()},
      {"connections_accepted", st.connections_accepted.load()},
      {"connections_peak", st.connections_peak.load()},
      {"connections_refused", st.connections_refused.load()},
      {"peak_rss_kib", sy::http::peak_rss_kib()},
      {"threads_peak", st.threads_peak.load() + 1},  // + the main thread
      {"notes", notes},
      {"params",
       {{"taskmaster", cli.tm.name}, {"backlog", cli.backlog}, {"max_conns", cli.cfg.max_conns},
        {"idle_timeout_ms", cli.cfg.idle_timeout_ms}, {"request_timeout_ms", cli.cfg.request_timeout_ms}}},
  };
  if (cli.tm.name == "fibers") {
    out["variant"] = cli.tm.variant;
    out["params"]["variant"] = cli.tm.variant;
    out["params"]["registration"] = cli.tm.registration;
    out["params"]["io_backend"] = cli.tm.io_backend;
  }
  if (cli.tm.name != "threads") out["params"]["carriers"] = cli.tm.carriers ? cli.tm.carriers : sy::available_cpus();
  std::printf("%s\n", out.dump().c_str());
  std::fflush(stdout);
  // Detached connection threads may still be unwinding their last frame after signalling
  // their end (threads taskmaster), and a handler may still sleep after a forced shutdown:
  // leave without running destructors under them.
  std::_Exit(0);
}
