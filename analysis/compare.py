#!/usr/bin/python3
"""Compare results: two folders, or the variants within one folder.

    compare.py BASE_DIR NEW_DIR [--metric M ...] [--threshold PCT] [--fail-on-regression]
    compare.py --variants RESULTS_DIR [--reference VARIANT] [--peers] [--check-invariants]

Two folders: per (scenario, label, params, metric) the relative change of the medians, a
two-sided Mann-Whitney U p-value over the samples ("unreliable" below 9 repetitions) and
geometric-mean rows. With --fail-on-regression the exit code is 1 when a chosen metric
(--metric, repeatable or comma-separated; default: every metric) got worse by more than
--threshold percent (and, with 9 or more samples, the change is significant at --alpha).
Instruction counts compare with --instr-tolerance (default 1%) instead of the test.

--variants: one table per scenario, rows = metric and params, columns = variants, ratios
to --reference (default asm-pooled-fifo; switch backends to 'asm'). --check-invariants
checks what holds on any machine and exits 1 when one fails; an invariant without data is
reported as "not checked (no data)", not as passed.

Exit codes: 0 fine, 1 regression or failed invariant, 2 bad input or usage.
"""

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from switchyard_analysis import comparison  # noqa: E402
from switchyard_analysis.results import ResultsError, load_folder  # noqa: E402


def main(argv=None):
    ap = argparse.ArgumentParser(prog="compare.py", description=__doc__.splitlines()[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog="\n".join(__doc__.splitlines()[2:5]))
    ap.add_argument("folders", nargs="*", metavar="DIR")
    ap.add_argument("--variants", metavar="RESULTS_DIR")
    ap.add_argument("--check-invariants", action="store_true")
    ap.add_argument("--reference", default="asm-pooled-fifo")
    ap.add_argument("--peers", action="store_true", help="also show peers in --variants tables")
    ap.add_argument("--metric", action="append", default=[])
    ap.add_argument("--threshold", type=float, default=5.0, metavar="PCT")
    ap.add_argument("--alpha", type=float, default=0.05)
    ap.add_argument("--instr-tolerance", type=float, default=1.0, metavar="PCT")
    ap.add_argument("--fail-on-regression", action="store_true")
    a = ap.parse_args(argv)
    metrics = {m for arg in a.metric for m in arg.split(",") if m}
    try:
        if a.variants:
            if a.folders:
                ap.error("--variants takes one folder; do not also give BASE_DIR NEW_DIR")
            rs = load_folder(a.variants)
            print(f"Variants in {a.variants} (medians; ratios < 1 are cheaper than the reference, "
                  "except requests_per_s where higher is better)\n")
            print(comparison.variant_tables(rs, a.reference, a.peers) or "(no ok entries)")
            if a.check_invariants:
                invs = comparison.check_invariants(rs)
                print("\nInvariants (hold on any machine):")
                print(comparison.format_invariants(invs))
                if any(i.status == "FAIL" for i in invs):
                    print("\ncompare.py: an invariant FAILED", file=sys.stderr)
                    return 1
            return 0
        if a.check_invariants:
            ap.error("--check-invariants goes with --variants RESULTS_DIR")
        if len(a.folders) != 2:
            ap.error("give BASE_DIR and NEW_DIR, or --variants RESULTS_DIR")
        base, new = (load_folder(f) for f in a.folders)
    except ResultsError as err:
        print(f"compare.py: bad results input:\n{err}", file=sys.stderr)
        return 2
    tol = a.instr_tolerance / 100.0
    rows, only_b, only_n = comparison.compare_sets(base, new, metrics or None, a.alpha, tol)
    regs = comparison.regressions(rows, a.threshold, metrics or None, a.alpha, tol)
    print(f"base: {a.folders[0]} (commit {base.build.get('commit')}, {base.machine.get('cpu_model')})")
    print(f"new:  {a.folders[1]} (commit {new.build.get('commit')}, {new.machine.get('cpu_model')})")
    if base.machine.get("cpu_model") != new.machine.get("cpu_model"):
        print("note: different CPUs; changes mix code and machine")
    print()
    if not rows:
        print("no measurement is present (status ok) in both folders")
    else:
        print(comparison.format_comparison(rows, only_b, only_n, regs))
    chosen = ", ".join(sorted(metrics)) if metrics else "every metric"
    print(f"\nregressions past {a.threshold:g}% ({chosen}): {len(regs)}")
    for r in regs:
        print(f"  {r.scenario} {r.label} {r.params} {r.metric}: {r.change * 100:+.1f}%"
              + (" (unreliable: fewer than 9 repetitions)" if r.unreliable else ""))
    if regs and a.fail_on_regression:
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
