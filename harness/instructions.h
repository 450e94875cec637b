// `--instructions`: the child that runs exactly N operations for callgrind (instructions.cpp).
#pragma once

#include <string>
#include <vector>

namespace sy::harness {

// Switch backends with an instruction-count mode (through sy::switch_to, the runtime's
// interface; the *_direct benchmarks are measured in time only).
const std::vector<std::string>& instruction_backends();
// Runs `ops` operations of `op` (yield | spawn_join | switch) on variant or backend `who`
// between two callgrind collection toggles; returns the operations actually counted.
// Throws std::invalid_argument (unknown names; sy::UnknownVariant for variants).
long instructions_child(const std::string& op, const std::string& who, long ops);

}  // namespace sy::harness
