// Planning (plan.h): names and values checked, parameters swept, jobs listed. No I/O.
#include "plan.h"

#include <algorithm>
#include <cstdint>
#include <numeric>
#include <optional>
#include <random>
#include <regex>

#include "switchyard/variants.h"

namespace sy::harness {

using nlohmann::json;
using scenarios::Scenario;
using scenarios::UsageError;

// In the order `list`, the figures and the report show them.
const std::vector<Peer>& peers() {
  static const std::vector<Peer> p = {
      {"boost_fiber", "boost_fiber_peer", "Boost.Fiber, default scheduler and stacks"},
      {"go", "go_peer", "Go goroutines (GOMAXPROCS = carriers)"},
      {"threads", "threads_peer", "OS threads"},
      {"eventloop", "", "http only: our server's epoll event-loop taskmaster (no fibers)", "switchyard_http_server"},
      {"nginx", "", "http only: Debian's nginx, driven by the http scenario", "", "nginx"},
      {"coro", "coro_peer", "C++20 stackless coroutines on a minimal FIFO scheduler (the stackless floor)"},
      {"asio", "asio_peer", "Boost.Asio/Beast on C++20 coroutines (co_spawn, use_awaitable)"},
  };
  return p;
}

const Peer& find_peer(std::string_view name) {
  std::string names;
  for (const Peer& p : peers()) {
    if (p.name == name) return p;
    names += (names.empty() ? "" : ", ") + std::string(p.name);
  }
  throw UsageError("unknown peer '" + std::string(name) + "' (valid: " + names + ", all)");
}

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> out;
  std::string cur;
  for (char c : s) {
    if (c == sep) {
      out.push_back(cur);
      cur.clear();
    } else {
      cur += c;
    }
  }
  out.push_back(cur);
  return out;
}

std::string Job::name() const {
  std::string n = std::string(sc->name) + "/" + label();
  for (const auto& [k, v] : sent.items()) n += "/" + k + "=" + (v.is_string() ? v.get<std::string>() : v.dump());
  if (instructions) n += "/instructions";
  return n;
}

long default_instr_ops(std::string_view scenario) { return scenario == "spawn_join" ? 20000 : 200000; }

json resolve_params(const Scenario& sc, std::map<std::string, std::string> given) {
  json params = json::object();
  for (const auto& spec : sc.params) {
    auto it = given.find(spec.name);
    params[spec.name] = it == given.end() || spec.fixed ? spec.def : spec.parse(it->second);
    if (it != given.end()) given.erase(it);
  }
  if (!given.empty()) throw UsageError("unknown parameter '" + given.begin()->first + "' for " + std::string(sc.name));
  if (sc.check) sc.check(params);
  return params;
}

namespace {

// A given parameter must be settable in at least one chosen scenario.
void check_params_apply(const std::vector<const Scenario*>& scs, const std::map<std::string, std::string>& given) {
  for (const auto& [key, value] : given) {
    bool settable = false;
    std::string accepted;
    for (const Scenario* sc : scs)
      for (const auto& p : sc->params) {
        if (p.name == key && !p.fixed) settable = true;
        if (!p.fixed) accepted += (accepted.empty() ? "" : ", ") + p.name;
      }
    if (settable) continue;
    for (const Scenario* sc : scs)
      if (const auto* p = sc->param(key)) p->parse(value);  // a fixed one: throws "fixed at ..."
    std::string names;
    for (const Scenario* sc : scs) names += (names.empty() ? "" : ",") + std::string(sc->name);
    throw UsageError("unknown parameter '" + key + "' for scenario(s) " + names +
                     " (accepted: " + (accepted.empty() ? "none" : accepted) + ")");
  }
}

std::string names_of(const std::vector<const Scenario*>& scs) {
  std::string names;
  for (const Scenario* sc : scs) names += (names.empty() ? "" : ", ") + std::string(sc->name);
  return names;
}

// Options that only some scenarios or modes use: given where none of the selected ones
// uses them, they would be ignored silently, so they are refused saying why.
void check_options_apply(const std::vector<const Scenario*>& scs, const Selection& sel) {
  if (sel.instr_ops != 0 && !sel.instructions)
    throw UsageError("--instr-ops applies only with --instructions (the operations an instruction count runs)");
  if (sel.instructions && sel.repetitions_given)
    throw UsageError("--repetitions does not apply with --instructions (an instruction count is deterministic: "
                     "it runs once)");
  if (sel.min_time > 0) {
    if (sel.instructions)
      throw UsageError("--min-time does not apply with --instructions (an instruction count runs --instr-ops "
                       "operations, not for a time)");
    std::vector<const Scenario*> gbench;
    for (const Scenario* sc : scenarios::all())
      if (sc->gbench) gbench.push_back(sc);
    if (std::none_of(scs.begin(), scs.end(), [](const Scenario* sc) { return sc->gbench.has_value(); }))
      throw UsageError("--min-time applies only to the Google Benchmark scenarios (" + names_of(gbench) +
                       "); none is selected (" + names_of(scs) + ")");
  }
  if (sel.variants_given && !sel.variants.empty() &&
      std::all_of(scs.begin(), scs.end(), [](const Scenario* sc) { return !sc->backends.empty(); })) {
    std::string backends;
    for (auto b : scs.front()->backends) backends += (backends.empty() ? "" : ", ") + std::string(b);
    throw UsageError("--variant does not apply: no selected scenario runs per variant (" + names_of(scs) +
                     " measures each switch backend: " + backends + ")");
  }
}

// The cartesian product of the swept values, in the scenario's parameter order.
std::vector<json> combinations(const Scenario& sc, const std::map<std::string, std::string>& given) {
  std::vector<json> combos = {json::object()};
  for (const auto& spec : sc.params) {
    std::vector<json> values;
    auto it = given.find(spec.name);
    if (it == given.end() || spec.fixed) {
      values.push_back(spec.def);
    } else {
      for (const auto& text : split(it->second, ',')) values.push_back(spec.parse(text));
    }
    std::vector<json> next;
    for (const auto& c : combos)
      for (const auto& v : values) {
        json n = c;
        n[spec.name] = v;
        next.push_back(n);
      }
    combos = std::move(next);
  }
  return combos;
}

}  // namespace

std::vector<Job> plan(const Selection& sel) {
  std::vector<const Scenario*> scs;
  for (const auto& s : sel.scenarios) scs.push_back(&scenarios::find(s));
  if (scs.empty()) throw UsageError("--scenario is required (see `switchyard list`)");

  std::vector<std::string> variants;
  for (const auto& v : sel.variants) {
    if (v == "all") {
      for (const auto& info : sy::variants()) variants.push_back(info.name);
    } else {
      if (!sy::find_variant(v)) throw sy::UnknownVariant(v);
      variants.push_back(v);
    }
  }
  if (!sel.variants_given && sel.peers.empty())
    for (const auto& info : sy::variants()) variants.push_back(info.name);
  bool all_peers = false;
  std::vector<std::string> explicit_peers;
  for (const auto& p : sel.peers) {
    if (p == "all") all_peers = true;
    else explicit_peers.push_back(std::string(find_peer(p).name));
  }

  check_params_apply(scs, sel.params);
  check_options_apply(scs, sel);
  if (sel.instructions)
    for (const Scenario* sc : scs)
      if (!sc->has_instructions)
        throw UsageError("--instructions: scenario " + std::string(sc->name) +
                         " has no instruction-count mode (switch, yield and spawn_join have)");

  std::optional<std::regex> filter;
  bool negate = false;
  if (!sel.filter.empty()) {
    std::string f = sel.filter;
    if (f[0] == '-') {
      negate = true;
      f.erase(0, 1);
    }
    try {
      filter.emplace(f);
    } catch (const std::regex_error& e) {
      throw UsageError("--filter " + sel.filter + ": not a valid regular expression (" + e.what() + ")");
    }
  }

  std::vector<Job> jobs;
  for (const Scenario* sc : scs) {
    std::vector<std::string> scenario_peers = explicit_peers;
    if (all_peers)
      for (auto p : sc->peers)
        if (std::find(scenario_peers.begin(), scenario_peers.end(), p) == scenario_peers.end())
          scenario_peers.emplace_back(p);
    for (const json& params : combinations(*sc, sel.params)) {
      if (sc->check) sc->check(params);  // e.g. skynet's power of 10, before anything runs
      json sent = json::object();
      for (const auto& spec : sc->params)
        if (!spec.fixed) sent[spec.name] = params[spec.name];
      auto add = [&](Job j) {
        j.sc = sc;
        j.params = params;
        if (j.sent.is_null()) j.sent = sent;
        // An instruction count is deterministic on one carrier: one run says it all.
        j.repetitions = sel.instructions ? 1 : sel.repetitions;
        j.instructions = sel.instructions;
        j.timeout_s = sel.timeout_s;
        j.min_time = sel.min_time;
        j.instr_ops = sel.instr_ops ? sel.instr_ops : default_instr_ops(sc->name);
        if (filter && std::regex_search(j.name(), *filter) == negate) return;
        jobs.push_back(std::move(j));
      };
      if (!sc->backends.empty()) {
        if (!variants.empty() || scenario_peers.empty())
          for (auto b : sc->backends) {
            Job j;
            j.backend = b;
            add(j);
          }
      } else {
        for (const auto& v : variants) {
          Job j;
          j.variant = v;
          if (!sc->variant_params.empty()) {  // given (and recording) only what applies to them
            j.sent = json::object();
            for (auto k : sc->variant_params) j.sent[std::string(k)] = sent.at(std::string(k));
          }
          add(j);
        }
      }
      for (const auto& p : scenario_peers) {
        Job j;
        j.peer = p;
        // A peer is given only the parameters it accepts (Scenario::peer_params).
        for (const auto& [peer, keys] : sc->peer_params)
          if (peer == p) {
            j.sent = json::object();
            for (auto k : keys) j.sent[std::string(k)] = sent.at(std::string(k));
          }
        add(j);
      }
    }
  }
  return jobs;
}

std::vector<Job> plan_profile_item(const ProfileItem& item, const std::string& filter) {
  Selection sel;
  sel.scenarios = {item.scenario};
  sel.variants_given = true;  // an item without variants runs none
  if (!item.variants.empty()) sel.variants = split(item.variants, ',');
  if (!item.peers.empty()) sel.peers = split(item.peers, ',');
  for (const auto& [k, v] : item.params) sel.params[k] = v;
  sel.repetitions = item.repetitions;
  sel.timeout_s = item.budget_s;
  sel.min_time = item.min_time;
  sel.filter = filter;
  // A per-variant scenario with neither variants nor peers is there for its instruction
  // counts only; a per-backend one (switch) runs its backends.
  std::vector<Job> jobs = scenarios::find(item.scenario).backends.empty() && sel.variants.empty() && sel.peers.empty()
                              ? std::vector<Job>{}
                              : plan(sel);
  if (item.instructions) {
    sel.instructions = true;
    sel.peers.clear();  // counted for our variants and backends only
    sel.min_time = 0;   // a count runs a number of operations, not for a time
    for (Job& j : plan(sel)) jobs.push_back(std::move(j));
  }
  return jobs;
}

Order parse_order(const std::string& text) {
  if (text == "interleaved") return Order::interleaved;
  if (text == "shuffled") return Order::shuffled;
  if (text == "sequential") return Order::sequential;
  throw UsageError("--order " + text + ": expected one of interleaved, shuffled, sequential");
}

const char* order_name(Order o) {
  switch (o) {
    case Order::interleaved: return "interleaved";
    case Order::shuffled: return "shuffled";
    case Order::sequential: return "sequential";
  }
  return "?";
}

int rounds_of(const std::vector<Job>& jobs) {
  int n = 0;
  for (const Job& j : jobs) n = std::max(n, j.runs);
  return n;
}

std::vector<Slot> schedule(const std::vector<Job>& jobs, Order order, unsigned long long seed) {
  std::vector<Slot> out;
  const std::size_t n = jobs.size();
  const int rounds = rounds_of(jobs);
  if (order == Order::sequential) {
    for (std::size_t j = 0; j < n; ++j)
      for (int r = 0; r < jobs[j].runs; ++r) out.push_back({j, r});
    return out;
  }
  for (int r = 0; r < rounds; ++r) {
    std::vector<std::size_t> idx(n);
    std::iota(idx.begin(), idx.end(), std::size_t{0});
    if (order == Order::interleaved) {
      const std::size_t start = n ? static_cast<std::size_t>(r) * n / static_cast<std::size_t>(rounds) % n : 0;
      std::rotate(idx.begin(), idx.begin() + static_cast<long>(start), idx.end());
    } else {
      // mt19937_64's output is fixed by the standard; std::shuffle's use of it is not
      // (libstdc++ and libc++ differ), so the permutation is drawn here.
      std::mt19937_64 rng(seed + (static_cast<unsigned long long>(r) + 1) * 0x9E3779B97F4A7C15ull);
      for (std::size_t i = n; i > 1; --i) std::swap(idx[i - 1], idx[rng() % i]);
    }
    for (std::size_t j : idx)
      if (r < jobs[j].runs) out.push_back({j, r});
  }
  return out;
}

Shard parse_shard(const std::string& text) {
  const auto bad = [&] { return UsageError("--shard " + text + ": expected K/N with 1 <= K <= N <= 1000"); };
  const auto slash = text.find('/');
  if (slash == std::string::npos || slash == 0 || slash + 1 == text.size()) throw bad();
  const std::string k = text.substr(0, slash), n = text.substr(slash + 1);
  if (k.find_first_not_of("0123456789") != std::string::npos || n.find_first_not_of("0123456789") != std::string::npos ||
      k.size() > 4 || n.size() > 4)
    throw bad();
  Shard s{std::stoi(k), std::stoi(n)};
  if (s.k < 1 || s.n < 1 || s.k > s.n || s.n > 1000) throw bad();
  return s;
}

int shard_of(const Job& job, int n) {
  std::uint64_t h = 0xcbf29ce484222325ull;  // FNV-1a offset basis
  for (unsigned char c : job.name()) {
    h ^= c;
    h *= 0x100000001b3ull;  // FNV prime
  }
  return static_cast<int>(h % static_cast<std::uint64_t>(n)) + 1;
}

std::vector<Job> select_shard(const std::vector<Job>& jobs, const Shard& s) {
  std::vector<Job> out;
  for (const Job& j : jobs)
    if (shard_of(j, s.n) == s.k) out.push_back(j);
  return out;
}

}  // namespace sy::harness
