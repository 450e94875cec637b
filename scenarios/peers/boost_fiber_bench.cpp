// Boost.Fiber in runtime_bench: the peer our yield and spawn+join are compared against,
// measured in the same binary and run as our own variants.
//
// Boost.Fiber as its users run it: the default scheduler (algo::round_robin, installed
// implicitly on first use in a thread) and the default stack allocator
// (boost::fibers::default_stack = boost::context::fixedsize_stack: 128 KiB from malloc,
// no guard page, freed when the fiber is destroyed).
//
//   BM_Yield/boost_fiber       the thread's main fiber and one other fiber yield to each
//                              other; ns_per_yield = one yield, i.e. one hand-off of the
//                              thread from one fiber to the other (two per iteration).
//   BM_SpawnJoin/boost_fiber   construct a boost::fibers::fiber with an empty body and
//                              join it; ns_per_spawn_join per pair.
//
// The counters are wall-clock nanoseconds measured around the benchmark loop, so they
// read in ns in every reporter (a kInvert rate counter would read in seconds).
#include <benchmark/benchmark.h>

#include <boost/fiber/all.hpp>
#include <chrono>
#include <cstdint>

namespace {

using Clock = std::chrono::steady_clock;

void BM_Yield_boost_fiber(benchmark::State& state) {
  bool done = false;
  std::int64_t partner_turns = 0;
  // With round_robin and only these two fibers ready, every yield hands the thread to
  // the other one: main yields -> partner runs one turn and yields -> main.
  boost::fibers::fiber partner([&] {
    while (!done) {
      ++partner_turns;
      boost::this_fiber::yield();
    }
  });
  // Let the partner start (its first turn includes its first switch-in).
  boost::this_fiber::yield();
  const std::int64_t turns_before = partner_turns;
  const auto start = Clock::now();
  for (auto _ : state) boost::this_fiber::yield();
  const double ns = std::chrono::duration<double, std::nano>(Clock::now() - start).count();
  done = true;
  partner.join();
  const std::int64_t iterations = std::int64_t(state.iterations());
  // The two must really alternate: the partner took exactly one turn per main yield.
  if (partner_turns - turns_before != iterations) {
    state.SkipWithError("Boost.Fiber yield did not alternate between the two fibers");
    return;
  }
  state.counters["ns_per_yield"] = ns / (2.0 * double(iterations));
}

void BM_SpawnJoin_boost_fiber(benchmark::State& state) {
  const auto start = Clock::now();
  for (auto _ : state) {
    boost::fibers::fiber child([] {});
    child.join();
  }
  const double ns = std::chrono::duration<double, std::nano>(Clock::now() - start).count();
  state.counters["ns_per_spawn_join"] = ns / double(state.iterations());
}

// Registered from a static initializer under the names the suite uses ("BM_Yield/<peer>").
[[maybe_unused]] const bool registered = [] {
  benchmark::RegisterBenchmark("BM_Yield/boost_fiber", BM_Yield_boost_fiber);
  benchmark::RegisterBenchmark("BM_SpawnJoin/boost_fiber", BM_SpawnJoin_boost_fiber);
  return true;
}();

}  // namespace
