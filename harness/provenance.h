// Provenance: what a result needs so that two machines, or two builds, can be told apart
// (results/SCHEMA.md, `machine` and `build`). Everything here is read-only: it looks at
// /proc, /sys, the tools' version commands and git; it never changes a setting.
#pragma once

#include <nlohmann/json.hpp>

#include <string>

namespace sy::harness {

// The git state of the source tree when this binary was built: the sy_build_commit
// target writes it into a generated source on every build (harness/embed_commit.cmake).
struct EmbeddedCommit {
  const char* commit;    // full hash; "" outside a git checkout (a tarball)
  const char* describe;  // `git describe --always --dirty`; "" when unknown
  int dirty;             // 1 / 0: tracked files differed from the commit; -1 unknown
  const char* diff_id;   // git blob id of `git diff HEAD` when dirty, else ""
};
extern const EmbeddedCommit kEmbeddedCommit;

// For `switchyard --version`: the commit ("unknown" outside git), the compiler, its flags
// and build type, Boost. One item per line, no trailing newline.
std::string version_text();

// How the source checkout this binary was built from compares with the binary now.
struct CheckoutState {
  bool found = false;     // the source directory is still a git checkout
  std::string commit;     // its HEAD
  bool dirty = false;     // tracked files differ from HEAD
  std::string diff_id;    // as EmbeddedCommit::diff_id
  // "same"; "older" (the binary's commit is an ancestor of HEAD); "edited" (same HEAD,
  // but the tracked files changed since the build); "other" (another branch, or the
  // binary is newer); "unknown" (the binary's commit is unknown).
  std::string relation;
};
// Reads `src`'s git state (bounded by a timeout) and compares it with `built`.
CheckoutState compare_with_checkout(const EmbeddedCommit& built, const std::string& src);

// Fields added to the `machine` block: CPU identity and flags, frequency, SMT, kernel
// command line, mitigations, clocksource, transparent huge pages, tool versions and a
// machine id derived from /etc/machine-id. The same value for every file of a run.
nlohmann::json machine_provenance();
// Fields added to the `build` block: the embedded commit, and how the checkout the binary
// was built from compares with it now. Warns on stderr (once per process) when the
// checkout holds another commit or has been edited since the build.
nlohmann::json build_provenance();
// /proc/loadavg's 1, 5 and 15 minute averages, or null when unreadable. Recorded at the
// top level of a results file (`load_average`), not in `machine`, which must be the same
// for every file of one run.
nlohmann::json load_average();

}  // namespace sy::harness
