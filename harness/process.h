// Running one measurement in a fresh child process, bounded in time.
#pragma once

#include <csignal>
#include <string>
#include <vector>

namespace sy::harness {

struct ChildResult {
  int exit_code = -1;      // valid when signal == 0 and !timed_out
  int signal = 0;          // the signal that ended the child, 0 if it exited
  bool timed_out = false;  // killed by us after the timeout
  bool interrupted = false;  // killed by us because we were interrupted (SIGINT)
  std::string out;         // all of stdout
  std::string err;         // the last 8 KiB of stderr
  long maxrss_kib = 0;     // the child's peak resident set (wait4's rusage)
  double wall_s = 0;

  // "killed by signal 11 (SIGSEGV)", "timed out after 30 s", "exit code 3", ...
  std::string describe_failure(double timeout_s) const;
};

// Runs argv[0] (a path, or a name searched in PATH) with the given arguments in its own
// process group, capturing stdout and stderr. On timeout or SIGINT the whole group is
// killed, so a measurement that started servers leaves nothing behind.
ChildResult run_child(const std::vector<std::string>& argv, double timeout_s);

// Set by the SIGINT handler; run_child returns early (interrupted) when it is set.
extern volatile std::sig_atomic_t g_interrupted;
void install_sigint_handler();

}  // namespace sy::harness
