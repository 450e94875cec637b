"""Figures of the runtime under load: skynet, channels, mutexes, speedup against carriers."""

from . import findings, style
from .plot_engine import derived, dot_figure, line_figure


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


def fig_mutex(sets, out):
    return line_figure(
        sets, out, "mutex", "mutex", ["ns_per_lock"], "fibers",
        "How does a contended mutex scale with contenders?",
        "Time per iteration (lock, critical section, unlock, private work: the whole loop "
        "body, not the lock alone) against contending fibers (threads or goroutines for the "
        "peers), faceted by switch backend", xlabel="contending fibers / threads")


# ---- speedup against carriers -------------------------------------------------------------

def _speedup_peer_text(per_set):
    """Which peers the speedup figure draws, on which workloads, from the data: each peer
    against its own 1-carrier time."""
    on = {}
    for sps in per_set:
        for sp in sps:
            if sp.series.is_peer:
                on.setdefault(sp.series.peer, set()).add(sp.workload)
    if not on:
        return "only our variants have a 1-carrier and a multi-carrier run here"
    parts = [f"{style.peer_name(p)} on {', '.join(sorted(w))}"
             + (" with GOMAXPROCS = carriers" if p == "go" else "") for p, w in sorted(on.items())]
    return "each peer against its own 1-carrier time: " + "; ".join(parts)


def fig_speedup(sets, out):
    per = {id(rs): findings.speedups(rs) for rs in sets}
    if not any(per.values()):
        return None

    def entries_of(rs):
        out_ = []
        for sp in per[id(rs)]:
            for c, r in sp.points:
                e = derived(sp.series, "speedup", "x", [r.value],
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
        "Speedup = the series' own 1-carrier wall time / its time on c carriers ("
        + _speedup_peer_text(per.values()) + "); dashed: ideal. One panel per "
        "workload, faceted by switch backend; the 1-carrier base times are in the report's "
        "speedup table. Carriers stop at this machine's CPUs", entries_of=entries_of,
        facet=("workload",), xlabel="carriers (OS threads)", extra=extra, ylog=False,
        scenarios=["steal", "skynet"])
    if fig is not None:   # the points are ratios of two medians, each over n repetitions
        fig.caption = fig.caption.replace("interval of the median", "interval of the ratio "
                                          "(each side resampled)").replace(
            "repetitions per point", "repetitions on each side of a ratio")
    return fig
