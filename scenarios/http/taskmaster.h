// Taskmasters: the policy that decides what runs a connection (DESIGN section 13).
//   threads    one OS thread per connection, blocking I/O, plus an accepting thread
//   eventloop  one epoll loop per thread, connections as state machines, a shared listener
//   fibers     sy::Runtime<V> on N carriers: an accept-loop fiber and a fiber per connection
// Each serves Server's routes over an already listening, nonblocking socket until
// stop_accepting(); the caller then waits for the connections to end (Server::drain and
// Server::force hurry them along).
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <vector>

#include "server.h"

namespace sy::http {

struct TaskmasterOptions {
  std::string name = "fibers";                 // threads | eventloop | fibers
  std::string variant = "asm-pooled-chaselev";  // fibers only
  unsigned carriers = 0;                       // fibers: carriers; eventloop: loops; 0 = CPUs
  std::string registration = "persistent";     // fibers: persistent | oneshot | level (io_core.h)
  std::string io_backend = "epoll";            // fibers: epoll | poll
};

class Taskmaster {
 public:
  virtual ~Taskmaster() = default;
  // Starts serving on listen_fd (nonblocking); the taskmaster owns and closes it.
  virtual void start(int listen_fd) = 0;
  // Stops accepting; connections already accepted carry on. From any thread.
  virtual void stop_accepting() = 0;
  // Waits until every connection has ended and every thread is joined; false on timeout
  // (the taskmaster may then be destroyed only after a later call returned true).
  virtual bool wait_done(std::chrono::milliseconds timeout) = 0;
  // Notes for the final JSON (what ran, and anything the run should be read with).
  virtual std::vector<std::string> notes() const { return {}; }
};

// Logs a run of failures in two lines on stderr, not one line per failure: a server at a
// resource limit (no stack or thread for a new connection) may fail thousands of times a
// second. The first failure of a run prints what failed and why; the first success after
// it prints how many failed. From any thread.
class BurstLog {
 public:
  // what: the failure, as in "cannot start a fiber for a new connection".
  explicit BurstLog(std::string what) : what_(std::move(what)) {}
  void failed(const char* why);
  // Cheap when no run is open (one relaxed load): taskmasters call it on the hot path.
  void succeeded() {
    // relaxed: a stale false only moves the closing line to a later success; the state
    // itself is read and written under mu_.
    if (open_.load(std::memory_order_relaxed)) close_run();
  }

 private:
  void close_run();
  std::string what_;
  std::atomic<bool> open_{false};  // written under mu_
  std::mutex mu_;
  long failures_ = 0;              // in the open run; guarded by mu_
};

// A bad name or option: the message says what is accepted (exit code 2).
class UsageError : public std::invalid_argument {
 public:
  using std::invalid_argument::invalid_argument;
};

std::unique_ptr<Taskmaster> make_threads(Server& srv, const TaskmasterOptions& o);
std::unique_ptr<Taskmaster> make_eventloop(Server& srv, const TaskmasterOptions& o);
std::unique_ptr<Taskmaster> make_fibers(Server& srv, const TaskmasterOptions& o);  // UsageError for a bad variant
std::unique_ptr<Taskmaster> make_taskmaster(Server& srv, const TaskmasterOptions& o);

// A nonblocking, close-on-exec TCP listener on host:port (port 0: any), SO_REUSEADDR.
// -1 with errno on failure; *bound_port receives the port.
int listen_socket(const std::string& host, unsigned port, int backlog, unsigned* bound_port);

}  // namespace sy::http
