// The eventloop taskmaster: the conventional alternative to fibers. One epoll loop per
// thread; each connection is a Session driven as a state machine (read until EAGAIN, write
// until EAGAIN, then wait). Connections are registered once, edge-triggered for in and out.
// The listener is shared: every loop watches it with EPOLLEXCLUSIVE, so one connection
// wakes one loop, not all of them.
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <queue>
#include <system_error>
#include <thread>
#include <vector>

#include "switchyard/runtime.h"  // available_cpus()
#include "taskmaster.h"

namespace sy::http {
namespace {

using Clock = std::chrono::steady_clock;

std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now().time_since_epoch()).count();
}

constexpr std::uint64_t kListenTag = ~std::uint64_t{0};
constexpr std::uint64_t kWakeTag = ~std::uint64_t{0} - 1;

class EventLoopTaskmaster;

// One loop; everything in it belongs to its thread except wake_fd_ (written by anyone).
class Loop {
 public:
  Loop(EventLoopTaskmaster& tm, Server& srv, int lfd);
  ~Loop();
  void run();
  void wake();

 private:
  struct Conn {
    int fd = -1;
    std::uint32_t gen = 0;
    bool sleeping = false;
    std::int64_t deadline = 0;   // sleep end or idle deadline, ms
    std::int64_t armed_at = 0;   // the timer entry that is current for this conn
    Session session;
    Conn(int f, std::uint32_t g, Server& srv) : fd(f), gen(g), session(srv) {}
  };
  struct Timer {
    std::int64_t at;
    int fd;
    std::uint32_t gen;
    bool operator>(const Timer& o) const noexcept { return at > o.at; }
  };

  void accept_some();
  void set_accepting(bool on);
  void drive(Conn& c);
  bool flush(Conn& c);  // false: wait for EPOLLOUT, or the connection was closed
  void close_conn(Conn& c);
  void rearm_idle(Conn& c);
  void arm(Conn& c, std::int64_t at);
  void fire_timers(std::int64_t now);
  int next_timeout(std::int64_t now) const;
  static std::uint64_t tag(const Conn& c) { return static_cast<std::uint64_t>(c.gen) << 32 | static_cast<std::uint32_t>(c.fd); }

  EventLoopTaskmaster& tm_;
  Server& srv_;
  int lfd_, ep_ = -1, wake_fd_ = -1;
  bool accepting_ = false;
  std::int64_t accept_retry_at_ = 0;  // after EMFILE: accepting resumes at this time
  std::vector<std::unique_ptr<Conn>> conns_;  // by fd
  std::size_t live_ = 0;
  std::uint32_t next_gen_ = 1;
  std::priority_queue<Timer, std::vector<Timer>, std::greater<>> timers_;
};

class EventLoopTaskmaster final : public Taskmaster {
 public:
  EventLoopTaskmaster(Server& srv, unsigned loops) : srv_(srv), nloops_(loops ? loops : sy::available_cpus()) {}
  ~EventLoopTaskmaster() override {
    for (auto& t : threads_)
      if (t.joinable()) t.join();
    if (lfd_ >= 0) ::close(lfd_);
  }

  void start(int listen_fd) override {
    lfd_ = listen_fd;
    for (unsigned i = 0; i < nloops_; ++i) loops_.push_back(std::make_unique<Loop>(*this, srv_, lfd_));
    for (auto& l : loops_) {
      srv_.thread_started();
      threads_.emplace_back([this, lp = l.get()] {
        lp->run();
        srv_.thread_ended();
        std::lock_guard<std::mutex> g(mu_);
        ++loops_done_;
        cv_.notify_all();
      });
    }
  }

  void stop_accepting() override {
    // release: pairs with the loops' acquire loads after their wake-up.
    stopping_.store(true, std::memory_order_release);
    wake_all();
  }

  bool wait_done(std::chrono::milliseconds timeout) override {
    std::unique_lock<std::mutex> g(mu_);
    if (!cv_.wait_for(g, timeout, [&] { return loops_done_ == loops_.size(); })) {
      g.unlock();
      wake_all();  // force() may have shut sockets down: let the loops look again
      return false;
    }
    g.unlock();
    for (auto& t : threads_) t.join();
    threads_.clear();
    return true;
  }

  std::vector<std::string> notes() const override {
    return {"eventloop: " + std::to_string(nloops_) +
            " epoll loops (edge-triggered connections, shared listener with EPOLLEXCLUSIVE)"};
  }

  bool stopping() const noexcept { return stopping_.load(std::memory_order_acquire); }
  // The cap is global; a loop that paused accepting at the cap is woken when any loop
  // closes a connection. paused_ counts such loops (relaxed: a spurious wake is harmless,
  // and a loop re-checks the live count after pausing).
  bool at_cap() const noexcept {
    const long cap = srv_.config().max_conns;
    return cap > 0 && srv_.stats().connections_live.load(std::memory_order_relaxed) >= cap;
  }
  std::atomic<int> paused_{0};
  void wake_all() {
    for (auto& l : loops_) l->wake();
  }

 private:
  Server& srv_;
  unsigned nloops_;
  int lfd_ = -1;
  std::vector<std::unique_ptr<Loop>> loops_;
  std::vector<std::thread> threads_;
  std::atomic<bool> stopping_{false};
  std::mutex mu_;
  std::condition_variable cv_;
  std::size_t loops_done_ = 0;  // guarded by mu_
};

Loop::Loop(EventLoopTaskmaster& tm, Server& srv, int lfd) : tm_(tm), srv_(srv), lfd_(lfd) {
  ep_ = ::epoll_create1(EPOLL_CLOEXEC);
  wake_fd_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (ep_ < 0 || wake_fd_ < 0) throw std::system_error(errno, std::generic_category(), "epoll/eventfd");
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.u64 = kWakeTag;
  ::epoll_ctl(ep_, EPOLL_CTL_ADD, wake_fd_, &ev);
  set_accepting(true);
}

Loop::~Loop() {
  for (auto& c : conns_)
    if (c) ::close(c->fd);
  ::close(ep_);
  ::close(wake_fd_);
}

void Loop::wake() {
  std::uint64_t one = 1;
  [[maybe_unused]] ssize_t r = ::write(wake_fd_, &one, sizeof one);
}

void Loop::set_accepting(bool on) {
  if (on == accepting_) return;
  epoll_event ev{};
  ev.events = EPOLLIN | EPOLLEXCLUSIVE;  // level-triggered: a loop that takes a few leaves the rest signalled
  ev.data.u64 = kListenTag;
  ::epoll_ctl(ep_, on ? EPOLL_CTL_ADD : EPOLL_CTL_DEL, lfd_, on ? &ev : nullptr);
  accepting_ = on;
}

void Loop::run() {
  epoll_event events[64];
  bool draining = false;
  for (;;) {
    if (tm_.stopping() && !draining) {
      draining = true;
      set_accepting(false);
      // Idle connections go now (Server::drain's SHUT_RD also reaches them as end-of-file).
      for (auto& c : conns_)
        if (c && !c->sleeping && c->session.idle()) close_conn(*c);
    }
    if (draining && live_ == 0) return;
    if (!draining && !accepting_) {
      const std::int64_t now = now_ms();
      if (now >= accept_retry_at_ && !tm_.at_cap()) {
        set_accepting(true);
      }
    }
    const int n = ::epoll_wait(ep_, events, 64, next_timeout(now_ms()));
    if (n < 0 && errno != EINTR) throw std::system_error(errno, std::generic_category(), "epoll_wait");
    for (int i = 0; i < n; ++i) {
      const std::uint64_t t = events[i].data.u64;
      if (t == kWakeTag) {
        std::uint64_t v;
        [[maybe_unused]] ssize_t r = ::read(wake_fd_, &v, sizeof v);
      } else if (t == kListenTag) {
        if (!draining) accept_some();
      } else {
        const int fd = static_cast<int>(t & 0xffffffffu);
        if (static_cast<std::size_t>(fd) >= conns_.size()) continue;
        Conn* c = conns_[fd].get();
        if (!c || c->gen != t >> 32) continue;  // closed earlier in this batch
        drive(*c);
      }
    }
    fire_timers(now_ms());
  }
}

void Loop::accept_some() {
  for (int i = 0; i < 64; ++i) {
    if (tm_.at_cap()) {
      set_accepting(false);
      tm_.paused_.fetch_add(1, std::memory_order_relaxed);
      return;
    }
    const int fd = ::accept4(lfd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
        set_accepting(false);  // the listener stays readable: do not spin on it
        accept_retry_at_ = now_ms() + 10;
      }
      return;
    }
    if (conns_.size() <= static_cast<std::size_t>(fd)) conns_.resize(static_cast<std::size_t>(fd) + 1024);
    conns_[fd] = std::make_unique<Conn>(fd, next_gen_++, srv_);
    Conn& c = *conns_[fd];
    ++live_;
    srv_.connection_opened(fd);
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
    ev.data.u64 = tag(c);
    if (::epoll_ctl(ep_, EPOLL_CTL_ADD, fd, &ev) < 0) {
      close_conn(c);
      continue;
    }
    if (const int ms = srv_.config().idle_timeout_ms; ms > 0) arm(c, now_ms() + ms);
    drive(c);  // the request may already be there
  }
}

bool Loop::flush(Conn& c) {
  for (;;) {
    const std::string_view out = c.session.output();
    if (out.empty()) return true;
    const ssize_t n = ::send(c.fd, out.data(), out.size(), MSG_NOSIGNAL);
    if (n > 0) {
      c.session.output_written(static_cast<std::size_t>(n));
    } else if (n < 0 && errno == EINTR) {
      continue;
    } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      return false;  // EPOLLOUT (edge-triggered, registered) calls drive() again
    } else {
      close_conn(c);
      return false;
    }
  }
}

void Loop::drive(Conn& c) {
  for (;;) {
    if (c.sleeping) {
      flush(c);
      return;
    }
    const Session::Next next = c.session.advance();
    if (!flush(c)) return;
    if (next == Session::Next::close) {
      close_conn(c);
      return;
    }
    if (next == Session::Next::sleep) {
      c.sleeping = true;
      arm(c, now_ms() + c.session.sleep_ms());
      return;
    }
    const Session::Space room = c.session.read_space();
    const ssize_t n = ::recv(c.fd, room.data, room.size, 0);
    if (n > 0) {
      c.session.commit(static_cast<std::size_t>(n));
      rearm_idle(c);
    } else if (n < 0 && errno == EINTR) {
      continue;
    } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      if (c.session.idle()) c.session.release_input_if_empty();  // epoll waits without it
      if (tm_.stopping() && c.session.idle()) {
        close_conn(c);
      } else if (const int ms = c.session.read_timeout_ms(), idle = srv_.config().idle_timeout_ms;
                 ms >= 0 && (idle <= 0 || ms < idle)) {
        rearm_idle(c);  // a request is arriving: the request timeout may come first
      }
      return;
    } else {
      close_conn(c);
      return;
    }
  }
}

// After a read: the idle timeout starts again (the request timeout does not).
void Loop::rearm_idle(Conn& c) {
  const int ms = c.session.read_timeout_ms();
  arm(c, ms < 0 ? INT64_MAX : now_ms() + ms);  // never fires when there is no timeout
}

void Loop::close_conn(Conn& c) {
  const int fd = c.fd;
  srv_.connection_closed(fd);  // before close: drain() never shuts down a reused fd
  ::close(fd);                 // also removes it from the epoll set
  conns_[fd].reset();
  --live_;
  if (tm_.paused_.load(std::memory_order_relaxed) > 0) {
    tm_.paused_.store(0, std::memory_order_relaxed);
    tm_.wake_all();
  }
}

// A conn has one deadline; the heap holds at least one entry at or before it. Moving the
// deadline later (a request arrived) costs nothing: the entry fires early and re-arms.
// Moving it earlier (a sleep) pushes a new entry; the old one is then stale and skipped.
void Loop::arm(Conn& c, std::int64_t at) {
  c.deadline = at;
  if (c.armed_at != 0 && c.armed_at <= at) return;
  c.armed_at = at;
  timers_.push(Timer{at, c.fd, c.gen});
}

void Loop::fire_timers(std::int64_t now) {
  while (!timers_.empty() && timers_.top().at <= now) {
    const Timer t = timers_.top();
    timers_.pop();
    if (static_cast<std::size_t>(t.fd) >= conns_.size()) continue;
    Conn* c = conns_[t.fd].get();
    if (!c || c->gen != t.gen || c->armed_at != t.at) continue;  // closed, or a stale entry
    c->armed_at = 0;
    if (c->deadline > now) {
      arm(*c, c->deadline);
      continue;
    }
    if (c->sleeping) {
      c->sleeping = false;
      c->session.sleep_done();
      if (const int ms = srv_.config().idle_timeout_ms; ms > 0) arm(*c, now + ms);
      drive(*c);
    } else {
      // Idle too long: a 408 if a request was begun, then close, even if the client
      // stopped reading and the answer cannot be written.
      const int fd = c->fd;
      const std::uint32_t gen = c->gen;
      c->session.timed_out();
      drive(*c);
      if (conns_[fd] && conns_[fd]->gen == gen) close_conn(*conns_[fd]);
    }
  }
}

int Loop::next_timeout(std::int64_t now) const {
  std::int64_t wait = -1;
  if (!timers_.empty()) wait = std::max<std::int64_t>(0, timers_.top().at - now);
  if (!accepting_ && !tm_.stopping()) wait = wait < 0 ? 10 : std::min<std::int64_t>(wait, 10);  // accept retry
  return static_cast<int>(std::min<std::int64_t>(wait, 1000));
}

}  // namespace

std::unique_ptr<Taskmaster> make_eventloop(Server& srv, const TaskmasterOptions& o) {
  return std::make_unique<EventLoopTaskmaster>(srv, o.carriers);
}

}  // namespace sy::http
