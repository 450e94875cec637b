"""The paper figures: one function per figure, each drawn only when its data is present.

Each figure answers one question (its title), at a paper size (3.5 in single column or
7 in double column, text >= 7 pt), with at most style.MAX_SERIES_PER_PANEL series per panel
(more become facets), a legend group per encoding, and a caption generated from the data
(n, what the whiskers are, the machine). Several results folders are drawn as separate
panels, one per folder.

Categorical data is a dot plot (variants on the y axis, never bars on a log axis), with
the 95 % bootstrap interval of the median and, where n is small, every repetition as a
grey strip; lines join points only along an ordered x (connections, carriers, fibers).
"""

import math
import os

import numpy as np
from matplotlib import ticker
from matplotlib.colors import TwoSlopeNorm
from matplotlib.lines import Line2D

from . import captions, findings, layout, seed, stats, style
from .layout import Figure, new_figure
from .results import label_sort_key, metric_value, params_order, params_text

# Kept for the report's older references; the numbers live in seed.py.
SEED_HTTP = seed.HTTP
SEED_LEVEL_10K = seed.LEVEL_10K
SEED_YIELD_NS = seed.YIELD_NS

UNIT_TEXT = {"ns": "ns", "s": "s", "us": "µs", "ms": "ms", "req/s": "requests/s",
             "KiB": "KiB", "count": "count", "instructions": "instructions"}
METRIC_TEXT = {
    "ns_per_switch": "one-way switch", "ns_per_yield": "time per yield",
    "ns_per_spawn_join": "spawn + join", "ns_per_recycle": "stack recycle",
    "time_s": "wall time", "ns_per_handoff": "hand-off", "ns_per_roundtrip": "round trip",
    "requests_per_s": "throughput", "latency_p50_us": "latency p50",
    "latency_p90_us": "latency p90", "latency_p99_us": "latency p99",
    "latency_max_us": "latency max", "lateness_p50_us": "lateness p50",
    "lateness_p99_us": "lateness p99", "lateness_max_us": "lateness max",
    "pause_ms": "collection pause", "kib_per_conn": "memory per connection",
    "peak_rss_kib": "peak resident memory", "peak_live_fibers": "peak live fibers",
    "instructions_per_op": "instructions per operation",
    "ns_per_lock": "time per iteration", "pushed_kib": "pushed to the collector",
    "used_kib": "stack used per fiber", "server_cpu_s": "server CPU time",
    "server_rss_kib": "server peak resident", "server_vm_kib": "server peak address space",
    "server_threads": "server threads", "rss_kib_per_conn": "resident per connection",
    "pte_kib_per_conn": "page tables per connection",
    "kstack_kib_per_conn": "kernel stacks per connection",
    "kib_per_fiber": "resident memory per fiber", "speedup": "speedup",
}
# Measurement lengths and load-generator settings: never part of a series' identity.
MEASUREMENT_PARAMS = ("ops", "duration_s", "wrk_threads")
STRIP_MAX_N = 20
GREY = "#8c8c8c"


def _dpi():
    v = os.environ.get("SWITCHYARD_FIG_DPI")
    return int(v) if v else None


def short_number(v):
    for div, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(v) >= div:
            return f"{v / div:.3g}{suffix}"
    return f"{v:.3g}"


def value_axis(ax, log, which="x"):
    """Log when values span a decade or more; 1-2-5 ticks on a short log axis; 52k rather
    than 52000 or 5.2e4."""
    axis = ax.yaxis if which == "y" else ax.xaxis
    if log:
        (ax.set_yscale if which == "y" else ax.set_xscale)("log")
        lo, hi = (ax.get_ylim() if which == "y" else ax.get_xlim())
        decades = math.log10(hi / max(lo, 1e-300))
        if decades < 1.3:
            axis.set_major_locator(ticker.LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
        elif decades < 3:
            axis.set_major_locator(ticker.LogLocator(base=10, subs=(1.0, 3.0)))
        else:
            axis.set_major_locator(ticker.LogLocator(base=10, numticks=6))
        axis.set_minor_formatter(ticker.NullFormatter())
    else:
        axis.set_major_locator(ticker.MaxNLocator(5))
    # Below 1000, as many digits as the ticks need (4.665 next to 4.67, not 4.67 twice).
    axis.set_major_formatter(ticker.FuncFormatter(
        lambda v, _: "0" if not v else (short_number(v) if abs(v) >= 1e3 else f"{v:g}")))


def axis_label(metric, unit):
    if metric == "instructions_per_op":
        return "instructions per operation"
    return f"{METRIC_TEXT.get(metric, metric.replace('_', ' '))} ({UNIT_TEXT.get(unit, unit)})"


def _num(v):
    try:
        return float(v)
    except (TypeError, ValueError):
        return None


def _value_key(v):
    n = _num(v)
    return (n is None, n if n is not None else 0.0, str(v))


def _tuple(x):
    if x is None:
        return ()
    return tuple(x) if isinstance(x, (list, tuple)) else (x,)


def _values_of(entries, skip=()):
    values = {}
    for e in entries:
        for k, v in e.params.items():
            if k not in skip:
                values.setdefault(k, {})[str(v)] = v
    return values


def _varying(entries, skip=()):
    """Parameters with more than one value among the entries that carry them."""
    return {k for k, vs in _values_of(entries, skip).items() if len(vs) > 1}


def _fixed_text(entries, skip=(), merged=()):
    """What the entries share, said once ('carriers=2 ops=2000'); a merged parameter with
    several values reads 'duration_s=1,5'."""
    parts = []
    for k, vs in sorted(_values_of(entries, skip).items()):
        if len(vs) == 1 or k in merged:
            parts.append(f"{k}={','.join(str(v) for v in sorted(vs.values(), key=_value_key))}")
    return " ".join(parts)


def _common_text(entries, skip=()):
    """Parameters every entry carries with one value: what a panel title may claim."""
    if not entries:
        return ""
    keys = set.intersection(*(set(e.params) for e in entries)) - set(skip)
    parts = [f"{k}={entries[0].params[k]}" for k in sorted(keys)
             if len({str(e.params[k]) for e in entries}) == 1]
    return " ".join(parts)


def _majority(entries, skip=()):
    """{param: the value most entries carrying it share}, for parameters that some entries
    disagree on: the panel title states it once, the others say theirs by their name."""
    out = {}
    for k, vs in _values_of(entries, set(skip) | set(MEASUREMENT_PARAMS)).items():
        if len(vs) < 2:
            continue
        counts = {}
        for e in entries:
            if k in e.params:
                counts[str(e.params[k])] = counts.get(str(e.params[k]), 0) + 1
        best = max(counts, key=counts.get)
        if counts[best] * 2 > sum(counts.values()):
            out[k] = best
    return out


def _own_params(e, entries, skip=()):
    """An entry's parameters that differ from its panel's majority (the threads peer's
    carriers=2 in a panel of carriers=1 variants)."""
    maj = _majority(entries, skip)
    vary = _varying(entries, set(skip) | set(MEASUREMENT_PARAMS))
    return [f"{k}={e.params[k]}" for k in sorted(e.params)
            if k in vary and (k not in maj or str(e.params[k]) != maj[k])]


def impossible(e):
    """A skipped combination that cannot exist (a used depth larger than its stack): listed
    in the report, not drawn as a failure."""
    return e.status == "skipped" and "does not fit" in str(e.reason)


def _samples(e, metric):
    m = e.metrics.get(metric)
    if m is not None:
        return m.samples or [m.median]
    if metric == "peak_rss_kib" and e.peak_rss_kib is not None:
        return [float(e.peak_rss_kib)]
    return None


def _spans_decades(values):
    pos = [v for v in values if v is not None and v > 0]
    return len(pos) > 1 and max(pos) / min(pos) >= 10.0


def _panel_title(ax, text, width_in):
    ax.set_title(layout.wrap(text, width_in, 7.5), loc="left", fontsize=7.5)


def _draw_point(ax, e, pos, samples, horizontal, size=4.0, offset=0.0):
    """One dot (median), its bootstrap interval, and the samples as a strip when n is small."""
    med = stats.median(samples)
    ci = stats.median_ci(samples)
    kw = style.point_kwargs(e, size)
    p = pos + offset
    if len(samples) <= STRIP_MAX_N and len(samples) > 1:
        jit = np.linspace(-0.18, 0.18, len(samples)) if len(samples) > 1 else np.zeros(1)
        if horizontal:
            ax.plot(samples, p + jit, ls="none", marker="o", ms=1.6, color=GREY, alpha=0.7, zorder=2)
        else:
            ax.plot(p + jit, samples, ls="none", marker="o", ms=1.6, color=GREY, alpha=0.7, zorder=2)
    if ci is not None:
        if horizontal:
            ax.plot(ci, [p, p], color=kw["color"], lw=1.0, zorder=3)
        else:
            ax.plot([p, p], ci, color=kw["color"], lw=1.0, zorder=3)
    if horizontal:
        ax.plot([med], [p], zorder=4, **kw)
    else:
        ax.plot([p], [med], zorder=4, **kw)
    return med, ci


# ---- dot plots: one row per variant / peer / backend ---------------------------------------

def _row_keys(entries, skip=()):
    """Panel rows: parameters every entry carries plus those that vary among the variants
    (a peer with fewer or other parameters shares the panel of the variants beside it)."""
    common = set.intersection(*(set(e.params) for e in entries)) if entries else set()
    variants = [e for e in entries if not e.is_peer]
    keys = (common | _varying(variants or entries, skip)) - set(skip) - set(MEASUREMENT_PARAMS)

    def row_of(e):
        p = {k: v for k, v in e.params.items() if k in keys}
        return params_order(p), params_text(p)
    return row_of


def dot_figure(sets, out, name, scenario, metrics, title, what, select=None, row_of=None,
               name_fn=None, sort_key=label_sort_key, refs=None, notes=(), skip=(),
               entries_of=None, scenarios=None):
    """Dot plots: one panel per (row, metric, folder); categories on the y axis.
    refs: {metric: [(value, legend text)]} drawn as vertical black dash-dot lines (the seed).
    entries_of(rs) replaces rs.ok(scenario) (derived entries)."""
    pick = entries_of or (lambda rs: rs.ok(scenario))
    everyone = [e for rs in sets for e in pick(rs) if select is None or select(e)]
    metrics = [m for m in metrics if any(_samples(e, m) for e in everyone)]
    if not metrics:
        return None
    row_of = row_of or _row_keys(everyone, skip)
    rows = {}
    for e in everyone:
        k = row_of(e)
        rows[k[1]] = k[0]
    row_keys = sorted(rows, key=rows.get)
    panels = []
    for key in row_keys:
        for m in metrics:
            for rs in sets:
                es = [e for e in pick(rs) if (select is None or select(e))
                      and row_of(e)[1] == key and _samples(e, m)]
                names = {e.label for e in es}
                missing = [e for e in rs.not_ok() if e.scenario == scenario and not impossible(e)
                           and (select is None or select(e)) and row_of(e)[1] == key
                           and e.label not in names and not e.metrics]
                panels.append((key, m, rs, es, missing))
    most = max(len(p[3]) + len(p[4]) for p in panels)
    ncols = min(len(metrics) * len(sets), 2)
    # Long names (a server with its registration) leave a single column too little room
    # for the data: such a figure takes the double column.
    longest = max((len((name_fn or (lambda e: e.label))(e)) for p in panels for e in p[3] + p[4]),
                  default=0)
    wide = style.DOUBLE_IN if ncols == 1 and longest > 24 else None
    fig, axes = new_figure(len(panels), ncols, 0.16 * most + 0.85, width=wide)
    width = fig.get_figwidth() / ncols
    ns, peers, ticks, series = [], set(), [], []
    seed_drawn = False
    ref_handles = []
    for ax, (key, m, rs, es, missing) in zip(axes, panels):
        slots = sorted([(e, True) for e in es] + [(e, False) for e in missing],
                       key=lambda s: sort_key(s[0]))
        labels = []
        vals = []
        for i, (e, ok) in enumerate(slots):
            y = len(slots) - 1 - i
            text = name_fn(e) if name_fn else e.label
            # what the name already says (a registration, nginx's workers) is not repeated
            own = [p for p in _own_params(e, [s[0] for s in slots], skip)
                   if p.split("=", 1)[1] not in text]
            text += f" ({', '.join(own)})" if own else ""
            if not ok:
                labels.append(text + f" [{e.status}]")
                continue
            labels.append(text)
            smp = _samples(e, m)
            ns.append(len(smp))
            if e.is_peer:
                peers.add(e.peer)
            med, ci = _draw_point(ax, e, y, smp, True)
            vals += [med, *(ci or ()), *smp]
        ax.set_yticks(range(len(slots)))
        ax.set_yticklabels(labels[::-1])
        ax.set_ylim(-0.7, len(slots) - 0.3)
        ax.grid(axis="y", alpha=0.0)
        for value, text in (refs or {}).get(m, []):
            ln = ax.axvline(value, color=style.SEED_COLOUR, lw=0.9, ls="-.")
            vals.append(value)
            seed_drawn = True
            if not ref_handles:
                ref_handles.append((ln, text))
        value_axis(ax, _spans_decades(vals), "x")
        unit = next((e.metrics[m].unit for e in es if m in e.metrics), "KiB" if m == "peak_rss_kib" else "")
        ax.set_xlabel(axis_label(m, unit))
        head = [key] if key else []
        maj = _majority([sl[0] for sl in slots], skip)
        if maj:
            head.append(" ".join(f"{k}={v}" for k, v in sorted(maj.items())) + " unless said")
        if len(sets) > 1:
            head.insert(0, rs.name)
        _panel_title(ax, " · ".join(head) or METRIC_TEXT.get(m, m), width)
        ticks.append(labels)
        series.append(sum(1 for _, ok in slots if ok))
    # Two panels side by side with the same rows: the right one needs no labels of its own.
    for i in range(1, len(axes)):
        if ncols == 2 and i % 2 == 1 and ticks[i] == ticks[i - 1]:
            axes[i].tick_params(labelleft=False)
    groups = style.encoding_legend(everyone, {"seed": ref_handles})
    rec = layout.finish(fig, axes, out, name, title, groups, _dpi())
    cap = captions.build(what, sets, ns, notes=notes)
    # Rows are labelled on the axis, not through a legend: categories, not series.
    return Figure(name, scenario, title, cap, ticks=ticks, categories=series,
                  claims=captions.claims(ns, peers, seed_drawn, metrics,
                                         scenarios=scenarios or [scenario]),
                  scenarios=tuple(scenarios or [scenario]), **rec)


# ---- lines: a metric against an ordered parameter -------------------------------------------

def _series(entries, metric, xparam, split, prefer=None):
    """One series per (label, values of the `split` parameters); two entries at one x keep
    the preferred one. Returns [(entry, extras text, [(x, samples, entry at x)])]."""
    prefer = prefer or (lambda e: (e.repetitions, e.created))
    groups = {}
    for e in entries:
        x = _num(e.params.get(xparam))
        smp = _samples(e, metric)
        if x is None or not smp:
            continue
        extras = ", ".join(f"{k}={e.params[k]}" for k in sorted(split) if k in e.params)
        g = groups.setdefault((e.label, extras), [e, extras, {}])
        if x not in g[2] or prefer(e) >= prefer(g[2][x][0]):
            g[2][x] = (e, smp)
    return [(e0, ex, [(x, by_x[x][1], by_x[x][0]) for x in sorted(by_x)])
            for e0, ex, by_x in sorted(groups.values(), key=lambda g: (label_sort_key(g[0]), g[1]))]


def _point_n(smp, e):
    """Repetitions behind a point: a derived point (a ratio) says its own."""
    return getattr(e, "derived_n", None) or [len(smp)]


def _point_ci(smp, e):
    if hasattr(e, "derived_interval"):
        return e.derived_interval
    return stats.median_ci(smp)


def facet_series(series, limit=style.MAX_SERIES_PER_PANEL):
    """Split series into panels of at most `limit`: by switch backend (peers beside each
    backend when they fit, else a panel of their own), then by stacks, then in chunks.
    Returns [(facet name, [series])]."""
    if len(series) <= limit:
        return [("", series)]
    peers = [s for s in series if s[0].is_peer]
    variants = [s for s in series if not s[0].is_peer]
    by_backend = {}
    for s in variants:
        by_backend.setdefault(style.backend_of(s[0]) or s[0].label, []).append(s)
    out = []
    with_peers = all(len(v) + len(peers) <= limit for v in by_backend.values())
    for b, ss in by_backend.items():
        if with_peers:
            out.append((b, ss + peers))
        elif len(ss) <= limit:
            out.append((b, ss))
        else:
            by_stacks = {}
            for s in ss:
                by_stacks.setdefault(s[0].dim("stacks") or "", []).append(s)
            for st, s2 in by_stacks.items():
                for i in range(0, len(s2), limit):
                    part = f" (part {i // limit + 1})" if len(s2) > limit else ""
                    out.append((f"{b}-{st}{part}".strip("-"), s2[i:i + limit]))
    if peers and not with_peers:
        for i in range(0, len(peers), limit):
            out.append(("peers", peers[i:i + limit]))
    return out


def _line_panel(ax, series, linestyles):
    """Series with bootstrap intervals at each x; returns the values drawn (for the axis)."""
    vals = []
    for e, extras, pts in series:
        xs = [x for x, _, _ in pts]
        meds = [stats.median(s) for _, s, _ in pts]
        kw = style.point_kwargs(e)
        ax.plot(xs, meds, ls=linestyles.get(extras, "-"), color=kw["color"], lw=1.0, zorder=3)
        for x, s, ex in pts:
            ci = _point_ci(s, ex)
            if ci is not None:
                ax.plot([x, x], ci, color=kw["color"], lw=0.9, zorder=3)
                vals += list(ci)
            if 1 < len(s) <= STRIP_MAX_N:
                ax.plot([x] * len(s), s, ls="none", marker="o", ms=1.4, color=GREY, alpha=0.7, zorder=2)
        ax.plot(xs, meds, zorder=4, **kw)
        vals += meds
    return vals


def _x_axis(ax, xs):
    xs = sorted(set(x for x in xs if x is not None))
    if _spans_decades(xs):
        if any(x <= 0 for x in xs):
            ax.set_xscale("symlog", linthresh=min(x for x in xs if x > 0))
        else:
            ax.set_xscale("log")
    if 0 < len(xs) <= 6:
        ax.set_xticks(xs)
        ax.set_xticklabels([short_number(x) if x >= 1e3 else (f"{x:,.0f}" if x == int(x) else f"{x:g}")
                            for x in xs])
        ax.minorticks_off()
        if len(xs) == 1:
            ax.set_xlim(xs[0] * 0.5, xs[0] * 1.5)


def line_figure(sets, out, name, scenario, metrics, xparam, title, what, select=None,
                facet=(), merge=(), drop=(), prefer=None, xlabel=None, notes=(),
                entries_of=None, extra=None, decorate=None, ylog=None, scenarios=None):
    """Panels: metric x facet values x folder x series groups (at most 6 series each).
    Series: one per label and the values of the other parameters that vary (those values
    take line styles, with a legend group of their own). entries_of(rs) replaces
    rs.ok(scenario) (derived entries). extra(ax, metric) draws reference lines and returns
    legend items; decorate(ax, rs, series) marks points and returns legend items."""
    pick = entries_of or (lambda rs: rs.ok(scenario))
    everyone = [e for rs in sets for e in pick(rs) if select is None or select(e)]
    metrics = [m for m in metrics if any(_samples(e, m) for e in everyone)]
    if not metrics or not any(xparam in e.params for e in everyone):
        return None
    facets = tuple(f for f in _tuple(facet) if any(f in e.params for e in everyone))
    skip = {xparam, *facets, *drop, *MEASUREMENT_PARAMS}
    split = _varying(everyone, skip | set(merge))
    fixed = _fixed_text(everyone, skip, merge)

    def fkey(e):
        return tuple(str(e.params.get(f)) for f in facets)

    panels = []
    for m in metrics:
        fvals = sorted({fkey(e) for e in everyone if _samples(e, m)},
                       key=lambda t: tuple(_value_key(x) for x in t))
        for fv in fvals:
            for rs in sets:
                es = [e for e in pick(rs) if (select is None or select(e)) and fkey(e) == fv]
                sers = _series(es, m, xparam, split, prefer)
                for gname, group in facet_series(sers):
                    if group:   # a folder without this data gets no empty panel
                        panels.append((m, fv, rs, gname, group))
    if not panels:
        return None
    # The most common value draws solid (the default registration), the rarer ones dashed,
    # dotted, dash-dotted.
    counts = {}
    for p in panels:
        for _, ex, pts in p[4]:
            if ex:
                counts[ex] = counts.get(ex, 0) + len(pts)
    all_extras = sorted(counts, key=lambda ex: (-counts[ex], ex))
    linestyles = {ex: style.EXTRA_LINESTYLES[i % len(style.EXTRA_LINESTYLES)]
                  for i, ex in enumerate(all_extras)}
    ncols = 1 if len(panels) == 1 else (2 if len(panels) in (2, 4) else 3)
    fig, axes = new_figure(len(panels), ncols, 1.75 if ncols > 1 else 2.0)
    width = fig.get_figwidth() / ncols
    ns, peers, ticks, series = [], set(), [], []
    extra_items, deco_items = [], []
    for ax, (m, fv, rs, gname, group) in zip(axes, panels):
        vals = _line_panel(ax, group, linestyles)
        xs = [x for _, _, pts in group for x, _, _ in pts]
        for e, _, pts in group:
            for _, s, ex in pts:
                ns += _point_n(s, ex)
            if e.is_peer:
                peers.add(e.peer)
        # Failed points: an x at the axis's foot in the series' colour.
        bad = [e for e in rs.not_ok() if e.scenario == scenario and not impossible(e)
               and (select is None or select(e)) and fkey(e) == fv
               and _num(e.params.get(xparam)) is not None
               and any(e.label == s[0].label for s in group)]
        for e in bad:
            ax.plot([_num(e.params[xparam])], [0.04], ls="none", marker="x", ms=5, mew=1.4,
                    color=style.colour(e), transform=ax.get_xaxis_transform(), clip_on=False)
            xs.append(_num(e.params[xparam]))
        if bad and not any(t == "skipped / failed" for _, t in deco_items):
            deco_items.append((Line2D([], [], ls="none", marker="x", ms=5, mew=1.4, color="#555555"),
                               "skipped / failed"))
        if extra:
            for h, t, ys in extra(ax, m, rs, xs):
                vals += ys
                if all(t != t2 for _, t2 in extra_items):
                    extra_items.append((h, t))
        if decorate:
            for h, t in decorate(ax, rs, group, m):
                if all(t != t2 for _, t2 in deco_items):
                    deco_items.append((h, t))
        _x_axis(ax, xs)
        value_axis(ax, _spans_decades(vals) if ylog is None else ylog, "y")
        ax.set_xlabel(xlabel or xparam)
        unit = next((e.metrics[m].unit for e, _, _ in group if m in e.metrics), "KiB")
        ax.set_ylabel(axis_label(m, unit))
        head = []
        if len(sets) > 1:
            head.append(rs.name)
        ft = " ".join(f"{k}={v}" for k, v in zip(facets, fv) if v != "None")
        if ft:
            head.append(ft)
        if gname:
            head.append(gname)
        _panel_title(ax, " · ".join(head) or (fixed or METRIC_TEXT.get(m, m)), width)
        ticks.append([t.get_text() for t in ax.get_xticklabels()])
        series.append(len(group))
    groups_extra = {}
    if linestyles:
        groups_extra["line style"] = [
            (Line2D([], [], ls=ls, color="#444444"), ex) for ex, ls in linestyles.items()]
    groups_extra["reference"] = extra_items
    groups_extra["marks"] = deco_items
    groups = style.encoding_legend(everyone, groups_extra)
    rec = layout.finish(fig, axes, out, name, title, groups, _dpi())
    notes = list(notes) + ([f"Every point: {fixed}"] if fixed else [])
    cap = captions.build(what, sets, ns, notes=notes)
    return Figure(name, scenario, title, cap, ticks=ticks, series=series,
                  claims=captions.claims(ns, peers, any("seed" in t for _, t in extra_items),
                                         metrics, scenarios=scenarios or [scenario]),
                  scenarios=tuple(scenarios or [scenario]), **rec)


# ---- the per-scenario figures ----------------------------------------------------------------

def fig_switch_cost(sets, out):
    return dot_figure(
        sets, out, "switch_cost", "switch", ["ns_per_switch", "instructions_per_op"],
        "How much does one context switch cost per backend?",
        "One-way switch (round trip / 2) per switch backend, and instructions per switch "
        "(callgrind: user-mode instructions only, deterministic within a build, n = 1)")


def fig_yield(sets, out):
    return dot_figure(
        sets, out, "yield", "yield", ["ns_per_yield", "instructions_per_op"],
        "What does a full scheduler yield cost per variant and peer?",
        "Full scheduler yield (not a bare switch) per variant and peer. Dash-dot: the seed's "
        f"two-fiber yield, {seed.YIELD_NS:.0f} ns per yield (its 2.1 M yields/s on its own "
        "16-core machine: a shape to compare, not this machine)",
        refs={"ns_per_yield": [(seed.YIELD_NS, f"seed's two-fiber yield: {seed.YIELD_NS:.0f} ns "
                                               "(its machine)")]})


def _spawn_sort(e):
    k = label_sort_key(e)
    if e.variant is not None:   # pooled next to fresh for the same switch and scheduler
        return (k[0], k[1], k[3], k[2], k[4])
    return k


def fig_spawn_join(sets, out):
    return dot_figure(
        sets, out, "spawn_join", "spawn_join", ["ns_per_spawn_join", "instructions_per_op"],
        "What does a fresh stack add to spawn + join?",
        "Spawning a fiber and joining it, pooled (filled) beside fresh (hollow) stacks for "
        "each switch backend and scheduler; a peer run with other settings says them beside "
        "its name", sort_key=_spawn_sort)


def fig_skynet(sets, out):
    return dot_figure(
        sets, out, "skynet", "skynet", ["time_s", "peak_rss_kib"],
        "How long do a million short-lived fibers take, and in how much memory?",
        "Skynet (fan-out 10, 1M leaves): wall time and the harness's peak resident memory "
        "of the whole process, per variant and peer")


def fig_channel(sets, out):
    return dot_figure(
        sets, out, "channel", "channel", ["ns_per_handoff"],
        "What does an unbuffered channel hand-off cost?",
        "Unbuffered channel ping-pong, time per hand-off, per variant and peer, one panel "
        "per carrier count")


def _io_prefer(e):
    return (_num(e.params.get("ops")) or 0, e.repetitions, e.created)


def fig_io_pingpong(sets, out):
    return line_figure(
        sets, out, "io_pingpong", "io_pingpong", ["ns_per_roundtrip"], "pairs",
        "Do idle socket waiters slow a round trip down?",
        "Round trip over AF_UNIX socket pairs as their number grows; active=one: one pair "
        "ping-pongs while the others wait (flat = idle waiters cost nothing per wake); "
        "active=all: every pair ping-pongs (wall time / round trips). Line style = poller and "
        "epoll registration; runs with different op counts keep the longer run",
        facet=("active", "carriers"), merge=("ops",), prefer=_io_prefer, xlabel="socket pairs")


def fig_mutex(sets, out):
    return line_figure(
        sets, out, "mutex", "mutex", ["ns_per_lock"], "fibers",
        "How does a contended mutex scale with contenders?",
        "Time per iteration (lock, critical section, unlock, private work: the whole loop "
        "body, not the lock alone) against contending fibers (threads or goroutines for the "
        "peers), faceted by switch backend", xlabel="contending fibers / threads")


def _http_load(e):
    return findings.http_load(e)


def http_mode(e):
    return str(e.params.get("mode", "load"))


# The http driver's margin over the connections (connections + 64 open files per process).
HTTP_FD_MARGIN = 64
HTTP_MERGE = ("duration_s", "wrk_threads")
HTTP_DROP = ("mode", "taskmaster")


def http_name(e, split=()):
    parts = []
    if e.variant is not None and "registration" in e.params:
        parts.append(str(e.params["registration"]))
    if "io_backend" in split and "io_backend" in e.params:
        parts.append(str(e.params["io_backend"]))
    if e.peer == "nginx" and "workers" in e.params:
        w = e.params["workers"]
        parts.append(f"{w} worker" + ("" if str(w) == "1" else "s"))
    if "carriers" in split and "carriers" in e.params:
        parts.append(f"{e.params['carriers']} carriers")
    return e.label + (f" ({', '.join(parts)})" if parts else "")


def _open_files_limit(rs):
    nofile = (rs.machine.get("limits") or {}).get("open_files")
    return nofile if isinstance(nofile, int) and not isinstance(nofile, bool) else None


def _mark_errors(ax, rs, group, metric):
    """A black ring around every point where wrk counted errors."""
    hit = False
    for e, _, pts in group:
        for x, s, src in pts:
            if findings.http_errors(src) > 0:
                ax.plot([x], [stats.median(s)], ls="none", marker="o", ms=9, mfc="none",
                        mec="black", mew=0.9, zorder=5)
                hit = True
    return [(Line2D([], [], ls="none", marker="o", ms=8, mfc="none", mec="black"),
             "wrk errors at this point")] if hit else []


def fig_http_rps(sets, out):
    return line_figure(
        sets, out, "http_rps", "http", ["requests_per_s"], "connections",
        "How does HTTP throughput fall as connections grow on this machine?",
        "'Hello, World!' over keep-alive connections under wrk (mode=load): the fiber "
        "server per variant (line style = epoll registration), and the peers. Rings: "
        "points where wrk counted socket errors. Absolute numbers from other machines are "
        "not drawn here: the http_ratio figure compares shapes",
        select=_http_load, drop=HTTP_DROP, merge=HTTP_MERGE, xlabel="connections",
        decorate=_mark_errors, ylog=False)


def fig_http_latency(sets, out):
    have = {m for rs in sets for e in rs.ok("http") for m in e.metrics}
    metrics = [m for m in ("latency_p50_us", "latency_p99_us") if m in have]
    q = [m.split("_")[1] for m in metrics]
    fig = line_figure(
        sets, out, "http_latency", "http", metrics, "connections",
        "How does HTTP latency grow with connections?",
        f"Request latency ({' and '.join(q)}) reported by wrk against connections "
        "(mode=load). wrk is closed-loop: a slow response delays the next request, so "
        "these latencies understate what an open-loop client would see (coordinated "
        "omission)", select=_http_load, drop=HTTP_DROP, merge=HTTP_MERGE,
        xlabel="connections", decorate=_mark_errors)
    if fig is not None:
        fig.claims["quantiles"] = [int(x[1:]) for x in q]
    return fig


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


# ---- 1. heat map of cost ratios --------------------------------------------------------------

def fig_heatmap(sets, out):
    per = [(rs, findings.cost_ratios(rs)) for rs in sets]
    per = [(rs, r) for rs, r in per if r]
    if not per:
        return None
    panels = per
    labels_all = sorted({lab for _, r in per for col in r.values() for lab in col},
                        key=lambda lab: label_sort_key(next(e for rs in sets for e in rs.ok()
                                                            if e.label == lab)))
    cols_all = [c[0] for c in findings.COLUMNS if any(c[0] in r for _, r in per)]
    fig, axes = new_figure(len(panels), 1, 0.19 * len(labels_all) + 1.0, width=style.DOUBLE_IN)
    norm = TwoSlopeNorm(vcenter=0.0, vmin=-6.0, vmax=6.0)
    cmap = style.plt.get_cmap("PuOr_r")
    ns_flag = False
    image = None
    for ax, (rs, ratios) in zip(axes, panels):
        grid = np.full((len(labels_all), len(cols_all)), np.nan)
        for j, col in enumerate(cols_all):
            for i, lab in enumerate(labels_all):
                r = ratios.get(col, {}).get(lab)
                if r is None:
                    continue
                grid[i, j] = math.log2(r.value)
                if lab == findings.REFERENCE:
                    ax.text(j, i, "ref", ha="center", va="center", fontsize=7, color="#555555")
                    continue
                txt = f"{r.value:.2g}" if r.value < 100 else f"{r.value:.0f}"
                light = abs(math.log2(r.value)) > 3.5
                if r.interval is None:
                    txt += "°"
                    ns_flag = True
                ax.text(j, i, txt, ha="center", va="center", fontsize=7,
                        color="white" if light else "black",
                        fontstyle="italic" if (r.includes_one or r.interval is None) else "normal")
                if r.includes_one:
                    ax.add_patch(style.plt.Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False,
                                                     hatch="////", edgecolor="#bbbbbb", lw=0))
        image = ax.imshow(np.clip(grid, -6, 6), cmap=cmap, norm=norm, aspect="auto")
        ax.set_xticks(range(len(cols_all)))
        ax.set_xticklabels(cols_all, rotation=60, ha="right", rotation_mode="anchor")
        ax.set_yticks(range(len(labels_all)))
        ax.set_yticklabels(labels_all)
        ax.grid(False)
        ax.set_title((rs.name + ": " if len(sets) > 1 else "") +
                     f"cost / {findings.REFERENCE}", loc="left")
    cax = axes[-1].inset_axes([1.02, 0.0, 0.025, 1.0])
    cax.grid(False)
    cb = fig.colorbar(image, cax=cax)
    cb.set_ticks([-6, -4, -2, 0, 2, 4, 6])
    cb.set_ticklabels(["1/64", "1/16", "1/4", "1", "4", "16", "≥64"])
    cb.set_label("cost ratio (log2 colour)")
    groups = {"cells": [
        (style.plt.Rectangle((0, 0), 1, 1, fill=False, hatch="////", edgecolor="#999999"),
         "hatched, italic: 95 % interval includes 1")]}
    if ns_flag:
        groups["cells"].append((Line2D([], [], ls="none"), "°: no interval (n < 3)"))
    title = "Which dimension matters where? Cost of each variant relative to " + findings.REFERENCE
    rec = layout.finish(fig, axes, out, "heatmap", title, groups, _dpi())
    scen = sorted({c[1] for c in findings.COLUMNS if c[0] in cols_all})
    ns = sorted({len(e.metrics[c[2]].samples) for rs in sets for c in findings.COLUMNS
                 if c[0] in cols_all for e in rs.ok(c[1]) if c[2] in e.metrics and not e.is_peer})
    cap = captions.build(
        f"Each cell: the variant's cost over {findings.REFERENCE}'s in that scenario, matched "
        "on equal parameters (the geometric mean of the ratios where a scenario has several "
        "parameter sets); > 1 = costlier, throughput inverted so > 1 still means worse. "
        "Colour: log2 of the ratio. A hatched, italic cell's 95 % bootstrap interval "
        "includes 1 (no difference claimed)" + ("; ° marks a cell without an interval "
                                                "(fewer than 3 repetitions)" if ns_flag else ""),
        sets, ns, interval=False)
    return Figure("heatmap", None, title, cap, ticks=[cols_all], categories=[len(labels_all)],
                  claims=captions.claims(ns, scenarios=scen), scenarios=tuple(scen), **rec)


# ---- 2. switch-cost decomposition ------------------------------------------------------------

def fig_switch_decomposition(sets, out):
    per = [(rs, findings.switch_steps(rs)) for rs in sets]
    per = [(rs, s) for rs, s in per if len(s) >= 2]
    if not per:
        return None
    fig, axes = new_figure(len(per), 1, 0.32 * max(len(s) for _, s in per) + 0.7, width=style.DOUBLE_IN)
    ns = []
    for ax, (rs, steps) in zip(axes, per):
        for i, st in enumerate(steps):
            y = len(steps) - 1 - i
            col = (style.SWITCH_COLOUR["ucontext"] if st.name.startswith("ucontext")
                   else style.SWITCH_COLOUR["asm"])
            left = max(st.start_ns, 0.5)
            ax.annotate("", xy=(st.end_ns, y), xytext=(left, y),
                        arrowprops=dict(arrowstyle="-|>", color=col, lw=1.6, shrinkA=0, shrinkB=0))
            if st.start_ns <= 0:
                ax.plot([st.end_ns], [y], ls="none", marker="o", color=col, ms=4)
            if st.interval is not None:
                lo, hi = st.interval
                ax.plot([st.start_ns + lo, st.start_ns + hi], [y - 0.22, y - 0.22], color=col, lw=0.8)
        def label(st):
            d = st.end_ns - st.start_ns
            ins = "" if st.instructions is None else f", {st.instructions:.4g} instructions"
            return (f"{st.name}\n{'+' if st.start_ns > 0 else ''}{findings.fmt3(d)} ns "
                    f"→ {findings.fmt3(st.end_ns)} ns{ins}")
        ax.set_yticks(range(len(steps)))
        ax.set_yticklabels([label(s) for s in steps][::-1])
        ax.set_xscale("log")
        hi = max(s.end_ns for s in steps)
        ax.set_xlim(0.5, hi * 2)
        ax.set_ylim(-0.7, len(steps) - 0.4)
        ax.xaxis.set_major_formatter(ticker.FuncFormatter(lambda v, _: short_number(v)))
        ax.xaxis.set_minor_formatter(ticker.NullFormatter())
        ax.set_xlabel("cumulative time per operation (ns, log)")
        ax.grid(axis="y", alpha=0)
        if len(sets) > 1:
            ax.set_title(rs.name, loc="left")
        ns += [len(e.metrics["ns_per_switch"].samples) for e in rs.ok("switch")
               if e.label in ("asm", "asm_nofpu", "ucontext") and "ns_per_switch" in e.metrics]
    groups = {"step": [(Line2D([], [], color=style.SWITCH_COLOUR["asm"], lw=1.6), "asm path"),
                       (Line2D([], [], color=style.SWITCH_COLOUR["ucontext"], lw=1.6),
                        "ucontext instead of asm")]}
    title = "Where does the time of a switch go?"
    rec = layout.finish(fig, axes, out, "switch_decomposition", title, groups, _dpi())
    cap = captions.build(
        "Each arrow adds one part to the cost of a switch: the bare assembly switch, the "
        "save of the FP control words, the runtime's yield around it, the collector hooks "
        "(locked design over off, where gc_scan ran), and, from the asm switch, what "
        "ucontext adds (its sigprocmask system call and larger save: not measured apart in "
        "this data, so the difference bounds the system call). Medians; the thin line under "
        "an arrow is the 95 % bootstrap interval of that step. Instruction counts from "
        "callgrind count user-mode instructions only: the system call's kernel work is not "
        "in them", sets, ns, interval=False)
    return Figure("switch_decomposition", "switch", title, cap, categories=[len(s) for _, s in per],
                  ticks=[[s.name for s in st] for _, st in per],
                  claims=captions.claims(ns, scenarios=["switch", "yield", "gc_scan"]),
                  scenarios=("switch", "yield", "gc_scan"), **rec)


# ---- 3. timer lateness CDF -------------------------------------------------------------------

QUANTILE_METRICS = [("lateness_p50_us", 0.50), ("lateness_p90_us", 0.90),
                    ("lateness_p99_us", 0.99), ("lateness_p999_us", 0.999),
                    ("lateness_max_us", 1.0)]


def timer_points(e):
    """(quantiles, lateness µs per quantile as a list of per-repetition values, full): from the
    entry's recorded distribution when present (full = True), else the percentile metrics."""
    q = getattr(e, "quantiles", None) or {}
    d = q.get("lateness_quantiles_ns")
    if d:
        qs, reps = d
        vals = [[r[i] / 1000.0 for r in reps] for i in range(len(qs))]
        return list(qs), vals, True
    qs, vals = [], []
    for m, p in QUANTILE_METRICS:
        if m in e.metrics:
            qs.append(p)
            vals.append(e.metrics[m].samples or [e.metrics[m].median])
    return qs, vals, False


def fig_timers(sets, out):
    everyone = [e for rs in sets for e in rs.ok("timers") if timer_points(e)[0]]
    if not everyone:
        return None
    rows = sorted({e.params_key() for e in everyone}, key=lambda k: k)
    vary = _varying(everyone, ("ops",))
    scheds = [s for s in style.SCHEDULER_MARKER if any(e.dim("scheduler") == s for e in everyone)]
    peers_present = any(e.is_peer for e in everyone)
    cols = scheds + (["peers"] if peers_present else [])
    panels = [(rs, key, sc) for key in rows for rs in sets for sc in cols]
    fig, axes = new_figure(len(panels), min(2, len(cols) * len(sets)), 1.7)
    width = fig.get_figwidth() / min(2, len(cols) * len(sets))
    full_any, ns, qs_all, series = False, [], set(), []
    for ax, (rs, key, sc) in zip(axes, panels):
        es = sorted((e for e in rs.ok("timers") if e.params_key() == key and timer_points(e)[0]
                     and ((sc == "peers" and e.is_peer) or e.dim("scheduler") == sc)),
                    key=label_sort_key)
        n_series = 0
        ymin = 1.0
        for e in es:
            qs, vals, full = timer_points(e)
            wakes = _num(e.params.get("fibers"))   # each fiber sleeps once per run
            ys = [(1.0 - q) if q < 1.0 else (1.0 / wakes if wakes else None) for q in qs]
            keep = [(y, v) for y, v in zip(ys, vals) if y is not None and y > 0]
            if not keep:
                continue
            ys, vals = [k[0] for k in keep], [k[1] for k in keep]
            ymin = min(ymin, min(ys))
            meds = [stats.median(v) for v in vals]
            kw = style.point_kwargs(e)
            if full:
                full_any = True
                ax.step(meds, ys, where="post", color=kw["color"], lw=1.0)
            else:
                for y, v in zip(ys, vals):
                    ci = stats.median_ci(v)
                    if ci is not None:
                        ax.plot(ci, [y, y], color=kw["color"], lw=0.8)
                ax.plot(meds, ys, **kw)
            ns += [len(v) for v in vals]
            qs_all |= {round(q * 100, 1) for q in qs}
            n_series += 1
        value_axis(ax, True, "x")
        ax.set_yscale("log")
        ax.set_ylim(ymin / 2.5, 1.0)
        ax.yaxis.set_major_formatter(ticker.FuncFormatter(lambda v, _: f"{v:g}"))
        ax.yaxis.set_minor_formatter(ticker.NullFormatter())
        ax.yaxis.set_major_locator(ticker.LogLocator(base=10, numticks=7))
        ax.set_xlabel("wake lateness (µs, log)")
        ax.set_ylabel("fraction of wakes later")
        shared = " ".join(f"{k}={es[0].params.get(k)}" for k in sorted(vary)) if es else ""
        _panel_title(ax, " · ".join(t for t in ((rs.name if len(sets) > 1 else ""),
                                                 f"scheduler={sc}" if sc != "peers" else "peers",
                                                 shared) if t), width)
        series.append(n_series)
    title = "How late do timers fire, by scheduler?"
    rec = layout.finish(fig, axes, out, "timers_cdf", title, style.encoding_legend(everyone), _dpi())
    qnames = sorted(qs_all)
    named = ", ".join("max" if q >= 100 else f"p{q:g}" for q in qnames)
    what = ("Wake lateness of many sleepers (each fiber sleeps once, a random time up to "
            "max_ms) as a complementary cumulative distribution: the fraction of wakes later "
            "than x, on log axes so the tail reads; the maximum sits at 1 / fibers. One panel "
            "per scheduler; ")
    if full_any:
        what += "steps: the recorded lateness distribution (median over repetitions at each quantile)"
    else:
        what += (f"only {named} are recorded in this data, so each variant is drawn as those "
                 "points of its distribution, with no line between them (the timers scenario "
                 "does not yet record the whole distribution)")
    cap = captions.build(what, sets, ns, strip=False)
    # The caption names percentiles only when it lists the recorded ones.
    quant = [] if full_any else [int(q) for q in qnames if q < 100 and q == int(q)]
    return Figure("timers_cdf", "timers", title, cap, series=series,
                  claims=captions.claims(ns, [e.peer for e in everyone if e.is_peer],
                                         quantiles=quant, scenarios=["timers"]),
                  scenarios=("timers",), **rec)


# ---- 4. memory per fiber and per idle connection ---------------------------------------------

def _derived(e, metric, unit, samples, params=None):
    """A copy of an entry carrying one derived metric (for the line machinery)."""
    from dataclasses import replace
    from .results import Metric
    return replace(e, metrics={metric: Metric(metric, unit, list(samples), stats.median(samples),
                                               min(samples), max(samples))},
                   params=dict(params if params is not None else e.params))


def fig_memory(sets, out):
    def entries_of(rs):
        out_ = []
        for fm in findings.memory_per_fiber(rs):
            p = {k: v for k, v in fm.entry.params.items() if k != "fibers"}
            p.update(stack_kib=fm.stack_kib, guard=fm.guard, part="per live fiber")
            out_.append(_derived(fm.entry, "kib_per_fiber", "KiB", [fm.kib_per_fiber], p))
        for e in rs.ok("http"):
            mv = metric_value(e, "kib_per_conn")
            if mv is not None and http_mode(e) == "idle":
                p = dict(e.params, part="per idle connection")
                out_.append(_derived(e, "kib_per_conn", "KiB", e.metrics["kib_per_conn"].samples, p))
        return out_
    def one_x(metric, xparam):
        xs = {str(e.params.get(xparam)) for rs in sets for e in entries_of(rs) if metric in e.metrics}
        return len(xs) <= 1
    fiber_what = ("Resident memory per live fiber: the growth of peak RSS between the fewest and "
                  "the most sleeping fibers of the timers scenario, per added fiber. Only the "
                  "stack sizes and guard settings the profile ran are drawn")
    conn_what = ("Growth of the server's resident memory, page tables and (for servers with a "
                 "thread per connection) kernel stacks per idle keep-alive connection "
                 "(mode=idle), from /proc; socket buffers are left out")
    if one_x("kib_per_fiber", "stack_kib"):
        fibers = dot_figure(
            sets, out, "memory_fiber", "timers", ["kib_per_fiber"],
            "How much memory does a fiber take?", fiber_what + " (one stack size here)",
            entries_of=entries_of, select=lambda e: "kib_per_fiber" in e.metrics,
            skip=("part",))
    else:
        fibers = line_figure(
            sets, out, "memory_fiber", "timers", ["kib_per_fiber"], "stack_kib",
            "How much memory does a fiber take, by stack size?", fiber_what + "; line style = "
            "guard page", entries_of=entries_of, select=lambda e: "kib_per_fiber" in e.metrics,
            xlabel="usable stack size (KiB)", scenarios=["timers"], drop=("part",))
    if one_x("kib_per_conn", "connections"):
        conns = dot_figure(
            sets, out, "memory_connection", "http", ["kib_per_conn"],
            "How much memory does an idle connection take, per server?", conn_what,
            entries_of=entries_of, select=lambda e: "kib_per_conn" in e.metrics,
            skip=("part",) + HTTP_DROP + HTTP_MERGE, name_fn=http_name,
            row_of=lambda e: ((_num(e.params.get("connections")) or 0,),
                              f"connections={e.params.get('connections')}"))
    else:
        conns = line_figure(
            sets, out, "memory_connection", "http", ["kib_per_conn"], "connections",
            "How much memory does an idle connection take, per server?", conn_what,
            entries_of=entries_of, select=lambda e: "kib_per_conn" in e.metrics,
            xlabel="idle connections", drop=("part",) + HTTP_DROP + HTTP_MERGE,
            scenarios=["http"])
    return [f for f in (fibers, conns) if f is not None]


# ---- 5. speedup against carriers -------------------------------------------------------------

def fig_speedup(sets, out):
    per = {id(rs): findings.speedups(rs) for rs in sets}
    if not any(per.values()):
        return None

    def entries_of(rs):
        out_ = []
        for sp in per[id(rs)]:
            for c, r in sp.points:
                e = _derived(sp.series, "speedup", "x", [r.value],
                             {"carriers": c, "workload": sp.workload})
                # A ratio of two medians: its interval is the ratio's bootstrap interval, its
                # n that of the runs it divides (the 1-carrier point is 1 by definition).
                e.derived_interval = r.interval if c != 1.0 else None
                e.derived_n = [len(sp.series.metrics["time_s"].samples)]
                out_.append(e)
        return out_

    cores = max((rs.machine.get("cores") or 1) for rs in sets)

    def extra(ax, m, rs, xs):
        (ln,) = ax.plot([1, cores], [1, cores], color="black", lw=0.8, ls="--", zorder=1)
        return [(ln, f"ideal (up to this machine's {cores} CPUs)", [0.8, cores])]

    fig = line_figure(
        sets, out, "speedup", "steal", ["speedup"], "carriers",
        "Do more carriers make fan-out work faster?",
        "Speedup = the series' own 1-carrier wall time / its time on c carriers (each peer "
        "against itself: Go with GOMAXPROCS = carriers); dashed: ideal. One panel per "
        "workload, faceted by switch backend; the 1-carrier base times are in the report's "
        "speedup table. Carriers stop at this machine's CPUs", entries_of=entries_of,
        facet=("workload",), xlabel="carriers (OS threads)", extra=extra, ylog=False,
        scenarios=["steal", "skynet"])
    if fig is not None:   # the points are ratios of two medians, each over n repetitions
        fig.caption = fig.caption.replace("interval of the median", "interval of the ratio "
                                          "(each side resampled)").replace(
            "repetitions per point", "repetitions on each side of a ratio")
    return fig


# ---- 6. HTTP: fibers / threads ratio beside the seed's ---------------------------------------

def fig_http_ratio(sets, out):
    per = [(rs, findings.http_ratios(rs)) for rs in sets]
    if not any(r for _, r in per):
        return None
    fig_, axes = None, None
    panels = []
    for rs, ratios in per:
        scheds = [sc for sc in style.SCHEDULER_MARKER if any(r.entry.dim("scheduler") == sc for r in ratios)]
        for sc in scheds:
            panels.append(("ratio", rs, sc, [r for r in ratios if r.entry.dim("scheduler") == sc]))
    def cpu_entries(rs):
        return [e for e in rs.ok("http") if _http_load(e) and findings.requests_per_cpu_s(e)
                and (e.is_peer or (e.dim("stacks") == "pooled" and e.dim("scheduler") == "chaselev"
                                   and str(e.params.get("registration", "oneshot")) == "oneshot"))]
    cpu_rows = []   # (folder, [(server name, [entries])]) at most 6 servers a panel
    for rs, _ in per:
        by = {}
        for e in cpu_entries(rs):
            by.setdefault(http_name(e), []).append(e)
        servers = sorted(by.items(), key=lambda t: label_sort_key(t[1][0]))
        lim = style.MAX_SERIES_PER_PANEL
        for i in range(0, len(servers), lim):
            cpu_rows.append((rs, servers[i:i + lim]))
    fig_, axes = new_figure(len(panels) + len(cpu_rows), 2, 1.9)
    width = fig_.get_figwidth() / 2
    ns, series, peers = [], [], set()
    seed_pts = seed.http_ratio()
    marks = []
    for ax, (kind, rs, sc, ratios) in zip(axes, panels):
        by = {}
        for r in ratios:
            by.setdefault(r.entry.label, []).append(r)
        for lab, rr in sorted(by.items(), key=lambda t: label_sort_key(t[1][0].entry)):
            rr.sort(key=lambda r: r.connections)
            e = rr[0].entry
            kw = style.point_kwargs(e)
            xs = [r.connections for r in rr]
            ax.plot(xs, [r.ratio.value for r in rr], color=kw["color"], lw=1.0)
            ax.plot(xs, [r.ratio.value for r in rr], **kw)
            for r in rr:
                if r.ratio.interval:
                    ax.plot([r.connections] * 2, r.ratio.interval, color=kw["color"], lw=0.8)
                if r.errors > 0:
                    ax.plot([r.connections], [r.ratio.value], ls="none", marker="o", ms=9,
                            mfc="none", mec="black", mew=0.9)
                    if not marks:
                        marks.append((Line2D([], [], ls="none", marker="o", ms=8, mfc="none",
                                             mec="black"), "wrk errors (fibers or threads)"))
                ns.append(len(r.entry.metrics["requests_per_s"].samples))
        (sl,) = ax.plot([c for c, _ in seed_pts], [v for _, v in seed_pts], color="black",
                        ls="-.", marker="x", ms=4, lw=0.9)
        ax.axhline(1.0, color="#777777", lw=0.6)
        _x_axis(ax, [r.connections for r in ratios] + [c for c, _ in seed_pts])
        value_axis(ax, False, "y")
        ax.set_xlabel("connections")
        ax.set_ylabel("fibers / threads (requests/s)")
        _panel_title(ax, " · ".join(t for t in ((rs.name if len(sets) > 1 else ""),
                                                 f"scheduler={sc}", "oneshot registration") if t), width)
        series.append(len(by))
    for ax, (rs, shown) in zip(axes[len(panels):], cpu_rows):
        xs_all = []
        looks = {}   # two servers of one look (nginx with 1 and 2 workers): the second dashed
        for lab, ee in shown:
            ee.sort(key=lambda e: _num(e.params.get("connections")))
            kw = style.point_kwargs(ee[0])
            xs = [_num(e.params["connections"]) for e in ee]
            ys = [findings.requests_per_cpu_s(e) for e in ee]
            key = (kw["color"], kw["marker"], kw.get("markerfacecolor"))
            ls = style.EXTRA_LINESTYLES[looks.get(key, 0) % len(style.EXTRA_LINESTYLES)]
            looks[key] = looks.get(key, 0) + 1
            if ls != "-":
                ax.annotate(f"{lab}: dashed", (xs[0], ys[0]), xytext=(4, -4),
                            textcoords="offset points", fontsize=7, va="top", ha="left")
            ax.plot(xs, ys, color=kw["color"], lw=1.0, ls=ls)
            ax.plot(xs, ys, **kw)
            xs_all += xs
            if ee[0].is_peer:
                peers.add(ee[0].peer)
        _x_axis(ax, xs_all)
        value_axis(ax, False, "y")
        ax.set_xlabel("connections")
        ax.set_ylabel("requests per server CPU-second")
        kinds = "variants (pooled, chaselev, oneshot) and " if any(not ee[0].is_peer for _, ee in shown) else ""
        _panel_title(ax, (rs.name + " · " if len(sets) > 1 else "") + kinds +
                     ", ".join(lab for lab, ee in shown if ee[0].is_peer), width)
        series.append(len(shown))
    everyone = [r.entry for _, rr in per for r in rr] + [
        ee[0] for _, shown in cpu_rows for _, ee in shown]
    groups = style.encoding_legend(everyone, {
        "reference": [(Line2D([], [], color="black", ls="-.", marker="x", ms=4),
                       f"seed's fibers/threads ({seed.HTTP_MACHINE})")],
        "marks": marks})
    title = "Do fibers beat threads at HTTP by the seed's margin?"
    rec = layout.finish(fig_, axes, out, "http_ratio", title, groups, _dpi())
    limit = next((_open_files_limit(rs) for rs in sets if _open_files_limit(rs)), None)
    cap = captions.build(
        "Throughput of the fiber server over the thread-per-connection server at the same "
        "connection count (oneshot registration), one panel per scheduler, beside the seed's "
        "own ratio (dash-dot): a shape comparison, since the seed's absolute numbers come "
        "from its 16-core machine" + (
            f"; its 25,000-connection point is beyond this machine's {limit:,} open files"
            if limit and limit - HTTP_FD_MARGIN < 25000 else "") +
        ". Rings: points where wrk counted socket errors. "
        + ("Requests per server CPU-second = requests/s x run length / the server's CPU "
           "seconds, for the pooled chaselev variants and the peers" if cpu_rows else ""),
        sets, ns)
    return Figure("http_ratio", "http", title, cap, series=series,
                  claims=captions.claims(ns, peers, True, ["requests_per_s"], scenarios=["http"]),
                  scenarios=("http",), **rec)


# ---- 7. GC pause against bytes scanned -------------------------------------------------------

SCAN_COLOUR = {"used": "#332288", "whole": "#999933"}   # Paul Tol's muted pair: not a backend
STACK_MARKERS = ["o", "s", "^", "D", "v"]


def fig_gc_scan_rate(sets, out):
    per = [(rs, findings.gc_points(rs), findings.scan_rate(rs)) for rs in sets]
    per = [p for p in per if p[1]]
    if not per:
        return None
    stacks = sorted({_num(e.params.get("stack_kib")) for _, pts, _ in per for e, _, _ in pts} - {None})
    mk = {s: STACK_MARKERS[i % len(STACK_MARKERS)] for i, s in enumerate(stacks)}
    fig, axes = new_figure(len(per), len(per), 2.6)
    ns = []
    for ax, (rs, pts, fit) in zip(axes, per):
        for e, mib, ms in pts:
            scan = str(e.params.get("scan", "used"))
            c = SCAN_COLOUR.get(scan, style.NEUTRAL)
            ax.plot([max(mib, 1e-3)], [ms], ls="none", marker=mk.get(_num(e.params.get("stack_kib")), "o"),
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
    rec = layout.finish(fig, axes, out, "gc_scan_rate", title, groups, _dpi())
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


# ---- all -------------------------------------------------------------------------------------

ALL_FIGURES = [fig_heatmap, fig_switch_decomposition, fig_switch_cost, fig_yield,
               fig_spawn_join, fig_skynet, fig_speedup, fig_io_pingpong, fig_channel, fig_mutex,
               fig_timers, fig_memory, fig_http_ratio, fig_http_rps, fig_http_latency,
               fig_gc_scan_rate, fig_gc_switch]

# Which figures each scenario feeds (for CI checks and for removing stale files).
FIGURES_OF = {"switch": ["switch_cost", "switch_decomposition"], "yield": ["yield"],
              "spawn_join": ["spawn_join"], "skynet": ["skynet", "speedup"],
              "steal": ["speedup"], "io_pingpong": ["io_pingpong"], "channel": ["channel"],
              "mutex": ["mutex"], "timers": ["timers_cdf", "memory_fiber"],
              "http": ["http_ratio", "http_rps", "http_latency", "memory_connection"],
              "gc_scan": ["gc_scan_rate", "gc_switch"]}
# Figures of several scenarios, and names of earlier versions removed when redrawing.
SUMMARY_FIGURES = ["heatmap"]
RETIRED = ["steal_scaling", "timers_lateness", "http_memory", "gc_pause"]


def render_all(sets, out_dir):
    style.setup()
    if _dpi():
        # Draft mode (tests): Type 3 fonts skip the TrueType subsetting that is most of the
        # cost of a PDF; the layout and the checks are the same.
        style.plt.rcParams["pdf.fonttype"] = 3
    figures = []
    for fn in ALL_FIGURES:
        got = fn(sets, out_dir)
        for f in (got if isinstance(got, list) else [got]):
            if f is not None:
                figures.append(f)
    return figures


def _gc_measure(e):
    return findings.gc_measure(e)


def _gc_pause_entry(e):
    return findings.gc_measure(e) == "pause"
