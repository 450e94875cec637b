// BM_Yield/<variant>: two fibers on one carrier yield to each other; ns_per_yield is one
// yield, i.e. one fiber handing the carrier to the other (a full scheduler yield: queue
// push, queue pop, maintenance check, one switch). Two yields per iteration.
// BM_SpawnJoin/<variant>: a fiber spawns an empty fiber and joins it; ns_per_spawn_join per
// pair (stack from the variant's allocator, control block on that stack, two switches).
// Both run on all 12 variants in this binary; Boost.Fiber's are in scenarios/peers/boost_fiber_bench.cpp.
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
  // The asm switch's other FPU policy inside the full runtime (not one of the 12 variants;
  // it answers what saving MXCSR and the x87 control word costs per yield).
  // Likewise the `ret` continuation the switch benchmark rejects: inside the runtime every
  // switch leaves from the same call site, which changes what the return predictor sees.
  using NoFpu = sy::Variant<sy::AsmNoFpuSwitch, sy::PooledStacks, sy::FifoSched>;
  using Ret = sy::Variant<sy::AsmRetSwitch, sy::PooledStacks, sy::FifoSched>;
  using NoFpuRet = sy::Variant<sy::AsmNoFpuRetSwitch, sy::PooledStacks, sy::FifoSched>;
  benchmark::RegisterBenchmark(("BM_Yield/" + NoFpu::name()).c_str(), &BM_Yield<NoFpu>);
  benchmark::RegisterBenchmark(("BM_Yield/" + Ret::name()).c_str(), &BM_Yield<Ret>);
  benchmark::RegisterBenchmark(("BM_Yield/" + NoFpuRet::name()).c_str(), &BM_Yield<NoFpuRet>);
  return true;
}();

}  // namespace
