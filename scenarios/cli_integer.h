// A CLI11 check for an integer option of the C++ peers and the HTTP server. CLI11 runs a
// check on the text before its own conversion, so this one decides what is refused and
// says it the same way for every option: anything but decimal digits (a fraction such as
// "--repetitions 2.5", which a plain conversion would reject with a less useful message
// or, written by hand, truncate), and a value outside [lo, hi]. Header-only: the peers
// build on their own too.
#pragma once

#include <CLI/CLI.hpp>
#include <charconv>
#include <cstdint>
#include <string>
#include <system_error>

namespace sy::cli {

inline CLI::Validator integer_in(std::int64_t lo, std::int64_t hi) {
  const std::string range = "[" + std::to_string(lo) + ", " + std::to_string(hi) + "]";
  return CLI::Validator(
      [range, lo, hi](std::string& text) -> std::string {
        std::int64_t v = 0;
        const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
        if (text.empty() || ec != std::errc{} || end != text.data() + text.size() || v < lo || v > hi)
          return text + ": expected an integer in " + range;
        return "";
      },
      "in " + range);
}

}  // namespace sy::cli
