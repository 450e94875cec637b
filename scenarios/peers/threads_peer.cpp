// threads_peer: the OS-threads peer. What a fiber runtime is measured against when every
// "fiber" is a kernel thread: a hand-off is a futex wake plus a kernel context switch,
// a spawn is pthread_create, and blocking on a mutex sleeps in the kernel.
//
// Scenarios: yield (futex ping-pong between two threads pinned to one CPU), spawn_join
// (pthread_create + pthread_join), mutex (threads contending for a std::mutex, the same
// loop as scenarios/mutex.cpp), io_pingpong (blocking socketpair ping-pong, a thread per
// socket end, idle pairs' threads asleep in read). channel has no thread version in the
// suite and is reported as skipped.
// Protocol: see peer_main.h.
#include <linux/futex.h>
#include <pthread.h>
#include <sched.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "peer_main.h"
#include "../lcg.h"

namespace {

using namespace switchyard::peers;
using Clock = std::chrono::steady_clock;

double ns_since(Clock::time_point start) {
  return std::chrono::duration<double, std::nano>(Clock::now() - start).count();
}

// The CPUs this process may run on, in order.
std::vector<int> allowed_cpus() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof set, &set) != 0)
    throw Failed(std::string("sched_getaffinity: ") + std::strerror(errno));
  std::vector<int> cpus;
  for (int c = 0; c < CPU_SETSIZE; ++c)
    if (CPU_ISSET(c, &set)) cpus.push_back(c);
  return cpus;
}

// carriers = how many CPUs the threads may use. Its range does not depend on the machine
// (a command line valid on one machine is valid on all); more carriers than this process
// has CPUs is reported as skipped, after every parameter was read (so --list and --check
// see them all). The default is every allowed CPU.
constexpr std::int64_t kMaxCarriers = 1024;
std::int64_t carriers_param(Params& params, std::int64_t def) {
  return params.integer("carriers", def, 1, kMaxCarriers);
}
void skip_unless_cpus(std::int64_t carriers, const std::vector<int>& cpus) {
  if (carriers > std::int64_t(cpus.size()))
    throw Skipped("carriers=" + std::to_string(carriers) + ": the threads peer gives each carrier a CPU, and " +
                  "this process may run on " + std::to_string(cpus.size()) + " (sched_getaffinity)");
}

// Restricts the calling thread (and the threads it creates later, which inherit the
// mask) to the first `n` allowed CPUs. Returns a note naming them.
std::string restrict_to_cpus(const std::vector<int>& cpus, std::int64_t n) {
  cpu_set_t set;
  CPU_ZERO(&set);
  std::string names;
  for (std::int64_t i = 0; i < n; ++i) {
    CPU_SET(cpus[i], &set);
    names += (names.empty() ? "" : ",") + std::to_string(cpus[i]);
  }
  if (int rc = pthread_setaffinity_np(pthread_self(), sizeof set, &set); rc != 0)
    throw Failed(std::string("pthread_setaffinity_np: ") + std::strerror(rc));
  return names;
}

long futex(std::atomic<std::uint32_t>* word, int op, std::uint32_t value) {
  static_assert(sizeof(std::atomic<std::uint32_t>) == sizeof(std::uint32_t));
  return syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(word), op, value, nullptr, nullptr, 0);
}

// Blocks the caller until `gate` is opened, without spinning (the yield scenario's two
// threads share one CPU, where a spinner would steal the other's time slice).
void wait_for_gate(std::atomic<std::uint32_t>& gate) {
  // acquire: pairs with the release store in open_gate, so the timed section starts
  // after everything main set up.
  while (gate.load(std::memory_order_acquire) == 0) gate.wait(0, std::memory_order_acquire);
}
void open_gate(std::atomic<std::uint32_t>& gate) {
  gate.store(1, std::memory_order_release);  // pairs with the acquire in wait_for_gate
  gate.notify_all();
}

// ---- yield: futex ping-pong on one CPU --------------------------------------------

Plan prepare_yield(Params& params) {
  // Both threads on one CPU, so each hand-off is a real kernel context switch from one
  // to the other (on two CPUs it would be a cross-CPU wake-up instead).
  params.integer("carriers", 1, 1, 1);
  const std::int64_t handoffs = params.integer("ops", 200'000, 2, 1'000'000'000) / 2 * 2;
  const auto cpus = allowed_cpus();
  const int cpu = cpus.front();
  Plan plan;
  plan.notes.push_back("two threads pinned to cpu " + std::to_string(cpu) +
                       " with sched_setaffinity; futex ping-pong, no spinning; ns_per_yield is "
                       "one one-way hand-off (futex wake + futex wait + kernel context switch)");
  plan.repetition = [handoffs, cpu](Report& report) {
    // The word says whose turn it is (0 or 1). Each side waits in the kernel while it is
    // the other's turn, then passes the turn and wakes the other.
    std::atomic<std::uint32_t> turn{0};
    std::atomic<std::uint32_t> gate{0};
    std::atomic<bool> pin_failed{false};
    const std::int64_t rounds = handoffs / 2;
    auto side = [&](std::uint32_t me) {
      cpu_set_t set;
      CPU_ZERO(&set);
      CPU_SET(cpu, &set);
      if (sched_setaffinity(0, sizeof set, &set) != 0)  // 0: the calling thread
        pin_failed.store(true, std::memory_order_relaxed);
      wait_for_gate(gate);
      const std::uint32_t other = 1 - me;
      for (std::int64_t i = 0; i < rounds; ++i) {
        // acquire: pairs with the other side's release store below, so its writes
        // before passing the turn are visible once we see our turn.
        while (turn.load(std::memory_order_acquire) != me)
          futex(&turn, FUTEX_WAIT_PRIVATE, other);     // sleeps only while turn == other
        turn.store(other, std::memory_order_release);  // pairs with the acquire above
        futex(&turn, FUTEX_WAKE_PRIVATE, 1);
      }
    };
    std::thread a(side, 0u), b(side, 1u);
    auto start = Clock::now();
    open_gate(gate);
    a.join();
    b.join();
    const double ns = ns_since(start);
    if (pin_failed.load(std::memory_order_relaxed))
      throw Failed("sched_setaffinity to cpu " + std::to_string(cpu) + " failed");
    report.metric("ns_per_yield", "ns", ns / double(handoffs));
  };
  return plan;
}

// ---- spawn_join: pthread_create + pthread_join -------------------------------------

void* empty_thread(void*) { return nullptr; }

Plan prepare_spawn_join(Params& params) {
  const auto cpus = allowed_cpus();
  const std::int64_t carriers = carriers_param(params, std::int64_t(cpus.size()));
  const std::int64_t ops = params.integer("ops", 20'000, 1, 1'000'000'000);
  skip_unless_cpus(carriers, cpus);
  Plan plan;
  plan.notes.push_back(
      "pthread_create with default attributes (stack size from ulimit -s, "
      "glibc caches freed stacks) then pthread_join; cpus " +
      restrict_to_cpus(cpus, carriers));
  plan.repetition = [ops](Report& report) {
    auto start = Clock::now();
    for (std::int64_t i = 0; i < ops; ++i) {
      pthread_t thread;
      if (int rc = pthread_create(&thread, nullptr, empty_thread, nullptr); rc != 0)
        throw Failed(std::string("pthread_create: ") + std::strerror(rc));
      pthread_join(thread, nullptr);
    }
    report.metric("ns_per_spawn_join", "ns", ns_since(start) / double(ops));
  };
  return plan;
}

// ---- mutex: threads contending on a std::mutex -------------------------------------

// The work generator of the suite's mutex scenario (scenarios/lcg.h, go/mutex.go beside this file).
using sy::scenarios::kLcgA;
using sy::scenarios::kLcgC;
using sy::scenarios::lcg_skip;

Plan prepare_mutex(Params& params) {
  const auto cpus = allowed_cpus();
  const std::int64_t carriers = carriers_param(params, std::int64_t(cpus.size()));
  const std::int64_t threads = params.integer("fibers", 100, 1, 10'000);
  const std::int64_t ops = params.integer("ops", 1'000'000, 1, 1'000'000'000);
  const std::int64_t inside = params.integer("inside", 4, 0, 1000);
  const std::int64_t outside = params.integer("outside", 16, 0, 100'000);
  if (threads > ops) throw UsageError("fibers > ops: every thread needs at least one iteration");
  skip_unless_cpus(carriers, cpus);
  Plan plan;
  plan.notes.push_back(std::to_string(threads) + " threads on cpus " +
                       restrict_to_cpus(cpus, carriers) +
                       " share ops iterations of: std::mutex lock, " + std::to_string(inside) +
                       " steps of a shared LCG, unlock, " + std::to_string(outside) +
                       " steps of a private LCG; ns_per_lock = wall time / ops, time_s = wall "
                       "time; thread creation is outside the timed section");
  plan.repetition = [threads, ops, inside, outside](Report& report) {
    std::mutex mutex;
    std::int64_t counter = 0;  // guarded by mutex
    std::uint64_t shared = 1;  // guarded by mutex
    std::vector<std::uint64_t> sinks(threads);
    std::atomic<std::uint32_t> gate{0};
    std::vector<std::thread> pool;
    pool.reserve(threads);
    for (std::int64_t t = 0; t < threads; ++t) {
      // Split ops as evenly as possible; the first (ops % threads) take one more.
      const std::int64_t mine = ops / threads + (t < ops % threads ? 1 : 0);
      pool.emplace_back([&, t, mine] {
        wait_for_gate(gate);
        std::uint64_t local = std::uint64_t(t) + 1;
        for (std::int64_t i = 0; i < mine; ++i) {
          {
            std::lock_guard lock(mutex);
            ++counter;
            for (std::int64_t k = 0; k < inside; ++k) shared = shared * kLcgA + kLcgC;
          }
          for (std::int64_t k = 0; k < outside; ++k) local = local * kLcgA + kLcgC;
        }
        sinks[t] = local;  // keeps the private work observable
      });
    }
    auto start = Clock::now();
    open_gate(gate);
    for (auto& t : pool) t.join();
    const double ns = ns_since(start);
    if (counter != ops)
      throw Failed("mutex counter is " + std::to_string(counter) + ", expected " +
                   std::to_string(ops));
    if (shared != lcg_skip(1, std::uint64_t(ops * inside)))
      throw Failed("mutex shared state is wrong: a lost update");
    report.metric("ns_per_lock", "ns", ns / double(ops));
    report.metric("time_s", "s", ns / 1e9);
  };
  return plan;
}

// ---- io_pingpong: a thread per socket end, blocking read/write ------------------------

// Raises the soft RLIMIT_NOFILE to the hard limit when `need` descriptors do not fit.
void ensure_fds(std::int64_t need, std::vector<std::string>& notes) {
  rlimit rl{};
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0) throw Failed(std::string("getrlimit: ") + std::strerror(errno));
  if (rl.rlim_cur == RLIM_INFINITY || std::int64_t(rl.rlim_cur) >= need) return;
  if (rl.rlim_max != RLIM_INFINITY && std::int64_t(rl.rlim_max) < need)
    throw Skipped("needs about " + std::to_string(need) +
                  " file descriptors; the hard RLIMIT_NOFILE is " + std::to_string(rl.rlim_max));
  const auto old = rl.rlim_cur;
  rl.rlim_cur = rl.rlim_max;
  if (setrlimit(RLIMIT_NOFILE, &rl) != 0) throw Failed(std::string("setrlimit: ") + std::strerror(errno));
  notes.push_back("soft RLIMIT_NOFILE raised from " + std::to_string(old) + " to the hard limit " +
                  std::to_string(rl.rlim_max) + " for " + std::to_string(need) + " descriptors");
}

// Exactly n bytes; false at EOF before the first byte.
bool read_exact(int fd, void* buf, std::size_t n) {
  std::size_t got = 0;
  while (got < n) {
    const ssize_t r = ::read(fd, static_cast<char*>(buf) + got, n - got);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) throw Failed(std::string("read: ") + std::strerror(errno));
    if (r == 0) {
      if (got == 0) return false;
      throw Failed("EOF inside a message");
    }
    got += std::size_t(r);
  }
  return true;
}
void write_exact(int fd, const void* buf, std::size_t n) {
  std::size_t put = 0;
  while (put < n) {
    const ssize_t r = ::write(fd, static_cast<const char*>(buf) + put, n - put);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) throw Failed(std::string("write: ") + std::strerror(errno));
    put += std::size_t(r);
  }
}

// A joinable thread with a small stack (thousands of them).
class SmallThread {
 public:
  explicit SmallThread(std::function<void()> fn) : fn_(std::move(fn)) {
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, 64 * 1024);
    const int rc = pthread_create(&tid_, &attr, &SmallThread::trampoline, this);
    pthread_attr_destroy(&attr);
    if (rc != 0) throw Failed(std::string("pthread_create: ") + std::strerror(rc));
  }
  SmallThread(const SmallThread&) = delete;
  SmallThread& operator=(const SmallThread&) = delete;
  ~SmallThread() {
    if (!joined_) pthread_join(tid_, nullptr);
  }
  void join() {
    pthread_join(tid_, nullptr);
    joined_ = true;
  }

 private:
  static void* trampoline(void* self) {
    static_cast<SmallThread*>(self)->fn_();
    return nullptr;
  }
  std::function<void()> fn_;
  pthread_t tid_{};
  bool joined_ = false;
};

Plan prepare_io_pingpong(Params& params) {
  const auto cpus = allowed_cpus();
  const std::int64_t pairs = params.integer("pairs", 1, 1, 100'000);
  const bool all = params.choice("active", "one", {"one", "all"}) == "all";
  const std::int64_t ops = params.integer("ops", 100'000, 1, 1'000'000'000);
  const std::int64_t carriers = carriers_param(params, 1);
  if (all && ops < pairs) throw UsageError("active=all needs ops >= pairs");
  skip_unless_cpus(carriers, cpus);
  // An echo thread per pair, plus a ping thread per pair when all are active.
  const std::int64_t nthreads = pairs * (all ? 2 : 1) + 1;
  const std::int64_t threads_max = [] {
    FILE* f = std::fopen("/proc/sys/kernel/threads-max", "r");
    long long v = -1;
    if (f) {
      if (std::fscanf(f, "%lld", &v) != 1) v = -1;
      std::fclose(f);
    }
    return std::int64_t(v);
  }();
  rlimit nproc{};
  getrlimit(RLIMIT_NPROC, &nproc);
  if ((threads_max >= 0 && nthreads + 100 > threads_max) ||
      (nproc.rlim_cur != RLIM_INFINITY && nthreads + 100 > std::int64_t(nproc.rlim_cur)))
    throw Skipped(std::to_string(nthreads) + " threads do not fit: kernel.threads-max " +
                  std::to_string(threads_max) + ", RLIMIT_NPROC " +
                  (nproc.rlim_cur == RLIM_INFINITY ? std::string("unlimited")
                                                   : std::to_string(nproc.rlim_cur)));
  Plan plan;
  ensure_fds(2 * pairs + 64, plan.notes);
  plan.notes.push_back(
      std::string(all ? "active=all: a ping thread and an echo thread per AF_UNIX socketpair, "
                        "ns_per_roundtrip = wall time / all round trips"
                      : "active=one: the main thread ping-pongs with one echo thread while pairs-1 "
                        "echo threads stay blocked in read(2); ns_per_roundtrip = its round trip") +
      "; blocking sockets, 8-byte messages, 64 KiB thread stacks, cpus " +
      restrict_to_cpus(cpus, carriers) + "; thread start and teardown are outside the timed section");
  plan.repetition = [pairs, all, ops](Report& report) {
    std::vector<int> ping_fd(pairs, -1), echo_fd(pairs, -1);
    // Declared before the closer, so destroyed after it: on an early exit the closer's
    // closing the ping ends gives every echo thread EOF before its join.
    std::vector<std::unique_ptr<SmallThread>> echoes;
    echoes.reserve(pairs);
    struct Closer {
      std::vector<int>& a;
      std::vector<int>& b;
      ~Closer() {
        for (int fd : a)
          if (fd >= 0) ::close(fd);
        for (int fd : b)
          if (fd >= 0) ::close(fd);
      }
    } closer{ping_fd, echo_fd};
    for (std::int64_t i = 0; i < pairs; ++i) {
      int sv[2];
      if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0)
        throw Failed(std::string("socketpair: ") + std::strerror(errno));
      ping_fd[i] = sv[0];
      echo_fd[i] = sv[1];
    }
    // relaxed: counts read by main to know every echo thread has reached its read.
    std::atomic<std::int64_t> started{0}, echoed{0};
    std::atomic<bool> echo_failed{false};
    for (std::int64_t i = 0; i < pairs; ++i)
      echoes.push_back(std::make_unique<SmallThread>([&, fd = echo_fd[i]] {
        started.fetch_add(1, std::memory_order_relaxed);
        std::int64_t n = 0;
        try {
          std::uint64_t v;
          while (read_exact(fd, &v, sizeof v)) {
            ++v;
            write_exact(fd, &v, sizeof v);
            ++n;
          }
        } catch (const std::exception&) {
          echo_failed.store(true, std::memory_order_relaxed);
        }
        echoed.fetch_add(n, std::memory_order_relaxed);
      }));
    // Every echo thread has started and, after a moment, sleeps in read(2).
    while (started.load(std::memory_order_relaxed) < pairs)
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    auto ping = [&](int fd, std::int64_t rounds) {
      for (std::int64_t i = 0; i < rounds; ++i) {
        std::uint64_t v = std::uint64_t(i);
        write_exact(fd, &v, sizeof v);
        if (!read_exact(fd, &v, sizeof v)) throw Failed("echo side closed early");
        if (v != std::uint64_t(i) + 1) throw Failed("wrong echo");
      }
    };
    double ns = 0;
    if (!all) {
      auto start = Clock::now();
      ping(ping_fd[0], ops);
      ns = ns_since(start);
    } else {
      std::atomic<std::uint32_t> gate{0};
      std::atomic<bool> ping_failed{false};
      std::vector<std::unique_ptr<SmallThread>> pingers;
      pingers.reserve(pairs);
      try {
        for (std::int64_t i = 0; i < pairs; ++i) {
          const std::int64_t mine = ops / pairs + (i < ops % pairs ? 1 : 0);
          pingers.push_back(std::make_unique<SmallThread>([&, fd = ping_fd[i], mine] {
            wait_for_gate(gate);
            try {
              ping(fd, mine);
            } catch (const std::exception&) {
              ping_failed.store(true, std::memory_order_relaxed);
            }
          }));
        }
      } catch (...) {
        open_gate(gate);  // the pingers already started finish their rounds and join
        throw;
      }
      auto start = Clock::now();
      open_gate(gate);
      for (auto& t : pingers) t->join();
      ns = ns_since(start);
      if (ping_failed.load(std::memory_order_relaxed)) throw Failed("a ping thread failed");
    }
    // Closing the ping ends gives each echo thread EOF.
    for (auto& fd : ping_fd) ::close(fd), fd = -1;
    for (auto& t : echoes) t->join();
    if (echo_failed.load(std::memory_order_relaxed)) throw Failed("an echo thread failed");
    if (echoed.load(std::memory_order_relaxed) != ops)
      throw Failed("echoes " + std::to_string(echoed.load()) + ", expected " + std::to_string(ops));
    report.metric("ns_per_roundtrip", "ns", ns / double(ops));
  };
  return plan;
}

}  // namespace

int main(int argc, char** argv) {
  const std::vector<Scenario> scenarios = {
      {"yield", "two threads on one cpu handing it to each other through a futex", prepare_yield},
      {"spawn_join", "pthread_create + pthread_join", prepare_spawn_join},
      {"mutex", "threads contending for a std::mutex (short critical and non-critical work)",
       prepare_mutex},
      {"io_pingpong", "socketpair ping-pong, a thread per socket end, against idle blocked threads",
       prepare_io_pingpong},
      {"channel",
       "no OS-thread channel in the suite: the channel scenario compares fiber channels with "
       "Go's",
       nullptr},
  };
  return run_peer(argc, argv, "threads", scenarios);
}
