"""The paper figures: one function per figure, each drawn only when its data is present.

Every figure takes a list of ResultSets (one per results folder) and draws them side by
side, one column per folder, rows sharing their y axis so machines compare at a glance.
Each returns a Figure record (name, title, caption, files) or None when no folder has data.
"""

import os
from dataclasses import dataclass, field

import numpy as np
from matplotlib import ticker
from matplotlib.lines import Line2D

from . import style
from .results import label_sort_key, metric_value, params_order, params_text
from .style import plt

# Design section 12: the seed's published numbers (16-core Linux, wrk -t4 -d10s).
SEED_HTTP = [  # connections, threads req/s, fibers req/s
    (1000, 129724, 160947), (2500, 89188, 142105), (5000, 79169, 124745),
    (10000, 55493, 102710), (25000, 62107, 83036)]
SEED_YIELD_SWITCHES_PER_S = 2.1e6
SEED_YIELD_NS = 1e9 / SEED_YIELD_SWITCHES_PER_S   # about 476 ns ("0.48 us")

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
    "ns_per_lock": "time per lock + unlock", "pushed_kib": "pushed to the collector",
    "used_kib": "stack used per fiber", "server_cpu_s": "server CPU time",
    "server_rss_kib": "server peak resident", "server_vm_kib": "server peak address space",
    "server_threads": "server threads", "rss_kib_per_conn": "resident per connection",
    "pte_kib_per_conn": "page tables per connection",
    "kstack_kib_per_conn": "kernel stacks per connection",
}


@dataclass
class Figure:
    name: str
    scenario: str
    title: str
    caption: str
    files: list = field(default_factory=list)
    legend: list = field(default_factory=list)   # legend texts, in order (for checks and tests)
    panels: list = field(default_factory=list)   # panel titles, row by row
    ticks: list = field(default_factory=list)    # each panel's x tick labels


def short_number(v):
    """Bar annotations: 3 significant digits, k/M for thousands and millions."""
    for div, suffix in ((1e6, "M"), (1e3, "k")):
        if abs(v) >= div:
            return f"{v / div:.3g}{suffix}"
    return f"{v:.3g}"


def value_axis(ax, log, which="y"):
    """Log when values span a decade or more; ticks at 1-2-5 when the span is short so a log
    axis never shows a single label; numbers as 52k rather than 52000 or 5.2e4."""
    axis = ax.yaxis if which == "y" else ax.xaxis
    if log:
        (ax.set_yscale if which == "y" else ax.set_xscale)("log")
        lo, hi = (ax.get_ylim() if which == "y" else ax.get_xlim())
        if hi / max(lo, 1e-300) < 1e3:
            axis.set_major_locator(ticker.LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
        axis.set_minor_formatter(ticker.NullFormatter())
    axis.set_major_formatter(ticker.FuncFormatter(lambda v, _: short_number(v) if v else "0"))


def axis_label(metric, unit):
    return f"{METRIC_TEXT.get(metric, metric.replace('_', ' '))} ({UNIT_TEXT.get(unit, unit)})"


def _unit_of(sets, scenario, metric):
    for rs in sets:
        for e in rs.ok(scenario):
            if metric in e.metrics:
                return e.metrics[metric].unit
    return "KiB" if metric == "peak_rss_kib" else ""


def _has(sets, scenario, metric):
    return any(metric_value(e, metric) is not None for rs in sets for e in rs.ok(scenario))


def _spans_decades(values):
    pos = [v for v in values if v is not None and v > 0]
    return len(pos) > 1 and max(pos) / min(pos) >= 10.0


def _footer(fig, sets, y=-0.01):
    lines = []
    for rs in sets:
        m, b = rs.machine, rs.build
        commit = (b.get("commit") or "?")[:12] + ("+dirty" if b.get("dirty") else "")
        lines.append(f"{rs.name}: {m.get('cpu_model', '?')}, {m.get('cores', '?')} cores, "
                     f"{m.get('hostname', '?')}, kernel {m.get('kernel', '?')} | "
                     f"commit {commit}, {b.get('compiler', '?')} {b.get('flags', '')}")
    fig.text(0.0, y, "\n".join(lines), ha="left", va="top", fontsize=6.5, color="#444444")


def _grid(sets, nrows, height=2.8, width=None):
    ncols = len(sets)
    width = width or max(4.2, 6.5 if ncols == 1 else 4.6)
    fig, axes = plt.subplots(nrows, ncols, figsize=(width * ncols, height * nrows),
                             squeeze=False, sharey="row" if ncols > 1 else False)
    return fig, axes


def _finish(fig, sets, out_dir, name, title, handles=None):
    """Legend, footer, layout; saves PDF and PNG. Returns what the Figure record keeps:
    {files, legend, panels, ticks}."""
    fig.suptitle(title, fontsize=10, fontweight="bold")
    uniq = {}
    legend = None
    if handles:
        for h, l in handles:
            uniq.setdefault(l, h)
        legend = fig.legend(list(uniq.values()), list(uniq.keys()), loc="upper left",
                            bbox_to_anchor=(1.0, 0.95), frameon=False)
    # Room for the suptitle (tight_layout does not count it), then the footer below the
    # axes and below a legend taller than the figure, so that neither covers the other.
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.3 / fig.get_figheight()))
    y = -0.01
    if legend is not None:
        box = legend.get_window_extent(fig.canvas.get_renderer())
        y = min(y, fig.transFigure.inverted().transform((0, box.y0))[1] - 0.01)
    _footer(fig, sets, y)
    os.makedirs(out_dir, exist_ok=True)
    # The tight bounding box (legend and footer outside the axes) is computed once for
    # both formats: it is most of the cost of saving.
    bbox = fig.get_tightbbox(fig.canvas.get_renderer()).padded(0.08)
    files = []
    for ext in ("pdf", "png"):
        path = os.path.join(out_dir, f"{name}.{ext}")
        fig.savefig(path, bbox_inches=bbox)
        files.append(path)
    axes = [ax for ax in fig.axes if ax.get_title() or ax.has_data()]
    record = {"files": files, "legend": list(uniq),
              "panels": [ax.get_title() for ax in axes],
              "ticks": [[t.get_text() for t in ax.get_xticklabels()] for ax in axes]}
    plt.close(fig)
    return record


def _column_title(ax, rs, sets, extra=""):
    parts = []
    if len(sets) > 1:
        parts.append(f"{rs.name} ({rs.machine.get('cpu_model', '?')}, {rs.machine.get('cores', '?')} cores)")
    if extra:
        parts.append(extra)
    ax.set_title("\n".join(parts))


def _not_run(ax):
    ax.text(0.5, 0.5, "not run", ha="center", va="center", transform=ax.transAxes, color="#777777")
    ax.set_xticks([])


# ---- choosing entries, naming series ---------------------------------------------------------

def _num(v):
    try:
        return float(v)
    except (TypeError, ValueError):
        return None


def _value_key(v):
    """Sort key for one parameter value: numbers as numbers, then text."""
    n = _num(v)
    return (n is None, n if n is not None else 0.0, str(v))


def _tuple(x):
    if x is None:
        return ()
    return tuple(x) if isinstance(x, (list, tuple)) else (x,)


def _selected(rs, scenario, select):
    return [e for e in rs.ok(scenario) if select is None or select(e)]


def _values_of(entries, skip=()):
    """param -> {text: value} among the entries that carry it."""
    values = {}
    for e in entries:
        for k, v in e.params.items():
            if k not in skip:
                values.setdefault(k, {})[str(v)] = v
    return values


def _varying(entries, skip=()):
    """Parameters with more than one value among the entries that carry them: the ones that
    tell series or bars apart. A parameter that only some entries carry (carriers for the
    fiber server, workers for nginx) with a single value does not."""
    return {k for k, vs in _values_of(entries, skip).items() if len(vs) > 1}


def _fixed_text(entries, skip=(), merged=()):
    """What the entries share, said once in the panel title ('carriers=2 ops=2000'). A merged
    parameter (one that does not split series) with several values reads 'duration_s=1,5'."""
    parts = []
    for k, vs in sorted(_values_of(entries, skip).items()):
        if len(vs) == 1 or k in merged:
            parts.append(f"{k}={','.join(str(v) for v in sorted(vs.values(), key=_value_key))}")
    return " ".join(parts)


def _wrap(text, width=72):
    import textwrap
    return "\n".join(textwrap.wrap(text, width)) if text else ""


def _default_name(e, extras):
    return e.label + (f" ({extras})" if extras else "")


def _prefer_default(e):
    return (e.repetitions, e.created)


# ---- bars: one bar per variant / peer / backend --------------------------------------------

def _not_ok_slot(ax, i, e):
    """A skipped or failed entry keeps its place among the bars: an x at the foot and the
    status written upward, so a missing bar reads as 'did not run', not as 'not asked'."""
    ax.plot([i], [0.03], ls="none", marker="x", markersize=7, mew=1.8, color=style.colour(e),
            transform=ax.get_xaxis_transform(), clip_on=False)
    ax.text(i, 0.08, e.status, rotation=90, ha="center", va="bottom", fontsize=6.5,
            color="#555555", transform=ax.get_xaxis_transform())


def _bar_panel(ax, entries, metric, sort_key, log, name_fn=None, missing=()):
    slots = sorted([(e, True) for e in entries] + [(e, False) for e in missing],
                   key=lambda s: sort_key(s[0]))
    for i, (e, ok) in enumerate(slots):
        if not ok:
            _not_ok_slot(ax, i, e)
            continue
        med, lo, hi, _ = metric_value(e, metric)
        ax.bar(i, med, color=style.colour(e), hatch=style.hatch(e), edgecolor="black",
               linewidth=0.7, linestyle=style.bar_edge_style(e), width=0.75)
        ax.errorbar(i, med, yerr=[[med - lo], [hi - med]], fmt="none", ecolor="black",
                    capsize=2.5, lw=0.8)
        ax.annotate(short_number(med), (i, hi), textcoords="offset points", xytext=(0, 2),
                    ha="center", va="bottom", fontsize=6)
    ax.set_xticks(range(len(slots)))
    ax.set_xticklabels([(name_fn or (lambda e: e.label))(e) for e, _ in slots],
                       rotation=40, ha="right")
    ax.set_xlim(-0.6, len(slots) - 0.4)
    value_axis(ax, log)


def _shared_rows(entries):
    """Default rows: peers carry fewer parameters than variants (Go's skynet has no
    stack_kib) or settings of their own (the threads and Go yields' ops counts), so a row is
    keyed only by the parameters every entry carries plus those that vary among the variants
    (among all entries when only peers ran); a peer then shares its panel with the variants
    it was measured beside."""
    common = set.intersection(*(set(e.params) for e in entries)) if entries else set()
    variants = [e for e in entries if not e.is_peer]
    keys = common | _varying(variants or entries)

    def row_of(e):
        p = {k: v for k, v in e.params.items() if k in keys}
        return params_order(p), params_text(p)
    return row_of


def _panel_title(key, entries):
    """The row's key, then what every variant in the panel shares beyond it."""
    variants = [e for e in entries if not e.is_peer]
    if not variants:
        return key
    shared = set.intersection(*(set(e.params) for e in variants))
    unshared = set().union(*(e.params for e in variants)) - shared
    used = {w.split("=", 1)[0] for w in key.split()}
    extra = _fixed_text(variants, skip=used | unshared)
    return " ".join(t for t in (key, extra) if t)


def bar_figure(sets, out_dir, name, scenario, metrics, title, caption, sort_key=label_sort_key,
               refs=None, select=None, row_of=None, name_fn=None):
    """Rows: (metric, row) pairs present, a row being a parameter set unless `row_of` groups
    otherwise; columns: folders. `select` keeps the entries this figure is about;
    skipped and failed ones of a row keep an empty, labelled slot."""
    everyone = [e for rs in sets for e in _selected(rs, scenario, select)]
    metrics = [m for m in metrics if any(metric_value(e, m) is not None for e in everyone)]
    if not metrics:
        return None
    default_rows = row_of is None
    if default_rows:
        row_of = _shared_rows(everyone + [e for rs in sets for e in rs.not_ok()
                                          if e.scenario == scenario and (select is None or select(e))])
    rows = []
    for m in metrics:
        found = {row_of(e)[1]: row_of(e)[0] for e in everyone if metric_value(e, m) is not None}
        rows += [(m, k) for k in sorted(found, key=found.get)]
    most = max(len({e.label for e in _selected(rs, scenario, select)}) for rs in sets)
    fig, axes = _grid(sets, len(rows), height=3.6, width=max(4.6, 0.5 * most + 1.5))
    handles = []
    for r, (m, key) in enumerate(rows):
        row_vals = [v for e in everyone if row_of(e)[1] == key
                    for v in (metric_value(e, m) or (None, None, None))[:3]]
        log = _spans_decades(row_vals + [ref[0] for ref in (refs or {}).get(m, []) if ref[2](key)])
        unit = _unit_of(sets, scenario, m)
        for c, rs in enumerate(sets):
            ax = axes[r][c]
            es = [e for e in _selected(rs, scenario, select)
                  if row_of(e)[1] == key and metric_value(e, m)]
            names = {(name_fn or (lambda e: e.label))(e) for e in es}
            missing = [e for e in rs.not_ok() if e.scenario == scenario
                       and (select is None or select(e)) and row_of(e)[1] == key
                       and (name_fn or (lambda e: e.label))(e) not in names]
            _column_title(ax, rs, sets, _panel_title(key, es + missing) if default_rows else key)
            if not es and not missing:
                _not_run(ax)
                continue
            _bar_panel(ax, es, m, sort_key, log, name_fn, missing)   # named on the x axis
            if missing:
                handles.append((Line2D([], [], ls="none", marker="x", markersize=7, mew=1.8,
                                       color="#555555"), "x: skipped / failed (see report)"))
            for value, text, applies in (refs or {}).get(m, []):
                if applies(key):
                    line = ax.axhline(value, color=style.SEED_COLOUR, lw=1.0, ls="-.")
                    handles.append((line, text))
            if c == 0:
                ax.set_ylabel(axis_label(m, unit))
    return Figure(name, scenario, title, caption, **_finish(fig, sets, out_dir, name, title, handles))


# ---- lines: a metric against a swept parameter ---------------------------------------------

def _series(entries, metric, xparam, split, prefer=None):
    """One series per (label, values of the `split` parameters). Two entries at the same x of
    a series (they differ only in merged parameters, e.g. a 1 s and a 5 s run) keep the
    preferred one. Returns sorted [(first entry, extras text, [(x, med, lo, hi)])]."""
    prefer = prefer or _prefer_default
    groups = {}
    for e in entries:
        if xparam not in e.params or metric_value(e, metric) is None:
            continue
        x = _num(e.params[xparam])
        if x is None:
            continue
        extras = params_text({k: e.params[k] for k in split if k in e.params})
        g = groups.setdefault((e.label, extras), [e, extras, {}])
        if x not in g[2] or prefer(e) >= prefer(g[2][x]):
            g[2][x] = e
    out = []
    for e0, extras, by_x in sorted(groups.values(), key=lambda g: (label_sort_key(g[0]), g[1])):
        out.append((e0, extras, [(x, *metric_value(by_x[x], metric)[:3]) for x in sorted(by_x)]))
    return out


def _draw_series(ax, series, split, style_fn=None, name_fn=None):
    handles = []
    extras_seen = {}
    alpha = 0.12 if len(series) <= 6 else 0.05   # many bands would hide each other
    for e, extras, pts in series:
        idx = extras_seen.setdefault(e.label, {}).setdefault(extras, len(extras_seen[e.label]))
        xs, med, lo, hi = (np.array(v) for v in zip(*pts))
        c, mk, ls = style.colour(e), style.marker(e), style.linestyle(e)
        fill = ("full", "none", "left", "bottom")[idx % 4]
        if style_fn:
            c, mk, ls, fill = style_fn(e, c, mk, ls, fill)
        line = ax.errorbar(xs, med, yerr=[med - lo, hi - med], color=c, marker=mk, ls=ls,
                           fillstyle=fill, markersize=4.5, capsize=2, lw=1.2, elinewidth=0.7)
        if c == style.PEER_COLOUR["nginx"]:   # Okabe-Ito yellow needs an outline on white
            line[0].set_path_effects(style.OUTLINE)
            line[0].set_markeredgecolor("#666666")
            line[0].set_markeredgewidth(0.6)
        if len(xs) > 1:
            ax.fill_between(xs, lo, hi, color=c, alpha=alpha, lw=0)
        text = name_fn(e, split) if name_fn else _default_name(e, extras)
        handles.append(((label_sort_key(e), extras, text), (line, text)))
    return handles


def _mark_not_ok(ax, rs, scenario, xparam, in_row):
    """Skipped or failed points of a sweep: an x at the foot of the axis in the series'
    colour, so a line that stops early is visibly a failure, not a missing run."""
    bad = [e for e in rs.not_ok() if e.scenario == scenario
           and _num(e.params.get(xparam)) is not None and in_row(e)]
    for e in bad:
        ax.plot([_num(e.params[xparam])], [0.03], ls="none", marker="x", markersize=7, mew=1.8,
                color=style.colour(e), transform=ax.get_xaxis_transform(), clip_on=False)
    if not bad:
        return []
    proxy = Line2D([], [], ls="none", marker="x", markersize=7, mew=1.8, color="#555555")
    return [(proxy, "x at the foot: skipped / failed (see report)")]


def line_figure(sets, out_dir, name, scenario, metrics, xparams, title, caption,
                extra=None, facet=None, style_fn=None, xlabel=None, select=None, merge=(),
                drop=(), prefer=None, name_fn=None, decorate=None):
    """Rows: metrics x facet values; x: the first of `xparams` the entries carry.

    select: which ok (and not-ok) entries belong to the figure. facet: a parameter or a
    tuple of them, one row per combination present. merge: parameters that do not split
    series (their values are listed in the title; prefer(e) picks between two entries at
    one x). drop: parameters ignored altogether (say, one that repeats the label).
    Series: one per label and the values of the other parameters that vary.
    extra: {metric: [(legend text, [(x, y)], plot kwargs)]} drawn in black (the seed).
    decorate(ax, rs): called last on every drawn panel; returns legend handles."""
    everyone = [e for rs in sets for e in _selected(rs, scenario, select)]
    metrics = [m for m in metrics if any(metric_value(e, m) is not None for e in everyone)]
    if not metrics:
        return None
    present = {k for e in everyone for k in e.params}
    xparam = next((p for p in xparams if p in present), None)
    if xparam is None:
        return None
    facets = tuple(f for f in _tuple(facet) if f in present)

    def fkey(e):
        return tuple(e.params.get(f) for f in facets)

    skip = {xparam, *facets, *drop}
    split = _varying(everyone, skip | set(merge))
    fixed = _fixed_text(everyone, skip, merge)
    rows = []
    for m in metrics:
        if facets:
            vals = {fkey(e) for e in everyone if metric_value(e, m) is not None}
            rows += [(m, v) for v in sorted(vals, key=lambda t: tuple(_value_key(x) for x in t))]
        else:
            rows.append((m, None))
    fig, axes = _grid(sets, len(rows), height=3.0)
    handles, series_handles = [], []   # the legend lists series in label order, then the rest
    for r, (m, fv) in enumerate(rows):
        def in_row(e):
            return (select is None or select(e)) and (fv is None or fkey(e) == fv)

        def pick(rs):
            return [e for e in rs.ok(scenario) if in_row(e)]
        allv = [v for rs in sets for e in pick(rs) if metric_value(e, m) for v in metric_value(e, m)[:3]]
        allx = [_num(e.params.get(xparam)) for rs in sets for e in pick(rs) if metric_value(e, m)]
        allx += [_num(e.params.get(xparam)) for rs in sets for e in rs.not_ok()
                 if e.scenario == scenario and in_row(e)]
        ex = (extra or {}).get(m, [])
        allv += [y for _, pts, _ in ex for _, y in pts]
        allx += [x for _, pts, _ in ex for x, _ in pts]
        allx = [x for x in allx if x is not None]
        unit = _unit_of(sets, scenario, m)
        facet_text = " ".join(f"{k}={v}" for k, v in zip(facets, fv or ()) if v is not None)
        xticks = sorted(set(allx))
        for c, rs in enumerate(sets):
            ax = axes[r][c]
            _column_title(ax, rs, sets, _wrap("  ".join(t for t in (facet_text, fixed) if t)))
            sers = _series(pick(rs), m, xparam, split, prefer)
            if not sers:
                _not_run(ax)
                continue
            series_handles += _draw_series(ax, sers, split, style_fn, name_fn)
            handles += _mark_not_ok(ax, rs, scenario, xparam, in_row)
            for text, pts, kw in ex:
                xs, ys = zip(*pts)
                (ln,) = ax.plot(xs, ys, color=style.SEED_COLOUR, lw=1.0, **kw)
                handles.append((ln, text))
            if _spans_decades(allx):
                pos = [x for x in allx if x > 0]
                if any(x <= 0 for x in allx):   # e.g. 0 suspended fibers
                    ax.set_xscale("symlog", linthresh=min(pos))
                else:
                    ax.set_xscale("log")
            if len(xticks) <= 8:   # label the swept values themselves
                ax.set_xticks(xticks)
                ax.set_xticklabels([f"{x:,.0f}" if x == int(x) else f"{x:g}" for x in xticks])
                ax.minorticks_off()
            value_axis(ax, _spans_decades(allv))
            ax.set_xlabel(xlabel or xparam)
            if c == 0:
                ax.set_ylabel(axis_label(m, unit))
            if decorate:
                handles += decorate(ax, rs)
    handles = [h for _, h in sorted(series_handles, key=lambda t: t[0])] + handles
    return Figure(name, scenario, title, caption, **_finish(fig, sets, out_dir, name, title, handles))


# ---- the figures -----------------------------------------------------------------------------

def fig_switch_cost(sets, out):
    return bar_figure(
        sets, out, "switch_cost", "switch", ["ns_per_switch", "instructions_per_op"],
        "Context switch cost per backend",
        "One-way switch (round trip / 2) per switch backend; bars are medians, whiskers "
        "min-max over repetitions. Instructions per switch (callgrind) when measured.")


def fig_yield(sets, out):
    return bar_figure(
        sets, out, "yield", "yield", ["ns_per_yield", "instructions_per_op"],
        "Scheduler yield per variant and peer",
        "Full scheduler yield (not a bare switch) per variant and peer; medians with "
        "min-max whiskers. The dash-dot line is the seed's two-fiber yield "
        f"(2.1 M switches/s, about {SEED_YIELD_NS:.0f} ns, 16-core machine).",
        refs={"ns_per_yield": [(SEED_YIELD_NS, "seed: 2.1 M switches/s (16-core)", _two_fibers)]})


def _two_fibers(params_key):
    """The seed's yield benchmark had two fibers: its line belongs only in such panels."""
    words = params_key.split()
    return "fibers=2" in words or not any(w.startswith("fibers=") for w in words)


def _spawn_sort(e):
    k = label_sort_key(e)
    if e.variant is not None:   # put pooled next to fresh for the same switch and scheduler
        return (k[0], k[1], k[3], k[2], k[4])
    return k


def fig_spawn_join(sets, out):
    return bar_figure(
        sets, out, "spawn_join", "spawn_join", ["ns_per_spawn_join", "instructions_per_op"],
        "Spawn + join: pooled vs fresh stacks",
        "Spawning a fiber and joining it; pooled (plain) and fresh (hatched) stacks side by "
        "side for each switch backend and scheduler; medians, min-max whiskers.",
        sort_key=_spawn_sort)


def fig_skynet(sets, out):
    return bar_figure(
        sets, out, "skynet", "skynet", ["time_s", "peak_rss_kib"],
        "Skynet (1M leaves): time and peak memory",
        "Skynet fan-out 10, wall time and peak resident memory per variant and peer.")


def fig_steal(sets, out):
    return line_figure(
        sets, out, "steal_scaling", "steal", ["time_s"], ["carriers"],
        "Work-stealing scaling over carriers",
        "Wall time against carriers for each variant and peer (Boost.Fiber work stealing, "
        "Go with GOMAXPROCS = carriers); a row per workload; bands are min-max.",
        facet="workload", xlabel="carriers (OS threads)")


def _io_name(e, split):
    """'asm-pooled-fifo (poll, level)': the poller and registration when they vary."""
    parts = [str(e.params[k]) for k in ("io_backend", "registration") if k in split and k in e.params]
    parts += [f"{k}={e.params[k]}" for k in sorted(split - {"io_backend", "registration"})
              if k in e.params]
    return e.label + (f" ({', '.join(parts)})" if parts else "")


IO_FILL = {"oneshot": "full", "persistent": "none", "level": "left"}


def _io_style(e, c, mk, ls, fill):
    """Registration = marker fill (oneshot full, persistent hollow, level half); the poll()
    backend = dash-dot line. Colour and marker keep their meaning (backend, stacks)."""
    if e.is_peer:
        return c, mk, ls, "full"
    fill = IO_FILL.get(str(e.params.get("registration")), fill)
    if e.params.get("io_backend") == "poll":
        ls = "-."
    return c, mk, ls, fill


def _more_ops(e):
    return (_num(e.params.get("ops")) or 0, e.repetitions, e.created)


def fig_io_pingpong(sets, out):
    return line_figure(
        sets, out, "io_pingpong", "io_pingpong", ["ns_per_roundtrip"], ["pairs", "idle_pairs"],
        "I/O ping-pong against socket pairs",
        "Round trip over AF_UNIX socket pairs as their number grows, per variant, epoll "
        "registration and poller; threads: a thread per echo end. active=one: one pair "
        "ping-pongs while the others wait (a flat line means idle waiters cost nothing per "
        "wake); active=all: every pair ping-pongs and the value is wall time / round trips. "
        "Marker fill = epoll registration (oneshot full, persistent hollow, level half); "
        "dash-dot = the poll() backend. "
        "Runs with different op counts are merged, keeping the longer run.",
        facet=("active", "carriers"), merge=("ops",), prefer=_more_ops, name_fn=_io_name,
        style_fn=_io_style, xlabel="socket pairs")


def fig_channel(sets, out):
    return bar_figure(
        sets, out, "channel", "channel", ["ns_per_handoff"],
        "Channel hand-off",
        "Unbuffered channel ping-pong, time per hand-off, per variant and peer (Go, "
        "Boost.Fiber), one row per carrier count; medians, min-max whiskers.")


def fig_mutex(sets, out):
    # ns_per_lock is the figure; time_s (the same run's wall time) only when it is all there is.
    have = {m for rs in sets for e in rs.ok("mutex") for m in e.metrics}
    metrics = ["ns_per_lock"] if "ns_per_lock" in have else sorted(
        have - {"peak_rss_kib", "peak_live_fibers"})
    return line_figure(
        sets, out, "mutex", "mutex", metrics, ["fibers"],
        "Mutex contention",
        "Time per iteration (lock, critical section, unlock, private work) against the "
        "number of contending fibers (threads / goroutines for the peers); bands are min-max.",
        xlabel="contending fibers / threads")


LATENESS = ["lateness_p50_us", "lateness_p90_us", "lateness_p99_us", "lateness_max_us"]


def fig_timers(sets, out):
    """Lateness distribution: each variant's percentiles as a ladder p50 -> max."""
    if not any(_has(sets, "timers", m) for m in LATENESS):
        return None
    found = {e.params_key(): params_order(e.params) for rs in sets for e in rs.ok("timers")}
    keys = sorted(found, key=found.get)
    fig, axes = _grid(sets, len(keys), height=3.0)
    handles = []
    for r, key in enumerate(keys):
        for c, rs in enumerate(sets):
            ax = axes[r][c]
            _column_title(ax, rs, sets, key)
            es = sorted((e for e in rs.ok("timers") if e.params_key() == key
                         and any(m in e.metrics for m in LATENESS)), key=label_sort_key)
            if not es:
                _not_run(ax)
                continue
            cols = [m for m in LATENESS if any(m in e.metrics for e in es)]
            for j, e in enumerate(es):
                dodge = (j - (len(es) - 1) / 2) * min(0.05, 0.5 / len(es))   # keep whiskers apart
                pts = [(i + dodge, *metric_value(e, m)[:3]) for i, m in enumerate(cols) if m in e.metrics]
                xs, med, lo, hi = (np.array(v) for v in zip(*pts))
                h = ax.errorbar(xs, med, yerr=[med - lo, hi - med], color=style.colour(e),
                                marker=style.marker(e), ls=style.linestyle(e), capsize=2,
                                markersize=4.5, lw=1.2)
                handles.append((h, e.label))
            ax.set_xticks(range(len(cols)))
            ax.set_xticklabels([m.split("_")[1] for m in cols])
            ax.set_xlabel("percentile of wake lateness")
            value_axis(ax, True)
            if c == 0:
                ax.set_ylabel("lateness (µs)")
    rec = _finish(fig, sets, out, "timers_lateness", "Timer wake lateness", handles)
    return Figure("timers_lateness", "timers", "Timer wake lateness",
                  "Wake lateness of many sleepers: p50, p90, p99 and max per variant "
                  "(medians over repetitions, min-max whiskers).", **rec)


# ---- http ------------------------------------------------------------------------------------

# The http driver's margin over the connections (http_driver.cpp: connections + 64 open
# files per process); a connection count above open_files - 64 is skipped on that machine.
HTTP_FD_MARGIN = 64
# Parameters of the measurement, not of the server: they never split series or bars.
HTTP_MERGE = ("duration_s", "wrk_threads")
HTTP_DROP = ("mode", "taskmaster")   # mode selects the figure; taskmaster repeats the label


def http_mode(e):
    """'load' or 'idle' (the scenario's default is load)."""
    return str(e.params.get("mode", "load"))


def _http_load(e):
    return http_mode(e) == "load"


def http_name(e, split=()):
    """A server as the http figures name it: the label, the fiber server's epoll registration
    and nginx's worker count always, and the poller and carriers when they vary."""
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


def _longer_run(e):
    return (_num(e.params.get("duration_s")) or 0, e.repetitions, e.created)


def _open_files_limit(rs):
    nofile = (rs.machine.get("limits") or {}).get("open_files")
    return nofile if isinstance(nofile, int) and not isinstance(nofile, bool) else None


def _out_of_reach(ax, rs):
    """Grey the connection counts this machine's open-file limit rules out (the seed's
    25,000 with a 20,000 limit), so the seed's last point is not read as a result of ours."""
    nofile = _open_files_limit(rs)
    if nofile is None:
        return []
    edge = nofile - HTTP_FD_MARGIN
    lo, hi = ax.get_xlim()
    if hi <= edge:
        return []
    span = ax.axvspan(edge, hi, facecolor="#bbbbbb", alpha=0.35, lw=0, zorder=0)
    ax.set_xlim(lo, hi)
    ax.text(edge, 0.5, f"out of reach here: > {nofile:,} open files ", rotation=90, ha="right",
            va="center", fontsize=6.5, color="#555555", transform=ax.get_xaxis_transform())
    return [(span, f"beyond this machine's open-file limit ({nofile:,}): not runnable")]


# The seed's other published HTTP point (design section 8): level-triggered epoll livelocked
# at 10k connections.
SEED_LEVEL_10K = (10000, 3219)


def fig_http_rps(sets, out):
    extra = {"requests_per_s": [
        ("seed: threads (16-core)", [(c, t) for c, t, _ in SEED_HTTP], {"ls": "-.", "marker": "x"}),
        ("seed: fibers (16-core)", [(c, f) for c, _, f in SEED_HTTP], {"ls": "-.", "marker": "+"}),
        ("seed: fibers, level-triggered epoll (livelock)", [SEED_LEVEL_10K],
         {"ls": "none", "marker": "v", "fillstyle": "none"}),
    ]}
    return line_figure(
        sets, out, "http_rps", "http", ["requests_per_s"], ["connections"],
        "HTTP requests/s against connections",
        "'Hello, World!' over keep-alive connections under wrk (mode=load): our server's "
        "fiber-per-connection taskmaster per variant (with its epoll registration), its "
        "thread-per-connection and event-loop taskmasters, Go's net/http and nginx. Black: "
        "the seed's published table (16 cores, wrk -t4 -d10s; not this machine) and its "
        "level-triggered livelock at 10k. Grey: connection counts this machine's open-file "
        "limit rules out (the seed's 25,000 needs more than 20,000 descriptors per process).",
        extra=extra, xlabel="connections", select=_http_load, merge=HTTP_MERGE, drop=HTTP_DROP,
        prefer=_longer_run, name_fn=http_name, decorate=_out_of_reach)


def fig_http_latency(sets, out):
    return line_figure(
        sets, out, "http_latency", "http",
        ["latency_p50_us", "latency_p90_us", "latency_p99_us", "latency_max_us"],
        ["connections"], "HTTP latency percentiles",
        "Request latency percentiles reported by wrk against connections (mode=load), per "
        "server as in the requests/s figure.", xlabel="connections", select=_http_load,
        merge=HTTP_MERGE, drop=HTTP_DROP, prefer=_longer_run, name_fn=http_name,
        decorate=_out_of_reach)


HTTP_MEMORY_PARTS = [  # metric, legend, (alpha, hatch) of its segment
    ("rss_kib_per_conn", "resident memory (VmRSS growth)", (1.0, "")),
    ("pte_kib_per_conn", "page tables (VmPTE growth)", (0.45, "")),
    ("kstack_kib_per_conn", "kernel stacks (new threads x 16 KiB)", (0.0, "xxxx")),
]


def fig_http_memory(sets, out):
    """Idle connections: one row per connection count, a bar per server, stacked by part."""
    def idle(e):
        return metric_value(e, "kib_per_conn") is not None

    everyone = [e for rs in sets for e in rs.ok("http") if idle(e)]
    if not everyone:
        return None
    conns = sorted({e.params.get("connections") for e in everyone}, key=_value_key)
    split = _varying(everyone, {"connections", *HTTP_MERGE, *HTTP_DROP})
    most = max(len({http_name(e, split) for e in rs.ok("http") if idle(e)}) for rs in sets)
    fig, axes = _grid(sets, len(conns), height=3.6, width=max(4.6, 0.55 * most + 1.8))
    handles = []
    # wrk does not run in mode=idle: its duration and threads say nothing here.
    fixed = _fixed_text(everyone, {"connections", *HTTP_DROP, *HTTP_MERGE})
    for r, conn in enumerate(conns):
        for c, rs in enumerate(sets):
            ax = axes[r][c]
            n = _num(conn)
            _column_title(ax, rs, sets, _wrap(
                f"{n:,.0f} idle connections  " + fixed if n is not None else f"connections={conn}"))
            es = [e for e in rs.ok("http") if idle(e) and e.params.get("connections") == conn]
            names = {http_name(e, split) for e in es}
            missing = [e for e in rs.not_ok() if e.scenario == "http" and http_mode(e) == "idle"
                       and e.params.get("connections") == conn and http_name(e, split) not in names]
            if not es and not missing:
                _not_run(ax)
                continue
            slots = sorted([(e, True) for e in es] + [(e, False) for e in missing],
                           key=lambda s: label_sort_key(s[0]))
            for i, (e, ok) in enumerate(slots):
                if not ok:
                    _not_ok_slot(ax, i, e)
                    continue
                total, lo, hi, _ = metric_value(e, "kib_per_conn")
                parts = [(metric_value(e, m)[0], look) for m, _, look in HTTP_MEMORY_PARTS
                         if metric_value(e, m) is not None]
                whole = sum(v for v, _ in parts)
                bottom = 0.0
                col = style.colour(e)
                if whole > 0:   # the parts' medians, scaled to the total's median
                    for v, (alpha, hatch) in parts:
                        h = v * total / whole
                        if alpha > 0:
                            ax.bar(i, h, bottom=bottom, color=col, alpha=alpha, width=0.75, lw=0)
                        else:
                            ax.bar(i, h, bottom=bottom, facecolor="white", edgecolor=col,
                                   hatch=hatch, width=0.75, lw=0)
                        bottom += h
                ax.bar(i, total, fill=whole <= 0, color=col if whole <= 0 else None,
                       edgecolor="black", linewidth=0.7, width=0.75)
                ax.errorbar(i, total, yerr=[[total - lo], [hi - total]], fmt="none",
                            ecolor="black", capsize=2.5, lw=0.8)
                ax.annotate(short_number(total), (i, hi), textcoords="offset points",
                            xytext=(0, 2), ha="center", va="bottom", fontsize=6)
            ax.set_xticks(range(len(slots)))
            ax.set_xticklabels([http_name(e, split) for e, _ in slots], rotation=40, ha="right")
            ax.set_xlim(-0.6, len(slots) - 0.4)
            value_axis(ax, False)   # linear: stacked parts cannot be read on a log axis
            if missing:
                handles.append((Line2D([], [], ls="none", marker="x", markersize=7, mew=1.8,
                                       color="#555555"), "x: skipped / failed (see report)"))
            if c == 0:
                ax.set_ylabel(axis_label("kib_per_conn", "KiB"))
    from matplotlib.patches import Patch
    if any(metric_value(e, m) is not None for e in everyone for m, _, _ in HTTP_MEMORY_PARTS):
        for m, text, (alpha, hatch) in HTTP_MEMORY_PARTS:
            if any(metric_value(e, m) is not None for e in everyone):
                handles.append((Patch(facecolor="#777777" if alpha else "white", alpha=alpha or 1,
                                      edgecolor="#777777", hatch=hatch, lw=0), text))
    title = "HTTP memory per idle connection"
    rec = _finish(fig, sets, out, "http_memory", title, handles)
    return Figure("http_memory", "http", title,
                  "mode=idle: the server's growth per idle keep-alive connection (after one "
                  "request each), from /proc: resident memory, page tables and, for servers "
                  "that add a thread per connection, its kernel stack; socket buffers are left "
                  "out. Bars are medians of the total (whiskers min-max); the parts split it "
                  "in proportion to their medians.", **rec)


# ---- gc_scan ---------------------------------------------------------------------------------

GC_DESIGN_ORDER = ["off", "sp", "locked"]
_GC_MARKERS = ["o", "s", "^", "D", "v", "P"]


def _gc_measure(e):
    return str(e.params.get("measure", "pause"))


def _gc_pause_entry(e):
    return _gc_measure(e) == "pause"


def _gc_name(e, split):
    parts = []
    if "stack_kib" in e.params:
        parts.append(f"{e.params['stack_kib']} KiB stack")
    if "scan" in e.params:
        parts.append(f"{e.params['scan']} scan")
    parts += [f"{k}={e.params[k]}" for k in sorted(split - {"stack_kib", "scan"}) if k in e.params]
    return e.label + (f" ({', '.join(parts)})" if parts else "")


def fig_gc_pause(sets, out):
    stacks = sorted({_num(e.params.get("stack_kib")) for rs in sets for e in rs.ok("gc_scan")
                     if _gc_pause_entry(e)} - {None})
    marker_of = {s: _GC_MARKERS[i % len(_GC_MARKERS)] for i, s in enumerate(stacks)}

    def gc_style(e, c, mk, ls, fill):
        mk = marker_of.get(_num(e.params.get("stack_kib")), mk)
        ls = ":" if e.params.get("scan") == "whole" else "-"
        fill = "none" if e.params.get("design") == "locked" else "full"
        return c, mk, ls, fill

    legend = ", ".join(f"{m} {s:g} KiB" for s, m in marker_of.items())
    return line_figure(
        sets, out, "gc_pause", "gc_scan", ["pause_ms"], ["fibers"],
        "GC pause against suspended fibers and stack size",
        "Full-collection pause (GC_gcollect, Boehm collector) against suspended fibers, one "
        "row per stack depth each fiber uses; colour = switch backend, marker = usable stack "
        f"size ({legend or 'none'}), solid = used-part scan from the saved stack pointer, "
        "dotted = naive whole-region scan. The seed published no pause numbers.",
        facet="depth_kib", style_fn=gc_style, select=_gc_pause_entry, drop=("measure",),
        name_fn=_gc_name, xlabel="suspended fibers")


def _gc_design_sort(e):
    d = str(e.params.get("design"))
    return (label_sort_key(e), GC_DESIGN_ORDER.index(d) if d in GC_DESIGN_ORDER else 9, d)


def fig_gc_switch(sets, out):
    return bar_figure(
        sets, out, "gc_switch", "gc_scan", ["ns_per_yield"],
        "GC integration: cost per switch",
        "Two fibers yielding to each other on one carrier, per variant and collector design: "
        "off = no integration, sp = attached with nothing done per switch, locked = the "
        "collector's lock taken and the stack bottom updated on every switch. The dash-dot "
        f"line is the seed's two-fiber yield (about {SEED_YIELD_NS:.0f} ns, 16 cores).",
        sort_key=_gc_design_sort, select=lambda e: _gc_measure(e) == "switch",
        row_of=lambda e: ((0,), "two fibers, one carrier"),
        name_fn=lambda e: f"{e.label} {e.params.get('design', '?')}",
        refs={"ns_per_yield": [(SEED_YIELD_NS, "seed: 2.1 M switches/s (16-core)",
                                lambda key: True)]})


ALL_FIGURES = [fig_switch_cost, fig_yield, fig_spawn_join, fig_skynet, fig_steal,
               fig_io_pingpong, fig_channel, fig_mutex, fig_timers, fig_http_rps,
               fig_http_latency, fig_http_memory, fig_gc_pause, fig_gc_switch]


# Which figures each scenario feeds (for CI checks and for removing stale files).
FIGURES_OF = {"switch": ["switch_cost"], "yield": ["yield"], "spawn_join": ["spawn_join"],
              "skynet": ["skynet"], "steal": ["steal_scaling"], "io_pingpong": ["io_pingpong"],
              "channel": ["channel"], "mutex": ["mutex"], "timers": ["timers_lateness"],
              "http": ["http_rps", "http_latency", "http_memory"],
              "gc_scan": ["gc_pause", "gc_switch"]}


def render_all(sets, out_dir):
    style.setup()
    figures = []
    for fn in ALL_FIGURES:
        fig = fn(sets, out_dir)
        if fig is not None:
            figures.append(fig)
    return figures
