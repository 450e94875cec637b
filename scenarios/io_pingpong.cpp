// Scenario `io_pingpong`: fibers ping-ponging 8-byte messages over AF_UNIX socketpairs,
// with every wait going through the runtime's I/O poller (sy::io::read/write ->
// Rt::wait_fd on EAGAIN).
//
// `pairs` socketpairs, each with an echo fiber on one end (read 8 bytes, write them back
// plus one). Two modes:
//   active=one: the runtime's main fiber ping-pongs on pair 0 only; the other pairs-1 echo
//     fibers sit blocked in wait_fd the whole time (idle waiters). ns_per_roundtrip is the
//     active pair's round trip. The design target (DESIGN section 8): idle waiters cost
//     nothing per wake, so the round trip with 9,000 pairs stays within 1.2x of 1 pair.
//   active=all: every pair has a ping fiber doing its share of `ops`; ns_per_roundtrip =
//     wall time / all round trips (a throughput figure, not one pair's latency).
// The clock covers the round trips only. Setup (socketpairs, spawning, waiting until the
// idle fibers are parked) and teardown (closing the ping ends: each echo fiber sees EOF
// and closes its own end) are outside it.
//
// 2 x pairs descriptors: the soft RLIMIT_NOFILE is raised to the hard limit when needed,
// and a size the hard limit cannot hold is reported as skipped.
#include <sys/resource.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

#include "scenario.h"
#include "switchyard/io.h"
#include "switchyard/variants.h"

namespace sy::scenarios {
namespace {

struct IoConfig {
  std::int64_t pairs, ops, carriers;
  bool all_active;
  IoBackend backend;
  IoRegistration registration;
  std::int64_t idle_spin_us;
};

[[noreturn]] void io_fail(const char* what, int err) {
  throw std::runtime_error(std::string("io_pingpong: ") + what + ": " + std::strerror(err));
}

// Reads exactly 8 bytes; false at EOF before the first byte. Throws on an error or a
// message cut short by EOF.
template <class Rt>
bool read_msg(int fd, std::uint64_t& v) {
  char* p = reinterpret_cast<char*>(&v);
  std::size_t got = 0;
  while (got < sizeof v) {
    const ssize_t n = sy::io::read<Rt>(fd, p + got, sizeof v - got);
    if (n < 0) io_fail("read", errno);
    if (n == 0) {
      if (got == 0) return false;
      throw std::runtime_error("io_pingpong: EOF inside a message");
    }
    got += static_cast<std::size_t>(n);
  }
  return true;
}
template <class Rt>
void write_msg(int fd, std::uint64_t v) {
  if (sy::io::write_all<Rt>(fd, &v, sizeof v) != static_cast<ssize_t>(sizeof v)) io_fail("write", errno);
}

// Echoes until EOF, then closes its end. Returns the messages echoed.
template <class Rt>
std::int64_t echo(int fd, std::atomic<std::int64_t>& parked) {
  // relaxed: a progress count the main fiber polls; nothing else is published through it.
  parked.fetch_add(1, std::memory_order_relaxed);
  std::int64_t n = 0;
  std::uint64_t v;
  while (read_msg<Rt>(fd, v)) {
    write_msg<Rt>(fd, v + 1);
    ++n;
  }
  Rt::close_fd(fd);
  return n;
}

// Round trips on one pair's ping end; throws if an echo comes back wrong.
template <class Rt>
void ping(int fd, std::int64_t rounds) {
  for (std::int64_t i = 0; i < rounds; ++i) {
    std::uint64_t v = static_cast<std::uint64_t>(i);
    write_msg<Rt>(fd, v);
    if (!read_msg<Rt>(fd, v)) throw std::runtime_error("io_pingpong: echo side closed early");
    if (v != static_cast<std::uint64_t>(i) + 1)
      throw std::runtime_error("io_pingpong: echo " + std::to_string(v) + ", expected " + std::to_string(i + 1));
  }
}

template <class V>
double io_once(const IoConfig& cfg) {
  using Rt = sy::Runtime<V>;
  sy::Options o;
  o.carriers = static_cast<unsigned>(cfg.carriers);
  o.stack_size = 32 * 1024;
  o.guard = false;  // 9,000+ fibers: slabs, not two mappings each
  o.io_backend = cfg.backend;
  o.io_registration = cfg.registration;
  if (cfg.idle_spin_us >= 0) o.idle_spin = std::chrono::microseconds(cfg.idle_spin_us);  // else adaptive
  const auto n = static_cast<std::size_t>(cfg.pairs);
  std::vector<int> ping_fd(n, -1), echo_fd(n, -1);
  for (std::size_t i = 0; i < n; ++i) {
    int sv[2];
    if (sy::io::socketpair_nonblocking(sv) != 0) {
      const int err = errno;
      for (std::size_t j = 0; j < i; ++j) ::close(ping_fd[j]), ::close(echo_fd[j]);
      io_fail("socketpair", err);
    }
    ping_fd[i] = sv[0];
    echo_fd[i] = sv[1];
  }
  double ns = 0;
  Rt rt(o);
  rt.run([&] {
    std::atomic<std::int64_t> parked{0};
    std::vector<JoinHandle<std::int64_t>> echoes;
    echoes.reserve(n);
    for (std::size_t i = 0; i < n; ++i) echoes.push_back(Rt::spawn([&, i] { return echo<Rt>(echo_fd[i], parked); }));
    // Every echo fiber has started (and so gone straight into its first read, which finds
    // nothing and waits) before the clock starts; a short sleep covers one still between
    // the count and its wait on another carrier.
    while (parked.load(std::memory_order_relaxed) < cfg.pairs) Rt::sleep_for(std::chrono::milliseconds(1));
    Rt::sleep_for(std::chrono::milliseconds(5));
    std::int64_t total_rounds = 0;
    std::exception_ptr err;
    try {
      if (!cfg.all_active) {
        const auto t0 = std::chrono::steady_clock::now();
        ping<Rt>(ping_fd[0], cfg.ops);
        ns = std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - t0).count();
        total_rounds = cfg.ops;
      } else {
        std::vector<JoinHandle<void>> pings;
        pings.reserve(n);
        const auto t0 = std::chrono::steady_clock::now();
        for (std::size_t i = 0; i < n; ++i) {
          const std::int64_t mine = cfg.ops / cfg.pairs + (static_cast<std::int64_t>(i) < cfg.ops % cfg.pairs ? 1 : 0);
          total_rounds += mine;
          pings.push_back(Rt::spawn([&, i, mine] { ping<Rt>(ping_fd[i], mine); }));
        }
        for (auto& p : pings) p.join();
        ns = std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - t0).count();
      }
    } catch (...) {
      err = std::current_exception();
    }
    // Teardown: closing a ping end gives its echo fiber EOF; it then closes its own end.
    for (std::size_t i = 0; i < n; ++i) Rt::close_fd(ping_fd[i]);
    std::int64_t echoed = 0;
    for (auto& e : echoes) echoed += e.join();
    if (err) std::rethrow_exception(err);
    if (echoed != total_rounds)
      throw std::runtime_error("io_pingpong: " + std::to_string(echoed) + " echoes, expected " +
                               std::to_string(total_rounds));
  });
  return ns;
}

// Makes room for `need` descriptors: raises the soft limit to the hard one if needed.
// Returns why it cannot, or an empty string.
std::string ensure_fds(std::int64_t need, std::vector<std::string>& notes) {
  rlimit rl{};
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0) return std::string("getrlimit(RLIMIT_NOFILE): ") + std::strerror(errno);
  if (rl.rlim_cur != RLIM_INFINITY && static_cast<std::int64_t>(rl.rlim_cur) >= need) return {};
  if (rl.rlim_max != RLIM_INFINITY && static_cast<std::int64_t>(rl.rlim_max) < need)
    return "needs about " + std::to_string(need) + " file descriptors; the hard RLIMIT_NOFILE is " +
           std::to_string(rl.rlim_max);
  const auto old = rl.rlim_cur;
  rl.rlim_cur = rl.rlim_max;
  if (setrlimit(RLIMIT_NOFILE, &rl) != 0) return std::string("setrlimit(RLIMIT_NOFILE): ") + std::strerror(errno);
  notes.push_back("soft RLIMIT_NOFILE raised from " + std::to_string(old) + " to the hard limit " +
                  (rl.rlim_max == RLIM_INFINITY ? std::string("(unlimited)") : std::to_string(rl.rlim_max)) +
                  " for " + std::to_string(need) + " descriptors");
  return {};
}

Outcome run_io_pingpong(std::string_view variant, const nlohmann::json& p, int repetitions) {
  const std::string reg = p.at("registration").get<std::string>();
  const IoConfig cfg{p.at("pairs").get<std::int64_t>(),
                     p.at("ops").get<std::int64_t>(),
                     p.at("carriers").get<std::int64_t>(),
                     p.at("active").get<std::string>() == "all",
                     p.at("io_backend").get<std::string>() == "poll" ? IoBackend::poll : IoBackend::epoll,
                     reg == "persistent" ? IoRegistration::persistent
                     : reg == "level"    ? IoRegistration::level
                                         : IoRegistration::oneshot,
                     p.at("idle_spin_us").get<std::int64_t>()};
  Outcome out;
  out.params = p;
  // 2 per pair, plus the process's own, one epoll instance per carrier, and slack.
  if (auto why = ensure_fds(2 * cfg.pairs + 64 + cfg.carriers, out.notes); !why.empty())
    return Outcome::skipped(why);
  out.notes.push_back(
      cfg.all_active
          ? "active=all: every pair ping-pongs 8-byte messages (a ping fiber and an echo fiber per "
            "AF_UNIX socketpair); ns_per_roundtrip = wall time / all round trips (throughput)"
          : "active=one: the main fiber ping-pongs 8-byte messages with one echo fiber over one AF_UNIX "
            "socketpair while pairs-1 other echo fibers stay blocked in wait_fd on theirs; "
            "ns_per_roundtrip = the active pair's round trip");
  out.notes.push_back("every wait goes through Rt::wait_fd (sy::io::read/write_all retry on EAGAIN); io_backend=" +
                      p.at("io_backend").get<std::string>() + ", registration=" + reg +
                      "; stacks 32 KiB unguarded; timed: the round trips only; one untimed warm-up run first");
  if (cfg.carriers > 1)
    out.notes.push_back("carriers=" + std::to_string(cfg.carriers) +
                        ": which carrier runs each fiber is the scheduler's choice (FIFO: one shared queue; "
                        "Chase-Lev: a woken fiber returns to the carrier it waited on, idle carriers steal)");
  sy::with_variant(variant, [&]<class V>() {
    (void)io_once<V>(cfg);  // warm-up
    for (int r = 0; r < repetitions; ++r) {
      const double ns = io_once<V>(cfg);
      out.add("ns_per_roundtrip", "ns", ns / static_cast<double>(cfg.ops));
    }
  });
  out.peak_rss_kib = peak_rss_kib();
  return out;
}

}  // namespace

extern const Scenario kIoPingpong{
    .name = "io_pingpong",
    .summary = "socketpair ping-pong through the I/O poller, against idle waiting pairs: ns per round trip",
    .params = {{"pairs", "socket pairs (one echo fiber each); active=one: pairs-1 of them idle", 1, 1, 100000, {},
                false},
               {"active", "one: one pair ping-pongs, the rest wait; all: every pair ping-pongs", "one", 0, 0,
                {"one", "all"}, false},
               {"ops", "round trips (active=all: in all, split over the pairs)", 100000, 1, 1000000000, {}, false},
               {"carriers", "carrier threads (threads peer: CPUs)", 1, 1, 64, {}, false},
               {"registration", "epoll registration (Options::io_registration)", "oneshot", 0, 0,
                {"oneshot", "persistent", "level"}, false},
               {"io_backend", "I/O poller (Options::io_backend)", "epoll", 0, 0, {"epoll", "poll"}, false},
               kIdleSpinParam},
    .peers = {"threads"},
    .gbench_peers = {},
    .gbench = std::nullopt,
    .backends = {},
    .run = &run_io_pingpong,
    .has_instructions = false,
    // Threads block in read(2): no poller, so no backend or registration to choose.
    .peer_params = {{"threads", {"pairs", "active", "ops", "carriers"}}},
    .check = [](const nlohmann::json& p) {
      if (p.at("active").get<std::string>() == "all" && p.at("ops").get<std::int64_t>() < p.at("pairs").get<std::int64_t>())
        throw UsageError("parameter ops=" + p.at("ops").dump() + ": active=all needs at least one round trip per pair (pairs=" +
                         p.at("pairs").dump() + ")");
    },
};

}  // namespace sy::scenarios
