// /proc sampling: the parsers it trusts and the tree of a process with a grandchild.
#include "procfs.h"

#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace sy::http::driver {
namespace {

TEST(ProcParse, StatusFields) {
  const std::string text =
      "Name:\tnginx\nState:\tS (sleeping)\nVmPeak:\t  20000 kB\nVmSize:\t   12345 kB\nVmRSS:\t    678 kB\n"
      "VmPTE:\t      52 kB\nThreads:\t3\n";
  auto s = parse_proc_status(text);
  ASSERT_TRUE(s);
  EXPECT_EQ(s->vm_kib, 12345);
  EXPECT_EQ(s->rss_kib, 678);
  EXPECT_EQ(s->pte_kib, 52);
  EXPECT_EQ(s->threads, 3);
  // A zombie has no Vm* lines: not a sample of zero memory.
  EXPECT_FALSE(parse_proc_status("Name:\tx\nState:\tZ (zombie)\nThreads:\t1\n"));
  EXPECT_FALSE(parse_proc_status(""));
}

TEST(ProcParse, StatCountsFieldsAfterTheLastParenthesis) {
  // comm may hold spaces and ')': "(a) b))". utime = 14th field (700), stime = 15th (11).
  const std::string text = "4242 (a) b)) S 17 4242 4242 0 -1 4194560 100 0 0 0 700 11 0 0 20 0 3 0";
  auto st = parse_proc_stat(text);
  ASSERT_TRUE(st);
  EXPECT_EQ(st->ppid, 17);
  EXPECT_EQ(st->cpu_ticks, 711);
  EXPECT_FALSE(parse_proc_stat("4242 no parenthesis"));
  EXPECT_FALSE(parse_proc_stat("4242 (x) S 1 2"));  // truncated
}

TEST(ProcParse, TreeFindsGrandchildrenAndSamplesThem) {
  pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    if (fork() == 0) {
      sleep(30);
      _exit(0);
    }
    sleep(30);
    _exit(0);
  }
  std::vector<pid_t> tree;
  for (int i = 0; i < 200 && tree.size() < 2; ++i) {
    usleep(10000);
    tree = process_tree(child);
  }
  ASSERT_EQ(tree.size(), 2u);
  EXPECT_EQ(tree[0], child);
  auto s = sample_processes(tree);
  ASSERT_TRUE(s);
  EXPECT_EQ(s->status.threads, 2);
  EXPECT_GT(s->status.rss_kib, 0);
  for (pid_t p : tree) kill(p, SIGKILL);
  waitpid(child, nullptr, 0);
  EXPECT_TRUE(process_tree(child).empty());
  auto me = sample_processes({getpid()});
  ASSERT_TRUE(me);
  EXPECT_GE(me->status.threads, 1);
}

}  // namespace
}  // namespace sy::http::driver
