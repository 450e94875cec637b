#!/usr/bin/python3
"""Compare results: two results sets (folders or files), or the variants within one folder.

    compare.py BASE NEW [--metric M ...] [--scenario S ...] [--variant V ...]
               [--threshold PCT] [--fail-on-regression] [--format text|csv|json|markdown]
    compare.py --variants RESULTS_DIR [--reference VARIANT] [--peers] [--intervals]
               [--check-invariants]

BASE and NEW are each a results folder or a single results file. Per (scenario, label,
params, metric): old and new medians, delta with the 95% bootstrap interval of the ratio of
medians (by round when the data carries round ids; paired only within one file), the
two-sided p-value (scipy: Mann-Whitney U of the samples, or, when both sides have rounds,
a t-test of the log round medians, the round being the independent unit) and n. A difference is claimed only when p < --alpha and the interval
excludes 1; otherwise "~" (benchstat's convention), with a note when the samples are too
few for the test to reach --alpha at all. A change no larger than the noise floor is "~"
"within the noise floor": the floor is the widest margin (max of floor and |drift| of the
fixed reference workload each round measures, schema 2's `noise_floor`) of either side's
files, or --noise-floor if that is larger.

With --fail-on-regression the exit code is 1 when a chosen metric got worse by more than
--threshold percent and the statistics claim it. Not counted unless asked: rows whose
samples are too few for the test (--small-samples-by-threshold lets the threshold alone
decide for them) and rows measured on different hosts (--cross-host). Instruction counts
compare with --instr-tolerance (default 1%) instead of the test.

--variants: one table per scenario, rows = metric and params, columns = variants, ratios
to --reference (default asm-pooled-fifo; switch backends to 'asm'); --intervals adds each
median's interval and each ratio's. --check-invariants checks what holds on any machine
and exits 1 when one fails; an invariant without data is "not checked (no data)".

A name that is not in the data (metric, reference, variant, scenario) is an error.
Exit codes: 0 fine, 1 regression or failed invariant, 2 bad input or usage.
"""

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from switchyard_analysis import comparison  # noqa: E402
from switchyard_analysis.comparison import UnknownName, check_names, names_in, wrap  # noqa: E402
from switchyard_analysis.results import ResultsError, load_folder, noise_floors  # noqa: E402


def _listed(values):
    return {v for arg in values for v in arg.split(",") if v}


def _side(label, path, rs):
    b = rs.build
    return {"side": label, "path": path, "commit": b.get("commit"), "dirty": b.get("dirty"),
            "host": comparison.host_identity(rs.machine), "files": len(rs.files)}


def main(argv=None):
    ap = argparse.ArgumentParser(prog="compare.py", description=__doc__.splitlines()[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog="\n".join(__doc__.splitlines()[2:7]))
    ap.add_argument("inputs", nargs="*", metavar="BASE NEW",
                    help="two results folders or files")
    ap.add_argument("--variants", metavar="RESULTS_DIR")
    ap.add_argument("--check-invariants", action="store_true")
    ap.add_argument("--reference", default=None,
                    help="--variants: the column others are divided by (default asm-pooled-fifo)")
    ap.add_argument("--peers", action="store_true", help="also show peers in --variants tables")
    ap.add_argument("--intervals", action="store_true",
                    help="--variants: medians and ratios with 95%% bootstrap intervals")
    ap.add_argument("--metric", action="append", default=[], help="repeatable or comma-separated")
    ap.add_argument("--scenario", action="append", default=[], help="repeatable or comma-separated")
    ap.add_argument("--variant", action="append", default=[],
                    help="label (variant, switch backend or peer); repeatable or comma-separated")
    ap.add_argument("--threshold", type=float, default=5.0, metavar="PCT")
    ap.add_argument("--alpha", type=float, default=0.05)
    ap.add_argument("--instr-tolerance", type=float, default=1.0, metavar="PCT")
    ap.add_argument("--noise-floor", type=float, default=0.0, metavar="PCT",
                    help="changes no larger than this are reported as within the noise "
                         "(the files' own noise floor applies when larger)")
    ap.add_argument("--fail-on-regression", action="store_true")
    ap.add_argument("--small-samples-by-threshold", action="store_true",
                    help="count a change past --threshold as a regression even when the "
                         "samples are too few for the test (off: such rows read '~')")
    ap.add_argument("--cross-host", action="store_true",
                    help="count differences between results from different hosts as regressions")
    ap.add_argument("--format", choices=("text", "csv", "json", "markdown"), default="text")
    ap.add_argument("--width", type=int, default=comparison.WIDTH, help="text width (default 120)")
    a = ap.parse_args(argv)
    if not 0 < a.alpha < 1:
        ap.error("--alpha must be between 0 and 1")
    if a.threshold < 0 or a.noise_floor < 0:
        ap.error("--threshold and --noise-floor are percentages >= 0")
    if a.width < 60:
        ap.error("--width must be at least 60")
    metrics, scenarios, labels = _listed(a.metric), _listed(a.scenario), _listed(a.variant)
    try:
        if a.variants:
            if a.inputs:
                ap.error("--variants takes one folder; do not also give BASE NEW")
            if a.format != "text":
                ap.error("--format applies to BASE NEW comparisons; --variants prints text")
            return _variants(a, comparison.one_host(load_folder(a.variants)), metrics, scenarios,
                            labels)
        if a.check_invariants:
            ap.error("--check-invariants goes with --variants RESULTS_DIR")
        if a.reference is not None or a.intervals or a.peers:
            ap.error("--reference, --intervals and --peers go with --variants RESULTS_DIR "
                     "(BASE NEW comparisons always show intervals and peers)")
        if len(a.inputs) != 2:
            ap.error("give BASE and NEW (folders or files), or --variants RESULTS_DIR")
        base, new = (comparison.load_input(f) for f in a.inputs)
        names = names_in(base, new)
        check_names("metric", metrics, names["metric"])
        # Present in the data, not merely a scenario the suite knows: a filter that matches
        # nothing would print an empty comparison and pass the gate.
        check_names("scenario", scenarios, names["scenario"])
        check_names("variant", labels, names["label"])
        floors = {"base": noise_floors(base), "new": noise_floors(new)}
    except ResultsError as err:
        print(f"compare.py: bad results input:\n{err}", file=sys.stderr)
        return 2
    except UnknownName as err:
        print(wrap(f"compare.py: {err}", a.width), file=sys.stderr)
        return 2
    tol = a.instr_tolerance / 100.0
    margin = max([a.noise_floor / 100.0] + [nf.margin for fs in floors.values() for _, nf in fs])
    rows, only_b, only_n = comparison.compare_sets(
        base, new, metrics or None, a.alpha, tol, margin or None, labels or None,
        scenarios or None)
    regs, held = comparison.gate(rows, a.threshold, metrics or None, tol,
                                 a.small_samples_by_threshold, a.cross_host)
    failing = bool(regs) and a.fail_on_regression
    diff = comparison.host_differences(base.machine, new.machine)
    if a.format == "json":
        ctx = {"base": _side("base", a.inputs[0], base), "new": _side("new", a.inputs[1], new),
               "hosts_differ": diff, "alpha": a.alpha, "threshold_pct": a.threshold,
               "noise_margin": margin or None,
               "noise_floor": {side: [dict(file=p, floor=nf.floor, drift=nf.drift,
                                           workload=nf.workload) for p, nf in fs]
                               for side, fs in floors.items()},
               "exit": 1 if failing else 0}
        print(comparison.format_json(rows, only_b, only_n, regs, held, ctx))
    elif a.format == "csv":
        print(comparison.format_csv(rows, regs, held))
    elif a.format == "markdown":
        intro = [f"{side} `{path}` (commit {rs.build.get('commit')}, {comparison.host_text(rs.machine)}"
                 + _noise(floors[key]) + ")"
                 for side, key, path, rs in (("base:", "base", a.inputs[0], base),
                                             ("new:", "new", a.inputs[1], new))]
        print(comparison.format_markdown(rows, only_b, only_n, regs, held, a.alpha, intro))
    else:
        _print_text(a, base, new, rows, only_b, only_n, regs, held, metrics, diff, floors)
    return 1 if failing else 0


def _noise(floors):
    t = comparison.noise_text(floors)
    return f"; noise {t}" if t else ""


def _print_text(a, base, new, rows, only_b, only_n, regs, held, metrics, diff, floors):
    w = a.width
    for side, key, path, rs in (("base:", "base", a.inputs[0], base),
                                ("new: ", "new", a.inputs[1], new)):
        print(wrap(f"{side} {path} (commit {rs.build.get('commit')}, "
                   f"{comparison.host_text(rs.machine)}{_noise(floors[key])})", w))
    if diff:
        print(wrap(f"note: different hosts ({', '.join(diff)} differ); changes mix code and "
                   "machine and count as regressions only with --cross-host", w))
    print()
    if not rows:
        print("no measurement is present (status ok) in both")
    else:
        print(comparison.format_comparison(rows, only_b, only_n, regs, held, w, a.alpha))
    chosen = ", ".join(sorted(metrics)) if metrics else "every metric"
    print(f"\nregressions past {a.threshold:g}% ({chosen}): {len(regs)}")
    for r in regs:
        ci = "" if r.ci_low is None else f" (95% CI {comparison._ci(r)}, p {comparison._p(r.p)})"
        print(wrap(f"  {r.scenario} {r.label} {r.params} {r.metric}: {r.change * 100:+.1f}%{ci}", w))
    reasons = {}
    for r, why in held:
        reasons.setdefault(why, []).append(r)
    for why, rs in reasons.items():
        print(wrap(f"not counted ({len(rs)}), {why}:", w))
        for r in rs:
            print(wrap(f"  {r.scenario} {r.label} {r.params} {r.metric}: {r.change * 100:+.1f}%", w))


def _variants(a, rs, metrics, scenarios, labels):
    names = names_in(rs)
    check_names("metric", metrics, names["metric"])
    check_names("scenario", scenarios, names["scenario"])
    check_names("variant", labels, names["label"])
    reference = a.reference or "asm-pooled-fifo"
    if a.reference is not None:
        # A reference must be measured somewhere here: a label, or a switch backend (the
        # switch scenario's columns) that variants fall back to.
        check_names("reference", [reference], names["label"] | names["backend"])
    print(wrap(f"Variants in {a.variants} (medians; ratios < 1 are cheaper than the reference, "
               "except requests_per_s where higher is better)", a.width) + "\n")
    print(comparison.variant_tables(rs, reference, a.peers, metrics, labels, scenarios, a.width)
          or "(no ok entries)")
    if a.intervals:
        print("\nMedians with 95% bootstrap intervals; ratios to the reference with the "
              "interval of the ratio\n")
        print(comparison.variant_intervals(rs, reference, a.peers, metrics, labels, scenarios,
                                           a.width))
    if a.check_invariants:
        invs = comparison.check_invariants(rs)
        print("\nInvariants (hold on any machine):")
        print("\n".join(wrap(ln, a.width, "          ")
                        for ln in comparison.format_invariants(invs).splitlines()))
        if any(i.status == "FAIL" for i in invs):
            print("\ncompare.py: an invariant FAILED", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
