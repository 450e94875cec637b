// Scenario `stacks`: what a live, parked fiber costs in memory at a given stack size and
// guard setting, and what spawning it costs in time.
//
// One repetition: a runtime on one carrier; its main fiber spawns `fibers` fibers, each of
// which runs once and parks on a semaphore, so every stack is mapped and its top pages
// (the entry frame) touched. The process's resident and mapped size (/proc/self/statm)
// and its count of memory mappings (/proc/self/maps) are read before the spawns and once
// every fiber is parked: the growth over `fibers` is the memory per fiber, control block
// included. Then the semaphore releases them all and the runtime ends.
//
// Guarded stacks are two mappings each (guard page + usable region), so `fibers` with
// guard=on must fit vm.max_map_count (Linux's default 65530): a run that would not fit is
// a skipped entry saying so, never a failure midway. Unguarded stacks come from shared
// slabs (one mapping per slab of many stacks).
#include <malloc.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <stdexcept>
#include <string>

#include "scenario.h"
#include "switchyard/primitives.h"
#include "switchyard/variants.h"

namespace sy::scenarios {
namespace {

struct StacksConfig {
  std::int64_t fibers, stack_kib;
  bool guard;
};

constexpr std::int64_t kPageKib = 4;  // stacks are whole pages; the check refuses other sizes

StacksConfig stacks_config(const nlohmann::json& p) {
  StacksConfig c{p.at("fibers").get<std::int64_t>(), p.at("stack_kib").get<std::int64_t>(),
                 p.at("guard").get<std::string>() == "on"};
  // A size that is not whole pages would be rounded up by the allocator, and the figure
  // would plot memory against a size that was never used.
  if (c.stack_kib % kPageKib != 0)
    throw UsageError("stacks: stack_kib=" + std::to_string(c.stack_kib) + " is not a whole number of " +
                     std::to_string(kPageKib) + " KiB pages (use a multiple of " + std::to_string(kPageKib) + ")");
  return c;
}

struct ProcMemory {
  double mapped_kib = 0, resident_kib = 0, mappings = 0;
};

ProcMemory read_proc_memory() {
  ProcMemory m;
  const double page_kib = static_cast<double>(sysconf(_SC_PAGESIZE)) / 1024.0;
  std::FILE* f = std::fopen("/proc/self/statm", "r");
  if (!f) throw std::runtime_error("stacks: cannot read /proc/self/statm");
  long long size = 0, resident = 0;
  const int got = std::fscanf(f, "%lld %lld", &size, &resident);
  std::fclose(f);
  if (got != 2) throw std::runtime_error("stacks: /proc/self/statm has no size and resident fields");
  m.mapped_kib = static_cast<double>(size) * page_kib;
  m.resident_kib = static_cast<double>(resident) * page_kib;
  // One line per mapping.
  f = std::fopen("/proc/self/maps", "r");
  if (!f) throw std::runtime_error("stacks: cannot read /proc/self/maps");
  for (int ch; (ch = std::fgetc(f)) != EOF;)
    if (ch == '\n') m.mappings += 1;
  std::fclose(f);
  return m;
}

template <class V>
void one_repetition(const StacksConfig& cfg, Outcome* out) {
  using Rt = sy::Runtime<V>;
  sy::Options o;
  o.carriers = 1;
  o.stack_size = static_cast<std::size_t>(cfg.stack_kib) * 1024;
  o.guard = cfg.guard;
  const auto n = static_cast<std::size_t>(cfg.fibers);
  // Declared before the runtime, so they outlive every fiber that uses them.
  sy::Semaphore<Rt> gate;
  std::size_t parked = 0;  // one carrier: every fiber runs on this thread, no atomic needed
  Rt rt(o);
  rt.run([&] {
    // Heap pages freed by an earlier repetition would otherwise be reused without growing
    // RSS, and the later repetitions would read less than the first.
    malloc_trim(0);
    const ProcMemory before = read_proc_memory();
    const auto t0 = std::chrono::steady_clock::now();
    for (std::size_t i = 0; i < n; ++i)
      Rt::spawn([&] {
        ++parked;
        gate.acquire();
      }).detach();
    const double spawn_ns = std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - t0).count();
    // FIFO runs every spawned fiber on one yield; a LIFO deque may need several.
    while (parked < n) Rt::yield();
    const ProcMemory after = read_proc_memory();
    gate.release(static_cast<std::ptrdiff_t>(n));
    if (!out) return;  // the warm-up
    const double per = 1.0 / static_cast<double>(n);
    out->add("rss_kib_per_fiber", "KiB", (after.resident_kib - before.resident_kib) * per);
    out->add("mapped_kib_per_fiber", "KiB", (after.mapped_kib - before.mapped_kib) * per);
    out->add("mappings_per_fiber", "count", (after.mappings - before.mappings) * per);
    out->add("ns_per_spawn", "ns", spawn_ns * per);
  });
}

Outcome run_stacks(std::string_view variant, const nlohmann::json& p, int repetitions) {
  const StacksConfig cfg = stacks_config(p);
  Outcome out;
  out.params = p;
  if (cfg.guard) {
    if (const std::string why = guarded_stacks_exceed_map_count(cfg.fibers); !why.empty())
      return Outcome::skipped("guard=on with " + std::to_string(cfg.fibers) + " fibers needs " + why);
    out.notes.push_back("stacks: " + std::to_string(cfg.stack_kib) +
                        " KiB usable, guarded (a guard page each: two mappings per stack)");
  } else {
    out.notes.push_back("stacks: " + std::to_string(cfg.stack_kib) +
                        " KiB usable, unguarded (carved from shared slabs, canary instead of a guard page)");
  }
  out.notes.push_back(std::to_string(cfg.fibers) + " fibers spawned and parked on a semaphore, one carrier; "
                      "per fiber = growth of /proc/self/statm resident and size, and of /proc/self/maps lines, "
                      "over the fibers (control block included); ns_per_spawn = the spawn loop alone / fibers");
  out.notes.push_back("one untimed warm-up repetition first; malloc_trim before each reading");
  if (!cfg.guard)
    out.notes.push_back("unguarded: the slab allocator keeps one empty slab per size class mapped after the "
                        "warm-up and reuses it first, so mapped_kib_per_fiber is up to one slab (64 MiB) / "
                        "fibers below the stacks' own size");
  sy::with_variant(variant, [&]<class V>() {
    one_repetition<V>(cfg, nullptr);
    for (int r = 0; r < repetitions; ++r) one_repetition<V>(cfg, &out);
  });
  out.peak_rss_kib = peak_rss_kib();
  return out;
}

}  // namespace

extern const Scenario kStacks{
    .name = "stacks",
    .summary = "live parked fibers: memory per fiber (resident, mapped, mappings) and time per spawn, "
               "by stack size and guard",
    .params = {{"fibers", "live fibers, each parked (guard=on needs 2 mappings each: keep under "
                          "vm.max_map_count / 2)", 20000, 1, 1000000, {}, false},
               {"stack_kib", "usable stack per fiber (KiB, whole 4 KiB pages)", 64, 8, 1024, {}, false},
               {"guard", "guard pages (off: unguarded stacks from slabs)", "on", 0, 0, {"on", "off"}, false}},
    .peers = {},
    .gbench_peers = {},
    .gbench = std::nullopt,
    .backends = {},
    .run = &run_stacks,
    .has_instructions = false,
    .peer_params = {},
    .check = [](const nlohmann::json& p) { stacks_config(p); },
};

}  // namespace sy::scenarios
