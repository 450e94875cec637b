// Tests of the process library: what the harness relies on (run_child: output, exit
// status, the stderr tail, the timeout that kills the whole group) and what the HTTP driver
// relies on (Child: stderr into a file, a bounded reap, death with the starting thread).
#include "process.h"

#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>

#include <gtest/gtest.h>

namespace sy::harness {
namespace {

using Clock = std::chrono::steady_clock;

// True when pid has gone (or is a zombie nobody reaps yet), waiting at most timeout_s.
bool gone_within(pid_t pid, double timeout_s) {
  const auto t0 = Clock::now();
  for (;;) {
    std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
    std::string text((std::istreambuf_iterator<char>(stat)), {});
    if (text.empty()) return true;
    const auto paren = text.rfind(')');
    if (paren != std::string::npos && text.size() > paren + 2 && text[paren + 2] == 'Z') return true;
    if (std::chrono::duration<double>(Clock::now() - t0).count() > timeout_s) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));  // polling /proc: no event to wait on
  }
}

TEST(RunChild, CapturesOutputExitCodeAndPeakMemory) {
  ChildResult r = run_child({"/bin/sh", "-c", "echo out; echo err >&2; exit 3"}, 30);
  EXPECT_EQ(r.out, "out\n");
  EXPECT_EQ(r.err, "err\n");
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_EQ(r.signal, 0);
  EXPECT_FALSE(r.timed_out);
  EXPECT_GT(r.maxrss_kib, 0);
  EXPECT_EQ(r.describe_failure(30), "exit code 3; stderr: err");
}

TEST(RunChild, KeepsTheLastBytesOfStderrAndAllOfStdout) {
  // 200,000 bytes on each: stdout whole, stderr its last 8 KiB ending with the marker.
  ChildResult r = run_child(
      {"/bin/sh", "-c", "head -c 200000 /dev/zero | tr '\\0' x; head -c 200000 /dev/zero | tr '\\0' y >&2; echo END >&2"},
      30);
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_EQ(r.out.size(), 200000u);
  EXPECT_EQ(r.err.size(), 8192u);
  EXPECT_EQ(r.err.substr(r.err.size() - 4), "END\n");
}

TEST(RunChild, NamesTheSignal) {
  ChildResult r = run_child({"/bin/sh", "-c", "kill -SEGV $$"}, 30);
  EXPECT_EQ(r.signal, SIGSEGV);
  EXPECT_NE(r.describe_failure(30).find("killed by signal 11 (SIGSEGV)"), std::string::npos) << r.describe_failure(30);
}

TEST(RunChild, SaysWhyAProgramCannotRun) {
  ChildResult r = run_child({"/nonexistent/program"}, 30);
  EXPECT_EQ(r.exit_code, 127);
  EXPECT_NE(r.err.find("cannot execute /nonexistent/program"), std::string::npos) << r.err;
}

TEST(RunChild, TimeoutKillsTheWholeGroup) {
  // The grandchild holds the pipes open: run_child returns only once the group is gone.
  const auto t0 = Clock::now();
  ChildResult r = run_child({"/bin/sh", "-c", "sleep 30 & echo $!; wait"}, 0.5);
  const double took = std::chrono::duration<double>(Clock::now() - t0).count();
  EXPECT_TRUE(r.timed_out);
  EXPECT_EQ(r.signal, SIGKILL);
  EXPECT_LT(took, 10);
  EXPECT_NE(r.describe_failure(0.5).find("timed out"), std::string::npos);
  const pid_t grandchild = static_cast<pid_t>(std::atoi(r.out.c_str()));
  ASSERT_GT(grandchild, 0) << r.out;
  EXPECT_TRUE(gone_within(grandchild, 5));
}

TEST(Child, StderrIntoAFileAndABoundedReap) {
  const std::string path = ::testing::TempDir() + "/process_test.stderr";
  SpawnOptions o;
  o.stderr_path = path;
  Child c = Child::spawn({"/bin/sh", "-c", "echo to-file >&2; echo LISTENING 1; exec sleep 30"}, o);
  while (c.out().find('\n') == std::string::npos && !c.output_closed()) c.wait_output(100);
  EXPECT_EQ(c.out(), "LISTENING 1\n");
  EXPECT_FALSE(c.try_reap());
  EXPECT_FALSE(c.reap_within(0.1));
  c.kill(SIGTERM);
  ASSERT_TRUE(c.reap_within(10));
  EXPECT_TRUE(WIFSIGNALED(c.status()));
  EXPECT_EQ(WTERMSIG(c.status()), SIGTERM);
  EXPECT_EQ(describe_wait_status(c.status()), "killed by signal 15 (SIGTERM)");
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  EXPECT_EQ(text.str(), "to-file\n");
}

TEST(Child, DiesWithTheProcessThatStartedIt) {
  // A helper process starts the program, reports its pid and exits without stopping it.
  int p[2];
  ASSERT_EQ(pipe(p), 0);
  const pid_t helper = fork();
  ASSERT_GE(helper, 0);
  if (helper == 0) {
    SpawnOptions o;
    o.die_with_parent = true;
    Child c = Child::spawn({"sleep", "30"}, o);
    const pid_t pid = c.pid();
    (void)!write(p[1], &pid, sizeof pid);
    _exit(0);
  }
  close(p[1]);
  pid_t program = 0;
  ASSERT_EQ(read(p[0], &program, sizeof program), static_cast<ssize_t>(sizeof program));
  close(p[0]);
  waitpid(helper, nullptr, 0);
  EXPECT_TRUE(gone_within(program, 5));
  if (!gone_within(program, 0)) kill(program, SIGKILL);
}

TEST(Child, OwnGroupIsKilledWhole) {
  SpawnOptions o;
  o.own_group = true;
  Child c = Child::spawn({"/bin/sh", "-c", "sleep 30 & echo $!; wait"}, o);
  while (c.out().find('\n') == std::string::npos && !c.output_closed()) c.wait_output(100);
  const pid_t grandchild = static_cast<pid_t>(std::atoi(c.out().c_str()));
  ASSERT_GT(grandchild, 0) << c.out();
  EXPECT_EQ(getpgid(c.pid()), c.pid());
  c.kill(SIGKILL);
  c.reap();
  EXPECT_EQ(WTERMSIG(c.status()), SIGKILL);
  EXPECT_TRUE(gone_within(grandchild, 5));
}

TEST(FindProgram, SearchesPathThenTheExtraFolders) {
  EXPECT_EQ(find_program("sh", {}).empty(), false);
  EXPECT_EQ(find_program("no-such-program-here", {"/bin", "/usr/bin"}), "");
  const std::string old_path = std::getenv("PATH") ? std::getenv("PATH") : "";
  setenv("PATH", "", 1);
  EXPECT_EQ(find_program("sh"), "");
  EXPECT_EQ(find_program("sh", {"/nonexistent", "/bin"}), "/bin/sh");
  setenv("PATH", "/nonexistent::/bin", 1);
  EXPECT_EQ(find_program("sh"), "/bin/sh");
  setenv("PATH", old_path.c_str(), 1);
}

}  // namespace
}  // namespace sy::harness
