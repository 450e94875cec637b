"""The figure engine: what every paper figure shares.

Figures are drawn at a paper size (3.5 in single column or 7 in double column, text >= 7 pt),
with at most style.MAX_SERIES_PER_PANEL series per panel (more become facets), a legend
group per encoding, and a caption generated from the data (n, what the whiskers are, the
machine). Several results folders are drawn as separate panels, one per folder.

Categorical data is a dot plot (dot_figure: variants on the y axis, never bars on a log
axis), with the 95 % bootstrap interval of the median and, where n is small, every
repetition as a grey strip; lines join points only along an ordered x (line_figure:
connections, carriers, fibers). The figures themselves, one function each, live in the
plots_<area> modules; plots.py lists them.

METRIC_TEXT and UNIT_TEXT are the one place axis labels take their words from.
"""

import math
import os
from dataclasses import replace

import numpy as np
from matplotlib import ticker
from matplotlib.lines import Line2D

from . import captions, layout, stats, style
from .layout import Figure, new_figure
from .results import Metric, label_sort_key, params_order, params_text

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


def dpi():
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


def num(v):
    try:
        return float(v)
    except (TypeError, ValueError):
        return None


def value_key(v):
    n = num(v)
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


def varying(entries, skip=()):
    """Parameters with more than one value among the entries that carry them."""
    return {k for k, vs in _values_of(entries, skip).items() if len(vs) > 1}


def fixed_text(entries, skip=(), merged=()):
    """What the entries share, said once ('carriers=2 ops=2000'); a merged parameter with
    several values reads 'duration_s=1,5'."""
    parts = []
    for k, vs in sorted(_values_of(entries, skip).items()):
        if len(vs) == 1 or k in merged:
            parts.append(f"{k}={','.join(str(v) for v in sorted(vs.values(), key=value_key))}")
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
    vary = varying(entries, set(skip) | set(MEASUREMENT_PARAMS))
    return [f"{k}={e.params[k]}" for k in sorted(e.params)
            if k in vary and (k not in maj or str(e.params[k]) != maj[k])]


def impossible(e):
    """A skipped combination that cannot exist (a used depth larger than its stack): listed
    in the report, not drawn as a failure."""
    return e.status == "skipped" and "does not fit" in str(e.reason)


def samples_of(e, metric):
    m = e.metrics.get(metric)
    if m is not None:
        return m.samples or [m.median]
    if metric == "peak_rss_kib" and e.peak_rss_kib is not None:
        return [float(e.peak_rss_kib)]
    return None


def spans_decades(values):
    pos = [v for v in values if v is not None and v > 0]
    return len(pos) > 1 and max(pos) / min(pos) >= 10.0


def panel_title(ax, text, width_in):
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
    keys = (common | varying(variants or entries, skip)) - set(skip) - set(MEASUREMENT_PARAMS)

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
    metrics = [m for m in metrics if any(samples_of(e, m) for e in everyone)]
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
                      and row_of(e)[1] == key and samples_of(e, m)]
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
            smp = samples_of(e, m)
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
        value_axis(ax, spans_decades(vals), "x")
        unit = next((e.metrics[m].unit for e in es if m in e.metrics), "KiB" if m == "peak_rss_kib" else "")
        ax.set_xlabel(axis_label(m, unit))
        head = [key] if key else []
        maj = _majority([sl[0] for sl in slots], skip)
        if maj:
            head.append(" ".join(f"{k}={v}" for k, v in sorted(maj.items())) + " unless said")
        if len(sets) > 1:
            head.insert(0, rs.name)
        panel_title(ax, " · ".join(head) or METRIC_TEXT.get(m, m), width)
        ticks.append(labels)
        series.append(sum(1 for _, ok in slots if ok))
    # Two panels side by side with the same rows: the right one needs no labels of its own.
    for i in range(1, len(axes)):
        if ncols == 2 and i % 2 == 1 and ticks[i] == ticks[i - 1]:
            axes[i].tick_params(labelleft=False)
    groups = style.encoding_legend(everyone, {"seed": ref_handles})
    rec = layout.finish(fig, axes, out, name, title, groups, dpi())
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
        x = num(e.params.get(xparam))
        smp = samples_of(e, metric)
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


def x_axis(ax, xs):
    xs = sorted(set(x for x in xs if x is not None))
    if spans_decades(xs):
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
    metrics = [m for m in metrics if any(samples_of(e, m) for e in everyone)]
    if not metrics or not any(xparam in e.params for e in everyone):
        return None
    facets = tuple(f for f in _tuple(facet) if any(f in e.params for e in everyone))
    skip = {xparam, *facets, *drop, *MEASUREMENT_PARAMS}
    split = varying(everyone, skip | set(merge))
    fixed = fixed_text(everyone, skip, merge)

    def fkey(e):
        return tuple(str(e.params.get(f)) for f in facets)

    panels = []
    for m in metrics:
        fvals = sorted({fkey(e) for e in everyone if samples_of(e, m)},
                       key=lambda t: tuple(value_key(x) for x in t))
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
               and num(e.params.get(xparam)) is not None
               and any(e.label == s[0].label for s in group)]
        for e in bad:
            ax.plot([num(e.params[xparam])], [0.04], ls="none", marker="x", ms=5, mew=1.4,
                    color=style.colour(e), transform=ax.get_xaxis_transform(), clip_on=False)
            xs.append(num(e.params[xparam]))
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
        x_axis(ax, xs)
        value_axis(ax, spans_decades(vals) if ylog is None else ylog, "y")
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
        panel_title(ax, " · ".join(head) or (fixed or METRIC_TEXT.get(m, m)), width)
        ticks.append([t.get_text() for t in ax.get_xticklabels()])
        series.append(len(group))
    groups_extra = {}
    if linestyles:
        groups_extra["line style"] = [
            (Line2D([], [], ls=ls, color="#444444"), ex) for ex, ls in linestyles.items()]
    groups_extra["reference"] = extra_items
    groups_extra["marks"] = deco_items
    groups = style.encoding_legend(everyone, groups_extra)
    rec = layout.finish(fig, axes, out, name, title, groups, dpi())
    notes = list(notes) + ([f"Every point: {fixed}"] if fixed else [])
    cap = captions.build(what, sets, ns, notes=notes)
    return Figure(name, scenario, title, cap, ticks=ticks, series=series,
                  claims=captions.claims(ns, peers, any("seed" in t for _, t in extra_items),
                                         metrics, scenarios=scenarios or [scenario]),
                  scenarios=tuple(scenarios or [scenario]), **rec)


# ---- derived entries -------------------------------------------------------------------------

def derived(e, metric, unit, samples, params=None):
    """A copy of an entry carrying one derived metric (for the line machinery)."""
    return replace(e, metrics={metric: Metric(metric, unit, list(samples), stats.median(samples),
                                               min(samples), max(samples))},
                   params=dict(params if params is not None else e.params))
