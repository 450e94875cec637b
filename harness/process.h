// Starting programs and bounding them in time: the one process library of the suite, used
// by the harness (each measurement in a fresh child, run_child) and by the HTTP load
// driver (servers and wrk it starts, watches and stops, Child).
#pragma once

#include <sys/types.h>

#include <csignal>
#include <string>
#include <vector>

namespace sy::harness {

// How Child::spawn starts a program. Every program starts with an empty signal mask and
// SIGINT, SIGPIPE and SIGTERM at their default actions, whatever this process set.
struct SpawnOptions {
  // setpgid(0, 0): the program and whatever it starts form a group of their own, which
  // Child::kill reaches whole (and Ctrl-C at the terminal does not).
  bool own_group = false;
  // PR_SET_PDEATHSIG SIGKILL: the program is killed when this process dies.
  bool die_with_parent = false;
  // stderr into this file (created, truncated); "" captures it in a pipe like stdout, of
  // which the last err_keep bytes are kept (0: all of it).
  std::string stderr_path;
  std::size_t err_keep = 8192;
  // The CPUs the program may run on (sched_setaffinity before exec); empty: this process's.
  std::vector<int> cpus;
};

// The CPUs this process may run on (its affinity mask), in order.
std::vector<int> affinity_cpus();

// A started program: its stdout (and stderr unless it goes to a file) read through
// nonblocking pipes into out() and err(). Reaping is explicit: the owner decides when to
// wait and when to kill; the destructor only closes the pipes.
class Child {
 public:
  // Forks and executes argv[0] (a path, or a name searched in PATH). Throws
  // std::runtime_error when the pipes, the stderr file or fork fail; a program that cannot
  // be executed exits 127 after saying why on its stderr.
  static Child spawn(const std::vector<std::string>& argv, const SpawnOptions& options = {});

  Child() = default;
  Child(Child&& o) noexcept { *this = std::move(o); }
  Child& operator=(Child&& o) noexcept;
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;
  ~Child() { close_output(); }

  pid_t pid() const { return pid_; }

  // Reads what the pipes hold now, without blocking.
  void drain();
  // Waits at most timeout_ms for output (or the pipes' end), then drains. With both pipes
  // closed it waits the whole timeout: the pace of a loop that polls for something else.
  void wait_output(int timeout_ms);
  // Both pipes have reached their end (every writer closed them).
  bool output_closed() const { return out_fd_ < 0 && err_fd_ < 0; }
  void close_output();
  const std::string& out() const { return out_; }
  const std::string& err() const { return err_; }

  // SIGKILL or another signal: to the whole group when started with own_group, else to
  // the program alone.
  void kill(int sig) const;

  // Reaps the program if it has ended: true then (status() valid). Never blocks.
  bool try_reap();
  // Reaps, draining the output meanwhile, for at most timeout_s: true when it ended. A
  // program that is no longer our child (reaped elsewhere) counts as ended, status 0.
  bool reap_within(double timeout_s);
  // Reaps, blocking until it ends (wait4: also its resource usage).
  void reap();
  bool reaped() const { return reaped_; }
  int status() const { return status_; }         // as waitpid reports it
  long maxrss_kib() const { return maxrss_kib_; }  // peak resident set, after reap()

 private:
  void read_pipe(int& fd, std::string& into, std::size_t keep);

  pid_t pid_ = -1;
  bool own_group_ = false;
  int out_fd_ = -1, err_fd_ = -1;
  std::size_t err_keep_ = 0;
  std::string out_, err_;
  bool reaped_ = false;
  int status_ = 0;
  long maxrss_kib_ = 0;
};

// "exit code 3", "killed by signal 11 (SIGSEGV)": a wait status in words.
std::string describe_wait_status(int status);

// The full path of an executable named `name` in PATH, then in `extra_dirs` (nginx lives
// in /usr/sbin, which a user's PATH may lack); "" when there is none.
std::string find_program(const std::string& name, const std::vector<std::string>& extra_dirs = {});

// ------------------------------------------------------------------ one measurement

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
// process group, capturing stdout and stderr, until both pipes close. On timeout or
// SIGINT the whole group is killed, so a measurement that started servers leaves nothing
// behind; so is anything still running in the group once the child has ended.
ChildResult run_child(const std::vector<std::string>& argv, double timeout_s);

// Set by the SIGINT handler; run_child returns early (interrupted) when it is set.
extern volatile std::sig_atomic_t g_interrupted;
void install_sigint_handler();

}  // namespace sy::harness
