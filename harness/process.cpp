#include "process.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>

namespace sy::harness {

volatile std::sig_atomic_t g_interrupted = 0;

namespace {
void on_sigint(int) { g_interrupted = 1; }
constexpr std::size_t kErrKeep = 8192;
}  // namespace

void install_sigint_handler() {
  struct sigaction sa{};
  sa.sa_handler = on_sigint;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = 0;  // no SA_RESTART: poll() returns EINTR and the loop notices
  sigaction(SIGINT, &sa, nullptr);
}

std::string ChildResult::describe_failure(double timeout_s) const {
  std::string what;
  if (interrupted) what = "interrupted (SIGINT) before it finished";
  else if (timed_out) what = "timed out after " + std::to_string(static_cast<long>(timeout_s)) + " s (killed)";
  else if (signal) what = "killed by signal " + std::to_string(signal) + " (SIG" + (sigabbrev_np(signal) ? sigabbrev_np(signal) : "?") + ")";
  else what = "exit code " + std::to_string(exit_code);
  if (!err.empty()) {
    // The end of stderr usually says why; keep the reason readable.
    std::string tail = err.size() > 600 ? "..." + err.substr(err.size() - 600) : err;
    while (!tail.empty() && (tail.back() == '\n' || tail.back() == ' ')) tail.pop_back();
    what += "; stderr: " + tail;
  }
  return what;
}

ChildResult run_child(const std::vector<std::string>& argv, double timeout_s) {
  ChildResult r;
  int out_pipe[2], err_pipe[2];
  if (pipe2(out_pipe, O_CLOEXEC) != 0 || pipe2(err_pipe, O_CLOEXEC) != 0) {
    r.err = std::string("pipe: ") + std::strerror(errno);
    r.exit_code = 127;
    return r;
  }
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);

  const auto t0 = std::chrono::steady_clock::now();
  pid_t pid = fork();
  if (pid < 0) {
    r.err = std::string("fork: ") + std::strerror(errno);
    r.exit_code = 127;
    return r;
  }
  if (pid == 0) {
    setpgid(0, 0);  // own group: Ctrl-C reaches only the harness, which decides
    dup2(out_pipe[1], 1);
    dup2(err_pipe[1], 2);
    signal(SIGINT, SIG_DFL);
    execvp(args[0], args.data());
    dprintf(2, "cannot execute %s: %s\n", args[0], std::strerror(errno));
    _exit(127);
  }
  setpgid(pid, pid);  // also here: whichever runs first, the group exists before we kill it
  close(out_pipe[1]);
  close(err_pipe[1]);

  pollfd fds[2] = {{out_pipe[0], POLLIN, 0}, {err_pipe[0], POLLIN, 0}};
  int open_fds = 2;
  bool killed = false;
  char buf[65536];
  while (open_fds > 0) {
    const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (!killed && (g_interrupted || elapsed > timeout_s)) {
      (g_interrupted ? r.interrupted : r.timed_out) = true;
      kill(-pid, SIGKILL);
      killed = true;
    }
    int n = poll(fds, 2, 100);
    if (n < 0) {
      if (errno == EINTR) continue;
      break;
    }
    for (auto& p : fds) {
      if (p.fd < 0 || !(p.revents & (POLLIN | POLLHUP | POLLERR))) continue;
      ssize_t got = read(p.fd, buf, sizeof buf);
      if (got > 0) {
        if (p.fd == out_pipe[0]) {
          r.out.append(buf, static_cast<std::size_t>(got));
        } else {
          r.err.append(buf, static_cast<std::size_t>(got));
          if (r.err.size() > 2 * kErrKeep) r.err.erase(0, r.err.size() - kErrKeep);
        }
      } else if (got == 0 || (errno != EINTR && errno != EAGAIN)) {
        close(p.fd);
        p.fd = -1;
        --open_fds;
      }
    }
  }
  for (auto& p : fds)
    if (p.fd >= 0) close(p.fd);
  if (r.err.size() > kErrKeep) r.err.erase(0, r.err.size() - kErrKeep);

  int status = 0;
  rusage ru{};
  while (wait4(pid, &status, 0, &ru) < 0 && errno == EINTR) {
  }
  kill(-pid, SIGKILL);  // anything the child left running in its group
  r.wall_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  r.maxrss_kib = ru.ru_maxrss;
  if (WIFSIGNALED(status)) r.signal = WTERMSIG(status);
  else if (WIFEXITED(status)) r.exit_code = WEXITSTATUS(status);
  return r;
}

}  // namespace sy::harness
