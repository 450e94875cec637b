// The bench matrices. Adding a scenario to a profile is one line here.
//
// An item's budget_s is the timeout of each single run (fresh process) of its scenario, so
// a hung run cannot eat the rest; `quick` must stay under 5 minutes at its one run.
//
// `all` and `http-full` run every measurement in 3 fresh processes (profile_runs), with
// the repetitions below per process: runs are what shows run-to-run variance, so
// repetitions per run are few. The whole is planned for 2 hours (budget.h): `bench` pilots
// every job and, where the estimate exceeds the budget, takes repetitions, then sizes away
// (never below 3 runs, HTTP 5 samples, idle memory 3), recording each reduction.
#include "profiles.h"

#include <optional>
#include <stdexcept>
#include <string_view>

#include "switchyard/variants.h"

namespace sy::harness {

namespace {
// A selection of variants by dimension (empty = any choice) and by scheduler trait; the
// lists below are derived from the registry (variants.def), so a new variant joins every
// selection it matches without an edit here.
struct Where {
  std::string_view switch_name, stacks, scheduler;
  std::optional<bool> breadth_first;  // SchedulerPolicy::breadth_first
};
// The names of the matching variants, comma-separated, in variants() order.
std::string variants_where(const Where& w) {
  std::string out;
  for (const sy::VariantInfo& v : sy::variants()) {
    if (!w.switch_name.empty() && v.switch_name != w.switch_name) continue;
    if (!w.stacks.empty() && v.stacks != w.stacks) continue;
    if (!w.scheduler.empty() && v.scheduler != w.scheduler) continue;
    if (w.breadth_first && v.breadth_first != *w.breadth_first) continue;
    out += (out.empty() ? "" : ",") + v.name;
  }
  if (out.empty()) throw std::logic_error("a profile selects no variant: the registry lost a choice it names");
  return out;
}

const std::string kPeers = "boost_fiber,threads,go,coro,asio";
// Every scheduler on one switch and stack allocator.
const std::string kSkyQuick = variants_where({.switch_name = "asm", .stacks = "pooled"});
// One variant per switch backend.
const std::string kGcVariants = variants_where({.stacks = "pooled", .scheduler = "fifo"});
// Depth-first schedulers hold a few hundred of skynet's fibers at once; breadth-first ones
// (FIFO) the whole tree, so they get their own item with fewer repetitions.
const std::string kDepthFirst = variants_where({.breadth_first = false});
const std::string kBreadthFirst = variants_where({.breadth_first = true});
// The HTTP sweep: `all` at three orders of magnitude, `http-full` at every point (the
// seed's 25,000 exceeds our fd limit).
const std::string kHttpSweep = "100,1000,10000";
const std::string kHttpSweepFull = "100,1000,2500,5000,10000";

const std::vector<ProfileItem> kQuick = {
    // scenario      variants  peers   params                                reps budget min_time instr
    {"switch",       "",       "",     {},                                   5,   45,   0.05,   true},
    {"yield",        "all",    kPeers, {},                                   5,   60,   0.05,   true},
    {"spawn_join",   "all",    kPeers, {},                                   5,   60,   0.05,   true},
    {"timers",       "all",    "coro", {{"fibers", "10000"}},                3,   60,   0,      false},
    // One scheduler each (FIFO keeps the whole tree alive, Chase-Lev runs depth first).
    {"skynet",       kSkyQuick, "boost_fiber,go,coro", {{"fibers", "10000"}, {"carriers", "1,2"}}, 3, 60, 0, false},
    {"steal",        kSkyQuick, "go",  {{"workload", "skynet,fib"}, {"fibers", "10000"}, {"fib_n", "25"},
                                        {"carriers", "1,2"}},                3,   60,   0,      false},
    // channel: every variant, Go and Boost.Fiber on 1 carrier; on 2 carriers (cross-
    // carrier wakes, tens of us each when the fibers split) one variant per scheduler.
    {"channel",      "all",    "go,boost_fiber,coro", {{"ops", "200000"}, {"carriers", "1"}}, 3, 20, 0, false},
    {"channel",      kSkyQuick, "go,coro", {{"ops", "20000"}, {"carriers", "2"}}, 3, 20,  0,      false},
    {"mutex",        kSkyQuick, "threads,go,coro", {{"fibers", "2,10,100,1000"}, {"ops", "20000"}}, 3, 20, 0, false},
    {"io_pingpong",  kSkyQuick, "threads", {{"pairs", "1,100,9000"}, {"ops", "5000"}}, 3, 20, 0,    false},
    // One fiber variant, our threads and event-loop taskmasters, Go and nginx (1 worker)
    // at 100 connections, 3 s of wrk each (about 5 s per server with warm-up and stop).
    {"http",         "asm-pooled-chaselev", "threads,eventloop,go,asio,nginx",
                     {{"connections", "100"}, {"duration_s", "3"}},       1,   60,   0,      false},
    // gc_scan (one file, two items): pause on a small grid (cells whose depth does not fit
    // the stack are skipped entries); per-yield cost with the collector off and each design.
    {"gc_scan",      "asm-pooled-fifo", "", {{"fibers", "0,1000"}, {"depth_kib", "1,16"}, {"stack_kib", "16,256"},
                     {"scan", "used,whole"}},                             3,   60,   0,      false},
    {"gc_scan",      kGcVariants, "", {{"measure", "switch"}, {"design", "off,sp,locked"}}, 3, 60, 0, false},
};

// HTTP (one file, several items), `all` with kHttpSweep and `http-full` with kHttpSweepFull:
// every variant on 2 carriers with the runtime's default registration (persistent) and
// our threads / event-loop taskmasters and Go; Chase-Lev with oneshot and level
// registration as well (the seed's livelock at 10k; oneshot was the default before);
// nginx with 1 and 2 workers; then memory per idle connection at 9,000
// (under the 20,000 open-file limit) for every server. 2 repetitions x 3 runs = 6 samples
// per load point (at least 5), idle memory 1 x 3.
std::vector<ProfileItem> http_items(const std::string& sweep) {
  return {
      {"http",       "all",    "threads,eventloop,go,asio", {{"connections", sweep}, {"duration_s", "5"},
                     {"carriers", "2"}, {"registration", "persistent"}},   2,   300,  0,      false},
      {"http",       "asm-pooled-chaselev", "", {{"connections", sweep}, {"duration_s", "5"},
                     {"carriers", "2"}, {"registration", "oneshot,level"}}, 2,   300,  0,      false},
      {"http",       "",       "nginx", {{"connections", sweep}, {"duration_s", "5"}, {"workers", "1,2"}},
                                                                           2,   300,  0,      false},
      {"http",       "all",    "threads,eventloop,go,asio,nginx", {{"mode", "idle"}, {"connections", "9000"},
                     {"carriers", "2"}, {"registration", "persistent"}},   1,   300,  0,      false},
  };
}

std::vector<ProfileItem> all_items() {
  std::vector<ProfileItem> items = {
    // Repetitions per run (x 3 runs): Google Benchmark scenarios 3 (9 samples as before).
    {"switch",       "",       "",     {},                                   3,   240,  0,      true},
    {"yield",        "all",    kPeers, {},                                   3,   300,  0,      true},
    {"spawn_join",   "all",    kPeers, {},                                   3,   300,  0,      true},
    {"timers",       "all",    "coro", {{"fibers", "10000,100000"}},         2,   300,  0,      false},
    // The public size for the depth-first schedulers and the peers (one file, three items).
    {"skynet",       kDepthFirst, "boost_fiber,go,coro", {{"fibers", "1000000"}, {"carriers", "1,2"}}, 2, 900, 0, false},
    // Breadth-first (FIFO) variants keep the whole tree alive: 1.11M fibers, 10-35 s and up
    // to 13 GiB RSS per repetition at the public size (vm-20261128; 190-241 s per item with
    // fresh stacks on a machine with twice our mmap cost). 10,000 leaves is the smallest
    // power of 10 that still shows it (asm-*-fifo against asm-pooled-chaselev, 1 carrier,
    // this 2-vCPU VM under load, medians of 3-5): peak_live_fibers 11,111 (the whole tree)
    // against 27, 95-111 MiB RSS against 6, 0.35-0.40 s against 0.0023 s, and 31 us per
    // fiber against 22 us at 1,000 leaves, whose 1,111 live stacks (~13 MiB) still fit the
    // 32 MiB L3 (100,000: 36 us per fiber, 0.9 GiB, 4 s).
    {"skynet",       kBreadthFirst, "",     {{"fibers", "10000"}, {"carriers", "1,2"}}, 2, 300, 0,     false},
    // After the baseline: thieves that block pay a halted vCPU's wake-up; with a 50 us idle
    // spin asm-pooled-chaselev went 0.119 -> 0.097 s on 2 carriers (1c 0.176 s).
    {"skynet",       "asm-pooled-chaselev,boost-pooled-chaselev", "", {{"fibers", "1000000"}, {"carriers", "1,2"},
                     {"idle_spin_us", "50"}},                              3,   300,  0,      false},
    {"steal",        "all",    "go",   {{"workload", "skynet,fib"}, {"fibers", "100000"}, {"carriers", "1,2"}},
                                                                             2,   900,  0,      false},
    // Measured budgets on the loaded 2-core machine: FIFO on 2 carriers with 1000
    // fibers contending costs ~45 us per lock; poll with 9,000 idle pairs ~1 ms per round trip.
    {"channel",      "all",    "go,boost_fiber,coro", {{"ops", "1000000"}, {"carriers", "1"}}, 3, 120, 0, false},
    {"channel",      "all",    "go,coro", {{"ops", "20000"}, {"carriers", "2"}}, 2, 300,  0,      false},
    {"mutex",        "all",    "threads,go,coro", {{"fibers", "2,10,100,1000"}, {"ops", "200000"}}, 2, 300, 0, false},
    {"io_pingpong",  "all",    "threads", {{"pairs", "1,100,9000"}, {"ops", "50000"}}, 2, 300, 0,      false},
    // The registrations on 1 carrier (oneshot there is the item above's) and on 2.
    {"io_pingpong",  kSkyQuick, "",    {{"pairs", "1,9000"}, {"registration", "persistent,level"},
                                        {"carriers", "1"}, {"ops", "50000"}}, 2, 300, 0,             false},
    {"io_pingpong",  kSkyQuick, "",    {{"pairs", "1,9000"}, {"registration", "oneshot,persistent,level"},
                                        {"carriers", "2"}, {"ops", "50000"}}, 2, 300, 0,             false},
    {"io_pingpong",  kSkyQuick, "",    {{"pairs", "1,100,9000"}, {"io_backend", "poll"}, {"ops", "2000"}}, 1, 300, 0, false},
    {"io_pingpong",  kSkyQuick, "threads", {{"pairs", "100,9000"}, {"active", "all"}, {"ops", "100000"}}, 1, 300, 0, false},
    // After the vm-20261128 baseline: a pair split over 2 carriers paid a halted vCPU's
    // wake-up per hop (80-100 us round trips); Options::idle_spin polls before blocking.
    {"io_pingpong",  kSkyQuick, "",    {{"pairs", "1,9000"}, {"registration", "oneshot,persistent"},
                                        {"carriers", "2"}, {"idle_spin_us", "0,50"}, {"ops", "50000"}}, 2, 300, 0, false},
  };
  for (ProfileItem& it : http_items(kHttpSweep)) items.push_back(std::move(it));
  const std::vector<ProfileItem> gc = {
    // gc_scan: the grid, default design (sp) on one variant per switch backend, used
    // and whole scans; the locked design's pause on asm; per-yield cost, every variant.
    {"gc_scan",      kGcVariants, "", {{"fibers", "0,1000,10000,30000"}, {"depth_kib", "1,16,64"},
                     {"stack_kib", "16,256"}, {"scan", "used,whole"}},     2,   600,  0,      false},
    {"gc_scan",      "asm-pooled-fifo", "", {{"design", "locked"}, {"fibers", "0,1000,10000,30000"},
                     {"depth_kib", "1,16,64"}, {"stack_kib", "16,256"}},   2,   600,  0,      false},
    {"gc_scan",      "all",    "",     {{"measure", "switch"}, {"design", "off,sp,locked"}}, 3, 600, 0, false},
    // ---- stacks: memory per live fiber by stack size and guard (figure memory_fiber) ----
    // Pooled and fresh stacks on one switch and scheduler (asm, FIFO). 20,000 fibers: the
    // guarded runs need 2 mappings per stack, 41,000 with the process's own, under Linux's
    // default vm.max_map_count (65,530), so no sysctl is needed. 3-7 s per run (measured, loaded).
    {"stacks",       variants_where({.switch_name = "asm", .scheduler = "fifo"}), "",
                     {{"fibers", "20000"}, {"stack_kib", "16,64,256"}, {"guard", "on,off"}}, 2, 120, 0, false},
    // ---- end stacks ----
  };
  items.insert(items.end(), gc.begin(), gc.end());
  return items;
}

const std::vector<ProfileItem> kAll = all_items();
const std::vector<ProfileItem> kHttpFull = http_items(kHttpSweepFull);
}  // namespace

const std::vector<ProfileItem>& profile(std::string_view name) {
  if (name == "quick") return kQuick;
  if (name == "all") return kAll;
  if (name == "http-full") return kHttpFull;
  throw std::invalid_argument("unknown profile '" + std::string(name) + "' (valid: quick, all, http-full)");
}

std::vector<std::string> profile_names() { return {"quick", "all", "http-full"}; }

int profile_runs(std::string_view name) {
  profile(name);  // an unknown name throws, as everywhere
  return name == "quick" ? 1 : 3;
}

double profile_budget_s(std::string_view name) {
  profile(name);
  return name == "quick" ? 0 : 2 * 3600;
}

}  // namespace sy::harness
