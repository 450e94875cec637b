// Scenario `http` (design section 13): "Hello, World!" over keep-alive connections
// under wrk, for every taskmaster of our server and for Go's net/http and nginx; and, in
// mode=idle, the server's memory per idle connection. The measuring is done by the load
// driver (driver/measure.h) inside `switchyard child`; servers are separate processes.
//
// Entries: one per (server, connections). Variants are our server's fiber-per-connection
// taskmaster on that variant; the peers `threads` and `eventloop` are our server's other
// taskmasters; `go` is go_peer's net/http server; `asio` is asio_peer's Boost.Beast server
// on C++20 coroutines; `nginx` is Debian's nginx.
#include "driver/measure.h"
#include "scenario.h"

namespace sy::scenarios {
namespace {

Outcome run_variant(std::string_view variant, const nlohmann::json& params, int repetitions) {
  return http::driver::measure({"fibers", std::string(variant)}, params, repetitions);
}

Outcome run_peer(std::string_view peer, const nlohmann::json& params, int repetitions) {
  for (auto kind : {"threads", "eventloop", "go", "asio", "nginx"})
    if (peer == kind) return http::driver::measure({std::string(peer), ""}, params, repetitions);
  return Outcome::skipped("the " + std::string(peer) + " peer has no HTTP server");
}

}  // namespace

extern const Scenario kHttp;
const Scenario kHttp = [] {
  Scenario s;
  s.name = "http";
  s.summary = "HTTP Hello, World! under wrk (taskmasters, Go, Asio/Beast, nginx); mode=idle: memory per idle connection";
  s.params = {
      {"connections", "keep-alive connections (wrk -c), or idle connections held in mode=idle", 100, 1, 1000000},
      {"mode", "load: requests/s and latency under wrk; idle: memory per idle connection", "load", 0, 0,
       {"load", "idle"}},
      {"duration_s", "seconds of each wrk run (one run per repetition, after a 1 s warm-up)", 10, 1, 3600},
      {"wrk_threads", "wrk -t (at most the connections)", 2, 1, 256},
      {"carriers", "carriers of the fiber and event-loop servers; GOMAXPROCS for Go; io_context threads for asio", 2, 1, 1024},
      {"registration", "fiber server's epoll registration", "persistent", 0, 0, {"oneshot", "persistent", "level"}},
      {"io_backend", "fiber server's poller", "epoll", 0, 0, {"epoll", "poll"}},
      {"workers", "nginx worker processes", 1, 1, 64},
  };
  s.peers = {"threads", "eventloop", "go", "asio", "nginx"};
  s.run = run_variant;
  s.run_peer = run_peer;
  s.variant_params = http::driver::params_for("fibers");
  for (auto peer : s.peers) s.peer_params.emplace_back(peer, http::driver::params_for(peer));
  return s;
}();

}  // namespace sy::scenarios
