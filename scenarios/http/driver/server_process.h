// Process control: one server under measurement, started on an ephemeral port, checked
// while it serves and stopped (SIGTERM, a grace period, SIGKILL), with nothing left behind.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "nginx.h"
#include "process.h"

namespace sy::http::driver {

inline constexpr double kStartTimeoutS = 20;
inline constexpr double kStopGraceS = 10;  // Go's peer shuts down gracefully within 5 s

struct ServerSpec {
  std::string name;               // for messages: "switchyard_http_server --taskmaster fibers"
  std::vector<std::string> argv;  // nginx: its configuration is written at each start
  bool prints_port = true;        // prints "LISTENING <port>" (ours, Go); nginx does not
  bool nginx = false;
  NginxConfig nginx_config;
  std::vector<int> cpus;  // where it may run (--pin-loadgen); empty: anywhere this process may
};

// Everything that was started, stopped: SIGKILL to the recorded processes, then reaping
// whatever became our child (the measurement is a subreaper: orphaned nginx workers come
// to it).
void kill_and_reap(const std::vector<pid_t>& pids);

class ServerProcess {
 public:
  // Its stderr goes to dir/server.stderr (quoted in failures).
  ServerProcess(ServerSpec spec, std::string dir) : spec_(std::move(spec)), dir_(std::move(dir)) {}
  ~ServerProcess();
  ServerProcess(const ServerProcess&) = delete;
  ServerProcess& operator=(const ServerProcess&) = delete;

  // Starts it and waits until it answers `GET /` correctly; throws with the reason.
  void start();

  std::uint16_t port() const { return port_; }
  pid_t pid() const { return proc_.pid(); }
  // The server and its descendants (nginx's workers), now.
  std::vector<pid_t> processes() const;
  // Reads its stdout so far (a server that fills the pipe would block).
  void drain() { proc_.drain(); }

  // Throws when the server has died (to be called while it should be serving).
  void check_alive();

  // SIGTERM, a grace period, then SIGKILL. Returns notes; throws when the server reported
  // a failure or exited with an error.
  std::vector<std::string> stop();

 private:
  std::string stderr_path() const { return dir_ + "/server.stderr"; }
  std::string stderr_suffix() const;
  std::vector<pid_t> tree_with_root() const;
  std::string try_start();

  ServerSpec spec_;
  std::string dir_;
  harness::Child proc_;
  bool exited_ = true;
  std::uint16_t port_ = 0;
};

}  // namespace sy::http::driver
