#!/usr/bin/python3
"""Studies over rounds: scaling against Go, the fiber HTTP server against the event loop,
and a measurement that switches between two modes.

    study.py RESULTS... [--study scaling,http,modes] [--json] [--check] [--plots DIR]
             [--variant V ...] [--min-rounds N]
             [--modes-scenario S] [--modes-variant V] [--modes-param K=V ...] [--min-runs N]

RESULTS are results folders or files (pooled: repeated runs of one measurement on one
host add rounds; hosts are kept apart). Per round, a measurement's value is the median of
its samples in that round; ratios are formed per round and summarised by their geometric
mean with a 95% percentile bootstrap interval over rounds (inference.py), paired (whole rounds resampled).

- scaling: the steal scenario's time_s, our speedup from 1 to 2 carriers over Go's (the
  go peer, GOMAXPROCS = carriers), per workload (skynet, fib) and variant. Target: lower
  bound >= 0.9.
- http: requests_per_s of each fiber variant (asm-pooled-fifo first) over the eventloop
  peer at each connection count (mode=load). Target: lower bound >= 0.90.
- modes: the per-run medians of one measurement (default steal, boost-pooled-chaselev,
  carriers=2) split into a fast and a slow mode, and the carrier counter that best
  separates them (AUC, rank-biserial, Mann-Whitney p); --plots DIR writes a figure.

A verdict needs --min-rounds rounds (default 10). Exit codes: 0 done (with --check: every
target of the scaling and http studies asked for met); 1 with --check, a target missed,
without enough rounds, or a study asked for with nothing to measure; 2 bad input or usage,
or nothing to study in the results.
"""

import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from switchyard_analysis import studies  # noqa: E402
from switchyard_analysis.results import ResultsError, commits, load_paths  # noqa: E402

STUDIES = ("scaling", "http", "modes")


def _listed(values):
    return [v for arg in values or [] for v in arg.split(",") if v]


def _params(items):
    out = {}
    for kv in items or []:
        k, sep, v = kv.partition("=")
        if not sep or not k:
            raise ValueError(f"--modes-param {kv}: expected key=value")
        out[k] = v
    return out


def _slug(s):
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in s).strip("_")


def main(argv=None):
    ap = argparse.ArgumentParser(prog="study.py", description=__doc__.splitlines()[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog="\n".join(__doc__.splitlines()[2:]))
    ap.add_argument("results", nargs="+", metavar="RESULTS", help="results folders or files")
    ap.add_argument("--study", action="append", help="scaling, http, modes (default: all three)")
    ap.add_argument("--variant", action="append",
                    help="our variants for scaling and http (default: every variant present)")
    ap.add_argument("--min-rounds", type=int, default=studies.MIN_ROUNDS)
    ap.add_argument("--modes-scenario", default="steal")
    ap.add_argument("--modes-variant", default="boost-pooled-chaselev")
    ap.add_argument("--modes-param", action="append", metavar="K=V",
                    help="a parameter the two-mode measurement must have (default carriers=2)")
    ap.add_argument("--modes-metric", default="time_s")
    ap.add_argument("--min-runs", type=int, default=studies.MODES_MIN_RUNS)
    ap.add_argument("--plots", metavar="DIR", help="write the two-mode figures (PNG and PDF) here")
    ap.add_argument("--json", action="store_true", help="JSON on standard output instead of tables")
    ap.add_argument("--check", action="store_true", help="exit 1 unless every target is met")
    try:
        a = ap.parse_args(argv)
    except SystemExit as e:
        return 0 if e.code == 0 else 2
    chosen = _listed(a.study) or list(STUDIES)
    bad = [s for s in chosen if s not in STUDIES]
    if bad:
        print(f"study.py: unknown study {', '.join(bad)} (valid: {', '.join(STUDIES)})", file=sys.stderr)
        return 2
    if a.min_rounds < 2 or a.min_runs < 4:
        print("study.py: --min-rounds must be at least 2 and --min-runs at least 4", file=sys.stderr)
        return 2
    try:
        mparams = _params(a.modes_param) if a.modes_param else {"carriers": "2"}
    except ValueError as err:
        print(f"study.py: {err}", file=sys.stderr)
        return 2
    try:
        rs = load_paths(a.results)
    except ResultsError as err:
        print(f"study.py: {err}", file=sys.stderr)
        return 2
    variants = _listed(a.variant) or None
    known = {e.label for e in rs.entries if not e.is_peer}
    if variants and not set(variants) & known:
        print(f"study.py: no variant {', '.join(variants)} in the results (present: "
              f"{', '.join(sorted(known)) or 'none'})", file=sys.stderr)
        return 2

    out = {"results": a.results, "commits": commits(rs), "warnings": rs.warnings}
    if "scaling" in chosen:
        out["scaling"] = studies.scaling(rs, variants, min_rounds=a.min_rounds)
    if "http" in chosen:
        out["http"] = studies.http(rs, variants, min_rounds=a.min_rounds)
    if "modes" in chosen:
        out["modes"] = studies.modes(rs, a.modes_scenario, a.modes_variant, mparams, a.modes_metric,
                                     min_runs=a.min_runs)
    if not any(out.get(s) for s in STUDIES):
        print(f"study.py: nothing to study in {' '.join(a.results)}: no steal measurements with the go "
              f"peer, no http measurements with the {studies.HTTP_PEER} peer, no {a.modes_variant} "
              f"{a.modes_scenario} measurement", file=sys.stderr)
        return 2
    plots = []
    if a.plots:
        for s in out.get("modes", []):
            base = os.path.join(a.plots, "modes_" + _slug(f"{s.subject['variant']}_{s.subject['params']}"
                                                          f"_{s.host}"))
            studies.plot_modes(s, base + ".png")
            studies.plot_modes(s, base + ".pdf")
            plots.append(base + ".png")

    if a.json:
        doc = {k: (studies.as_json(v) if k in STUDIES else v) for k, v in out.items()}
        doc["plots"] = plots
        json.dump(doc, sys.stdout, indent=1, sort_keys=True)
        print()
    else:
        lines = []
        if len(out["commits"]) > 1:
            lines.append(f"commits: {', '.join(out['commits'])}")
        for w in rs.warnings:
            lines.append(f"warning: {w}")
        if "scaling" in out:
            lines += studies.ratio_table(out["scaling"], "Scaling: our speedup 1->2 carriers / Go's "
                                         "(steal, time_s)", ["workload", "variant"])
            lines += studies.scaling_extra(out["scaling"])
            lines.append("")
        if "http" in out:
            lines += studies.ratio_table(out["http"], f"HTTP: fiber server / {studies.HTTP_PEER} "
                                         "(requests_per_s)", ["variant", "connections"])
            lines.append("")
        if "modes" in out:
            lines += studies.modes_table(out["modes"])
        for p in plots:
            lines.append(f"figure: {p}")
        print("\n".join(lines))

    if a.check:
        # A study asked for that found nothing to measure has not met its target either.
        asked = [k for k in ("scaling", "http") if k in out]
        ok = all(out[k] and all(s.verdict == "pass" for s in out[k]) for k in asked)
        return 0 if asked and ok else 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
