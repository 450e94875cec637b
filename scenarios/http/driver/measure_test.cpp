// Whole measurements against nginx and our own server (skipped when a program is missing)
// that must leave no process behind, the reasons for skipping, and the parameters of each
// kind of server.
#include "measure.h"

#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "common.h"
#include "procfs.h"
#include "self_exe.h"

#include <gtest/gtest.h>

namespace sy::http::driver {
namespace {

using nlohmann::json;

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

// Our own server (its threads taskmaster: no variant needed) through the whole protocol:
// the LISTENING line, wrk, the JSON result when stopped by SIGTERM.
TEST(Measure, OurServerUnderWrk) {
  const std::string server = std::filesystem::path(scenarios::self_exe()).parent_path() / "switchyard_http_server";
  if (access(server.c_str(), X_OK) != 0) GTEST_SKIP() << server << " is not built";
  if (find_program("wrk").empty()) GTEST_SKIP() << "wrk is not installed";
  scenarios::Outcome o = measure({"threads", ""}, params(20, "load"), 1);
  ASSERT_EQ(o.status, "ok") << o.reason;
  EXPECT_GT(o.metrics["requests_per_s"].samples.at(0), 100);
  EXPECT_EQ(o.metrics["socket_errors_connect"].samples.at(0), 0);
  EXPECT_EQ(o.params["taskmaster"], "threads");
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
}  // namespace sy::http::driver
