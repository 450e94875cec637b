// The threads taskmaster: an OS thread per connection with blocking I/O, the seed's
// "thread per connection" baseline. The idle timeout is SO_RCVTIMEO on each socket, so a
// read costs one system call like the other taskmasters'.
#include <fcntl.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cerrno>
#include <condition_variable>
#include <mutex>
#include <system_error>
#include <thread>

#include "taskmaster.h"

namespace sy::http {
namespace {

class ThreadsTaskmaster final : public Taskmaster {
 public:
  explicit ThreadsTaskmaster(Server& srv) : srv_(srv) {}
  ~ThreadsTaskmaster() override {
    if (acceptor_.joinable()) acceptor_.join();
    if (stop_fd_ >= 0) ::close(stop_fd_);
  }

  void start(int listen_fd) override {
    lfd_ = listen_fd;
    srv_.set_live_tasks("live_threads",
                        [this] { return srv_.stats().threads_live.load(std::memory_order_relaxed); });
    stop_fd_ = ::eventfd(0, EFD_CLOEXEC);
    if (stop_fd_ < 0) throw std::system_error(errno, std::generic_category(), "eventfd");
    srv_.thread_started();
    acceptor_ = std::thread([this] { accept_loop(); });
  }

  void stop_accepting() override {
    std::uint64_t one = 1;
    [[maybe_unused]] ssize_t r = ::write(stop_fd_, &one, sizeof one);
    std::lock_guard<std::mutex> g(mu_);
    stopping_ = true;
    cv_.notify_all();
  }

  bool wait_done(std::chrono::milliseconds timeout) override {
    std::unique_lock<std::mutex> g(mu_);
    if (!cv_.wait_for(g, timeout, [&] { return accept_done_ && conn_threads_ == 0; })) return false;
    g.unlock();
    if (acceptor_.joinable()) acceptor_.join();
    return true;
  }

  std::vector<std::string> notes() const override {
    return {"threads: one OS thread per connection (default 8 MiB stack reservation), blocking I/O"};
  }

 private:
  void accept_loop() {
    const long cap = srv_.config().max_conns;
    for (;;) {
      {
        std::unique_lock<std::mutex> g(mu_);
        // The cap: wait for a connection to end, as a semaphore would.
        cv_.wait(g, [&] { return stopping_ || cap <= 0 || conn_threads_ < cap; });
        if (stopping_) break;
      }
      pollfd p[2] = {{lfd_, POLLIN, 0}, {stop_fd_, POLLIN, 0}};
      if (::poll(p, 2, -1) < 0 && errno != EINTR) break;
      if (p[1].revents) break;
      const int fd = ::accept4(lfd_, nullptr, nullptr, SOCK_CLOEXEC);  // blocking socket
      if (fd < 0) {
        if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM)
          std::this_thread::sleep_for(std::chrono::milliseconds(10));  // out of fds: let some close
        continue;
      }
      if (const int ms = srv_.config().idle_timeout_ms; ms > 0) {
        timeval tv{ms / 1000, (ms % 1000) * 1000};
        ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
      }
      srv_.connection_opened(fd);
      {
        std::lock_guard<std::mutex> g(mu_);
        ++conn_threads_;
      }
      try {
        std::thread([this, fd] { serve(fd); }).detach();
      } catch (const std::system_error& e) {
        // No more threads (RLIMIT_NPROC, memory): this connection is closed unanswered.
        srv_.stats().connections_refused.fetch_add(1, std::memory_order_relaxed);
        spawn_failures_.failed(e.what());
        end_connection(fd);
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
        continue;
      }
      spawn_failures_.succeeded();
    }
    ::close(lfd_);
    srv_.thread_ended();
    std::lock_guard<std::mutex> g(mu_);
    accept_done_ = true;
    cv_.notify_all();
  }

  void serve(int fd) {
    srv_.thread_started();
    Session s(srv_);
    for (;;) {
      const Session::Next next = s.advance();
      if (!write_all(fd, s.output())) break;
      s.output_done();
      if (next == Session::Next::close) break;
      if (next == Session::Next::sleep) {
        std::this_thread::sleep_for(std::chrono::milliseconds(s.sleep_ms()));
        s.sleep_done();
        continue;
      }
      // SO_RCVTIMEO holds the idle timeout; while a request (head or body) is arriving the
      // request timeout may end first, and poll() applies it (an extra system call only in
      // that case). Without an idle timeout (0) there is no SO_RCVTIMEO: poll() then
      // applies any finite read timeout.
      const int idle = srv_.config().idle_timeout_ms;
      if (const int ms = s.read_timeout_ms(); ms >= 0 && (idle <= 0 || ms < idle)) {
        pollfd p{fd, POLLIN, 0};
        const int r = ::poll(&p, 1, ms);
        if (r == 0) {
          s.timed_out();
          continue;
        }
        if (r < 0 && errno == EINTR) continue;  // the deadline is computed again
      }
      const Session::Space room = s.read_space();
      const ssize_t n = ::recv(fd, room.data, room.size, 0);
      if (n > 0) {
        s.commit(static_cast<std::size_t>(n));
      } else if (n < 0 && errno == EINTR) {
        continue;
      } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        s.timed_out();  // SO_RCVTIMEO expired
      } else {
        break;  // end of file or reset
      }
    }
    srv_.thread_ended();
    end_connection(fd);
  }

  static bool write_all(int fd, std::string_view out) {
    while (!out.empty()) {
      const ssize_t n = ::send(fd, out.data(), out.size(), MSG_NOSIGNAL);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return false;
      out.remove_prefix(static_cast<std::size_t>(n));
    }
    return true;
  }

  void end_connection(int fd) {
    srv_.connection_closed(fd);
    ::close(fd);
    std::lock_guard<std::mutex> g(mu_);
    --conn_threads_;
    cv_.notify_all();
  }

  Server& srv_;
  int lfd_ = -1, stop_fd_ = -1;
  std::thread acceptor_;
  std::mutex mu_;
  std::condition_variable cv_;
  long conn_threads_ = 0;    // guarded by mu_
  bool stopping_ = false;    // guarded by mu_
  bool accept_done_ = false; // guarded by mu_
  BurstLog spawn_failures_{"threads: cannot start a thread for a new connection, refusing it"};
};

}  // namespace

std::unique_ptr<Taskmaster> make_threads(Server& srv, const TaskmasterOptions&) {
  return std::make_unique<ThreadsTaskmaster>(srv);
}

}  // namespace sy::http
