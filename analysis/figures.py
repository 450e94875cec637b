#!/usr/bin/python3
"""Render every figure for the results present, then the report.

    /usr/bin/python3 analysis/figures.py RESULTS_DIR [RESULTS_DIR ...] [--out DIR] [--lenient] [--check]
    /usr/bin/python3 analysis/figures.py RESULTS_DIR --readme-table

--readme-table prints the README's results table for one folder (between the markers the
README keeps around it) and draws nothing.

Figures go to OUT/figures/<name>.{pdf,png}, the report to OUT/report.md and OUT/report.html;
OUT is the first folder unless --out is given. Several folders (for example from different
machines) are drawn side by side, one column each; so are the hosts of a folder that holds
files from several machines. A malformed or partial results file
stops the run with exit code 2 and a message naming the file and the problem; --lenient
draws the valid files and lists the bad ones in the report instead.
"""

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from switchyard_analysis.hosts import split_by_host  # noqa: E402
from switchyard_analysis.results import ResultsError, load_folder  # noqa: E402


# The Figure records of the last run (legend texts, panels, captions, checks), for tests.
LAST_FIGURES = []


def main(argv=None):
    ap = argparse.ArgumentParser(prog="figures.py", description=__doc__.splitlines()[1])
    ap.add_argument("folders", nargs="+", metavar="RESULTS_DIR")
    ap.add_argument("--out", help="where figures/ and the report go (default: the first folder)")
    ap.add_argument("--lenient", action="store_true",
                    help="skip bad files (listed in the report) instead of failing")
    ap.add_argument("--check", action="store_true",
                    help="for CI: exit 1 unless every scenario present got a figure and every "
                         "figure file is non-empty, no text overlaps other text, and every "
                         "caption's claims are in the data")
    ap.add_argument("--readme-table", action="store_true",
                    help="print the README's results table for the (single) folder and exit")
    a = ap.parse_args(argv)
    try:
        # A folder with files from several machines becomes one set per host: drawn as
        # panels of their own and reported with their own machine rows, never pooled.
        sets = [s for f in a.folders for s in split_by_host(load_folder(f, lenient=a.lenient))]
    except ResultsError as err:
        print(f"figures.py: bad results input:\n{err}", file=sys.stderr)
        return 2
    if a.readme_table:
        if len(sets) != 1:
            print("figures.py: --readme-table takes one results folder", file=sys.stderr)
            return 2
        from switchyard_analysis import report
        print(report.readme_block(sets[0], os.path.normpath(a.folders[0])))
        return 0
    out = a.out or a.folders[0]
    fig_dir = os.path.join(out, "figures")
    # Imported late: matplotlib is slow to load and not needed to report bad input.
    from switchyard_analysis import plots, report
    figures = plots.render_all(sets, fig_dir)
    LAST_FIGURES[:] = figures
    # Drop figures of ours left from an earlier run whose data is no longer present.
    drawn = {os.path.basename(p) for f in figures for p in f.files}
    known = {n for names in plots.FIGURES_OF.values() for n in names}
    known |= set(plots.SUMMARY_FIGURES) | set(plots.RETIRED)
    if os.path.isdir(fig_dir):
        for n in os.listdir(fig_dir):
            stem, ext = os.path.splitext(n)
            if stem in known and ext in (".pdf", ".png") and n not in drawn:
                os.remove(os.path.join(fig_dir, n))
    paths = report.write_report(sets, figures, out)
    if a.check:
        problems = []
        for f in figures:
            problems += [f"{p}: missing or empty" for p in f.files
                         if not os.path.isfile(p) or os.path.getsize(p) == 0]
        with_fig = {s for f in figures for s in (f.scenarios or (f.scenario,))}
        present = set().union(*(rs.scenarios_present() for rs in sets))
        problems += [f"scenario {s} has results but no figure was drawn"
                     for s in sorted(present & set(plots.FIGURES_OF)) if s not in with_fig]
        from switchyard_analysis import captions
        for f in figures:
            problems += [f"{f.name}: text overlaps: {a_!r} / {b_!r}" for a_, b_ in f.overlaps]
            problems += [f"{f.name}: text under 7 pt: {t!r}" for t in f.small_text]
            problems += captions.problems(f, sets)
        for p in paths:
            if os.path.getsize(p) == 0:
                problems.append(f"{p}: empty")
        if problems:
            print("figures.py --check failed:\n  " + "\n  ".join(problems), file=sys.stderr)
            return 1
        print(f"figures.py --check: {len(figures)} figures for {len(with_fig)} scenarios, "
              f"all files non-empty", file=sys.stderr)
    for f in figures:
        for p in f.files:
            print(p)
    for p in paths:
        print(p)
    for rs in sets:
        for w in rs.warnings:
            print(f"figures.py: warning: {rs.name}: {w}", file=sys.stderr)
        for p, msg in rs.bad_files:
            print(f"figures.py: skipped bad file (--lenient): {msg}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
