// nginx's generated configuration: what the scenario asks of it, and nginx -t accepts it
// (skipped when nginx is not installed).
#include "nginx.h"

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "common.h"

#include <gtest/gtest.h>

namespace sy::http::driver {
namespace {

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

}  // namespace
}  // namespace sy::http::driver
