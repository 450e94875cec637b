// nginx's configuration, generated into a measurement's temporary folder.
#pragma once

#include <cstdint>
#include <string>

namespace sy::http::driver {

struct NginxConfig {
  std::string dir;  // pid file, error log and temp paths live here
  std::uint16_t port = 0;
  int workers = 1;
  int worker_connections = 1024;
  int rlimit_nofile = 1024;
  int backlog = 511;
};
std::string nginx_config(const NginxConfig& c);

// A port nobody listens on now (bind 127.0.0.1:0, read it, close). For servers that cannot
// report the port they bound (nginx); a lost race shows as a failed start and is retried.
std::uint16_t pick_free_port();

}  // namespace sy::http::driver
