// The bench matrices. Adding a scenario to a profile is one line here.
//
// Budgets are measured wall times on the 2-core development machine with headroom (about
// 1.5x); the whole of `quick` must stay under 5 minutes and `all` under 2 hours. A budget
// is also the timeout of each single run of its scenario, so a hung run cannot eat the rest.
#include "profiles.h"

#include <stdexcept>

namespace sy::harness {

namespace {
const std::string kPeers = "boost_fiber,threads,go";
const std::string kSkyQuick = "asm-pooled-chaselev,asm-pooled-fifo";

const std::vector<ProfileItem> kQuick = {
    // scenario      variants  peers   params                                reps budget min_time instr
    {"switch",       "",       "",     {},                                   5,   45,   0.05,   true},
    {"yield",        "all",    kPeers, {},                                   5,   60,   0.05,   true},
    {"spawn_join",   "all",    kPeers, {},                                   5,   60,   0.05,   true},
    {"timers",       "all",    "",     {{"fibers", "10000"}},                3,   60,   0,      false},
    // One scheduler each (FIFO keeps the whole tree alive, Chase-Lev runs depth first).
    {"skynet",       kSkyQuick, "boost_fiber,go", {{"fibers", "10000"}, {"carriers", "1,2"}}, 3, 60, 0, false},
    {"steal",        kSkyQuick, "",    {{"workload", "skynet,fib"}, {"fibers", "10000"}, {"fib_n", "25"},
                                        {"carriers", "1,2"}},                3,   60,   0,      false},
};

const std::vector<ProfileItem> kAll = {
    {"switch",       "",       "",     {},                                   9,   240,  0,      true},
    {"yield",        "all",    kPeers, {},                                   9,   300,  0,      true},
    {"spawn_join",   "all",    kPeers, {},                                   9,   300,  0,      true},
    {"timers",       "all",    "",     {{"fibers", "10000,100000"}},         5,   300,  0,      false},
    // The public size. FIFO variants hold all 1.11M fibers at once: ~42 s and 13 GiB RSS
    // per repetition (asm-pooled-fifo, measured), about 45 of the ~55 minutes here.
    {"skynet",       "all",    "boost_fiber,go", {{"fibers", "1000000"}, {"carriers", "1,2"}}, 5, 4500, 0, false},
    {"steal",        "all",    "",     {{"workload", "skynet,fib"}, {"fibers", "100000"}, {"carriers", "1,2"}},
                                                                             5,   900,  0,      false},
};
}  // namespace

const std::vector<ProfileItem>& profile(std::string_view name) {
  if (name == "quick") return kQuick;
  if (name == "all") return kAll;
  throw std::invalid_argument("unknown profile '" + std::string(name) + "' (valid: quick, all)");
}

std::vector<std::string> profile_names() { return {"quick", "all"}; }

}  // namespace sy::harness
