#include "process.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <sched.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <chrono>
#include <cstring>
#include <stdexcept>
#include <utility>

namespace sy::harness {

volatile std::sig_atomic_t g_interrupted = 0;

namespace {

void on_sigint(int) { g_interrupted = 1; }
constexpr std::size_t kErrKeep = 8192;
using Clock = std::chrono::steady_clock;

double since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

std::string signal_text(int sig) {
  const char* abbrev = sigabbrev_np(sig);
  return "killed by signal " + std::to_string(sig) + " (SIG" + (abbrev ? abbrev : "?") + ")";
}

void close_fd(int& fd) {
  if (fd >= 0) close(fd);
  fd = -1;
}

}  // namespace

void install_sigint_handler() {
  struct sigaction sa{};
  sa.sa_handler = on_sigint;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = 0;  // no SA_RESTART: poll() returns EINTR and the loop notices
  sigaction(SIGINT, &sa, nullptr);
}

std::string describe_wait_status(int status) {
  if (WIFSIGNALED(status)) return signal_text(WTERMSIG(status));
  return "exit code " + std::to_string(WEXITSTATUS(status));
}

std::string find_program(const std::string& name, const std::vector<std::string>& extra_dirs) {
  std::vector<std::string> dirs;
  if (const char* path = std::getenv("PATH")) {
    for (const char *at = path, *end; *at; at = *end ? end + 1 : end) {
      end = std::strchr(at, ':');
      if (!end) end = at + std::strlen(at);
      if (end > at) dirs.emplace_back(at, end);
    }
  }
  dirs.insert(dirs.end(), extra_dirs.begin(), extra_dirs.end());
  for (const auto& d : dirs) {
    const std::string p = d + "/" + name;
    if (access(p.c_str(), X_OK) == 0) return p;
  }
  return "";
}

// ------------------------------------------------------------------ Child

Child Child::spawn(const std::vector<std::string>& argv, const SpawnOptions& o) {
  if (argv.empty()) throw std::runtime_error("spawn: no program given");
  int out[2] = {-1, -1}, err[2] = {-1, -1};
  auto close_all = [&] {
    for (int* fd : {&out[0], &out[1], &err[0], &err[1]}) close_fd(*fd);
  };
  if (pipe2(out, O_CLOEXEC) != 0) throw std::runtime_error(std::string("pipe: ") + std::strerror(errno));
  if (o.stderr_path.empty()) {
    if (pipe2(err, O_CLOEXEC) != 0) {
      const int e = errno;
      close_all();
      throw std::runtime_error(std::string("pipe: ") + std::strerror(e));
    }
  } else {
    err[1] = open(o.stderr_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (err[1] < 0) {
      const int e = errno;
      close_all();
      throw std::runtime_error("open " + o.stderr_path + ": " + std::strerror(e));
    }
  }
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);

  // Built before fork: the child only makes the system call.
  cpu_set_t cpus;
  CPU_ZERO(&cpus);
  for (int c : o.cpus)
    if (c >= 0 && c < CPU_SETSIZE) CPU_SET(c, &cpus);
  const pid_t parent = getpid();
  const pid_t pid = fork();
  if (pid < 0) {
    const int e = errno;
    close_all();
    throw std::runtime_error(std::string("fork: ") + std::strerror(e));
  }
  if (pid == 0) {
    if (o.die_with_parent) {
      prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (getppid() != parent) _exit(127);  // the parent died before prctl took effect
    }
    if (o.own_group) setpgid(0, 0);
    if (!o.cpus.empty() && sched_setaffinity(0, sizeof cpus, &cpus) != 0) {
      dprintf(err[1], "cannot pin %s to its CPUs: %s\n", args[0], std::strerror(errno));
      _exit(127);
    }
    dup2(out[1], 1);
    dup2(err[1], 2);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    signal(SIGINT, SIG_DFL);
    signal(SIGPIPE, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    execvp(args[0], args.data());
    dprintf(2, "cannot execute %s: %s\n", args[0], std::strerror(errno));
    _exit(127);
  }
  // Also here: whichever runs first, the group exists before anyone signals it.
  if (o.own_group) setpgid(pid, pid);
  close_fd(out[1]);
  close_fd(err[1]);
  Child c;
  c.pid_ = pid;
  c.own_group_ = o.own_group;
  c.out_fd_ = out[0];
  c.err_fd_ = err[0];
  c.err_keep_ = o.err_keep;
  for (int fd : {c.out_fd_, c.err_fd_})
    if (fd >= 0) fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
  return c;
}

Child& Child::operator=(Child&& o) noexcept {
  if (this == &o) return *this;
  close_output();
  pid_ = std::exchange(o.pid_, -1);
  own_group_ = o.own_group_;
  out_fd_ = std::exchange(o.out_fd_, -1);
  err_fd_ = std::exchange(o.err_fd_, -1);
  err_keep_ = o.err_keep_;
  out_ = std::move(o.out_);
  err_ = std::move(o.err_);
  reaped_ = o.reaped_;
  status_ = o.status_;
  maxrss_kib_ = o.maxrss_kib_;
  return *this;
}

void Child::read_pipe(int& fd, std::string& into, std::size_t keep) {
  char buf[65536];
  while (fd >= 0) {
    const ssize_t n = read(fd, buf, sizeof buf);
    if (n > 0) {
      into.append(buf, static_cast<std::size_t>(n));
      // Trimmed in steps of `keep`, not per read, so a chatty program costs no quadratic copying.
      if (keep > 0 && into.size() > 2 * keep) into.erase(0, into.size() - keep);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) return;
    close_fd(fd);  // the end, or an error that reading again would repeat
  }
}

void Child::drain() {
  read_pipe(out_fd_, out_, 0);
  read_pipe(err_fd_, err_, err_keep_);
}

void Child::wait_output(int timeout_ms) {
  pollfd fds[2];
  nfds_t n = 0;
  for (int fd : {out_fd_, err_fd_})
    if (fd >= 0) fds[n++] = {fd, POLLIN, 0};
  poll(n ? fds : nullptr, n, timeout_ms);  // EINTR: drained below, and the caller's loop looks again
  drain();
}

void Child::close_output() {
  close_fd(out_fd_);
  close_fd(err_fd_);
}

void Child::kill(int sig) const {
  if (pid_ <= 0) return;
  ::kill(own_group_ ? -pid_ : pid_, sig);
}

bool Child::try_reap() {
  if (reaped_) return true;
  int st = 0;
  if (waitpid(pid_, &st, WNOHANG) != pid_) return false;
  reaped_ = true;
  status_ = st;
  return true;
}

bool Child::reap_within(double timeout_s) {
  const auto t0 = Clock::now();
  for (;;) {
    drain();
    int st = 0;
    const pid_t r = waitpid(pid_, &st, WNOHANG);
    if (r == pid_ || (r < 0 && errno != EINTR)) {
      reaped_ = true;
      status_ = r == pid_ ? st : 0;
      return true;
    }
    if (since(t0) >= timeout_s) return false;
    wait_output(20);  // waitpid has no timeout to block on: look again every 20 ms
  }
}

void Child::reap() {
  if (reaped_) return;
  int st = status_;
  rusage ru{};
  pid_t r;
  while ((r = wait4(pid_, &st, 0, &ru)) < 0 && errno == EINTR) {
  }
  reaped_ = true;
  if (r == pid_) {
    status_ = st;
    maxrss_kib_ = ru.ru_maxrss;
  }
}

// ------------------------------------------------------------------ run_child

std::string ChildResult::describe_failure(double timeout_s) const {
  std::string what;
  if (interrupted) what = "interrupted (SIGINT) before it finished";
  else if (timed_out) what = "timed out after " + std::to_string(static_cast<long>(timeout_s)) + " s (killed)";
  else if (signal) what = signal_text(signal);
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
  const auto t0 = Clock::now();
  Child c;
  try {
    SpawnOptions o;
    o.own_group = true;  // Ctrl-C reaches only the harness, which decides; a timeout kills all
    o.err_keep = kErrKeep;
    c = Child::spawn(argv, o);
  } catch (const std::runtime_error& e) {
    r.err = e.what();
    r.exit_code = 127;
    return r;
  }
  bool killed = false;
  while (!c.output_closed()) {
    if (!killed && (g_interrupted || since(t0) > timeout_s)) {
      (g_interrupted ? r.interrupted : r.timed_out) = true;
      c.kill(SIGKILL);
      killed = true;
    }
    c.wait_output(100);
  }
  c.reap();
  c.kill(SIGKILL);  // anything the child left running in its group
  r.wall_s = since(t0);
  r.out = c.out();
  r.err = c.err();
  if (r.err.size() > kErrKeep) r.err.erase(0, r.err.size() - kErrKeep);
  r.maxrss_kib = c.maxrss_kib();
  if (WIFSIGNALED(c.status())) r.signal = WTERMSIG(c.status());
  else if (WIFEXITED(c.status())) r.exit_code = WEXITSTATUS(c.status());
  return r;
}

std::vector<int> affinity_cpus() {
  cpu_set_t set;
  CPU_ZERO(&set);
  std::vector<int> out;
  if (sched_getaffinity(0, sizeof set, &set) != 0) return out;
  for (int c = 0; c < CPU_SETSIZE; ++c)
    if (CPU_ISSET(c, &set)) out.push_back(c);
  return out;
}

}  // namespace sy::harness
