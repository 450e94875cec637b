// The budget-driven plan (budget.h): estimates, minimums, the allocator. No I/O but the
// pilot's callback.
#include "budget.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <set>
#include <stdexcept>

#include "scenario.h"

namespace sy::harness {

using nlohmann::json;
using scenarios::UsageError;

namespace {

// Parameters the budget may shrink, per scenario. Each measures a per-operation cost or a
// whole workload whose shape does not change with the size, so a smaller value measures
// the same thing with fewer operations; the time per repetition is about proportional.
const std::vector<Shrinkable> kShrinkable = {
    // A power of 10 (skynet_config): one step is the same tree (fan-out, join order) one
    // level shallower. Not below 100,000 leaves: Chase-Lev takes 0.05 s on it here, and
    // below that a process's start and stop outweigh the tree.
    {"skynet", "fibers", 100000, 10, "", ""},
    // Only the skynet workload: fib's size is fib_n, and fibers means nothing to it.
    {"steal", "fibers", 10000, 10, "workload", "skynet"},
    // Per-operation metrics (ns per lock, per hand-off, per round trip): fewer operations,
    // the same operation. Not http's wrk seconds: under 5 s the 10,000-connection point is
    // mostly ramp-up.
    {"mutex", "ops", 20000, 2, "", ""},
    {"channel", "ops", 20000, 2, "", ""},
    {"io_pingpong", "ops", 2000, 2, "", ""},
};

std::string seconds_text(double s) {
  char b[48];
  if (s < 60) {
    std::snprintf(b, sizeof b, s < 10 ? "%.2g s" : "%.0f s", s);
  } else {
    const long t = std::lround(s);
    if (t >= 3600) std::snprintf(b, sizeof b, "%ld:%02ld:%02ld", t / 3600, t / 60 % 60, t % 60);
    else std::snprintf(b, sizeof b, "%ld:%02ld", t / 60, t % 60);
  }
  return b;
}

double per_rep_now(const BudgetItem& it) {
  if (it.size_param.empty() || it.size0 <= 0) return it.est.per_rep_s;
  return it.est.per_rep_s * static_cast<double>(it.size) / static_cast<double>(it.size0);
}

// The fewest repetitions per run an item may have at `runs` runs.
int min_reps(const BudgetItem& it, int runs) { return std::max(1, (it.min.samples + runs - 1) / runs); }

// One reduction step of the given kind on `it`, if it has one left: true when applied.
enum class Step { kRepetitions, kRuns, kSize };
bool step(BudgetItem& it, Step kind) {
  switch (kind) {
    case Step::kRepetitions:
      if (it.repetitions <= min_reps(it, it.runs)) return false;
      --it.repetitions;
      return true;
    case Step::kRuns: {
      if (it.runs <= it.min.runs) return false;
      // Fewer runs may need more repetitions per run to keep the minimum samples; only
      // worth it when it saves time.
      BudgetItem next = it;
      --next.runs;
      next.repetitions = std::max(next.repetitions, min_reps(next, next.runs));
      if (cost(next) >= cost(it)) return false;
      it = next;
      return true;
    }
    case Step::kSize: {
      if (it.size_param.empty() || it.size / it.size_divisor < it.size_floor || it.size_divisor < 2) return false;
      it.size /= it.size_divisor;
      return true;
    }
  }
  return false;
}

std::string job_name_with(const Job& j, const std::string& param, const json& value) {
  Job k = j;
  k.sent[param] = value;
  return k.name();
}

Estimate estimate_from_json(const json& e, const std::string& what) {
  if (!e.is_object() || !e.contains("per_rep_s") || !e["per_rep_s"].is_number())
    throw std::invalid_argument(what + ": expected {\"per_rep_s\": seconds, \"overhead_s\": seconds}");
  Estimate est;
  est.per_rep_s = e["per_rep_s"].get<double>();
  est.overhead_s = e.value("overhead_s", 0.0);
  if (!(est.per_rep_s >= 0) || !(est.overhead_s >= 0)) throw std::invalid_argument(what + ": negative seconds");
  return est;
}

}  // namespace

const std::vector<Shrinkable>& shrinkables() { return kShrinkable; }

std::optional<double> parse_budget(const std::string& text) {
  if (text == "none") return std::nullopt;
  const std::string accepted = "expected seconds with an optional unit s, m or h (90s, 30m, 2h) or none";
  if (text.empty()) throw UsageError("--budget: empty: " + accepted);
  std::size_t used = 0;
  double v = 0;
  try {
    v = std::stod(text, &used);
  } catch (const std::exception&) {
    throw UsageError("--budget " + text + ": " + accepted);
  }
  const std::string unit = text.substr(used);
  double scale = 0;
  if (unit.empty() || unit == "s") scale = 1;
  else if (unit == "m") scale = 60;
  else if (unit == "h") scale = 3600;
  if (scale == 0 || !std::isfinite(v) || !(v > 0) || text[0] == ' ') throw UsageError("--budget " + text + ": " + accepted);
  return v * scale;
}

Minimums minimums(const Job& job, int min_runs) {
  Minimums m;
  if (job.instructions) return m;  // a count under callgrind is deterministic: one run says it all
  m.runs = std::max(1, min_runs);
  m.samples = m.runs;
  if (job.sc && job.sc->name == "http") {
    const bool idle = job.params.value("mode", std::string("load")) == "idle";
    m.samples = std::max(m.samples, idle ? 3 : 5);
  }
  return m;
}

double cost(const BudgetItem& it) { return it.runs * (it.est.overhead_s + it.repetitions * per_rep_now(it)); }

Allocation allocate(std::vector<BudgetItem> items, double budget_s) {
  Allocation a;
  a.budget_s = budget_s;
  // The minimums are floors, never reductions: a plan below them is raised first.
  for (BudgetItem& it : items) {
    it.runs = std::max(it.runs, it.min.runs);
    it.repetitions = std::max(it.repetitions, min_reps(it, it.runs));
  }
  const std::vector<BudgetItem> planned = items;  // what the reductions are counted from
  auto total = [&] {
    double t = 0;
    for (const BudgetItem& it : items) t += cost(it);
    return t;
  };
  double t = total();
  for (Step kind : {Step::kRepetitions, Step::kRuns, Step::kSize}) {
    while (t > budget_s) {
      // The most expensive item that has a step of this kind left.
      std::vector<std::size_t> order(items.size());
      for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
      std::stable_sort(order.begin(), order.end(),
                       [&](std::size_t x, std::size_t y) { return cost(items[x]) > cost(items[y]); });
      bool stepped = false;
      for (std::size_t i : order) {
        const double before = cost(items[i]);
        if (step(items[i], kind)) {
          t += cost(items[i]) - before;
          stepped = true;
          break;
        }
      }
      if (!stepped) break;
    }
  }
  // Giving back: a later step (a size) can leave room that the earlier ones (every job's
  // repetitions, then runs) no longer needed. Runs first, then repetitions, each time to
  // the job where it costs least (so as many jobs as possible return to their plan).
  for (bool runs : {true, false}) {
    while (true) {
      std::size_t best = items.size();
      double best_inc = 0;
      for (std::size_t i = 0; i < items.size(); ++i) {
        BudgetItem next = items[i];
        if (runs ? next.runs >= planned[i].runs : next.repetitions >= planned[i].repetitions) continue;
        if (runs) ++next.runs;
        else ++next.repetitions;
        const double inc = cost(next) - cost(items[i]);
        if (t + inc <= budget_s && (best == items.size() || inc < best_inc)) {
          best = i;
          best_inc = inc;
        }
      }
      if (best == items.size()) break;
      if (runs) ++items[best].runs;
      else ++items[best].repetitions;
      t += best_inc;
    }
  }
  a.estimate_s = total();
  a.fits = a.estimate_s <= budget_s;
  if (!a.fits)
    a.reductions.push_back("DOES NOT FIT: estimated " + seconds_text(a.estimate_s) + " with every job at its minimums " +
                           "(runs, samples, sizes) > budget " + seconds_text(budget_s) +
                           "; running it all anyway (raise --budget, or --filter a part)");
  for (std::size_t i = 0; i < items.size(); ++i) {
    const BudgetItem &p = planned[i], &it = items[i];
    std::string parts;
    auto add = [&](const std::string& s) { parts += (parts.empty() ? "" : ", ") + s; };
    if (it.repetitions != p.repetitions)
      add("repetitions " + std::to_string(p.repetitions) + " -> " + std::to_string(it.repetitions) + " per run");
    if (it.runs != p.runs) add("runs " + std::to_string(p.runs) + " -> " + std::to_string(it.runs));
    if (it.size != p.size)
      add(it.size_param + " " + std::to_string(p.size) + " -> " + std::to_string(it.size));
    if (parts.empty()) continue;
    a.reductions.push_back(it.name + ": " + parts + " (estimate " + seconds_text(p.est.per_rep_s) + "/rep" +
                           (it.size != p.size ? " at " + it.size_param + "=" + std::to_string(p.size) : "") + ", " +
                           seconds_text(p.est.overhead_s) + "/process)");
  }
  a.items = std::move(items);
  return a;
}

std::vector<BudgetItem> budget_items(const std::vector<Job>& jobs, const std::map<std::string, Estimate>& estimates,
                                     int min_runs) {
  std::set<std::string> names;
  for (const Job& j : jobs) names.insert(j.name());
  std::vector<BudgetItem> items;
  for (const Job& j : jobs) {
    BudgetItem it;
    it.name = j.name();
    auto e = estimates.find(it.name);
    if (e == estimates.end()) throw std::invalid_argument("no time estimate for " + it.name);
    it.est = e->second;
    it.runs = j.runs;
    it.repetitions = j.repetitions;
    it.min = minimums(j, min_runs);
    for (const Shrinkable& s : kShrinkable) {
      if (!j.sc || j.sc->name != s.scenario) continue;
      const std::string param(s.param);
      if (!j.sent.contains(param) || !j.sent[param].is_number_integer()) continue;  // not given to this job
      if (!s.when_param.empty() && j.params.value(std::string(s.when_param), json()) != json(std::string(s.when_value))) continue;
      it.size_param = param;
      it.size0 = it.size = j.sent[param].get<std::int64_t>();
      it.size_divisor = s.divisor;
      // Stop above a value another job of the plan already measures (the same name twice)
      // or that the scenario refuses with the job's other parameters (io_pingpong's
      // active=all needs a round trip per pair).
      it.size_floor = s.floor;
      for (std::int64_t v = it.size / s.divisor, prev = it.size; v >= s.floor; prev = v, v /= s.divisor) {
        bool valid = !names.count(job_name_with(j, param, v));
        if (valid && j.sc->check) try {
            json p = j.params;
            p[param] = v;
            j.sc->check(p);
          } catch (const std::invalid_argument&) {
            valid = false;
          }
        if (!valid) {
          it.size_floor = prev;
          break;
        }
      }
      if (it.size_floor > it.size) it.size_floor = it.size;
    }
    items.push_back(std::move(it));
  }
  return items;
}

void apply_allocation(const Allocation& a, std::vector<Job>& jobs) {
  if (a.items.size() != jobs.size()) throw std::logic_error("apply_allocation: the allocation is for other jobs");
  for (std::size_t i = 0; i < jobs.size(); ++i) {
    const BudgetItem& it = a.items[i];
    Job& j = jobs[i];
    j.runs = it.runs;
    j.repetitions = it.repetitions;
    if (!it.size_param.empty() && it.size != it.size0) {
      j.sent[it.size_param] = it.size;
      j.params[it.size_param] = it.size;
      if (j.sc && j.sc->check) j.sc->check(j.params);  // e.g. skynet's power of 10
    }
  }
}

std::map<std::string, Estimate> estimates_from_json(const json& j, const std::vector<Job>& jobs) {
  if (!j.is_object()) throw std::invalid_argument("estimates: expected an object {\"default\": ..., \"jobs\": {...}}");
  for (const auto& [k, v] : j.items())
    if (k != "default" && k != "jobs") throw std::invalid_argument("estimates: unknown key '" + k + "' (default, jobs)");
  std::optional<Estimate> def;
  if (j.contains("default")) def = estimate_from_json(j["default"], "estimates.default");
  std::map<std::string, Estimate> out;
  if (j.contains("jobs")) {
    if (!j["jobs"].is_object()) throw std::invalid_argument("estimates.jobs: expected an object (job name -> estimate)");
    for (const auto& [name, e] : j["jobs"].items()) out[name] = estimate_from_json(e, "estimates.jobs." + name);
  }
  for (const Job& job : jobs)
    if (!out.count(job.name())) {
      if (!def) throw std::invalid_argument("estimates: none for " + job.name() + " and no default");
      out[job.name()] = *def;
    }
  return out;
}

Pilot run_pilot(const std::vector<Job>& jobs, double timeout_s, const std::function<PilotRun(const Job&)>& measure) {
  Pilot p;
  for (const Job& j : jobs) {
    if (p.runs.count(j.name())) continue;  // a distinct job once
    Job one = j;
    one.repetitions = 1;
    one.runs = 1;
    one.timeout_s = std::min(j.timeout_s, timeout_s);
    PilotRun r = measure(one);
    p.total_s += r.elapsed_s;
    p.runs[j.name()] = r;
  }
  // One pilot cannot split its time into process and repetition. The fastest ok pilot is
  // the most a process costs; half of it is taken, erring towards a larger time per
  // repetition: an estimate that overshoots leaves budget unused, one that undershoots
  // breaks the budget.
  double overhead = -1;
  for (const auto& [name, r] : p.runs)
    if (r.status == "ok" && (overhead < 0 || r.elapsed_s < overhead)) overhead = r.elapsed_s;
  overhead = overhead < 0 ? 0 : overhead / 2;
  for (const auto& [name, r] : p.runs) {
    Estimate e;
    if (r.timed_out) {
      e.overhead_s = overhead;
      e.per_rep_s = std::max(r.elapsed_s, timeout_s);
    } else if (r.status == "skipped") {
      e.overhead_s = r.elapsed_s;
    } else {
      e.overhead_s = std::min(overhead, r.elapsed_s);
      e.per_rep_s = r.elapsed_s - e.overhead_s;
    }
    p.estimates[name] = e;
  }
  return p;
}

double pilot_timeout(double budget_s) { return std::max(30.0, budget_s / 20); }

json design_fields(const Allocation& a, const std::vector<Job>& jobs, std::string_view scenario,
                   const std::string& source, std::optional<double> pilot_s) {
  if (a.items.size() != jobs.size()) throw std::logic_error("design_fields: the allocation is for other jobs");
  json reductions = json::array();
  if (!a.fits) reductions.push_back(a.reductions.front());
  json est = json::object();
  for (std::size_t i = 0; i < jobs.size(); ++i) {
    if (!jobs[i].sc || jobs[i].sc->name != scenario) continue;
    const BudgetItem& it = a.items[i];
    est[it.name] = {{"per_rep_s", it.est.per_rep_s}, {"overhead_s", it.est.overhead_s}};
    for (const std::string& r : a.reductions)
      if (r.rfind(it.name + ": ", 0) == 0) reductions.push_back(r);
  }
  return {{"budget_s", a.budget_s},
          {"reductions", reductions},
          {"estimates", {{"source", source}, {"pilot_s", pilot_s ? json(*pilot_s) : json(nullptr)}, {"jobs", est}}}};
}

std::string allocation_text(const Allocation& a) {
  std::size_t width = 3;
  for (const BudgetItem& it : a.items) width = std::max(width, it.name.size());
  std::string out;
  char line[512];
  std::snprintf(line, sizeof line, "  %-*s %4s %4s %10s\n", static_cast<int>(std::min<std::size_t>(width, 400)), "job",
                "runs", "reps", "estimate");
  out += line;
  for (const BudgetItem& it : a.items) {
    std::string name = it.name;
    if (it.size != it.size0) name += " (" + it.size_param + "=" + std::to_string(it.size) + ")";
    std::snprintf(line, sizeof line, "  %-*s %4d %4d %10s\n", static_cast<int>(std::min<std::size_t>(width, 400)),
                  name.substr(0, 440).c_str(), it.runs, it.repetitions, seconds_text(cost(it)).c_str());
    out += line;
  }
  out += "  estimated " + seconds_text(a.estimate_s) + " of a budget of " + seconds_text(a.budget_s) +
         (a.fits ? "" : ": DOES NOT FIT") + "\n";
  return out;
}

}  // namespace sy::harness
