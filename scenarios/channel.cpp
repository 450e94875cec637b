// Scenario `channel`: ping-pong between two fibers over two unbuffered sy::Channels.
//
// The driver (the runtime's main fiber) sends a value on `ping`; an echo fiber receives it
// and sends value + 1 back on `pong`. One round trip is two hand-offs, one hand-off = one
// value moving from a sender to a receiver: ns_per_handoff = wall time / (2 x round trips),
// exactly how the Go peer (scenarios/peers/go/channel.go) and the Boost.Fiber peer count theirs. The clock
// covers the round trips only: runtime start, the echo fiber's spawn and the runtime's
// shutdown are outside it, as the goroutine's start is outside Go's.
#include <chrono>
#include <cstdint>
#include <stdexcept>
#include <string>

#include "scenario.h"
#include "switchyard/primitives.h"
#include "switchyard/variants.h"

namespace sy::scenarios {
namespace {

template <class V>
double channel_once(std::int64_t carriers, std::int64_t rounds) {
  using Rt = sy::Runtime<V>;
  sy::Options o;
  o.carriers = static_cast<unsigned>(carriers);
  o.stack_size = 64 * 1024;
  Rt rt(o);
  return rt.run([rounds] {
    sy::Channel<std::int64_t, Rt> ping, pong;
    auto echo = Rt::spawn([&] {
      std::int64_t n = 0;
      while (auto v = ping.receive()) {
        ++n;
        pong.send(*v + 1);
      }
      return n;
    });
    std::int64_t v = 0;
    const auto t0 = std::chrono::steady_clock::now();
    for (std::int64_t i = 0; i < rounds; ++i) {
      ping.send(v);
      v = *pong.receive();  // pong is never closed: always a value
    }
    const double ns = std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - t0).count();
    ping.close();
    const std::int64_t echoed = echo.join();
    // Each echo adds one: a lost or duplicated value shows here.
    if (echoed != rounds || v != rounds)
      throw std::runtime_error("channel ping-pong: " + std::to_string(echoed) + " echoes, value " +
                               std::to_string(v) + ", expected " + std::to_string(rounds));
    return ns;
  });
}

Outcome run_channel(std::string_view variant, const nlohmann::json& p, int repetitions) {
  const std::int64_t carriers = p.at("carriers").get<std::int64_t>();
  const std::int64_t handoffs = p.at("ops").get<std::int64_t>() / 2 * 2;
  const std::int64_t rounds = handoffs / 2;
  Outcome out;
  out.params = p;
  out.notes.push_back("two fibers, unbuffered sy::Channel<int64_t> ping and pong; one hand-off = one value "
                      "moving from sender to receiver; ns_per_handoff = wall time / (2 x round trips), "
                      "as the go and boost_fiber peers count");
  out.notes.push_back("timed: the round trips only (not the runtime's start, the echo fiber's spawn, or "
                      "shutdown); one untimed warm-up run of the same length first");
  if (carriers > 1)
    out.notes.push_back("carriers=" + std::to_string(carriers) +
                        ": where the two fibers run is the scheduler's choice (FIFO: one shared queue; "
                        "Chase-Lev: a woken fiber goes to its carrier, idle carriers steal)");
  sy::with_variant(variant, [&]<class V>() {
    (void)channel_once<V>(carriers, rounds);  // warm-up: stacks, pages, caches
    for (int r = 0; r < repetitions; ++r)
      out.add("ns_per_handoff", "ns", channel_once<V>(carriers, rounds) / static_cast<double>(handoffs));
  });
  out.peak_rss_kib = peak_rss_kib();
  return out;
}

}  // namespace

extern const Scenario kChannel{
    .name = "channel",
    .summary = "ping-pong between two fibers over unbuffered channels: ns per hand-off (vs Go's chan)",
    .params = {{"ops", "hand-offs (two per round trip; rounded down to even)", 1000000, 2, 1000000000, {}, false},
               {"carriers", "carrier threads (Go: GOMAXPROCS)", 1, 1, 64, {}, false}},
    .peers = {"go", "boost_fiber", "coro"},
    .gbench_peers = {},
    .gbench = std::nullopt,
    .backends = {},
    .run = &run_channel,
    .has_instructions = false,
};

}  // namespace sy::scenarios
