// BM_Yield/<variant>: two fibers on one carrier yield to each other; ns_per_yield is one
// yield, i.e. one fiber handing the carrier to the other (a full scheduler yield: queue
// push, queue pop, maintenance check, one switch). Two yields per iteration.
// BM_SpawnJoin/<variant>: a fiber spawns an empty fiber and joins it; ns_per_spawn_join per
// pair (stack from the variant's allocator, control block on that stack, two switches).
// Both run on every variant of variants.def in this binary; Boost.Fiber's are in
// scenarios/peers/boost_fiber_bench.cpp.
// Counters are wall-clock ns measured around the benchmark loop inside the fiber.
#include <benchmark/benchmark.h>

#include <chrono>
#include <string>

#include "switchyard/variants.h"

namespace {

using BClock = std::chrono::steady_clock;

void report(benchmark::State& st, BClock::time_point t0, const char* name, double per_iter) {
  const double ns = std::chrono::duration<double, std::nano>(BClock::now() - t0).count();
  st.counters[name] = ns / (per_iter * static_cast<double>(st.iterations()));
}

template <class V>
void BM_Yield(benchmark::State& st) {
  using Rt = sy::Runtime<V>;
  sy::Options o;
  o.carriers = 1;
  Rt rt(o);
  rt.run([&] {
    bool done = false;
    auto partner = Rt::spawn([&] {
      while (!done) Rt::yield();
    });
    Rt::yield();  // partner starts
    auto t0 = BClock::now();
    for (auto _ : st) Rt::yield();
    report(st, t0, "ns_per_yield", 2);
    done = true;
    partner.join();
  });
}

template <class V>
void BM_SpawnJoin(benchmark::State& st) {
  using Rt = sy::Runtime<V>;
  sy::Options o;
  o.carriers = 1;
  Rt rt(o);
  rt.run([&] {
    Rt::spawn([] {}).join();  // warm the pool
    auto t0 = BClock::now();
    for (auto _ : st) Rt::spawn([] {}).join();
    report(st, t0, "ns_per_spawn_join", 1);
  });
}

const bool registered = [] {
  sy::for_each_variant([]<class V>() {
    benchmark::RegisterBenchmark(("BM_Yield/" + V::name()).c_str(), &BM_Yield<V>);
    benchmark::RegisterBenchmark(("BM_SpawnJoin/" + V::name()).c_str(), &BM_SpawnJoin<V>);
  });
  // BM_Yield for the benchmark-only switch backends of variants.def (SY_BENCH_SWITCH), on
  // the registry's first stack allocator and scheduler: inside the full runtime they answer
  // what saving the FP control modes costs per yield (asm_nofpu), and what the `ret`
  // continuation the switch benchmark rejects does when every switch leaves from the same
  // call site, which changes what the return predictor sees (asm_ret, asm_nofpu_ret).
  sy::tl::for_each(sy::BenchSwitches{}, []<class B>() {
    using V = sy::Variant<B, sy::tl::at<0, sy::AllStackAllocators>, sy::tl::at<0, sy::Schedulers>>;
    benchmark::RegisterBenchmark(("BM_Yield/" + V::name()).c_str(), &BM_Yield<V>);
  });
  return true;
}();

}  // namespace
