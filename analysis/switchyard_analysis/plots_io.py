"""Figures of I/O, timers and memory: socket round trips, timer lateness, memory per fiber
and per idle connection."""

from matplotlib import ticker

from . import captions, findings, layout, stats, style
from .layout import Figure, new_figure
from .plot_engine import (derived, dot_figure, dpi, line_figure, num, panel_title, rounds_of,
                          value_axis, varying)
from .plots_http import HTTP_DROP, HTTP_MERGE, http_mode, http_name
from .results import label_sort_key, metric_value


def _io_prefer(e):
    return (num(e.params.get("ops")) or 0, e.repetitions, e.created)


def fig_io_pingpong(sets, out):
    return line_figure(
        sets, out, "io_pingpong", "io_pingpong", ["ns_per_roundtrip"], "pairs",
        "Do idle socket waiters slow a round trip down?",
        "Round trip over AF_UNIX socket pairs as their number grows; active=one: one pair "
        "ping-pongs while the others wait (flat = idle waiters cost nothing per wake); "
        "active=all: every pair ping-pongs (wall time / round trips). Line style = poller and "
        "epoll registration; runs with different op counts keep the longer run",
        facet=("active", "carriers"), merge=("ops",), prefer=_io_prefer, xlabel="socket pairs")


# ---- timer lateness CDF -------------------------------------------------------------------

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


def timer_rounds(e, quantile):
    """The round of each sample of the percentile metric drawn at `quantile` (its whisker
    resamples whole rounds), or None (version 1, or no such metric)."""
    m = next((m for m, p in QUANTILE_METRICS if p == quantile), None)
    return rounds_of(e, m) if m is not None else None


def fig_timers(sets, out):
    everyone = [e for rs in sets for e in rs.ok("timers") if timer_points(e)[0]]
    if not everyone:
        return None
    rows = sorted({e.params_key() for e in everyone}, key=lambda k: k)
    vary = varying(everyone, ("ops",))
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
            wakes = num(e.params.get("fibers"))   # each fiber sleeps once per run
            ys = [(1.0 - q) if q < 1.0 else (1.0 / wakes if wakes else None) for q in qs]
            keep = [(y, v, q) for y, v, q in zip(ys, vals, qs) if y is not None and y > 0]
            if not keep:
                continue
            ys, vals, kept_qs = [k[0] for k in keep], [k[1] for k in keep], [k[2] for k in keep]
            ymin = min(ymin, min(ys))
            meds = [stats.median(v) for v in vals]
            kw = style.point_kwargs(e)
            if full:
                full_any = True
                ax.step(meds, ys, where="post", color=kw["color"], lw=1.0)
            else:
                for y, v, q in zip(ys, vals, kept_qs):
                    ci = stats.median_ci(v, timer_rounds(e, q))
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
        panel_title(ax, " · ".join(t for t in ((rs.name if len(sets) > 1 else ""),
                                                 f"scheduler={sc}" if sc != "peers" else "peers",
                                                 shared) if t), width)
        series.append(n_series)
    title = "How late do timers fire, by scheduler?"
    rec = layout.finish(fig, axes, out, "timers_cdf", title, style.encoding_legend(everyone), dpi())
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


# ---- memory per fiber and per idle connection -----------------------------------------------

def fig_memory(sets, out):
    def entries_of(rs):
        out_ = []
        for fm in findings.memory_per_fiber(rs):
            p = {k: v for k, v in fm.entry.params.items() if k != "fibers"}
            p.update(stack_kib=fm.stack_kib, guard=fm.guard, part="per live fiber")
            out_.append(derived(fm.entry, "kib_per_fiber", "KiB", [fm.kib_per_fiber], p))
        for e in rs.ok("http"):
            mv = metric_value(e, "kib_per_conn")
            if mv is not None and http_mode(e) == "idle":
                p = dict(e.params, part="per idle connection")
                out_.append(derived(e, "kib_per_conn", "KiB", e.metrics["kib_per_conn"].samples, p,
                                    e.metrics["kib_per_conn"].rounds))
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
    if any(rs.ok("stacks") for rs in sets):
        fibers = _memory_fiber_stacks(sets, out)
    elif one_x("kib_per_fiber", "stack_kib"):
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
            row_of=lambda e: ((num(e.params.get("connections")) or 0,),
                              f"connections={e.params.get('connections')}"))
    else:
        conns = line_figure(
            sets, out, "memory_connection", "http", ["kib_per_conn"], "connections",
            "How much memory does an idle connection take, per server?", conn_what,
            entries_of=entries_of, select=lambda e: "kib_per_conn" in e.metrics,
            xlabel="idle connections", drop=("part",) + HTTP_DROP + HTTP_MERGE,
            scenarios=["http"])
    return [f for f in (fibers, conns) if f is not None]


STACKS_METRICS = ["rss_kib_per_fiber", "mapped_kib_per_fiber"]
LINUX_DEFAULT_MAX_MAP_COUNT = 65530   # DEFAULT_MAX_MAP_COUNT in the kernel's mm.h


def _memory_fiber_stacks(sets, out):
    """Memory per live fiber from the stacks scenario: resident and mapped KiB against the
    usable stack size, guard pages as line style; colour, marker and fill as everywhere
    (fill = the stack strategy)."""
    es = [e for rs in sets for e in rs.ok("stacks")]
    guards = sorted({str(e.params.get("guard")) for e in es})
    fibers = sorted({int(e.params["fibers"]) for e in es if num(e.params.get("fibers")) is not None})
    maps = {}
    for e in es:
        if "mappings_per_fiber" in e.metrics:
            maps.setdefault(str(e.params.get("guard")), []).append(e.metrics["mappings_per_fiber"].median)
    maps_text = "; ".join(f"guard={g}: {findings.fmt3(min(v))}–{findings.fmt3(max(v))} mappings per fiber"
                          for g, v in sorted(maps.items()))
    # Where the stack strategies measure the same (live stacks are never recycled), their
    # markers sit on each other: say so rather than let a fill look missing.
    by = {}
    for e in es:
        if "rss_kib_per_fiber" in e.metrics and e.dim("stacks"):
            key = (str(e.params.get("stack_kib")), str(e.params.get("guard")))
            by.setdefault(key, {})[e.dim("stacks")] = e.metrics["rss_kib_per_fiber"].median
    pairs = [v for v in by.values() if len(v) > 1]
    same = bool(pairs) and all(max(v.values()) <= 1.01 * min(v.values()) for v in pairs)
    what = ("Memory per live fiber against its usable stack size: the growth of the process's "
            "resident size (first panel) and mapped size (second) from /proc/self/statm while "
            f"{', '.join(f'{f:,}' for f in fibers)} fibers sit parked, divided by their "
            "number (control block included; the stacks scenario); line style = guard page "
            f"({', '.join(guards)})" + (f"; {maps_text}" if maps_text else "")
            + (f". {max(fibers):,} guarded stacks at 2 mappings each stay under Linux's default "
               f"vm.max_map_count ({LINUX_DEFAULT_MAX_MAP_COUNT:,})"
               if fibers and 2 * max(fibers) < LINUX_DEFAULT_MAX_MAP_COUNT else "")
            + (". The stack strategies measure the same resident memory within 1 % at every "
               "size and guard setting, so their markers overlap" if same else ""))
    return line_figure(
        sets, out, "memory_fiber", "stacks", STACKS_METRICS, "stack_kib",
        "How much memory does a fiber take, by stack size?", what,
        xlabel="usable stack size (KiB)", scenarios=["stacks"])
