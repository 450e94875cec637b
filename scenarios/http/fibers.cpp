// The fibers taskmaster: sy::Runtime<V> on N carriers, any of the 12 variants. An accept
// loop fiber waits on the listening socket; each connection becomes a fiber that runs the
// Session loop with the fiber I/O helpers (sy::io, switchyard/io.h): a read or write that
// would block parks the fiber on its carrier's poller instead of blocking the carrier.
// The optional cap on live connections is a fiber Semaphore the accept loop acquires.
//
// Failures stay with one connection. A connection whose fiber cannot start (spawn throws:
// StackError at vm.max_map_count, about 32k guarded stacks, or RLIMIT_AS; bad_alloc) is
// refused: a 503 if the socket takes it at once, then closed, and the accept loop goes
// on. A connection whose fiber throws is closed. Either way its fd, its place among the
// live connections and its semaphore unit are given back; a run of failures is logged in
// two lines, its start and its end (BurstLog), not one line per connection.
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <exception>
#include <string_view>
#include <thread>

#include "taskmaster.h"

#include "switchyard/io.h"
#include "switchyard/primitives.h"
#include "switchyard/variants.h"

namespace sy::http {

namespace {

// How often the accept loop looks at the stop flag (it never waits longer than this).
constexpr auto kAcceptSlice = std::chrono::milliseconds(100);

template <class V>
class FibersTaskmaster final : public Taskmaster {
  using Rt = sy::Runtime<V>;

 public:
  FibersTaskmaster(Server& srv, const sy::Options& ro, std::string desc)
      : srv_(srv), rt_(ro), sem_(srv.config().max_conns > 0 ? srv.config().max_conns : 0), desc_(std::move(desc)) {}
  ~FibersTaskmaster() override { rt_.finish(); }

  void start(int listen_fd) override {
    lfd_ = listen_fd;
    srv_.set_live_tasks("live_fibers", [this] { return static_cast<long>(rt_.live()); });
    rt_.start();
    for (unsigned i = 0; i < rt_.carriers(); ++i) srv_.thread_started();
    rt_.submit([this] { accept_loop(); }, sy::SpawnOptions{.name = "http-accept"}).detach();
  }

  void stop_accepting() override {
    stopping_.store(true, std::memory_order_release);  // pairs with the accept loop's acquire
  }

  bool wait_done(std::chrono::milliseconds timeout) override {
    const auto until = std::chrono::steady_clock::now() + timeout;
    // acquire: pairs with the accept loop's release store once it has closed the listener.
    while (!accept_done_.load(std::memory_order_acquire) ||
           srv_.stats().connections_live.load(std::memory_order_relaxed) > 0) {
      if (std::chrono::steady_clock::now() >= until) return false;
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    rt_.finish();  // the connection fibers are returning: finish() waits for the last ones
    for (unsigned i = 0; i < rt_.carriers(); ++i) srv_.thread_ended();
    return true;
  }

  std::vector<std::string> notes() const override { return {desc_}; }

 private:
  void accept_loop() {
    // However the loop ends (the stop flag, or an exception nothing here expects), the
    // listener is closed and wait_done() learns it; release: pairs with its acquire.
    struct Closer {
      FibersTaskmaster& t;
      ~Closer() {
        Rt::close_fd(t.lfd_);
        t.accept_done_.store(true, std::memory_order_release);
      }
    } closer{*this};
    const bool capped = srv_.config().max_conns > 0;
    while (!stopping_.load(std::memory_order_acquire)) {
      if (capped && !sem_.try_acquire_for(kAcceptSlice)) continue;
      const int fd = sy::io::accept<Rt>(lfd_, nullptr, nullptr, kAcceptSlice);
      if (fd < 0) {
        const int e = sy::io::last_error();  // errno of the carrier we run on now
        if (capped) sem_.release();
        if (e == EMFILE || e == ENFILE || e == ENOBUFS || e == ENOMEM)
          Rt::sleep_for(std::chrono::milliseconds(10));  // out of fds: let some connections end
        continue;  // ETIMEDOUT (look at the stop flag), ECONNABORTED, EINTR
      }
      srv_.connection_opened(fd);
      try {
        Rt::spawn([this, fd, capped] { run_connection(fd, capped); }).detach();
      } catch (const std::exception& e) {
        refuse(fd, capped, e.what());
        continue;
      } catch (...) {
        refuse(fd, capped, "unknown exception");
        continue;
      }
      spawn_failures_.succeeded();
    }
  }

  // The connection's fiber could not start: answer 503 if the socket takes it without
  // waiting (a fresh socket's send buffer is empty), then close it. The request is not
  // read, so the close may reset the connection and the client may not see the 503.
  // The bookkeeping comes first, so a client that has read the 503 sees it done.
  void refuse(int fd, bool capped, const char* why) {
    static constexpr std::string_view k503 =
        "HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\nContent-Length: 20\r\n"
        "Connection: close\r\n\r\nno room for a fiber\n";
    srv_.stats().connections_refused.fetch_add(1, std::memory_order_relaxed);
    spawn_failures_.failed(why);
    srv_.connection_closed(fd);
    [[maybe_unused]] const ssize_t n = ::send(fd, k503.data(), k503.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
    Rt::close_fd(fd);
    if (capped) sem_.release();
  }

  // The body of a connection's fiber. Whatever serve() does, throwing included, the
  // connection's resources are given back here.
  void run_connection(int fd, bool capped) {
    bool threw = true;
    try {
      serve(fd);
      threw = false;
    } catch (const std::exception& e) {
      serve_failures_.failed(e.what());
    } catch (...) {
      serve_failures_.failed("unknown exception");
    }
    if (!threw) serve_failures_.succeeded();
    end_connection(fd, capped);
  }

  void end_connection(int fd, bool capped) {
    srv_.connection_closed(fd);  // before close: drain() never shuts down a reused fd
    Rt::close_fd(fd);
    if (capped) sem_.release();
  }

  // The Session loop on one connection; returns when it is to be closed.
  void serve(int fd) {
    const int idle_ms = srv_.config().idle_timeout_ms;
    const sy::Duration idle = idle_ms > 0 ? sy::Duration(std::chrono::milliseconds(idle_ms)) : sy::Duration(-1);
    Session s(srv_);
    for (;;) {
      const Session::Next next = s.advance();
      const std::string_view out = s.output();
      if (!out.empty() && sy::io::write_all<Rt>(fd, out.data(), out.size(), idle) < 0) break;
      s.output_done();
      if (next == Session::Next::close) break;
      if (next == Session::Next::sleep) {
        Rt::sleep_for(std::chrono::milliseconds(s.sleep_ms()));
        s.sleep_done();
        continue;
      }
      const int ms = s.read_timeout_ms();
      if (s.idle()) {
        // Between requests: wait for the next one without holding an input buffer, so an
        // idle connection costs its fiber's stack pages only. Under load this replaces
        // the read that would have failed with EAGAIN, so it costs no extra system call.
        s.release_input_if_empty();
        const sy::IoResult r = Rt::wait_fd(fd, sy::IoEvent::read,
                                           ms < 0 ? sy::Duration(-1) : sy::Duration(std::chrono::milliseconds(ms)));
        if (r.status == sy::IoStatus::timed_out) {
          s.timed_out();
          continue;
        }
        if (r.status == sy::IoStatus::error) break;
      }
      const Session::Space room = s.read_space();
      const ssize_t n = sy::io::read<Rt>(fd, room.data, room.size,
                                         ms < 0 ? sy::Duration(-1) : sy::Duration(std::chrono::milliseconds(ms)));
      if (n > 0) {
        s.commit(static_cast<std::size_t>(n));
      } else if (n < 0 && sy::io::last_error() == ETIMEDOUT) {
        s.timed_out();
      } else {
        break;  // end of file, reset, or ECANCELED
      }
    }
  }

  Server& srv_;
  Rt rt_;
  sy::Semaphore<Rt> sem_;
  std::string desc_;
  int lfd_ = -1;
  std::atomic<bool> stopping_{false};
  std::atomic<bool> accept_done_{false};
  BurstLog spawn_failures_{"fibers: cannot start a fiber for a new connection, refusing it"};
  BurstLog serve_failures_{"fibers: a connection's fiber threw, closing its connection"};
};

}  // namespace

std::unique_ptr<Taskmaster> make_fibers(Server& srv, const TaskmasterOptions& o) {
  sy::Options ro;
  ro.carriers = o.carriers;
  if (o.registration == "oneshot")
    ro.io_registration = sy::IoRegistration::oneshot;
  else if (o.registration == "persistent")
    ro.io_registration = sy::IoRegistration::persistent;
  else if (o.registration == "level")
    ro.io_registration = sy::IoRegistration::level;
  else
    throw UsageError("--registration " + o.registration + ": expected oneshot, persistent or level");
  if (o.io_backend == "epoll")
    ro.io_backend = sy::IoBackend::epoll;
  else if (o.io_backend == "poll")
    ro.io_backend = sy::IoBackend::poll;
  else
    throw UsageError("--io-backend " + o.io_backend + ": expected epoll or poll");
  if (!sy::find_variant(o.variant)) throw UsageError(sy::UnknownVariant(o.variant).what());
  return sy::with_variant(o.variant, [&]<class V>() -> std::unique_ptr<Taskmaster> {
    const unsigned carriers = ro.carriers ? ro.carriers : sy::available_cpus();
    std::string desc = "fibers: " + std::string(V::name()) + " on " + std::to_string(carriers) +
                       " carriers, io " + o.io_backend + "/" + o.registration +
                       ", an accept fiber and a fiber per connection";
    return std::make_unique<FibersTaskmaster<V>>(srv, ro, std::move(desc));
  });
}


}  // namespace sy::http
