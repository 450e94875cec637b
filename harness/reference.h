// The noise floor's reference workload (results/SCHEMA.md, noise_floor): fixed work,
// measured in a fresh process (`switchyard child --reference`) at the start and end of
// every round, so that a drift of the machine (frequency, a neighbour's load) shows in a
// number that no variant or scenario change can move.
#pragma once

#include <vector>

namespace sy::harness {

// What it runs, for the results file.
const char* reference_workload();
// One warm-up pass, then the timed samples: ns per iteration of the loop.
std::vector<double> reference_samples();

}  // namespace sy::harness
