// Tests of the http scenario's load driver: the parsers it trusts (/proc, wrk's line, HTTP
// responses), the idle client against a tiny server in this process, nginx's generated
// configuration, and whole measurements against nginx (skipped when nginx or wrk is not
// installed) that must leave no process behind.
#include "measure.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

namespace sy::http_driver {
namespace {

using nlohmann::json;

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

TEST(WrkParse, ReadsTheScriptsLine) {
  const std::string out =
      "Running 1s test @ http://127.0.0.1:1/\n  2 threads and 10 connections\nRequests/sec: 100\n"
      "SWITCHYARD_WRK {\"duration_us\":2000000,\"requests\":5000,\"bytes\":100,\"connect\":1,\"read\":2,"
      "\"write\":3,\"status\":4,\"timeout\":5,\"p50_us\":10,\"p90_us\":20,\"p99_us\":30,\"max_us\":40,"
      "\"mean_us\":12.5}\n";
  WrkResult r = parse_wrk_output(out);
  EXPECT_DOUBLE_EQ(r.duration_s, 2.0);
  EXPECT_EQ(r.requests, 5000);
  EXPECT_EQ(r.err_connect, 1);
  EXPECT_EQ(r.err_read, 2);
  EXPECT_EQ(r.err_write, 3);
  EXPECT_EQ(r.err_status, 4);
  EXPECT_EQ(r.err_timeout, 5);
  EXPECT_DOUBLE_EQ(r.p50_us, 10);
  EXPECT_DOUBLE_EQ(r.p90_us, 20);
  EXPECT_DOUBLE_EQ(r.p99_us, 30);
  EXPECT_DOUBLE_EQ(r.max_us, 40);
}

TEST(WrkParse, RejectsMissingOrBrokenResults) {
  EXPECT_THROW(parse_wrk_output("Requests/sec: 100\n"), std::runtime_error);
  EXPECT_THROW(parse_wrk_output("SWITCHYARD_WRK {\"duration_us\":\n"), std::runtime_error);
  EXPECT_THROW(parse_wrk_output("SWITCHYARD_WRK {\"duration_us\":1000}\n"), std::runtime_error);  // fields missing
  const std::string zero_time =
      "SWITCHYARD_WRK {\"duration_us\":0,\"requests\":0,\"bytes\":0,\"connect\":0,\"read\":0,\"write\":0,"
      "\"status\":0,\"timeout\":0,\"p50_us\":0,\"p90_us\":0,\"p99_us\":0,\"max_us\":0,\"mean_us\":0}\n";
  EXPECT_THROW(parse_wrk_output(zero_time), std::runtime_error);
  try {
    parse_wrk_output("nothing\n");
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("done() hook"), std::string::npos) << e.what();
  }
}

TEST(HelloResponse, AcceptsOnlyTheWholeRightAnswer) {
  std::string why;
  const std::string ok = "HTTP/1.1 200 OK\r\ncontent-length: 13\r\nServer: x\r\n\r\nHello, World!";
  EXPECT_EQ(check_hello_response(ok, &why), 1);
  EXPECT_EQ(check_hello_response(ok.substr(0, ok.size() - 1), &why), 0);  // body incomplete
  EXPECT_EQ(check_hello_response("HTTP/1.1 200 OK\r\nContent-Len", &why), 0);
  EXPECT_EQ(check_hello_response("HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n", &why), -1);
  EXPECT_NE(why.find("404"), std::string::npos);
  EXPECT_EQ(check_hello_response("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nHello", &why), -1);
  EXPECT_EQ(check_hello_response("HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nHello, World!", &why), -1);
  EXPECT_NE(why.find("Content-Length"), std::string::npos);
  EXPECT_EQ(check_hello_response(ok + "extra", &why), -1);
}

// A tiny server: answers each connection's first request with `response` and keeps the
// connection open until stopped.
class TinyServer {
 public:
  explicit TinyServer(std::string response) : response_(std::move(response)) {
    lfd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    socklen_t len = sizeof a;
    EXPECT_EQ(bind(lfd_, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    EXPECT_EQ(listen(lfd_, 4096), 0);
    getsockname(lfd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    thread_ = std::thread([this] { serve(); });
  }
  ~TinyServer() {
    stop_ = true;
    thread_.join();
    close(lfd_);
    for (auto& p : fds_) close(p.fd);
  }
  std::uint16_t port() const { return port_; }

 private:
  void serve() {
    while (!stop_) {
      std::vector<pollfd> pf = {{lfd_, POLLIN, 0}};
      pf.insert(pf.end(), fds_.begin(), fds_.end());
      if (poll(pf.data(), pf.size(), 20) <= 0) continue;
      if (pf[0].revents & POLLIN) {
        int c = accept4(lfd_, nullptr, nullptr, SOCK_CLOEXEC);
        if (c >= 0) fds_.push_back({c, POLLIN, 0});
      }
      for (std::size_t i = 1; i < pf.size(); ++i) {
        if (!(pf[i].revents & POLLIN)) continue;
        char buf[512];
        if (read(pf[i].fd, buf, sizeof buf) > 0) (void)!write(pf[i].fd, response_.data(), response_.size());
        fds_[i - 1].events = 0;  // one request per connection, then idle
      }
    }
  }
  std::string response_;
  int lfd_ = -1;
  std::uint16_t port_ = 0;
  std::vector<pollfd> fds_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

TEST(IdleClients, HoldsEveryConnectionAfterItsResponse) {
  TinyServer s("HTTP/1.1 200 OK\r\nContent-Length: 13\r\n\r\nHello, World!");
  IdleClients c(s.port(), 300, 20.0, 50);
  EXPECT_EQ(c.idle(), 300) << c.first_error();
  EXPECT_EQ(c.failed(), 0);
  EXPECT_EQ(c.unfinished(), 0);
}

TEST(IdleClients, CountsWrongAnswersAndRefusals) {
  {
    TinyServer s("HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n");
    IdleClients c(s.port(), 5, 10.0);
    EXPECT_EQ(c.idle(), 0);
    EXPECT_EQ(c.failed(), 5);
    EXPECT_NE(c.first_error().find("404"), std::string::npos) << c.first_error();
  }
  IdleClients refused(pick_free_port(), 3, 5.0);
  EXPECT_EQ(refused.failed(), 3);
  EXPECT_NE(refused.first_error().find("refused"), std::string::npos) << refused.first_error();
}

TEST(IdleClients, StopsAtTheDeadline) {
  // A server that accepts (the kernel does) but never answers.
  int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
  socklen_t len = sizeof a;
  ASSERT_EQ(bind(l, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  ASSERT_EQ(listen(l, 64), 0);
  getsockname(l, reinterpret_cast<sockaddr*>(&a), &len);
  const auto t0 = std::chrono::steady_clock::now();
  IdleClients c(ntohs(a.sin_port), 4, 0.5);
  const double took = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_LT(took, 3.0);
  EXPECT_EQ(c.idle(), 0);
  EXPECT_EQ(c.unfinished(), 4);
  close(l);
}

TEST(Nginx, ConfigurationHasWhatTheIssueAsksAndNginxAcceptsIt) {
  NginxConfig cfg;
  cfg.dir = ::testing::TempDir() + "/nginx-cfg-test";
  std::filesystem::create_directories(cfg.dir);
  cfg.port = pick_free_port();
  cfg.workers = 2;
  cfg.worker_connections = 10256;
  cfg.rlimit_nofile = 20000;
  cfg.backlog = 4096;
  const std::string text = nginx_config(cfg);
  for (const char* want : {"daemon off;", "master_process on;", "worker_processes 2;", "worker_connections 10256;",
                           "default_type text/plain;", "return 200 \"Hello, World!\";", "backlog=4096",
                           "keepalive_requests", "worker_rlimit_nofile 20000;"})
    EXPECT_NE(text.find(want), std::string::npos) << want;
  EXPECT_NE(text.find("pid " + cfg.dir + "/nginx.pid;"), std::string::npos);
  const std::string nginx = find_program("nginx", {"/usr/sbin"});
  if (nginx.empty()) GTEST_SKIP() << "nginx is not installed";
  std::ofstream(cfg.dir + "/nginx.conf") << text;
  const std::string cmd = nginx + " -t -q -p " + cfg.dir + "/ -c " + cfg.dir + "/nginx.conf -e stderr 2>&1";
  EXPECT_EQ(std::system(cmd.c_str()), 0) << cmd;
}

json params(int connections, const std::string& mode) {
  return {{"connections", connections}, {"mode", mode}, {"duration_s", 1}, {"wrk_threads", 2},
          {"carriers", 2}, {"registration", "oneshot"}, {"io_backend", "epoll"}, {"workers", 2}};
}

bool no_children_left() {
  std::vector<pid_t> t = process_tree(getpid());
  return t.size() == 1;
}

TEST(Measure, NginxUnderWrk) {
  if (find_program("nginx", {"/usr/sbin"}).empty() || find_program("wrk").empty())
    GTEST_SKIP() << "nginx or wrk is not installed";
  scenarios::Outcome o = measure({"nginx", ""}, params(20, "load"), 2);
  ASSERT_EQ(o.status, "ok") << o.reason;
  ASSERT_EQ(o.metrics["requests_per_s"].samples.size(), 2u);
  EXPECT_GT(o.metrics["requests_per_s"].samples[0], 100);
  EXPECT_GT(o.metrics["latency_p99_us"].samples[0], 0);
  EXPECT_GE(o.metrics["latency_max_us"].samples[0], o.metrics["latency_p99_us"].samples[0]);
  EXPECT_EQ(o.metrics["socket_errors_connect"].samples[0], 0);
  EXPECT_GT(o.metrics["server_cpu_s"].samples[0], 0);
  EXPECT_EQ(o.metrics["server_threads"].samples[0], 3);  // master and 2 workers, 1 thread each
  EXPECT_GT(o.metrics["server_rss_kib"].samples[0], 0);
  EXPECT_EQ(o.params["workers"], 2);
  EXPECT_FALSE(o.params.contains("carriers"));
  EXPECT_TRUE(no_children_left());
}

TEST(Measure, NginxIdleMemory) {
  if (find_program("nginx", {"/usr/sbin"}).empty()) GTEST_SKIP() << "nginx is not installed";
  scenarios::Outcome o = measure({"nginx", ""}, params(500, "idle"), 1);
  ASSERT_EQ(o.status, "ok") << o.reason;
  const double total = o.metrics["kib_per_conn"].samples.at(0);
  EXPECT_DOUBLE_EQ(total, o.metrics["rss_kib_per_conn"].samples.at(0) + o.metrics["pte_kib_per_conn"].samples.at(0) +
                              o.metrics["kstack_kib_per_conn"].samples.at(0));
  EXPECT_EQ(o.metrics["kstack_kib_per_conn"].samples.at(0), 0);  // nginx starts no thread per connection
  EXPECT_GT(total, 0);
  EXPECT_LT(total, 64);  // nginx holds an idle connection in a few KiB
  EXPECT_TRUE(no_children_left());
}

TEST(Measure, SkipsWithTheReason) {
  scenarios::Outcome too_many = measure({"nginx", ""}, params(1000000, "load"), 1);
  EXPECT_EQ(too_many.status, "skipped");
  EXPECT_NE(too_many.reason.find("RLIMIT_NOFILE"), std::string::npos) << too_many.reason;

  // Without wrk on the PATH: skipped, naming the package.
  const std::string old_path = std::getenv("PATH") ? std::getenv("PATH") : "";
  setenv("PATH", ::testing::TempDir().c_str(), 1);
  scenarios::Outcome no_wrk = measure({"go", ""}, params(10, "load"), 1);
  setenv("PATH", old_path.c_str(), 1);
  EXPECT_EQ(no_wrk.status, "skipped");
  EXPECT_NE(no_wrk.reason.find("wrk is not installed"), std::string::npos) << no_wrk.reason;
}

TEST(Measure, ParamsOfEachKind) {
  auto has = [](std::string_view kind, std::string_view p) {
    auto v = params_for(kind);
    return std::find(v.begin(), v.end(), p) != v.end();
  };
  EXPECT_TRUE(has("fibers", "registration"));
  EXPECT_TRUE(has("fibers", "carriers"));
  EXPECT_FALSE(has("fibers", "workers"));
  EXPECT_FALSE(has("threads", "carriers"));
  EXPECT_TRUE(has("go", "carriers"));
  EXPECT_TRUE(has("asio", "carriers"));  // its io_context threads
  EXPECT_FALSE(has("asio", "registration"));
  EXPECT_TRUE(has("nginx", "workers"));
  EXPECT_FALSE(has("nginx", "registration"));
  for (auto kind : {"fibers", "threads", "eventloop", "go", "asio", "nginx"}) EXPECT_TRUE(has(kind, "connections"));
}

}  // namespace
}  // namespace sy::http_driver
