"""Studies over rounds: scaling against Go, the fiber HTTP server against the event loop,
and a measurement that switches between two modes.

Each study reads a results set (results.load_paths) whose measurements were taken in
rounds (schema version 2: every job once per round, each in a fresh process, the job order
interleaved or shuffled per round). Two measurements taken in the same round share that
round's luck (the machine's frequency, what the neighbours ran), so a ratio is formed per
round and only then summarised: drift that hits both sides of a round cancels.

- A per-round value is the median of that round's samples of the measurement (all its
  repetitions in that process).
- A ratio across rounds is summarised by the geometric mean of the per-round ratios (the
  mean of their logarithms): a ratio and its inverse then give reciprocal answers, and
  the mean has a smooth bootstrap distribution, which the median of 10 rounds has not.
- Its 95 % interval is inference's paired interval (inference.ratio_ci and
  ratio_of_ratios: scipy.stats.bootstrap's percentile interval, fixed seed, the one
  bootstrap of the project, so a study and compare.py give the same interval for the same
  rounds): whole rounds are resampled, every side of a round together. Percentile rather
  than BCa: the two agree closely for a mean of 10 or more log ratios, and one method
  everywhere is worth more than BCa's small-sample correction here. The unpaired interval
  (each side's rounds resampled on their own, around the ratio of the sides' medians over
  rounds) is reported beside it, to show what pairing buys.
- A target "the interval excludes values below T" holds when the interval's lower bound
  is at least T. Fewer rounds than asked (`min_rounds`, 10 by default) give no verdict.

Entries of different hosts are never combined: each study runs per host.
"""

import math
import os
import textwrap
from dataclasses import asdict, dataclass, field

import numpy as np
from scipy import special

from . import catalog, inference
from .hosts import host_labels
from .results import entry_commits, params_text

MIN_ROUNDS = 10
SCALING_TARGET = 0.9
HTTP_TARGET = 0.90
HTTP_FIBER_DEFAULT = "asm-pooled-fifo"
HTTP_PEER = "eventloop"
SCALING_PEER = "go"
MODES_MIN_RUNS = 20
# Two modes are claimed when a mixture of two normals (on log time) beats one normal by a
# BIC difference of at least 10, "very strong" evidence on Kass and Raftery's scale. A
# plain two-group split is no test: it finds two groups in any sample, and Ashman's D of
# the best split of normal data is about 2.6, above the usual "bimodal" mark of 2.
MODES_MIN_DBIC = 10.0
# The smallest standard deviation a mode may have, in log units (0.1 % of the time): below
# it a mode of identical values would have an unbounded likelihood.
MODES_SD_FLOOR = 1e-3
# The smaller mode must hold at least this share of the runs (and two): a heavy tail of a
# few slow runs is otherwise fitted as a component of its own. On 300 synthetic samples of
# 24 runs from Student's t with 4 degrees of freedom (one mode, heavy tails) the BIC rule
# alone claims two modes in 7 %, with this share in 0.7 %; on normal samples in none.
MODES_MIN_SHARE = 0.1

# ---------------------------------------------------------------------------- per round

def round_values(entries, metric):
    """{round: median of that round's samples} over one measurement's entries (a failed
    entry keeps its ok rounds' samples; rounds of separate files are already distinct)."""
    by = {}
    for e in entries:
        m = e.metrics.get(metric)
        if m is None:
            continue
        for r, v in m.by_round().items():
            by.setdefault(r, []).extend(v)
    return {r: float(np.median(v)) for r, v in sorted(by.items())}


def common_rounds(*series):
    """The rounds every series has a value in, sorted."""
    if not series:
        return []
    common = set(series[0])
    for s in series[1:]:
        common &= set(s)
    return sorted(common)


def _ratio_study_ci(sides, paired):
    """(estimate, low, high) of the ratio over rounds of one value per round per side:
    `sides` is [numerator, denominator] or [a_num, a_den, b_num, b_den] (a ratio of ratios),
    parallel lists over the common rounds. The interval is inference's, the one bootstrap
    of the project: paired, the geometric mean of the per-round ratios with rounds
    resampled whole; unpaired (`paired=False`), each side's rounds resampled on their own
    and the estimate the ratio of the sides' medians over rounds. Fewer than two rounds
    give the estimate without an interval (nan bounds)."""
    n = len(sides[0])
    if n == 0:
        return math.nan, math.nan, math.nan
    if n < 2:
        # One round: its ratio, and nothing to resample.
        logs = sum(sign * math.log(s[0]) for s, sign in zip(sides, (1, -1, -1, 1)))
        return math.exp(logs), math.nan, math.nan
    ids = list(range(n))
    if len(sides) == 2:
        ci = inference.ratio_ci(sides[1], sides[0], ids, ids, paired=paired)
    else:
        ci = inference.ratio_of_ratios(*sides, runs=(ids,) * 4, paired=paired)
    return ci.estimate, ci.low, ci.high


@dataclass
class RatioStudy:
    """One paired ratio across rounds against a target on its lower bound."""
    study: str                 # "scaling" | "http"
    host: str
    subject: dict              # what was compared (workload, variant, peer, connections ...)
    rounds: list               # the rounds used (common to every side)
    per_round: list            # the per-round ratio, parallel to rounds
    estimate: float
    low: float
    high: float
    unpaired_low: float
    unpaired_high: float
    target: float
    verdict: str               # "pass" | "fail" | "too few rounds"
    sides: dict = field(default_factory=dict)   # side -> per-round values, parallel to rounds
    notes: list = field(default_factory=list)


def _verdict(n, low, target, min_rounds):
    if n < max(min_rounds, 2) or math.isnan(low):
        return "too few rounds"
    return "pass" if low >= target else "fail"


def _by_host(rs):
    labels = host_labels(rs.hosts) if rs.hosts else ["host"]
    out = {}
    for e in rs.entries:
        out.setdefault(e.host, []).append(e)
    return [(labels[h] if h < len(labels) else f"host {h + 1}", es) for h, es in sorted(out.items())]


def _peer_keys(scenario, peer):
    """The parameters a peer shares with the variants (the catalogue's peer_params): only
    they must agree for a peer's measurement to be the variant's counterpart."""
    try:
        pp = (catalog.scenario(scenario) or {}).get("peer_params", {}) or {}
    except Exception:       # a catalogue without the scenario: fall back to shared keys
        pp = {}
    return set(pp.get(peer, [])) or None


def _agree(p, q, keys, ignore=()):
    shared = set(p) & set(q)
    if keys is not None:
        shared &= keys
    return all(p[k] == q[k] for k in shared if k not in ignore)


def _usable(e, metric):
    # An entry that failed in some rounds still holds its ok rounds' samples.
    return e.status in ("ok", "failed") and metric in e.metrics


def _group(entries, exclude):
    """{(label, params without `exclude`): [entries]} (a measurement may be several entries)."""
    out = {}
    for e in entries:
        p = {k: v for k, v in e.params.items() if k not in exclude}
        out.setdefault((e.label, params_text(p)), []).append(e)
    return out


# ---------------------------------------------------------------------------- scaling

def scaling(rs, variants=None, metric="time_s", low=1, high=2, target=SCALING_TARGET,
            min_rounds=MIN_ROUNDS, peer=SCALING_PEER, scenario="steal"):
    """Our speedup from `low` to `high` carriers over the peer's (GOMAXPROCS = carriers) in
    the same rounds, per workload and variant, on each host: [RatioStudy]."""
    out = []
    keys = _peer_keys(scenario, peer)
    for host, entries in _by_host(rs):
        es = [e for e in entries if e.scenario == scenario and _usable(e, metric)]
        ours = [e for e in es if not e.is_peer and (not variants or e.label in variants)]
        theirs = [e for e in es if e.peer == peer]
        if not theirs:
            continue        # a run without the peer: nothing to scale against on this host
        peer_groups = _group(theirs, {"carriers"})
        for (label, ptext), group in sorted(_group(ours, {"carriers"}).items()):
            o = {c: [e for e in group if e.params.get("carriers") == c] for c in (low, high)}
            if not o[low] or not o[high]:
                continue
            base = {k: v for k, v in group[0].params.items() if k != "carriers"}
            match = [g for (_, _), g in peer_groups.items()
                     if _agree(base, {k: v for k, v in g[0].params.items() if k != "carriers"}, keys)]
            subject = {"workload": base.get("workload"), "variant": label, "peer": peer,
                       "carriers": f"{low}->{high}", "params": ptext}
            if not match:
                out.append(_missing("scaling", host, subject, target,
                                    f"no {peer} measurement with these params"))
                continue
            g = match[0]
            t = {c: [e for e in g if e.params.get("carriers") == c] for c in (low, high)}
            if not t[low] or not t[high]:
                out.append(_missing("scaling", host, subject, target,
                                    f"{peer} lacks carriers={low if not t[low] else high}"))
                continue
            series = {"ours_low": round_values(o[low], metric), "ours_high": round_values(o[high], metric),
                      "peer_low": round_values(t[low], metric), "peer_high": round_values(t[high], metric)}
            rounds = common_rounds(*series.values())
            v = {k: [s[r] for r in rounds] for k, s in series.items()}
            sp_ours = [a / b for a, b in zip(v["ours_low"], v["ours_high"])]
            sp_peer = [a / b for a, b in zip(v["peer_low"], v["peer_high"])]
            four = [v["ours_low"], v["ours_high"], v["peer_low"], v["peer_high"]]
            est, lo, hi = _ratio_study_ci(four, paired=True)
            _, ulo, uhi = _ratio_study_ci(four, paired=False)
            sides = dict(v, speedup_ours=sp_ours, speedup_peer=sp_peer)
            notes = _round_notes(series, rounds)
            notes += _commit_notes(group + g)
            out.append(RatioStudy("scaling", host, subject, rounds,
                                  [a / b for a, b in zip(sp_ours, sp_peer)], est, lo, hi, ulo, uhi,
                                  target, _verdict(len(rounds), lo, target, min_rounds), sides, notes))
    return out


def _missing(study, host, subject, target, why):
    nan = math.nan
    return RatioStudy(study, host, subject, [], [], nan, nan, nan, nan, nan, target,
                      "too few rounds", notes=[why])


def _round_notes(series, rounds):
    left = sorted(set().union(*[set(s) for s in series.values()]) - set(rounds))
    return [f"rounds {', '.join(map(str, left))} lack a side and are left out"] if left else []


def _commit_notes(entries):
    cs = []
    for e in entries:
        cs += [c for c in entry_commits(e) if c not in cs]
    return [f"measured on {len(cs)} commits: {', '.join(c[:12] for c in cs)}"] if len(cs) > 1 else []


# ---------------------------------------------------------------------------- HTTP

def http(rs, variants=None, metric="requests_per_s", peer=HTTP_PEER, target=HTTP_TARGET,
         min_rounds=MIN_ROUNDS, scenario="http"):
    """The fiber server's throughput over the peer's at each connection count, paired by
    round, on each host: [RatioStudy]. `variants` None: the default fiber server and every
    other variant present."""
    out = []
    keys = _peer_keys(scenario, peer)
    for host, entries in _by_host(rs):
        es = [e for e in entries if e.scenario == scenario and _usable(e, metric)
              and e.params.get("mode", "load") == "load"]
        ours = [e for e in es if not e.is_peer and (not variants or e.label in variants)]
        theirs = _group([e for e in es if e.peer == peer], ())
        if not theirs:
            continue
        groups = _group(ours, ())
        order = sorted(groups, key=lambda k: (k[0] != HTTP_FIBER_DEFAULT, k[0],
                                              float(groups[k][0].params.get("connections", 0))))
        for label, ptext in order:
            group = groups[(label, ptext)]
            p = group[0].params
            # The servers differ in their taskmaster by design; the load must be the same.
            match = [g for g in theirs.values() if _agree(p, g[0].params, keys, ignore=("taskmaster",))]
            subject = {"variant": label, "peer": peer, "connections": p.get("connections"),
                       "params": ptext}
            if not match:
                out.append(_missing("http", host, subject, target,
                                    f"no {peer} measurement at these params"))
                continue
            series = {"ours": round_values(group, metric), "peer": round_values(match[0], metric)}
            rounds = common_rounds(*series.values())
            v = {k: [s[r] for r in rounds] for k, s in series.items()}
            est, lo, hi = _ratio_study_ci([v["ours"], v["peer"]], paired=True)
            _, ulo, uhi = _ratio_study_ci([v["ours"], v["peer"]], paired=False)
            notes = _round_notes(series, rounds) + _commit_notes(group + match[0])
            out.append(RatioStudy("http", host, subject, rounds,
                                  [a / b for a, b in zip(v["ours"], v["peer"])], est, lo, hi, ulo, uhi,
                                  target, _verdict(len(rounds), lo, target, min_rounds), v, notes))
    return out


# ---------------------------------------------------------------------------- two modes

@dataclass
class ModeStudy:
    host: str
    subject: dict
    rounds: list               # one per run, in round order
    values: list               # the per-run median of the metric, parallel to rounds
    mode: list                 # 0 (fast) or 1 (slow) per run; empty when not bimodal
    bimodal: bool
    split: float               # a value between the modes (their boundary), or nan
    delta_bic: float           # one normal's BIC minus the two-component mixture's
    ashman_d: float            # of the fitted components
    modes: list                # [{"runs": [...], "median": m, "n": k}] fast then slow
    counters: list             # [{"counter", "auc", "rank_biserial", "p", "higher_in"}] best first
    best_counter: object       # name or None
    counter_values: dict       # counter -> per-run value, parallel to rounds
    enough_runs: bool
    notes: list = field(default_factory=list)


def two_means_split(values):
    """The split of sorted values into a low and a high group that minimises the summed
    within-group squared deviation (1-D two-means, exact: every split point is tried), at
    least two values in each. Returns the index of the first high value in sorted order,
    or None for fewer than four values."""
    x = np.sort(np.asarray(values, dtype=float))
    best, best_i = math.inf, None
    for i in range(2, x.size - 1):
        a, b = x[:i], x[i:]
        cost = ((a - a.mean()) ** 2).sum() + ((b - b.mean()) ** 2).sum()
        if cost < best:
            best, best_i = cost, i
    return best_i


def _logpdf(x, mu, sd):
    return -0.5 * ((x - mu) / sd) ** 2 - math.log(sd) - 0.5 * math.log(2 * math.pi)


@dataclass
class Mixture:
    weight: float          # of the high component
    mu: tuple              # (low, high)
    sd: tuple
    delta_bic: float       # BIC of one normal minus BIC of the two-component mixture
    ashman_d: float
    high: list             # per value: True when the high component is the likelier


def mixture2(values, sd_floor=MODES_SD_FLOOR, iterations=500):
    """A two-component normal mixture fitted by EM (started from the two-means split),
    compared with one normal by BIC. None for fewer than four values."""
    x = np.asarray(values, dtype=float)
    n = x.size
    i = two_means_split(x)
    if i is None:
        return None
    srt = np.sort(x)
    mu = [srt[:i].mean(), srt[i:].mean()]
    sd = [max(srt[:i].std(), sd_floor), max(srt[i:].std(), sd_floor)]
    w = (n - i) / n
    prev = -math.inf
    for _ in range(iterations):
        l0 = math.log(1 - w) + _logpdf(x, mu[0], sd[0])
        l1 = math.log(w) + _logpdf(x, mu[1], sd[1])
        top = np.maximum(l0, l1)
        ll = float(np.sum(top + np.log(np.exp(l0 - top) + np.exp(l1 - top))))
        r1 = special.expit(l1 - l0)     # the high component's share, without overflow
        r0 = 1.0 - r1
        if r1.sum() < 1e-9 or r0.sum() < 1e-9:
            break                      # one component took everything: one mode
        w = float(np.clip(r1.mean(), 1e-6, 1 - 1e-6))
        mu = [float((r0 * x).sum() / r0.sum()), float((r1 * x).sum() / r1.sum())]
        sd = [max(math.sqrt(float((r0 * (x - mu[0]) ** 2).sum() / r0.sum())), sd_floor),
              max(math.sqrt(float((r1 * (x - mu[1]) ** 2).sum() / r1.sum())), sd_floor)]
        if abs(ll - prev) < 1e-10:
            break
        prev = ll
    one = float(np.sum(_logpdf(x, x.mean(), max(x.std(), sd_floor))))
    dbic = (2 * math.log(n) - 2 * one) - (5 * math.log(n) - 2 * prev)
    if mu[0] > mu[1]:
        mu, sd, w = mu[::-1], sd[::-1], 1 - w
    high = list(math.log(w) + _logpdf(x, mu[1], sd[1]) > math.log(1 - w) + _logpdf(x, mu[0], sd[0]))
    d = math.sqrt(2) * abs(mu[1] - mu[0]) / math.sqrt(sd[0] ** 2 + sd[1] ** 2)
    return Mixture(w, tuple(mu), tuple(sd), float(dbic), float(d), [bool(h) for h in high])


def separation(fast, slow):
    """How well a counter tells the slow runs from the fast: AUC = P(slow > fast) (ties
    count half; Mann-Whitney U over n1 n2), the rank-biserial correlation 2 AUC - 1, and
    scipy's two-sided Mann-Whitney p."""
    u, p = inference.mann_whitney(slow, fast)
    auc = float(u) / (len(slow) * len(fast))
    return auc, 2 * auc - 1, float(p)


def counter_series(entries, rounds):
    """{feature: per-run value parallel to rounds}: each counter's total over the carriers
    and each carrier's own ("steals@1" is carrier 1's, 0-based), the median over a run's
    repetitions. Empty when the entries carry no counters."""
    per = {}
    for e in entries:
        cc = e.carrier_counters
        if cc is None:
            continue
        for rep, r in zip(cc.values, cc.rounds):
            for i, name in enumerate(cc.counters):
                per.setdefault(name, {}).setdefault(r, []).append(sum(row[i] for row in rep))
                for c, row in enumerate(rep):
                    per.setdefault(f"{name}@{c}", {}).setdefault(r, []).append(row[i])
    out = {}
    for name, by in per.items():
        if all(r in by for r in rounds):
            out[name] = [float(np.median(by[r])) for r in rounds]
    return out


def modes(rs, scenario="steal", variant="boost-pooled-chaselev", params=None, metric="time_s",
          min_runs=MODES_MIN_RUNS, min_dbic=MODES_MIN_DBIC):
    """Per run (round) medians of one measurement, split into a fast and a slow mode, and
    the counters ranked by how well they separate the modes: [ModeStudy] per matching
    measurement and host. `params`: {key: value} the measurement must have."""
    params = params or {}
    out = []
    for host, entries in _by_host(rs):
        es = [e for e in entries if e.scenario == scenario and e.label == variant and _usable(e, metric)
              and all(str(e.params.get(k)) == str(v) for k, v in params.items())]
        for key, group in sorted(_group(es, ()).items(), key=lambda kv: kv[0]):
            out.append(_modes_one(host, scenario, variant, key[1], group, metric, min_runs, min_dbic))
    return out


def _modes_one(host, scenario, variant, ptext, group, metric, min_runs, min_dbic):
    per = round_values(group, metric)
    rounds, values = list(per), list(per.values())
    subject = {"scenario": scenario, "variant": variant, "params": ptext, "metric": metric}
    notes = []
    if len(rounds) < min_runs:
        notes.append(f"{len(rounds)} runs, fewer than the {min_runs} asked")
    # Times are compared on a log scale: a mode is a factor, and the slow mode's spread
    # grows with its level.
    mix = mixture2(np.log(values)) if all(v > 0 for v in values) else None
    smallest = max(2, math.ceil(MODES_MIN_SHARE * len(values)))
    bimodal = bool(mix and mix.delta_bic >= min_dbic
                   and smallest <= sum(mix.high) <= len(values) - smallest)
    mode, split, mstats, ranked, best, cser = [], math.nan, [], [], None, {}
    if bimodal:
        mode = [int(h) for h in mix.high]
        fast_max = max(v for v, k in zip(values, mode) if k == 0)
        slow_min = min(v for v, k in zip(values, mode) if k == 1)
        split = float(math.sqrt(fast_max * slow_min))
        for m in (0, 1):
            runs = [r for r, k in zip(rounds, mode) if k == m]
            vals = [v for v, k in zip(values, mode) if k == m]
            mstats.append({"runs": runs, "n": len(runs), "median": float(np.median(vals))})
        cser = counter_series(group, rounds)
        if not cser:
            notes.append("no carrier_counters in these entries: nothing to separate the modes with")
        for name, vals in cser.items():
            fast = [v for v, k in zip(vals, mode) if k == 0]
            slow = [v for v, k in zip(vals, mode) if k == 1]
            if np.ptp(vals) == 0:
                continue      # a counter that never changes separates nothing
            auc, rb, p = separation(fast, slow)
            ranked.append({"counter": name, "auc": auc, "rank_biserial": rb, "p": p,
                           "higher_in": "slow" if rb > 0 else "fast",
                           "fast_median": float(np.median(fast)), "slow_median": float(np.median(slow))})
        # Totals before per-carrier features on equal separation: the simpler explanation.
        ranked.sort(key=lambda c: (-abs(c["rank_biserial"]), "@" in c["counter"], c["p"], c["counter"]))
        best = ranked[0]["counter"] if ranked else None
    elif mix is not None and mix.delta_bic < min_dbic:
        notes.append(f"one mode: two normals beat one by a BIC difference of {mix.delta_bic:.1f} "
                     f"(< {min_dbic:g})")
    elif mix is not None:
        notes.append(f"one mode and {min(sum(mix.high), len(values) - sum(mix.high))} outlying run(s): "
                     f"a mode needs at least {smallest} runs")
    return ModeStudy(host, subject, rounds, values, mode, bimodal, split,
                     mix.delta_bic if mix else math.nan, mix.ashman_d if mix else math.nan,
                     mstats, ranked, best, {best: cser[best]} if best else {},
                     len(rounds) >= min_runs, notes)


def plot_modes(study, path):
    """Per-run time with the modes coloured, next to the separating counter against time."""
    from . import style
    import matplotlib.pyplot as plt
    style.setup()
    fast_c, slow_c = style.OKABE_ITO["blue"], style.OKABE_ITO["vermillion"]
    colours = [slow_c if m else fast_c for m in study.mode] if study.mode else [fast_c] * len(study.values)
    fig, axes = plt.subplots(1, 2 if study.best_counter else 1, figsize=(style.DOUBLE_IN, 2.6),
                             squeeze=False)
    ax = axes[0][0]
    ax.scatter(study.rounds, study.values, c=colours, s=14)
    if study.bimodal:
        ax.axhline(study.split, color="#666666", linestyle=":", linewidth=0.8)
    ax.set_xlabel("run (round)")
    ax.set_ylabel(study.subject["metric"])
    ax.set_title("per-run median, coloured by mode", fontsize=7)
    fig.suptitle(textwrap.fill(f"{study.subject['scenario']} {study.subject['variant']} "
                               f"{study.subject['params']} ({study.host})", 110), fontsize=7)
    if study.best_counter:
        bx = axes[0][1]
        bx.scatter(study.counter_values[study.best_counter], study.values, c=colours, s=14)
        bx.set_xlabel(f"{study.best_counter} per run (median over repetitions)")
        bx.set_ylabel(study.subject["metric"])
        best = study.counters[0]
        bx.set_title(f"{study.best_counter}: AUC {best['auc']:.2f}, rank-biserial "
                     f"{best['rank_biserial']:+.2f}", fontsize=7)
    from matplotlib.lines import Line2D
    handles = [Line2D([], [], marker="o", linestyle="", color=fast_c, label="fast mode"),
               Line2D([], [], marker="o", linestyle="", color=slow_c, label="slow mode")]
    if study.bimodal:
        ax.legend(handles=handles, fontsize=7, frameon=False)
    fig.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path


# ---------------------------------------------------------------------------- output

def _f(x, digits=3):
    return "-" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.{digits}f}"


def _pairs(ptext):
    return dict(kv.split("=", 1) for kv in ptext.split() if "=" in kv)


def varying(studies, shown):
    """Per study, the params (as text) whose values differ between the studies' rows, other
    than those `shown` in columns of their own: what tells two rows apart."""
    ps = [_pairs(s.subject.get("params", "")) for s in studies]
    keys = sorted({k for p in ps for k in p} - set(shown))
    vary = [k for k in keys if len({p.get(k) for p in ps}) > 1]
    return [" ".join(f"{k}={p[k]}" for k in vary if k in p) for p in ps]


def ratio_table(studies, title, what):
    """A readable text table of [RatioStudy]."""
    lines = [title]
    if not studies:
        return lines + ["  (no measurement of this study in the results)"]
    other = varying(studies, what + ["carriers"])
    extra = any(other)
    head = ["host", *what, *(["params"] if extra else []), "rounds", "ratio", "95% CI (paired)",
            "unpaired CI", "target", "verdict"]
    rows = []
    for s, o in zip(studies, other):
        rows.append([s.host, *[str(s.subject.get(w)) for w in what], *([o or "-"] if extra else []),
                     str(len(s.rounds)), _f(s.estimate),
                     f"[{_f(s.low)}, {_f(s.high)}]", f"[{_f(s.unpaired_low)}, {_f(s.unpaired_high)}]",
                     f">= {s.target:g}", s.verdict.upper()])
    widths = [max(len(r[i]) for r in rows + [head]) for i in range(len(head))]
    lines.append("  " + "  ".join(h.ljust(w) for h, w in zip(head, widths)))
    lines += ["  " + "  ".join(c.ljust(w) for c, w in zip(r, widths)) for r in rows]
    for s in studies:
        for n in s.notes:
            lines.append(f"  note ({s.subject.get('variant')} {s.subject.get('params')}): {n}")
    return lines


def scaling_extra(studies):
    """The speedups themselves (geometric means over rounds), under the scaling table."""
    lines = []
    for s in studies:
        if s.rounds:
            so = float(np.exp(np.mean(np.log(s.sides["speedup_ours"]))))
            sp = float(np.exp(np.mean(np.log(s.sides["speedup_peer"]))))
            lines.append(f"  {s.subject['workload']} {s.subject['variant']}: speedup {so:.2f}x, "
                         f"{s.subject['peer']} {sp:.2f}x ({s.host})")
    return lines


def modes_table(studies):
    lines = ["Two modes (per-run medians, log time: a two-normal mixture against one normal; "
             f"two modes when the BIC difference >= {MODES_MIN_DBIC:g})"]
    if not studies:
        return lines + ["  (no measurement of this study in the results)"]
    for s in studies:
        lines.append(f"  {s.subject['scenario']} {s.subject['variant']} {s.subject['params']} ({s.host}): "
                     f"{len(s.rounds)} runs, BIC difference {_f(s.delta_bic, 1)}, "
                     f"Ashman's D {_f(s.ashman_d, 2)}, "
                     + ("two modes" if s.bimodal else "one mode"))
        for name, m in zip(("fast", "slow"), s.modes):
            lines.append(f"    {name} mode: {m['n']} runs, median {m['median']:.6g} "
                         f"{s.subject['metric']}; runs {', '.join(map(str, m['runs']))}")
        if s.bimodal:
            lines.append(f"    boundary {s.split:.6g}")
        for c in s.counters[:6]:
            lines.append(f"    {c['counter']:<18} AUC {c['auc']:.2f}  rank-biserial {c['rank_biserial']:+.2f}  "
                         f"p {c['p']:.2g}  higher in the {c['higher_in']} mode "
                         f"(medians {c['fast_median']:.6g} fast, {c['slow_median']:.6g} slow)")
        if s.best_counter:
            lines.append(f"    separating counter: {s.best_counter}")
        for n in s.notes:
            lines.append(f"    note: {n}")
    return lines


def _clean(x):
    if isinstance(x, float) and (math.isnan(x) or math.isinf(x)):
        return None
    if isinstance(x, dict):
        return {k: _clean(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_clean(v) for v in x]
    return x


def as_json(studies):
    """JSON-ready dicts (NaN and infinity become null)."""
    return [_clean(asdict(s)) for s in studies]
