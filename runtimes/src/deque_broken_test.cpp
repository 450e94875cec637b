// Shows that the deque stress test has teeth. Built with SY_DEQUE_TEST_BROKEN_TAKE_FENCE,
// which removes the seq_cst fence from pop(); without it x86's store buffer lets the
// owner's store of bottom be delayed past its load of top, so the owner and a thief can
// both take the same element (or the owner can leave one behind). This program repeats
// the shared stress (deque_stress.h) until it sees a lost or doubled item.
//
// Exit status: 0 = caught a lost or doubled item (the test passes), 1 = ran out of time
// without catching one, 2 = bad command line. Crashes exit otherwise and fail the test.
//
// Usage: deque_broken_test [--seconds S] [--batch ITEMS] [--thieves N] [--max-burst B]
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "deque_stress.h"

#if !defined(SY_DEQUE_TEST_BROKEN_TAKE_FENCE)
#error "deque_broken_test must be built with SY_DEQUE_TEST_BROKEN_TAKE_FENCE"
#endif

namespace {

bool parse_number(const char* text, double& out) {
  char* end = nullptr;
  out = std::strtod(text, &end);
  return end != text && *end == '\0' && out > 0;
}

}  // namespace

int main(int argc, char** argv) {
  sy::deque_stress::Config cfg = sy::deque_stress::broken_fence_config();
  double seconds = 30;
  double batch = static_cast<double>(cfg.items);
  double thieves = cfg.thieves;
  double max_burst = static_cast<double>(cfg.max_burst);
  for (int i = 1; i < argc; ++i) {
    double* target = nullptr;
    if (std::strcmp(argv[i], "--seconds") == 0) target = &seconds;
    if (std::strcmp(argv[i], "--batch") == 0) target = &batch;
    if (std::strcmp(argv[i], "--thieves") == 0) target = &thieves;
    if (std::strcmp(argv[i], "--max-burst") == 0) target = &max_burst;
    if (target == nullptr || i + 1 >= argc || !parse_number(argv[i + 1], *target)) {
      std::fprintf(stderr,
                   "deque_broken_test: bad argument '%s'\nusage: deque_broken_test "
                   "[--seconds S] [--batch ITEMS] [--thieves N] [--max-burst B] (all > 0)\n",
                   argv[i]);
      return 2;
    }
    ++i;
  }

  cfg.items = static_cast<std::size_t>(batch);
  cfg.thieves = static_cast<int>(thieves);
  cfg.max_burst = static_cast<std::size_t>(max_burst);

  double elapsed = 0;
  std::size_t total_items = 0;
  for (std::uint64_t round = 1; elapsed < seconds; ++round) {
    cfg.seed = round;
    const sy::deque_stress::Report r = sy::deque_stress::run(cfg);
    elapsed += r.seconds;
    total_items += cfg.items;
    if (r.lost > 0 || r.doubled > 0) {
      std::printf("CAUGHT the broken take fence after %.3f s (%zu items, round %llu): "
                  "%zu lost, %zu doubled, %zu corrupt\n",
                  elapsed, total_items, static_cast<unsigned long long>(round), r.lost,
                  r.doubled, r.corrupt);
      return 0;
    }
    if (r.corrupt > 0) {
      std::printf("round %llu: %zu corrupt takes but no lost/doubled item; continuing\n",
                  static_cast<unsigned long long>(round), r.corrupt);
    }
  }
  std::printf("NOT caught: %zu items in %.3f s without a lost or doubled item\n", total_items,
              elapsed);
  return 1;
}
