"""Figures of the collector integration: the cost per switch, and the pause against bytes
scanned."""

import numpy as np
from matplotlib import ticker
from matplotlib.lines import Line2D

from . import captions, findings, layout, style
from .layout import Figure, new_figure
from .plot_engine import dot_figure, dpi, num, short_number
from .results import label_sort_key


def _design_sort(e):
    order = ["off", "sp", "locked"]
    d = str(e.params.get("design"))
    return (label_sort_key(e), order.index(d) if d in order else 9, d)


def fig_gc_switch(sets, out):
    return dot_figure(
        sets, out, "gc_switch", "gc_scan", ["ns_per_yield"],
        "What does keeping the collector informed cost per switch?",
        "Two fibers yielding on one carrier, per variant, one panel per collector design: "
        "off = no integration, sp = attached with nothing done per switch, locked = the "
        "collector's lock taken and the stack bottom updated on every switch",
        select=lambda e: findings.gc_measure(e) == "switch",
        row_of=lambda e: (_design_sort(e)[1:], f"design={e.params.get('design')}"),
        skip=("measure", "fibers", "depth_kib", "stack_kib", "scan", "design"))


# ---- GC pause against bytes scanned -------------------------------------------------------

SCAN_COLOUR = {"used": "#332288", "whole": "#999933"}   # Paul Tol's muted pair: not a backend
STACK_MARKERS = ["o", "s", "^", "D", "v"]


def fig_gc_scan_rate(sets, out):
    per = [(rs, findings.gc_points(rs), findings.scan_rate(rs)) for rs in sets]
    per = [p for p in per if p[1]]
    if not per:
        return None
    stacks = sorted({num(e.params.get("stack_kib")) for _, pts, _ in per for e, _, _ in pts} - {None})
    mk = {s: STACK_MARKERS[i % len(STACK_MARKERS)] for i, s in enumerate(stacks)}
    fig, axes = new_figure(len(per), len(per), 2.6)
    ns = []
    for ax, (rs, pts, fit) in zip(axes, per):
        for e, mib, ms in pts:
            scan = str(e.params.get("scan", "used"))
            c = SCAN_COLOUR.get(scan, style.NEUTRAL)
            ax.plot([max(mib, 1e-3)], [ms], ls="none", marker=mk.get(num(e.params.get("stack_kib")), "o"),
                    color=c, ms=3.5, mfc="none" if scan == "whole" else c, alpha=0.8)
            ns.append(len(e.metrics["pause_ms"].samples))
        if fit is not None:
            xs = np.geomspace(max(min(p[1] for p in pts), 1e-3), max(p[1] for p in pts), 50)
            ax.plot(xs, fit.intercept_ms + fit.ms_per_mib * xs, color="black", lw=0.9)
        ax.set_xscale("log")
        ax.set_yscale("log")
        for a in (ax.xaxis, ax.yaxis):
            a.set_major_formatter(ticker.FuncFormatter(lambda v, _: short_number(v)))
            a.set_minor_formatter(ticker.NullFormatter())
        ax.set_xlabel("stack bytes pushed to the collector (MiB, log)")
        ax.set_ylabel("collection pause (ms, log)")
        if len(sets) > 1:
            ax.set_title(rs.name, loc="left")
    groups = {
        "colour: scan": [(Line2D([], [], ls="none", marker="o", color=SCAN_COLOUR[s],
                                 mfc="none" if s == "whole" else SCAN_COLOUR[s]),
                          {"used": "used part", "whole": "whole region"}[s])
                         for s in SCAN_COLOUR if any(str(e.params.get("scan", "used")) == s
                                                     for _, pts, _ in per for e, _, _ in pts)],
        "marker: stack": [(Line2D([], [], ls="none", marker=mk[s], color="#444444"), f"{s:g} KiB")
                          for s in stacks],
    }
    fits = [f for _, _, f in per if f is not None]
    if fits:
        groups["line"] = [(Line2D([], [], color="black", lw=0.9), "least-squares scan rate")]
    title = "Does the GC pause follow the bytes it scans?"
    rec = layout.finish(fig, axes, out, "gc_scan_rate", title, groups, dpi())
    rate = "; ".join(
        f"{rs.name}: {f.mib_per_ms:.3g} MiB per ms"
        + (f" [{1 / f.interval[1]:.3g}–{1 / f.interval[0]:.3g}]" if f.interval and f.interval[0] > 0 else "")
        + f" over {f.points} points" for rs, _, f in per if f is not None)
    cap = captions.build(
        "Full-collection pause (Boehm collector) against the stack bytes pushed as roots, "
        "every measure=pause cell of every variant (medians); colour = scan mode (not a "
        "switch backend here: the backend does not change scanning), marker = usable stack "
        "size. Line: pause = a + b x bytes by least squares; scan rate " + (rate or "not fitted"),
        sets, ns, strip=False, interval=False)
    return Figure("gc_scan_rate", "gc_scan", title, cap, series=[len(groups["colour: scan"])],
                  claims=captions.claims(ns, scenarios=["gc_scan"]), scenarios=("gc_scan",), **rec)
