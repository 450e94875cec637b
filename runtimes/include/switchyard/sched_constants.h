// The scheduling constants of the carrier loop, in one place (runtimes/SCHEDULER.md cites
// them by name). Each says where it acts and why it has its value. Changing one changes
// what the benchmarks measure: re-measure (instructions per yield, spawn_join, the I/O
// scenarios) and say so in the commit.
#pragma once

#include <chrono>
#include <cstdint>

namespace sy::sched_constants {

// Carrier::next_runnable: maintenance (pending list, I/O, deadlines, predicates) runs at
// least once every kBackstopRuns runs even while the run queue never empties, so a busy
// queue cannot starve timers and remote wakes; the chaselev policy serves its yield FIFO
// first at that point (sched.h), so a yielder waits for at most this many other runs.
inline constexpr unsigned kBackstopRuns = 64;

// Carrier::switch_out: a lone yielder (nothing else runnable on its carrier) keeps running
// without a switch, except every kLoneYieldInterval-th yield while another carrier is
// idle: then it is published so the idle carrier may take it. A power of two (the check
// is a mask); it bounds the wake cost to one kick per this many yields.
inline constexpr unsigned kLoneYieldInterval = 64;
static_assert((kLoneYieldInterval & (kLoneYieldInterval - 1)) == 0, "a mask is taken");

// Carrier::maintenance: while fibers wait on fds, a carrier that never idles looks at its
// poller without blocking every kIoPollInterval-th maintenance (one that idles collects
// ready fds in its block). A power of two (the check is a mask).
inline constexpr unsigned kIoPollInterval = 16;
static_assert((kIoPollInterval & (kIoPollInterval - 1)) == 0, "a mask is taken");

// Carrier::idle: with deadlines pending, one block lasts at most this long (a deadline
// inserted by another carrier's wake, or a clock that jumped, is looked at again within it).
inline constexpr std::int64_t kMaxDeadlineBlockNs = 10'000'000;

// Carrier::idle: park predicates are polled, not signalled: with predicate waiters a
// carrier blocks at most this long before checking them again.
inline constexpr std::int64_t kPredicatePollNs = 1'000'000;

// Options::park_timeout's default: the longest an idle carrier with no waiters sleeps
// without a kick. Work meant for it kicks it (MEMORY_ORDER.md section 3); this is the
// backstop for work it was not told about (a woken fiber left on a busy carrier).
inline constexpr std::chrono::nanoseconds kDefaultParkTimeout = std::chrono::milliseconds(100);

// Carrier::idle, the adaptive idle policy (Options::idle_spin left at kIdleSpinAdaptive):
// how long a spinning carrier looks for work before it blocks. On the 2-vCPU VMs this
// suite runs on, a halted vCPU takes tens of microseconds to run again after a kick
// (io_pingpong split over 2 carriers: 85-108 us per round trip blocking, 7-11 us spinning
// 50 us; SCHEDULER.md section 4), so a spin shorter than one wake-up saves nothing, and one
// much longer only burns CPU. Bounded in count too: at most half the carriers spin
// (RuntimeState::try_start_spinning), and only while another carrier runs fibers.
inline constexpr std::int64_t kAdaptiveSpinNs = 50'000;

// Runtime::park from a pinned fiber (it cannot switch away): the OS thread re-checks the
// predicate this often.
inline constexpr std::chrono::microseconds kPinnedParkPoll{50};

// Poller::wait_epoll (io.cpp): events collected per epoll_pwait2 call, and rounds per
// drain. The drain stops at a short batch, or after kPollDrainRounds full ones: with
// level-triggered registration, fds nobody reads stay ready and an unbounded drain could
// spin forever on them.
inline constexpr int kPollBatch = 64;
inline constexpr int kPollDrainRounds = 16;

// Runtime creation (RuntimeState::create): fiber control blocks at the top of their
// stacks are offset by (id mod kCacheColours) cache lines, so that page-aligned stack tops
// do not put every fiber's control block in the same L1 sets.
inline constexpr unsigned kCacheColours = 16;
inline constexpr unsigned kCacheLine = 64;

}  // namespace sy::sched_constants
