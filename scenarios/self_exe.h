// The path of the running binary, shared by the harness and the http driver (header-only:
// the driver's library links nothing of the harness). Resolved from /proc/self/exe;
// " (deleted)" (the binary was rebuilt while it runs) is stripped so that valgrind and the
// bin directory still name a file.
#pragma once

#include <filesystem>
#include <stdexcept>
#include <string>
#include <system_error>

namespace sy::scenarios {

inline std::string self_exe() {
  std::error_code ec;
  std::string p = std::filesystem::read_symlink("/proc/self/exe", ec).string();
  if (ec) throw std::runtime_error("cannot find my own executable: " + ec.message());
  const std::string deleted = " (deleted)";
  if (p.size() > deleted.size() && p.compare(p.size() - deleted.size(), deleted.size(), deleted) == 0)
    p.resize(p.size() - deleted.size());
  return p;
}

}  // namespace sy::scenarios
