// One parser for a parameter value given on a command line (`--param key=value`), shared
// by the scenario registry (ParamSpec::parse, used by switchyard and its children) and the
// C++ peers (peers/peer_main.h), so both accept the same text and say the same thing about
// what they refuse. Header-only and free of the project's other headers: the peers build
// on their own too. Error is the caller's usage-error type (constructible from a string).
#pragma once

#include <charconv>
#include <cstdint>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

namespace sy::param_text {

// An integer in [min, max]; decimal digits with an optional '-', nothing else.
template <class Error>
std::int64_t integer(std::string_view key, std::string_view text, std::int64_t min, std::int64_t max) {
  std::int64_t v = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (text.empty() || ec != std::errc{} || end != text.data() + text.size())
    throw Error("parameter " + std::string(key) + "=" + std::string(text) + ": not an integer");
  if (v < min || v > max)
    throw Error("parameter " + std::string(key) + "=" + std::string(text) + ": must be in [" + std::to_string(min) +
                ", " + std::to_string(max) + "]");
  return v;
}

// One of `choices`, exactly as written.
template <class Error>
std::string choice(std::string_view key, std::string_view text, const std::vector<std::string>& choices) {
  for (const auto& c : choices)
    if (c == text) return c;
  std::string list;
  for (const auto& c : choices) list += (list.empty() ? "" : ", ") + c;
  throw Error("parameter " + std::string(key) + "=" + std::string(text) + ": expected one of " + list);
}

}  // namespace sy::param_text
