// Scenario `gc_scan`: what it costs to make suspended fiber stacks roots of the Boehm
// collector (runtimes/include/switchyard/gc.h, DESIGN.md section 11).
//
// measure=pause: `fibers` fibers each go `depth_kib` deep (1 KiB frames, every byte
// written), keep one GC object in a local and park. The main fiber (1 MiB stack) then times
// full collections (GC_gcollect, wall time): pause_ms. scan=used pushes each suspended stack
// from its saved sp; scan=whole pushes the whole usable region (the naive comparison).
// Stacks are unguarded for every cell (30k guarded stacks would need 60k memory mappings),
// and no collection runs while the workers build their stacks (GC_disable), so none runs
// on their small stacks.
// measure=switch: two fibers on one carrier yield to each other (as BM_Yield): ns_per_yield
// with the collector integration off, or attached with each design.
#include <atomic>
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include "scenario.h"
#include "switchyard/variants.h"

#ifdef SY_HAVE_BDWGC
#define GC_THREADS 1
#define GC_NO_THREAD_REDIRECTS 1
#include <gc/gc.h>

#include "switchyard/gc.h"
#endif

namespace sy::scenarios {
namespace {

#ifdef SY_HAVE_BDWGC

std::atomic<std::int64_t> g_used_bytes{0};  // sum over workers of stack used at the park

// Goes `kib` KiB deep in 1 KiB frames, then parks until released.
template <class Rt>
[[gnu::noinline]] void dive(int kib, const char* top, const bool* release) {
  if (kib > 1) {
    volatile char pad[1024];
    for (int i = 0; i < 1024; ++i) pad[i] = static_cast<char>(i);
    dive<Rt>(kib - 1, top, release);
    pad[0] = pad[1];
    return;
  }
  g_used_bytes.fetch_add(top - static_cast<const char*>(__builtin_frame_address(0)), std::memory_order_relaxed);
  Rt::park([release] { return *release; });
}

template <class V>
Outcome pause(const nlohmann::json& p, int reps) {
  using Rt = Runtime<V>;
  const std::string design = p.at("design").get<std::string>();
  const std::int64_t fibers = p.at("fibers").get<std::int64_t>();
  const int depth = static_cast<int>(p.at("depth_kib").get<std::int64_t>());
  const std::int64_t stack_kib = p.at("stack_kib").get<std::int64_t>();
  const gc::Scan scan = p.at("scan").get<std::string>() == "whole" ? gc::Scan::whole : gc::Scan::used;
  if (design == "off")
    return Outcome::skipped("design=off: without the integration the collector cannot scan fiber stacks "
                            "(measure=switch measures it)");
  // The control block, the park's frames and the colouring offset need about 2 KiB above
  // the frames counted in depth_kib.
  if ((depth + 2) * 1024 > stack_kib * 1024)
    return Outcome::skipped("used depth " + std::to_string(depth) + " KiB does not fit a " +
                            std::to_string(stack_kib) + " KiB stack");
  const std::int64_t need_kib = fibers * (depth + 4);
  const std::int64_t avail = mem_available_kib();
  if (avail >= 0 && need_kib > avail * 8 / 10)
    return Outcome::skipped(std::to_string(fibers) + " fibers " + std::to_string(depth) + " KiB deep need about " +
                            std::to_string(need_kib / 1024) + " MiB resident, MemAvailable is " +
                            std::to_string(avail / 1024) + " MiB");
  gc::Roots<V> roots({.design = design == "locked" ? gc::Design::locked : gc::Design::sp, .scan = scan});
  Options o;
  o.carriers = 1;
  o.stack_size = static_cast<std::size_t>(stack_kib) * 1024;
  o.guard = false;
  o.pool_cap = static_cast<std::size_t>(fibers) + 16;
  o.hooks = roots.hooks();
  Rt rt(o);
  roots.attach(rt);
  Outcome out;
  out.params = p;
  g_used_bytes.store(0);
  std::string error;
  SpawnOptions main_so;
  main_so.stack_size = 1 << 20;  // the collections run on this fiber's stack
  rt.run(
      [&] {
        bool release = false;
        std::vector<JoinHandle<void>> hs;
        hs.reserve(static_cast<std::size_t>(fibers));
        GC_disable();
        for (std::int64_t i = 0; i < fibers; ++i) {
          // One object per fiber, allocated here: bdwgc's allocator zeroes up to 16 KiB of
          // stack below its caller now and then (GC_clear_stack), more than a 16 KiB fiber
          // stack has. The worker holds it in its capture and a local.
          void* obj = GC_MALLOC(64);
          hs.push_back(Rt::spawn([&release, depth, obj] {
            void* volatile mine = obj;
            const char* top = static_cast<const char*>(Rt::current()->stack.hi());
            dive<Rt>(depth, top, &release);
            if (!mine) std::abort();
          }));
        }
        Rt::yield();  // every worker runs to its park
        GC_enable();
        GC_gcollect();  // warm: first touch of every scanned page
        for (int r = 0; r < reps; ++r) {
          const auto t0 = std::chrono::steady_clock::now();
          GC_gcollect();
          const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
          const gc::Stats st = gc::last_stats();
          out.add("pause_ms", "ms", ms);
          out.add("pushed_kib", "KiB", static_cast<double>(st.bytes) / 1024.0);
          if (st.stacks != static_cast<std::uint64_t>(fibers))
            error = "pushed " + std::to_string(st.stacks) + " suspended stacks, expected " + std::to_string(fibers);
        }
        release = true;
        for (auto& h : hs) h.join();
      },
      main_so);
  if (!error.empty()) throw std::runtime_error(error);
  if (fibers > 0)
    out.add("used_kib", "KiB", static_cast<double>(g_used_bytes.load()) / static_cast<double>(fibers) / 1024.0);
  out.notes.push_back("pause_ms: wall time of GC_gcollect() from a fiber on 1 carrier, one sample per repetition, "
                      "after one warm-up collection; bdwgc parallel markers: " +
                      std::to_string(GC_get_parallel() ? 1 : 0));
  out.notes.push_back("pushed_kib: bytes our root pusher handed the collector (suspended stacks, the carrier's own "
                      "stack part, scheduler context); used_kib: mean stack used per worker at its park");
  out.notes.push_back("stacks: unguarded (slabs) in every cell; collector disabled while the workers build their "
                      "stacks");
  out.peak_rss_kib = peak_rss_kib();
  return out;
}

template <class V, class Roots>
double yields_ns(Roots* roots, std::int64_t n) {
  using Rt = Runtime<V>;
  Options o;
  o.carriers = 1;
  if (roots) o.hooks = roots->hooks();
  Rt rt(o);
  if (roots) roots->attach(rt);
  double ns = 0;
  rt.run([&] {
    bool done = false;
    auto partner = Rt::spawn([&] {
      while (!done) Rt::yield();
    });
    for (int i = 0; i < 10000; ++i) Rt::yield();  // warm
    const auto t0 = std::chrono::steady_clock::now();
    for (std::int64_t i = 0; i < n; ++i) Rt::yield();
    ns = std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - t0).count();
    done = true;
    partner.join();
  });
  return ns / static_cast<double>(2 * n);  // each loop turn is two yields (ours, the partner's)
}

template <class V>
Outcome switch_cost(const nlohmann::json& p, int reps) {
  const std::string design = p.at("design").get<std::string>();
  Outcome out;
  out.params = p;
  constexpr std::int64_t kTurns = 500000;
  for (int r = 0; r < reps; ++r) {
    double ns;
    if (design == "off") {
      ns = yields_ns<V, gc::Roots<V>>(nullptr, kTurns);
    } else {
      gc::Roots<V> roots({.design = design == "locked" ? gc::Design::locked : gc::Design::sp});
      ns = yields_ns<V>(&roots, kTurns);
    }
    out.add("ns_per_yield", "ns", ns);
  }
  out.notes.push_back("ns_per_yield: one full scheduler yield (two fibers on one carrier, " +
                      std::to_string(2 * kTurns) + " yields per sample); design=off: no collector integration; "
                      "sp: attached, nothing per switch; locked: collector lock and stack bottom per switch");
  out.peak_rss_kib = peak_rss_kib();
  return out;
}

Outcome run_gc_scan(std::string_view variant, const nlohmann::json& p, int reps) {
  return with_variant(variant, [&]<class V>() {
    if (p.at("measure").get<std::string>() == "switch") return switch_cost<V>(p, reps);
    return pause<V>(p, reps);
  });
}

#else

Outcome run_gc_scan(std::string_view, const nlohmann::json&, int) {
  return Outcome::skipped("built without libgc-dev (bdw-gc): `make deps` installs it, then rebuild");
}

#endif

}  // namespace

extern const Scenario kGcScan{
    .name = "gc_scan",
    .summary = "Boehm GC with suspended fiber stacks as roots: collection pause, per-switch cost",
    .params = {{"measure", "pause: full-collection pause; switch: cost per yield", "pause", 0, 0, {"pause", "switch"},
                false},
               {"design", "how carriers tell the collector their stack (gc.h)", "sp", 0, 0, {"sp", "locked", "off"},
                false},
               {"scan", "suspended stacks: used part (from saved sp) or whole region", "used", 0, 0,
                {"used", "whole"}, false},
               {"fibers", "suspended fibers", 1000, 0, 1000000, {}, false},
               {"depth_kib", "stack each suspended fiber uses (KiB, about)", 1, 1, 1024, {}, false},
               {"stack_kib", "usable stack per fiber (KiB)", 256, 8, 4096, {}, false}},
    .peers = {},
    .gbench_peers = {},
    .gbench = std::nullopt,
    .backends = {},
    .run = &run_gc_scan,
    .has_instructions = false,
};

}  // namespace sy::scenarios
