// switchyard_http_server: the HTTP "Hello, World!" server under a chosen taskmaster.
//
//   switchyard_http_server --taskmaster threads|eventloop|fibers [--variant NAME]
//       [--carriers N] [--registration persistent|oneshot|level] [--io-backend epoll|poll]
//       [--listen HOST:PORT] [--backlog N] [--max-conns N] [--idle-timeout-ms N]
//       [--request-timeout-ms N] [--shutdown-grace-ms N]
//
// The protocol is the Go peer's (scenarios/peers/go/http.go): "LISTENING <port>" on stdout once listening;
// serve until SIGTERM or SIGINT; stop accepting, let in-flight requests finish (at most
// --shutdown-grace-ms), close the rest; print one JSON line; exit 0. A bad command line
// (unknown taskmaster or variant included): a message on stderr, exit code 2. --help
// describes every flag (exit 0). The command line is CLI11's.
#include <pthread.h>
#include <signal.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <iostream>
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "../cli_integer.h"
#include "switchyard/runtime.h"  // available_cpus()
#include "taskmaster.h"

namespace {

using sy::http::UsageError;

struct Cli {
  sy::http::TaskmasterOptions tm;
  sy::http::ServerConfig cfg;
  std::string host = "127.0.0.1";
  unsigned port = 0;
  int backlog = 16384;
};

// Reads the command line into `c`. Returns -1 to go on serving, or the exit code: 0 after
// --help (the help on stdout), 2 for a malformed command line (CLI11's own codes differ per
// error; every one is a usage error here). Names (taskmaster, variant, registration, I/O
// backend) are checked by make_taskmaster, which knows them.
int parse_cli(int argc, char** argv, Cli& c) {
  CLI::App app("switchyard_http_server: the HTTP \"Hello, World!\" server under a chosen taskmaster. Prints "
               "\"LISTENING <port>\" once listening, serves until SIGTERM or SIGINT, then prints one JSON line.");
  app.add_option("--taskmaster", c.tm.name, "Who runs the connections: threads | eventloop | fibers")
      ->capture_default_str();
  app.add_option("--variant", c.tm.variant, "The fiber runtime variant (fibers only)")->capture_default_str();
  app.add_option("--carriers", c.tm.carriers, "Carriers (fibers) or event loops (eventloop); default: the CPUs")
      ->check(sy::cli::integer_in(1, 1024))
      ->type_name("N");
  app.add_option("--registration", c.tm.registration, "How fibers register with the poller: persistent | oneshot | level")
      ->capture_default_str();
  app.add_option("--io-backend", c.tm.io_backend, "The fibers' poller: epoll | poll")->capture_default_str();
  std::string listen = "127.0.0.1:0";
  app.add_option("--listen", listen, "Where to listen; port 0 picks one (printed on the LISTENING line)")
      ->capture_default_str()
      ->type_name("HOST:PORT");
  app.add_option("--backlog", c.backlog, "listen(2) backlog (capped by net.core.somaxconn)")
      ->check(sy::cli::integer_in(1, 1 << 20))
      ->capture_default_str()
      ->type_name("N");
  app.add_option("--max-conns", c.cfg.max_conns, "Cap on live connections (accepting waits); 0 = none")
      ->check(sy::cli::integer_in(0, 1 << 24))
      ->capture_default_str()
      ->type_name("N");
  app.add_option("--idle-timeout-ms", c.cfg.idle_timeout_ms, "Close a connection idle this long; 0 = never")
      ->check(sy::cli::integer_in(0, 86'400'000))
      ->capture_default_str()
      ->type_name("MS");
  app.add_option("--request-timeout-ms", c.cfg.request_timeout_ms,
                 "A request must arrive whole within this from its first byte (else 408); 0 = no limit")
      ->check(sy::cli::integer_in(0, 86'400'000))
      ->capture_default_str()
      ->type_name("MS");
  app.add_option("--shutdown-grace-ms", c.cfg.shutdown_grace_ms,
                 "After SIGTERM, in-flight requests may finish within this; the rest are closed")
      ->check(sy::cli::integer_in(0, 600'000))
      ->capture_default_str()
      ->type_name("MS");
  try {
    app.parse(argc, argv);
    const auto colon = listen.rfind(':');
    if (colon == std::string::npos) throw UsageError("--listen " + listen + ": expected HOST:PORT");
    c.host = listen.substr(0, colon);
    const std::string port = listen.substr(colon + 1);
    std::string checked = port;
    if (const std::string why = sy::cli::integer_in(0, 65535)(checked); !why.empty())
      throw UsageError("--listen port " + why);
    c.port = static_cast<unsigned>(std::stoul(port));
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::fprintf(stderr, "switchyard_http_server: %s\nRun 'switchyard_http_server --help' for the options.\n",
                 e.what());
    return 2;
  }
  return -1;
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
    if (const int code = parse_cli(argc, argv, cli); code >= 0) return code;
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
