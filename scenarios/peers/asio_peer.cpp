// asio_peer: what a C++ developer picks today instead of fibers. Boost.Asio with C++20
// coroutines (co_spawn, use_awaitable, awaitable<T>) and Boost.Beast for HTTP/1.1, as
// Debian ships them (Boost 1.74), used the way their examples use them.
//
//   asio_peer --scenario http --listen 127.0.0.1:0 [--param carriers=N]
//   asio_peer --scenario yield|spawn_join [--param ops=N] [--repetitions N]
//   asio_peer --list
//
// http: one io_context per thread (`carriers` threads). Thread 0 also owns the acceptor
// and hands each accepted socket to the next io_context in turn; every connection is one
// coroutine (co_spawn(..., detached)) on its context, looping: beast::http::async_read
// into a request_parser, answer, beast::http::async_write. "/" answers "Hello, World!"
// (text/plain, 13 bytes) whatever the method, as Go's mux does; "/sleep?ms=N" waits on a
// steady_timer first; anything else is 404. Keep-alive as the request asks. A request
// Beast rejects gets 400 "Bad Request: <Beast's error>" and a close, so the hostile-input
// cases show what Beast parses for us (hostile_inputs.py records the answers).
// Shutdown as the other HTTP peers: "LISTENING <port>" on stdout once listening; on
// SIGTERM or SIGINT it stops accepting, closes idle connections, lets requests in flight
// finish (at most 5 s), then prints its JSON result and exits 0.
//
// yield: two coroutines on one io_context (one thread) each `co_await post(ex,
// use_awaitable)` in a loop: Asio's way to give the thread to the next ready handler.
// spawn_join: `co_await co_spawn(ex, empty(), use_awaitable)`, one at a time.
// Asio 1.74 has no channel (experimental::channel came in 1.80), no async mutex and no way
// to await several coroutines at once (experimental::make_parallel_group, 1.80): channel,
// mutex and skynet are skipped with that reason.
#include <utility>  // g++ 12: boost/asio/awaitable.hpp uses std::exchange without including it

#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/version.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/version.hpp>
#include <boost/version.hpp>

#include <atomic>
#include <charconv>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <fstream>
#include <list>
#include <memory>
#include <mutex>
#include <thread>

#include "peer_main.h"

namespace {

using namespace switchyard::peers;
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using asio::ip::tcp;
using Clock = std::chrono::steady_clock;

std::string boost_version() {
  return std::to_string(BOOST_VERSION / 100000) + "." + std::to_string(BOOST_VERSION / 100 % 1000) + "." +
         std::to_string(BOOST_VERSION % 100);
}

std::string version_note() {
  return "Boost " + boost_version() + " (Asio " + std::to_string(BOOST_ASIO_VERSION / 100000) + "." +
         std::to_string(BOOST_ASIO_VERSION / 100 % 1000) + "." + std::to_string(BOOST_ASIO_VERSION % 100) +
         ", Beast " + std::to_string(BOOST_BEAST_VERSION) + "), C++20 coroutines: co_spawn, use_awaitable";
}

double ns_since(Clock::time_point start) {
  return std::chrono::duration<double, std::nano>(Clock::now() - start).count();
}

// ---- yield and spawn_join ----------------------------------------------------------------

asio::awaitable<void> poster(std::int64_t rounds) {
  auto ex = co_await asio::this_coro::executor;
  for (std::int64_t i = 0; i < rounds; ++i) co_await asio::post(ex, asio::use_awaitable);
}

Plan prepare_yield(Params& params) {
  params.integer("carriers", 1, 1, 1);
  const std::int64_t yields = params.integer("ops", 200'000, 2, 1'000'000'000) / 2 * 2;
  Plan plan;
  plan.notes.push_back(version_note());
  plan.notes.push_back(
      "one io_context run by one thread; two coroutines each co_await asio::post(executor, use_awaitable) in "
      "a loop (the handler queue is FIFO, so they alternate); ns_per_yield = wall time / posts");
  plan.repetition = [yields](Report& report) {
    asio::io_context ctx(1);
    asio::co_spawn(ctx, poster(yields / 2), asio::detached);
    asio::co_spawn(ctx, poster(yields / 2), asio::detached);
    const auto start = Clock::now();
    ctx.run();
    report.metric("ns_per_yield", "ns", ns_since(start) / double(yields));
  };
  return plan;
}

asio::awaitable<void> empty() { co_return; }

asio::awaitable<void> spawn_joiner(std::int64_t ops, double* ns) {
  auto ex = co_await asio::this_coro::executor;
  const auto start = Clock::now();
  for (std::int64_t i = 0; i < ops; ++i) co_await asio::co_spawn(ex, empty(), asio::use_awaitable);
  *ns = ns_since(start);
}

Plan prepare_spawn_join(Params& params) {
  params.integer("carriers", 1, 1, 1);
  const std::int64_t ops = params.integer("ops", 100'000, 1, 1'000'000'000);
  Plan plan;
  plan.notes.push_back(version_note());
  plan.notes.push_back(
      "one io_context run by one thread; co_await co_spawn(executor, empty(), use_awaitable) one at a time "
      "(a new coroutine frame, its start posted, its completion posted back to the waiter)");
  plan.repetition = [ops](Report& report) {
    asio::io_context ctx(1);
    double ns = 0;
    asio::co_spawn(ctx, spawn_joiner(ops, &ns), asio::detached);
    ctx.run();
    if (ns <= 0) throw Failed("the spawn_join coroutine did not finish");
    report.metric("ns_per_spawn_join", "ns", ns / double(ops));
  };
  return plan;
}

// ---- http --------------------------------------------------------------------------------

const std::string_view kHello = "Hello, World!";
constexpr auto kStopGrace = std::chrono::seconds(5);

// One io_context and the connections it serves. Touched only by its own thread (the
// connection list, the counters) except where said.
struct Carrier {
  struct Conn {
    tcp::socket* socket;
    bool busy = false;  // from a request's head read to its response written
  };
  std::list<Conn> conns;
  std::int64_t served = 0;
  bool stopping = false;
  // Last: destroyed first, and with it the frames of connections cut by a forced stop,
  // whose destructors still unlist themselves from `conns`.
  asio::io_context ctx{1};  // concurrency hint 1: one thread runs it, Asio may skip locking
};

std::int64_t sleep_ms_param(std::string_view target, bool* ok) {
  *ok = false;
  const auto q = target.find("?ms=");
  if (q == std::string_view::npos || target.substr(0, q) != "/sleep") return 0;
  const std::string_view digits = target.substr(q + 4);
  std::int64_t ms = 0;
  auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), ms);
  if (ec != std::errc{} || end != digits.data() + digits.size() || ms < 0 || ms > 600'000) return 0;
  *ok = true;
  return ms;
}

template <class Body>
http::response<http::string_body> make_response(const http::request<Body>& req, http::status status,
                                                 std::string body, bool keep_alive) {
  http::response<http::string_body> res{status, req.version()};
  res.set(http::field::content_type, "text/plain");
  res.keep_alive(keep_alive);
  res.body() = std::move(body);
  res.prepare_payload();
  return res;
}

asio::awaitable<void> session(tcp::socket socket, Carrier& carrier) {
  auto conn = carrier.conns.insert(carrier.conns.end(), Carrier::Conn{&socket});
  struct Unlist {
    Carrier& c;
    std::list<Carrier::Conn>::iterator it;
    ~Unlist() { c.conns.erase(it); }
  } unlist{carrier, conn};
  beast::flat_buffer buffer;
  for (;;) {
    // A fresh parser per request: Beast's defaults are 8 KiB of header and 1 MiB of body.
    http::request_parser<http::string_body> parser;
    beast::error_code ec;
    conn->busy = false;
    co_await http::async_read_header(socket, buffer, parser, asio::redirect_error(asio::use_awaitable, ec));
    conn->busy = true;
    if (!ec && !parser.is_done())
      co_await http::async_read(socket, buffer, parser, asio::redirect_error(asio::use_awaitable, ec));
    if (ec == http::error::end_of_stream || ec == asio::error::eof || ec == asio::error::connection_reset ||
        ec == asio::error::operation_aborted || ec == asio::error::bad_descriptor)
      co_return;  // the peer closed (or shutdown closed us) between requests
    if (ec) {
      // Beast refused the bytes: say so and close, as servers do with a 400.
      http::response<http::string_body> res{http::status::bad_request, 11};
      res.set(http::field::content_type, "text/plain");
      res.keep_alive(false);
      res.body() = "Bad Request: " + ec.message();
      res.prepare_payload();
      co_await http::async_write(socket, res, asio::redirect_error(asio::use_awaitable, ec));
      socket.shutdown(tcp::socket::shutdown_send, ec);
      co_return;
    }
    const auto& req = parser.get();
    const bool keep_alive = req.keep_alive();
    const std::string_view target(req.target().data(), req.target().size());
    http::response<http::string_body> res;
    bool sleep_ok = false;
    if (target == "/") {
      res = make_response(req, http::status::ok, std::string(kHello), keep_alive);
      ++carrier.served;
    } else if (target.rfind("/sleep", 0) == 0) {
      const std::int64_t ms = sleep_ms_param(target, &sleep_ok);
      if (!sleep_ok) {
        res = make_response(req, http::status::bad_request, "ms must be an integer in [0, 600000]", keep_alive);
      } else {
        asio::steady_timer timer(socket.get_executor(), std::chrono::milliseconds(ms));
        co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
        res = make_response(req, http::status::ok, std::string(kHello), keep_alive);
        ++carrier.served;
      }
    } else {
      res = make_response(req, http::status::not_found, "404 page not found", keep_alive);
    }
    // Read now: a stop that came while this request ran (a /sleep) ends the connection.
    if (carrier.stopping) res.keep_alive(false);
    co_await http::async_write(socket, res, asio::redirect_error(asio::use_awaitable, ec));
    if (ec) co_return;
    if (!res.keep_alive()) {
      socket.shutdown(tcp::socket::shutdown_send, ec);
      co_return;
    }
  }
}

asio::awaitable<void> acceptor_loop(tcp::acceptor& acceptor, std::vector<std::unique_ptr<Carrier>>& carriers,
                                    std::string& error) {
  std::size_t next = 0;
  for (;;) {
    Carrier& c = *carriers[next];
    next = (next + 1) % carriers.size();
    tcp::socket socket(c.ctx);
    beast::error_code ec;
    co_await acceptor.async_accept(socket, asio::redirect_error(asio::use_awaitable, ec));
    if (ec == asio::error::operation_aborted || !acceptor.is_open()) co_return;
    if (ec) {
      // Out of descriptors and the like: the connection waits in the backlog; the server
      // goes on after a pause (as Go's accept loop backs off) instead of spinning on it.
      if (error.empty()) error = "accept: " + ec.message() + " (first error; accepting resumed after 5 ms pauses)";
      asio::steady_timer pause(acceptor.get_executor(), std::chrono::milliseconds(5));
      co_await pause.async_wait(asio::redirect_error(asio::use_awaitable, ec));
      continue;
    }
    socket.set_option(tcp::no_delay(true), ec);
    asio::co_spawn(c.ctx, session(std::move(socket), c), asio::detached);
  }
}

int listen_backlog() {
  std::ifstream f("/proc/sys/net/core/somaxconn");
  int n = 0;
  if (f >> n && n > 0) return n;
  return asio::socket_base::max_listen_connections;
}

int serve_http(const std::string& listen, std::int64_t carriers_n) {
  const auto colon = listen.rfind(':');
  std::uint16_t port = 0;
  if (colon == std::string::npos ||
      std::from_chars(listen.data() + colon + 1, listen.data() + listen.size(), port).ec != std::errc{}) {
    std::cerr << "asio: --listen " << listen << ": expected ADDRESS:PORT\n";
    return 2;
  }
  std::vector<std::unique_ptr<Carrier>> carriers;
  for (std::int64_t i = 0; i < carriers_n; ++i) carriers.push_back(std::make_unique<Carrier>());
  asio::io_context& main_ctx = carriers[0]->ctx;
  beast::error_code ec;
  const auto address = asio::ip::make_address(listen.substr(0, colon), ec);
  if (ec) {
    std::cerr << "asio: --listen " << listen << ": " << ec.message() << '\n';
    return 2;
  }
  tcp::acceptor acceptor(main_ctx);
  const tcp::endpoint endpoint(address, port);
  const int backlog = listen_backlog();
  acceptor.open(endpoint.protocol(), ec);
  if (!ec) acceptor.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) acceptor.bind(endpoint, ec);
  if (!ec) acceptor.listen(backlog, ec);
  if (ec) {
    print_json({{"status", "failed"}, {"reason", "listen on " + listen + ": " + ec.message()}});
    return 1;
  }
  // Registered before LISTENING is printed, so a signal sent as soon as the driver reads
  // the port is handled, not the default action.
  asio::signal_set signals(main_ctx, SIGTERM, SIGINT);
  std::string accept_error;
  int stop_signal = 0;
  // Each context is kept running while it has no connection yet.
  std::vector<asio::executor_work_guard<asio::io_context::executor_type>> guards;
  for (auto& c : carriers) guards.push_back(asio::make_work_guard(c->ctx));
  // After the signal: a watchdog thread stops every context if the connections have not
  // all ended within the grace period.
  std::mutex watchdog_mutex;
  std::condition_variable watchdog_cv;
  bool all_ended = false;  // guarded by watchdog_mutex
  std::thread watchdog;
  signals.async_wait([&](const beast::error_code& e, int sig) {
    if (e) return;
    stop_signal = sig;
    acceptor.close();
    // Every carrier, on its own thread: idle connections are closed now; busy ones close
    // after their response (stopping turns keep-alive off).
    for (auto& c : carriers)
      asio::post(c->ctx, [&c = *c] {
        c.stopping = true;
        for (auto& conn : c.conns) {
          beast::error_code ignored;
          if (!conn.busy) conn.socket->close(ignored);
        }
      });
    guards.clear();
    watchdog = std::thread([&] {
      std::unique_lock lock(watchdog_mutex);
      if (!watchdog_cv.wait_for(lock, kStopGrace, [&] { return all_ended; }))
        for (auto& c : carriers) c->ctx.stop();  // requests still running after 5 s are cut
    });
  });
  asio::co_spawn(main_ctx, acceptor_loop(acceptor, carriers, accept_error), asio::detached);
  std::printf("LISTENING %u\n", unsigned(acceptor.local_endpoint().port()));
  std::fflush(stdout);

  std::vector<std::thread> threads;
  for (std::size_t i = 1; i < carriers.size(); ++i) threads.emplace_back([&c = *carriers[i]] { c.ctx.run(); });
  // Each run() returns once its context has no work left (after the stop: no connection),
  // or when the watchdog stops it.
  main_ctx.run();
  for (auto& t : threads) t.join();
  {
    std::lock_guard lock(watchdog_mutex);
    all_ended = true;
  }
  watchdog_cv.notify_all();
  if (watchdog.joinable()) watchdog.join();
  std::int64_t served = 0;
  for (auto& c : carriers) served += c->served;
  nlohmann::json notes = nlohmann::json::array(
      {version_note(),
       std::to_string(carriers_n) + " threads, one io_context each; thread 0 accepts and deals connections "
                                    "round-robin; a coroutine per connection; listen backlog " +
           std::to_string(backlog),
       "stopped by signal " + std::to_string(stop_signal) + " after " + std::to_string(served) + " requests"});
  if (!accept_error.empty()) notes.push_back(accept_error);
  print_json({{"status", "ok"},
              {"metrics", nlohmann::json::object()},
              {"peak_rss_kib", peak_rss_kib()},
              {"notes", notes},
              {"params", {{"carriers", carriers_n}}}});
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  // The http scenario is a server: its command line is read here (the others go through
  // run_peer's protocol).
  std::vector<char*> rest = {argv[0]};
  std::string listen;
  bool http_scenario = false;
  bool help = false;  // --help goes to run_peer, whatever else is on the line
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    help |= a == "--help" || a == "-h";
    if (a == "--listen" || a.rfind("--listen=", 0) == 0) {
      if (a == "--listen") {
        if (i + 1 >= argc) {
          std::cerr << "asio: --listen needs a value\n";
          return 2;
        }
        listen = argv[++i];
      } else {
        listen = a.substr(9);
      }
      continue;
    }
    if ((a == "--scenario" && i + 1 < argc && std::string(argv[i + 1]) == "http") || a == "--scenario=http")
      http_scenario = true;
    rest.push_back(argv[i]);
  }
  if (http_scenario && !help) {
    std::map<std::string, std::string> given;
    for (std::size_t i = 1; i < rest.size(); ++i) {
      const std::string a = rest[i];
      if (a == "--scenario") {
        ++i;
      } else if (a == "--scenario=http") {
      } else if (a == "--param" && i + 1 < rest.size()) {
        const std::string kv = rest[++i];
        const auto eq = kv.find('=');
        if (eq == std::string::npos || eq == 0) {
          std::cerr << "asio: --param " << kv << ": expected key=value\n";
          return 2;
        }
        given[kv.substr(0, eq)] = kv.substr(eq + 1);
      } else {
        std::cerr << "asio: http: unknown argument " << a << " (http takes --listen and --param carriers=N)\n";
        return 2;
      }
    }
    try {
      Params params(given);
      const std::int64_t carriers =
          params.integer("carriers", std::max(1u, std::thread::hardware_concurrency()), 1, 1024);
      params.check_all_used();
      if (listen.empty()) throw UsageError("the http scenario needs --listen ADDRESS:PORT (port 0 picks one)");
      return serve_http(listen, carriers);
    } catch (const UsageError& e) {
      std::cerr << "asio: http: " << e.what() << '\n';
      return 2;
    }
  }
  if (!listen.empty() && !help) {
    std::cerr << "asio: --listen is only for the http scenario\n";
    return 2;
  }
  const std::vector<Scenario> scenarios = {
      {"yield", "two coroutines alternating through co_await post(executor, use_awaitable)", prepare_yield},
      {"spawn_join", "co_await co_spawn(executor, empty(), use_awaitable)", prepare_spawn_join},
      {"http", "Boost.Beast Hello, World! server on C++20 coroutines (run with --listen)", nullptr},
      {"channel", "Boost 1.74's Asio has no channel (asio::experimental::channel arrived in 1.80)", nullptr},
      {"mutex", "Asio has no asynchronous mutex (strands serialize handlers, they do not lock)", nullptr},
      {"skynet",
       "Asio 1.74 cannot await several coroutines at once (experimental::make_parallel_group arrived in 1.80)",
       nullptr},
      {"switch", "Asio has no context switch of its own: yield measures a post through the handler queue",
       nullptr},
  };
  return run_peer(int(rest.size()), rest.data(), "asio", scenarios,
                  "The http scenario is a server: --scenario http --listen ADDRESS:PORT "
                  "[--param carriers=N] prints \"LISTENING <port>\" (port 0 picks one) and serves until "
                  "SIGTERM or SIGINT.\n  --listen ADDRESS:PORT  where the http scenario listens (only with "
                  "--scenario http)");
}
