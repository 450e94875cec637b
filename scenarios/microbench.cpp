// The scenarios a Google Benchmark binary already measures (one source of truth): the
// harness runs switch_bench / runtime_bench with a filter per variant or backend and
// converts each repetition's counter into one sample. No variant code here (only the
// registry's lists of names).
#include "scenario.h"
#include "switchyard/registry.h"

namespace sy::scenarios {

// The switch benchmark's entries: every switch backend of variants.def (switch_bench
// registers BM_Switch/<name> for the same lists), then the primitives without the
// interface, which switch_bench writes by hand for the built-in backends, and the system
// call ucontext's switch makes (sigprocmask: no switch, ucontext's share measured apart).
static std::vector<std::string_view> switch_entries() {
  std::vector<std::string_view> v;  // names with static storage: B::name, literals
  auto add = [&]<class B>() { v.push_back(B::name); };
  sy::tl::for_each(sy::AllSwitches{}, add);
  sy::tl::for_each(sy::BenchSwitches{}, add);
  for (const char* d : {"asm_direct", "asm_nofpu_direct", "ucontext_direct", "boost_direct", "sigprocmask"}) v.push_back(d);
  return v;
}

// The parameters these benchmarks run with: recorded, not settable.
static std::vector<ParamSpec> two_fibers_one_carrier() {
  return {{"carriers", "carriers the runtime runs on", 1, 1, 1, {}, true},
          {"fibers", "fibers taking turns", 2, 2, 2, {}, true}};
}

extern const Scenario kSwitch{
    .name = "switch",
    .summary = "one-way context switch per backend (switch_bench BM_Switch, thread CPU time); "
               "*_direct = the backend's primitive without the runtime's interface; sigprocmask = "
               "ucontext's system call alone",
    .params = {},
    .peers = {},
    .gbench_peers = {},
    .gbench = GbenchSource{"switch_bench", "BM_Switch/", "ns_per_switch", "ns"},
    .backends = switch_entries(),
    .run = nullptr,
    .has_instructions = true,
};

extern const Scenario kYield{
    .name = "yield",
    .summary = "full scheduler yield between two fibers on one carrier (runtime_bench BM_Yield, wall time)",
    .params = two_fibers_one_carrier(),
    .peers = {"boost_fiber", "threads", "go", "coro", "asio"},
    .gbench_peers = {"boost_fiber"},
    .gbench = GbenchSource{"runtime_bench", "BM_Yield/", "ns_per_yield", "ns"},
    .backends = {},
    .run = nullptr,
    .has_instructions = true,
};

extern const Scenario kSpawnJoin{
    .name = "spawn_join",
    .summary = "spawn an empty fiber and join it, on one carrier (runtime_bench BM_SpawnJoin, wall time)",
    .params = {{"carriers", "carriers the runtime runs on", 1, 1, 1, {}, true}},
    .peers = {"boost_fiber", "threads", "go", "coro", "asio"},
    .gbench_peers = {"boost_fiber"},
    .gbench = GbenchSource{"runtime_bench", "BM_SpawnJoin/", "ns_per_spawn_join", "ns"},
    .backends = {},
    .run = nullptr,
    .has_instructions = true,
};

}  // namespace sy::scenarios
