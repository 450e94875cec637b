// The child side of `--instructions`: exactly N operations between two callgrind
// collection toggles, so that callgrind's event total divided by N is the instruction
// count of one operation. Started as
//   valgrind --tool=callgrind --collect-atstart=no ... switchyard instr-child --op OP ...
// Outside valgrind the toggles are no-ops (the client-request macros cost a few
// instructions and do nothing), so the mode can be tried without it.
//
// The operations are the ones the time benchmarks measure (runtime_bench, switch_bench):
//   yield       two fibers on one carrier; one op = one yield (a hand-off to the other)
//   spawn_join  one op = spawn an empty fiber and join it
//   switch      sy::switch_to<B> ping-pong; one op = one one-way switch
// Everything runs warm: the same operations run untoggled first (pool filled, lazy
// binding resolved), so the count is the steady state.
#include <sys/mman.h>
#include <valgrind/callgrind.h>

#include <cstdio>
#include <string>

#include "instructions.h"
#include "switchyard/variants.h"

namespace sy::harness {
namespace {

template <class V>
void yield_ops(long ops) {
  using Rt = sy::Runtime<V>;
  sy::Options o;
  o.carriers = 1;  // one carrier: the count is deterministic
  Rt rt(o);
  rt.run([&] {
    bool done = false;
    auto partner = Rt::spawn([&] {
      while (!done) Rt::yield();
    });
    for (int i = 0; i < 1000; ++i) Rt::yield();  // warm-up
    const long rounds = ops / 2;                   // each round: our yield + the partner's
    CALLGRIND_TOGGLE_COLLECT;
    for (long i = 0; i < rounds; ++i) Rt::yield();
    CALLGRIND_TOGGLE_COLLECT;
    done = true;
    partner.join();
  });
}

template <class V>
void spawn_join_ops(long ops) {
  using Rt = sy::Runtime<V>;
  sy::Options o;
  o.carriers = 1;  // one carrier: the count is deterministic
  Rt rt(o);
  rt.run([&] {
    for (int i = 0; i < 100; ++i) Rt::spawn([] {}).join();  // warm-up: the pool holds a stack
    CALLGRIND_TOGGLE_COLLECT;
    for (long i = 0; i < ops; ++i) Rt::spawn([] {}).join();
    CALLGRIND_TOGGLE_COLLECT;
  });
}

template <class B>
struct PingPong {
  typename B::Context main, fib;
  bool done = false;
  static void entry(void* p) {
    auto* s = static_cast<PingPong*>(p);
    while (!s->done) sy::switch_to<B>(s->fib, s->main);
    sy::switch_to_final<B>(s->fib, s->main);
  }
};

template <class B>
void switch_ops(long ops) {
  constexpr std::size_t kStack = 256 * 1024;
  void* mem = mmap(nullptr, kStack, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (mem == MAP_FAILED) throw std::runtime_error("mmap of the switch stack failed");
  PingPong<B> pp;
  B::make(pp.fib, sy::StackRange{mem, kStack}, &PingPong<B>::entry, &pp);
  for (int i = 0; i < 1000; ++i) sy::switch_to<B>(pp.main, pp.fib);  // warm-up round trips
  const long rounds = ops / 2;  // a round trip is two one-way switches
  CALLGRIND_TOGGLE_COLLECT;
  for (long i = 0; i < rounds; ++i) sy::switch_to<B>(pp.main, pp.fib);
  CALLGRIND_TOGGLE_COLLECT;
  pp.done = true;
  sy::switch_to<B>(pp.main, pp.fib);
  B::destroy(pp.fib);
  B::destroy(pp.main);
  munmap(mem, kStack);
}

}  // namespace

// Every switch backend of variants.def: the variants' (SY_SWITCH) and the benchmark-only
// ones (SY_BENCH_SWITCH), in registry order.
const std::vector<std::string>& instruction_backends() {
  static const std::vector<std::string> b = [] {
    std::vector<std::string> names;
    auto add = [&]<class B>() { names.emplace_back(B::name); };
    sy::tl::for_each(sy::AllSwitches{}, add);
    sy::tl::for_each(sy::BenchSwitches{}, add);
    return names;
  }();
  return b;
}

// Returns the number of operations done (ops rounded down to what the op measures).
long instructions_child(const std::string& op, const std::string& who, long ops) {
  if (op == "yield") {
    sy::with_variant(who, [&]<class V>() { yield_ops<V>(ops); });
    return ops / 2 * 2;
  }
  if (op == "spawn_join") {
    sy::with_variant(who, [&]<class V>() { spawn_join_ops<V>(ops); });
    return ops;
  }
  if (op == "switch") {
    bool found = false;
    auto run = [&]<class B>() {
      if (found || who != B::name) return;
      found = true;
      switch_ops<B>(ops);
    };
    sy::tl::for_each(sy::AllSwitches{}, run);
    sy::tl::for_each(sy::BenchSwitches{}, run);
    if (!found) throw std::invalid_argument("no instruction-count mode for switch backend '" + who + "'");
    return ops / 2 * 2;
  }
  throw std::invalid_argument("no instruction-count mode for '" + op + "'");
}

}  // namespace sy::harness
