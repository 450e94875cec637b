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
from .results import label_sort_key, metric_value, params_order
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
}


@dataclass
class Figure:
    name: str
    scenario: str
    title: str
    caption: str
    files: list = field(default_factory=list)


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


def _footer(fig, sets):
    lines = []
    for rs in sets:
        m, b = rs.machine, rs.build
        commit = (b.get("commit") or "?")[:12] + ("+dirty" if b.get("dirty") else "")
        lines.append(f"{rs.name}: {m.get('cpu_model', '?')}, {m.get('cores', '?')} cores, "
                     f"{m.get('hostname', '?')}, kernel {m.get('kernel', '?')} | "
                     f"commit {commit}, {b.get('compiler', '?')} {b.get('flags', '')}")
    fig.text(0.0, -0.01, "\n".join(lines), ha="left", va="top", fontsize=6.5, color="#444444")


def _grid(sets, nrows, height=2.8, width=None):
    ncols = len(sets)
    width = width or max(4.2, 6.5 if ncols == 1 else 4.6)
    fig, axes = plt.subplots(nrows, ncols, figsize=(width * ncols, height * nrows),
                             squeeze=False, sharey="row" if ncols > 1 else False)
    return fig, axes


def _finish(fig, sets, out_dir, name, title, handles=None):
    fig.suptitle(title, fontsize=10, fontweight="bold")
    if handles:
        uniq = {}
        for h, l in handles:
            uniq.setdefault(l, h)
        fig.legend(list(uniq.values()), list(uniq.keys()), loc="upper left",
                   bbox_to_anchor=(1.0, 0.95), frameon=False)
    _footer(fig, sets)
    fig.tight_layout()
    os.makedirs(out_dir, exist_ok=True)
    # The tight bounding box (legend and footer outside the axes) is computed once for
    # both formats: it is most of the cost of saving.
    bbox = fig.get_tightbbox(fig.canvas.get_renderer()).padded(0.08)
    files = []
    for ext in ("pdf", "png"):
        path = os.path.join(out_dir, f"{name}.{ext}")
        fig.savefig(path, bbox_inches=bbox)
        files.append(path)
    plt.close(fig)
    return files


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


# ---- bars: one bar per variant / peer / backend --------------------------------------------

def _bar_panel(ax, entries, metric, sort_key, log):
    entries = sorted(entries, key=sort_key)
    handles = []
    for i, e in enumerate(entries):
        med, lo, hi, _ = metric_value(e, metric)
        bar = ax.bar(i, med, color=style.colour(e), hatch=style.hatch(e), edgecolor="black",
                     linewidth=0.7, linestyle=style.bar_edge_style(e), width=0.75)
        ax.errorbar(i, med, yerr=[[med - lo], [hi - med]], fmt="none", ecolor="black",
                    capsize=2.5, lw=0.8)
        ax.annotate(short_number(med), (i, hi), textcoords="offset points", xytext=(0, 2),
                    ha="center", va="bottom", fontsize=6)
        handles.append((bar, e.label))
    ax.set_xticks(range(len(entries)))
    ax.set_xticklabels([e.label for e in entries], rotation=40, ha="right")
    ax.set_xlim(-0.6, len(entries) - 0.4)
    value_axis(ax, log)
    return handles


def bar_figure(sets, out_dir, name, scenario, metrics, title, caption, sort_key=label_sort_key,
               refs=None):
    """Rows: (metric, parameter set) pairs present; columns: folders."""
    metrics = [m for m in metrics if _has(sets, scenario, m)]
    if not metrics:
        return None
    rows = []
    for m in metrics:
        found = {e.params_key(): params_order(e.params) for rs in sets for e in rs.ok(scenario)
                 if metric_value(e, m) is not None}
        keys = sorted(found, key=found.get)
        rows += [(m, k) for k in keys]
    fig, axes = _grid(sets, len(rows), height=3.6, width=max(4.6, 0.5 * max(
        len({e.label for e in rs.ok(scenario)}) for rs in sets) + 1.5))
    handles = []
    for r, (m, key) in enumerate(rows):
        row_vals = [v for rs in sets for e in rs.ok(scenario) if e.params_key() == key
                    for v in (metric_value(e, m) or (None, None, None))[:3]]
        log = _spans_decades(row_vals + [ref[0] for ref in (refs or {}).get(m, []) if ref[2](key)])
        unit = _unit_of(sets, scenario, m)
        for c, rs in enumerate(sets):
            ax = axes[r][c]
            es = [e for e in rs.ok(scenario) if e.params_key() == key and metric_value(e, m)]
            _column_title(ax, rs, sets, key)
            if not es:
                _not_run(ax)
                continue
            _bar_panel(ax, es, m, sort_key, log)   # bars are named on the x axis: no legend
            for value, text, applies in (refs or {}).get(m, []):
                if applies(key):
                    line = ax.axhline(value, color=style.SEED_COLOUR, lw=1.0, ls="-.")
                    handles.append((line, text))
            if c == 0:
                ax.set_ylabel(axis_label(m, unit))
    files = _finish(fig, sets, out_dir, name, title, handles)
    return Figure(name, scenario, title, caption, files)


# ---- lines: a metric against a swept parameter ---------------------------------------------

def _num(v):
    try:
        return float(v)
    except (TypeError, ValueError):
        return None


def _constant_params(entries):
    """Parameters with one value across all entries: said once in the title, not per series."""
    values = {}
    for e in entries:
        for k, v in e.params.items():
            values.setdefault(k, set()).add(str(v))
    return {k for k, vs in values.items() if len(vs) == 1 and
            all(k in e.params for e in entries)}


def _series(entries, metric, xparam, hide=()):
    """Group entries into series: one per (label, other params). Returns sorted list of
    (first entry, extras text, [(x, med, lo, hi)])."""
    groups = {}
    for e in entries:
        if xparam not in e.params or metric_value(e, metric) is None:
            continue
        x = _num(e.params[xparam])
        if x is None:
            continue
        extras = e.params_key(exclude=(xparam, *hide))
        g = groups.setdefault((e.label, extras), [e, extras, []])
        med, lo, hi, _ = metric_value(e, metric)
        g[2].append((x, med, lo, hi))
    out = sorted(groups.values(), key=lambda g: (label_sort_key(g[0]), g[1]))
    for g in out:
        g[2].sort()
    return out


def _draw_series(ax, series, style_fn=None):
    handles = []
    extras_seen = {}
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
            ax.fill_between(xs, lo, hi, color=c, alpha=0.12, lw=0)
        handles.append((line, e.label + (f" ({extras})" if extras else "")))
    return handles


def _mark_not_ok(ax, rs, scenario, xparam, facet, fv):
    """Skipped or failed points of a sweep: an x at the foot of the axis in the series'
    colour, so a line that stops early is visibly a failure, not a missing run."""
    bad = [e for e in rs.not_ok() if e.scenario == scenario and _num(e.params.get(xparam)) is not None
           and (fv is None or e.params.get(facet) == fv)]
    for e in bad:
        ax.plot([_num(e.params[xparam])], [0.03], ls="none", marker="x", markersize=7, mew=1.8,
                color=style.colour(e), transform=ax.get_xaxis_transform(), clip_on=False)
    if not bad:
        return []
    proxy = Line2D([], [], ls="none", marker="x", markersize=7, mew=1.8, color="#555555")
    return [(proxy, "x at the foot: skipped / failed (see report)")]


def line_figure(sets, out_dir, name, scenario, metrics, xparams, title, caption,
                extra=None, facet=None, style_fn=None, xlabel=None):
    """Rows: metrics (or facet values); x: the first of `xparams` the entries carry."""
    metrics = [m for m in metrics if _has(sets, scenario, m)]
    if not metrics:
        return None
    present = {k for rs in sets for e in rs.ok(scenario) for k in e.params}
    xparam = next((p for p in xparams if p in present), None)
    if xparam is None:
        return None
    rows = []
    for m in metrics:
        if facet and facet in present:
            vals = sorted({e.params.get(facet) for rs in sets for e in rs.ok(scenario)
                           if facet in e.params}, key=lambda v: (_num(v) is None, _num(v) or 0, str(v)))
            rows += [(m, v) for v in vals]
        else:
            rows.append((m, None))
    fig, axes = _grid(sets, len(rows), height=3.0)
    handles = []
    for r, (m, fv) in enumerate(rows):
        def pick(rs):
            return [e for e in rs.ok(scenario) if fv is None or e.params.get(facet) == fv]
        allv = [v for rs in sets for e in pick(rs) if metric_value(e, m) for v in metric_value(e, m)[:3]]
        allx = [_num(e.params.get(xparam)) for rs in sets for e in pick(rs)]
        ex = (extra or {}).get(m, [])
        allv += [y for _, pts, _ in ex for _, y in pts]
        allx += [x for _, pts, _ in ex for x, _ in pts]
        unit = _unit_of(sets, scenario, m)
        everyone = [e for rs in sets for e in rs.ok(scenario)]
        hide = _constant_params(everyone) | ({facet} if facet else set())
        fixed = " ".join(f"{k}={everyone[0].params[k]}" for k in sorted(_constant_params(everyone))
                         if k != xparam)
        xticks = sorted({x for x in allx if x is not None})
        for c, rs in enumerate(sets):
            ax = axes[r][c]
            _column_title(ax, rs, sets, "  ".join(t for t in (
                f"{facet}={fv}" if fv is not None else "", fixed) if t))
            sers = _series(pick(rs), m, xparam, hide)
            if not sers:
                _not_run(ax)
                continue
            handles += _draw_series(ax, sers, style_fn)
            handles += _mark_not_ok(ax, rs, scenario, xparam, facet, fv)
            for text, pts, kw in ex:
                xs, ys = zip(*pts)
                (ln,) = ax.plot(xs, ys, color=style.SEED_COLOUR, lw=1.0, **kw)
                handles.append((ln, text))
            if _spans_decades(allx):
                pos = [x for x in allx if x is not None and x > 0]
                if any(x is not None and x <= 0 for x in allx):   # e.g. 0 suspended fibers
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
    files = _finish(fig, sets, out_dir, name, title, handles)
    return Figure(name, scenario, title, caption, files)


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
        "Go with GOMAXPROCS = carriers); bands are min-max.", xlabel="carriers (OS threads)")


def fig_io_pingpong(sets, out):
    return line_figure(
        sets, out, "io_pingpong", "io_pingpong", ["ns_per_roundtrip"], ["idle_pairs", "pairs"],
        "I/O ping-pong against idle pairs",
        "Round trip of one socketpair ping-pong as the number of pairs grows; flat lines "
        "mean idle waiters cost nothing per wake.", xlabel="socket pairs")


def fig_channel(sets, out):
    return bar_figure(
        sets, out, "channel", "channel", ["ns_per_handoff"],
        "Channel hand-off", "Unbuffered channel ping-pong hand-off, per variant and Go.")


def fig_mutex(sets, out):
    metrics = sorted({m for rs in sets for e in rs.ok("mutex") for m in e.metrics
                      if m not in ("peak_rss_kib", "peak_live_fibers")})
    return line_figure(
        sets, out, "mutex", "mutex", metrics, ["fibers"],
        "Mutex contention", "Mutex contention on 2 carriers against the number of fibers "
        "(threads for the peer).", xlabel="contending fibers / threads")


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
    files = _finish(fig, sets, out, "timers_lateness", "Timer wake lateness", handles)
    return Figure("timers_lateness", "timers", "Timer wake lateness",
                  "Wake lateness of many sleepers: p50, p90, p99 and max per variant "
                  "(medians over repetitions, min-max whiskers).", files)


def fig_http_rps(sets, out):
    extra = {"requests_per_s": [
        ("seed: threads (16-core)", [(c, t) for c, t, _ in SEED_HTTP], {"ls": "-.", "marker": "x"}),
        ("seed: fibers (16-core)", [(c, f) for c, _, f in SEED_HTTP], {"ls": "-.", "marker": "+"}),
    ]}
    return line_figure(
        sets, out, "http_rps", "http", ["requests_per_s"], ["connections"],
        "HTTP requests/s against connections",
        "'Hello, World!' over keep-alive connections under wrk: fiber taskmasters per "
        "variant, threads, event loop, Go and nginx; black: the seed's published table "
        "(16 cores, wrk -t4; not the same machine).", extra=extra, xlabel="connections")


def fig_http_latency(sets, out):
    return line_figure(
        sets, out, "http_latency", "http",
        ["latency_p50_us", "latency_p90_us", "latency_p99_us", "latency_max_us"],
        ["connections"], "HTTP latency percentiles",
        "Request latency percentiles reported by wrk against connections.", xlabel="connections")


def fig_http_memory(sets, out):
    return bar_figure(
        sets, out, "http_memory", "http", ["kib_per_conn"], "HTTP memory per idle connection",
        "Resident growth plus page tables and kernel stacks per idle keep-alive connection.")


def _gc_style(e, c, mk, ls, fill):
    stack = _num(e.params.get("stack_kib"))
    mk = {16.0: "o", 256.0: "s"}.get(stack, "^")
    ls = ":" if e.params.get("scan") == "whole" else "-"
    return c, mk, ls, "full"


def fig_gc_pause(sets, out):
    return line_figure(
        sets, out, "gc_pause", "gc_scan", ["pause_ms"], ["fibers"],
        "GC pause against suspended fibers and stack size",
        "Full-collection pause of the Boehm collector against suspended fibers, one row per "
        "used stack depth; marker = reserved stack size (o 16 KiB, s 256 KiB), dotted = "
        "naive whole-mapping scan.", facet="depth_kib", style_fn=_gc_style,
        xlabel="suspended fibers")


ALL_FIGURES = [fig_switch_cost, fig_yield, fig_spawn_join, fig_skynet, fig_steal,
               fig_io_pingpong, fig_channel, fig_mutex, fig_timers, fig_http_rps,
               fig_http_latency, fig_http_memory, fig_gc_pause]


# Which figures each scenario feeds (for CI checks and for removing stale files).
FIGURES_OF = {"switch": ["switch_cost"], "yield": ["yield"], "spawn_join": ["spawn_join"],
              "skynet": ["skynet"], "steal": ["steal_scaling"], "io_pingpong": ["io_pingpong"],
              "channel": ["channel"], "mutex": ["mutex"], "timers": ["timers_lateness"],
              "http": ["http_rps", "http_latency", "http_memory"], "gc_scan": ["gc_pause"]}


def render_all(sets, out_dir):
    style.setup()
    figures = []
    for fn in ALL_FIGURES:
        fig = fn(sets, out_dir)
        if fig is not None:
            figures.append(fig)
    return figures
