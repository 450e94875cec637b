// threads_peer: the OS-threads peer. What a fiber runtime is measured against when every
// "fiber" is a kernel thread: a hand-off is a futex wake plus a kernel context switch,
// a spawn is pthread_create, and blocking on a mutex sleeps in the kernel.
//
// Scenarios: yield (futex ping-pong between two threads pinned to one CPU), spawn_join
// (pthread_create + pthread_join), mutex (threads incrementing a counter under
// std::mutex). channel has no thread version in the suite and is reported as skipped.
// Protocol: see peer_main.h.
#include <linux/futex.h>
#include <pthread.h>
#include <sched.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <mutex>
#include <thread>

#include "peer_main.h"

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
  const std::int64_t carriers =
      params.integer("carriers", std::int64_t(cpus.size()), 1, std::int64_t(cpus.size()));
  const std::int64_t ops = params.integer("ops", 20'000, 1, 1'000'000'000);
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

Plan prepare_mutex(Params& params) {
  const auto cpus = allowed_cpus();
  const std::int64_t carriers =
      params.integer("carriers", std::int64_t(cpus.size()), 1, std::int64_t(cpus.size()));
  const std::int64_t threads = params.integer("fibers", 100, 1, 10'000);
  const std::int64_t ops = params.integer("ops", 1'000'000, 1, 1'000'000'000);
  Plan plan;
  plan.notes.push_back(std::to_string(threads) + " threads on cpus " +
                       restrict_to_cpus(cpus, carriers) +
                       " share ops increments of one counter under std::mutex; ns_per_lock = "
                       "wall time / ops (one lock + increment + unlock); thread creation is "
                       "outside the timed section");
  plan.repetition = [threads, ops](Report& report) {
    std::mutex mutex;
    std::uint64_t counter = 0;  // guarded by mutex
    std::atomic<std::uint32_t> gate{0};
    std::vector<std::thread> pool;
    pool.reserve(threads);
    for (std::int64_t t = 0; t < threads; ++t) {
      // Split ops as evenly as possible; the first (ops % threads) take one more.
      const std::int64_t mine = ops / threads + (t < ops % threads ? 1 : 0);
      pool.emplace_back([&, mine] {
        wait_for_gate(gate);
        for (std::int64_t i = 0; i < mine; ++i) {
          std::lock_guard lock(mutex);
          ++counter;
        }
      });
    }
    auto start = Clock::now();
    open_gate(gate);
    for (auto& t : pool) t.join();
    const double ns = ns_since(start);
    if (counter != std::uint64_t(ops))
      throw Failed("mutex counter is " + std::to_string(counter) + ", expected " +
                   std::to_string(ops));
    report.metric("ns_per_lock", "ns", ns / double(ops));
  };
  return plan;
}

}  // namespace

int main(int argc, char** argv) {
  const std::vector<Scenario> scenarios = {
      {"yield", "two threads on one cpu handing it to each other through a futex", prepare_yield},
      {"spawn_join", "pthread_create + pthread_join", prepare_spawn_join},
      {"mutex", "threads incrementing a counter under std::mutex", prepare_mutex},
      {"channel",
       "no OS-thread channel in the suite: the channel scenario compares fiber channels with "
       "Go's",
       nullptr},
  };
  return run_peer(argc, argv, "threads", scenarios);
}
