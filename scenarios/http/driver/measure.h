// The load driver of scenario `http`: starts one HTTP server on 127.0.0.1 with an
// ephemeral port, drives it with wrk, samples the server's processes in /proc, holds idle
// keep-alive connections for the memory measurement, and stops everything it started.
//
// It runs inside `switchyard child --scenario http ...` (a fresh process in its own process
// group, killed whole by the harness on timeout), so servers and wrk stay in that group.
// It needs nothing of the runtime: its tests build in seconds (http_load_driver_test).
//
// Its parts, one job each:
//   measure.h         this: what is measured, and the measurement of one entry
//   server_process.h  process control: a server started, checked and stopped
//   wrk.h             wrk: one run, its Lua report and its parser
//   nginx.h           nginx's generated configuration
//   procfs.h          /proc sampling of the server's processes
//   idle_clients.h    idle keep-alive clients (and the check of an answer to GET /)
// Programs are started through the suite's process library (harness/process.h).
//
// Servers measured (Who):
//   fibers     switchyard_http_server --taskmaster fibers --variant V (one fiber per connection)
//   threads    switchyard_http_server --taskmaster threads (one OS thread per connection)
//   eventloop  switchyard_http_server --taskmaster eventloop (epoll loops, no fibers)
//   go         go_peer --scenario http (Go's net/http)
//   asio       asio_peer --scenario http (Boost.Beast on C++20 coroutines, an io_context per thread)
//   nginx      Debian's nginx, configuration generated into a temporary folder
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "scenario.h"

namespace sy::http::driver {

struct Who {
  std::string kind;     // fibers | threads | eventloop | go | asio | nginx
  std::string variant;  // kind == fibers: the runtime variant
};

// The whole measurement of one entry: mode "load" (wrk at `connections`) or "idle"
// (`connections` idle keep-alive connections, memory per connection). Skipped with the
// reason when a program is missing or the machine's limits do not allow it; throws
// std::runtime_error when the server misbehaves (the child reports `failed`).
scenarios::Outcome measure(const Who& who, const nlohmann::json& params, int repetitions);

// The parameters that apply to a kind of server (what its entries record).
std::vector<std::string_view> params_for(std::string_view kind);

}  // namespace sy::http::driver
