// What the load driver's parts share: the address and answer every server gives, and small
// helpers for time and text.
#pragma once

#include <chrono>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>

#include "process.h"

namespace sy::http::driver {

// Programs are started, watched and stopped through the suite's one process library.
using harness::find_program;

inline constexpr const char* kHost = "127.0.0.1";
inline constexpr const char* kHello = "Hello, World!";

using Clock = std::chrono::steady_clock;
inline double since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }
inline void sleep_s(double s) { std::this_thread::sleep_for(std::chrono::duration<double>(s)); }

// The whole of a small file (/proc entries, a program's stderr); "" when unreadable.
inline std::string read_small_file(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// The end of a program's output, for a message.
inline std::string tail_of(const std::string& text, std::size_t n = 600) {
  std::string t = text.size() > n ? "..." + text.substr(text.size() - n) : text;
  while (!t.empty() && (t.back() == '\n' || t.back() == ' ')) t.pop_back();
  return t;
}

}  // namespace sy::http::driver
