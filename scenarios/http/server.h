// The HTTP server's core, shared by every taskmaster (threads, eventloop, fibers): one
// connection's protocol state (Session: bytes in, responses out, no I/O), the routes, the
// counters and the set of live connections that a graceful shutdown drains.
//
// Routes (the same as the Go peer's scenarios/peers/go/http.go):
//   /            "Hello, World!" (text/plain, 13 bytes)
//   /sleep?ms=N  the same after sleeping N ms in the handler, N in [0, 600000], else 400
//   /stats       JSON: open fds, live tasks (fibers or threads), connections, requests
//   anything else 404
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_set>

#include "parser.h"

namespace sy::http {

struct ServerConfig {
  Limits limits;
  int idle_timeout_ms = 60'000;  // a connection with nothing to do is closed after this; 0 = never
  // A request, head and body, must arrive whole within this from its first byte (slowloris:
  // a client that trickles a byte before every idle timeout, into the head or the body);
  // 408 after it. A handler's own time (/sleep) is not counted. 0 = no limit.
  int request_timeout_ms = 10'000;
  long max_conns = 0;            // cap on live connections (accepting waits); 0 = none
  int shutdown_grace_ms = 5'000; // in-flight requests may finish within this after SIGTERM
};

// Counters. All relaxed: each is read only for reporting, nothing is ordered by them.
struct ServerStats {
  std::atomic<long> requests{0};   // requests answered (any status)
  std::atomic<long> hello{0};      // 200 answers from / and /sleep (what the Go peer counts)
  std::atomic<long> rejected{0};   // answered with a 4xx/5xx from the parser (then closed)
  std::atomic<long> connections_accepted{0};
  std::atomic<long> connections_live{0};
  std::atomic<long> connections_peak{0};
  std::atomic<long> connections_refused{0};  // accepted, then closed unanswered: no fiber or thread for it
  std::atomic<long> idle_timeouts{0};
  std::atomic<long> sleeping{0};      // requests inside their /sleep handler now (tests wait on it)
  std::atomic<long> threads_live{0};  // OS threads the taskmaster runs (carriers, loops, or one per connection)
  std::atomic<long> threads_peak{0};
};

class Server {
 public:
  explicit Server(ServerConfig cfg) : cfg_(cfg) {}

  const ServerConfig& config() const noexcept { return cfg_; }
  ServerStats& stats() noexcept { return stats_; }

  // Live tasks the /stats path reports (fibers for the fiber taskmaster); set before serving.
  void set_live_tasks(std::string name, std::function<long()> fn) {
    live_tasks_name_ = std::move(name);
    live_tasks_ = std::move(fn);
  }

  // Connection bookkeeping. A taskmaster registers each accepted fd before its first read
  // and unregisters it before closing it, so drain() never touches a reused fd number.
  void connection_opened(int fd);
  void connection_closed(int fd);
  void thread_started();
  void thread_ended();

  // Graceful shutdown, from any thread: later responses say "Connection: close", and every
  // registered connection gets shutdown(SHUT_RD), so a reader blocked on an idle connection
  // sees end-of-file while one that is answering a request finishes it first. force()
  // (after the grace period) shuts down both directions.
  void drain();
  void force();
  bool draining() const noexcept { return draining_.load(std::memory_order_acquire); }  // pairs with drain()'s release

  std::string stats_json();

 private:
  ServerConfig cfg_;
  ServerStats stats_;
  std::atomic<bool> draining_{false};
  std::mutex conns_mu_;
  std::unordered_set<int> conns_;  // guarded by conns_mu_
  std::string live_tasks_name_ = "live_tasks";
  std::function<long()> live_tasks_;
};

// Open file descriptors of this process (entries of /proc/self/fd, minus the one used to list it).
long count_open_fds();
// VmHWM of /proc/self/status, KiB; -1 if unreadable.
long peak_rss_kib();

// One connection's protocol state. The taskmaster's loop:
//   for (;;) {
//     Next n = s.advance();
//     write all of s.output(), then s.output_done();
//     if (n == Next::close) break;
//     if (n == Next::sleep) { sleep s.sleep_ms(); s.sleep_done(); continue; }
//     read into s.read_space() (at most the idle timeout), then s.commit(bytes); 0 bytes: break
//   }
class Session {
 public:
  enum class Next : std::uint8_t { read, sleep, close };

  explicit Session(Server& server) : srv_(server), parser_(server.config().limits) {}
  ~Session();  // a connection closed inside its /sleep handler leaves the sleeping gauge
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  // Free room at the end of the input buffer (never empty), allocated on first use.
  struct Space {
    char* data;
    std::size_t size;
  };
  Space read_space();
  void commit(std::size_t n) noexcept { in_len_ += n; }
  // Frees the input buffer when it holds nothing unparsed, so an idle keep-alive
  // connection costs no buffer (as nginx does); read_space() allocates it again. Callers
  // that can wait for readability without a buffer (fibers: wait_fd; the event loop:
  // epoll) call it before waiting.
  void release_input_if_empty() noexcept {
    if (in_ && in_off_ == in_len_) {
      in_.reset();
      cap_ = in_off_ = in_len_ = 0;
    }
  }

  // Parses and answers everything buffered. Responses accumulate in output().
  Next advance();
  std::string_view output() const noexcept { return {out_.data() + out_off_, out_.size() - out_off_}; }
  void output_written(std::size_t n) noexcept;
  void output_done() noexcept { output_written(out_.size() - out_off_); }

  // How long the next read may wait: the idle timeout, or less while a request (its head
  // or its body) is arriving and the request timeout ends first. Milliseconds; -1 = forever.
  int read_timeout_ms() const;

  int sleep_ms() const noexcept { return pending_.sleep_ms; }
  void sleep_done();

  // The idle timeout fired: a half-received request gets 408, then the connection closes.
  void timed_out();
  // True when closing now would drop nothing: no request begun, no answer pending.
  bool idle() const noexcept { return in_len_ == in_off_ && out_off_ == out_.size() && !pending_.active; }
  bool closing() const noexcept { return closing_; }

 private:
  enum class Route : std::uint8_t { hello, not_found, bad_sleep, stats };
  struct Pending {
    bool active = false;
    bool http10 = false;
    bool head = false;   // HEAD: headers only
    bool keep_alive = true;
    int status = 200;
    int sleep_ms = -1;   // >= 0: the handler sleeps before answering
    Route route = Route::hello;
  };
  void route(std::string_view target, const Request& req);
  void respond();
  void error_response(int status, std::string_view reason);
  void compact() noexcept;

  Server& srv_;
  RequestParser parser_;
  std::unique_ptr<char[]> in_;
  std::size_t cap_ = 0, in_off_ = 0, in_len_ = 0;
  std::uint64_t body_left_ = 0;
  std::string out_;
  std::size_t out_off_ = 0;
  Pending pending_;
  bool closing_ = false;
  bool in_sleep_ = false;  // counted in ServerStats::sleeping (advance() said sleep, sleep_done() not yet)
  // Steady clock, ms: when the request still arriving (its head, or the body after it)
  // began; -1 when none is. Cleared once the body is whole, before the handler runs.
  std::int64_t request_started_ms_ = -1;
};

}  // namespace sy::http
