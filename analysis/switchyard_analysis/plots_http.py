"""Figures of the HTTP server: throughput, latency, and the fibers/threads ratio beside the
seed's."""

from matplotlib.lines import Line2D

from . import captions, findings, layout, seed, stats, style
from .layout import Figure, new_figure
from .plot_engine import dpi, line_figure, num, panel_title, value_axis, x_axis
from .results import label_sort_key


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


def open_files_limit(rs):
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
        select=findings.http_load, drop=HTTP_DROP, merge=HTTP_MERGE, xlabel="connections",
        decorate=_mark_errors, ylog=False)


def fig_http_latency(sets, out):
    have = {m for rs in sets for e in rs.ok("http") for m in e.metrics}
    metrics = [m for m in ("latency_p50_us", "latency_p99_us") if m in have]
    q = [m.split("_")[1] for m in metrics]
    fig = line_figure(
        sets, out, "http_latency", "http", metrics, "connections",
        "How does closed-loop (wrk) HTTP latency grow with connections?",
        f"Request latency ({' and '.join(q)}) reported by wrk against connections "
        "(mode=load). Closed-loop (wrk): latency subject to coordinated omission: a slow "
        "response delays the next request on its connection, so these latencies understate "
        "what an open-loop client would see (no packaged load generator measures open-loop "
        "HTTP/1.1 latency: the report's \"Not measured here\" says why)", select=findings.http_load, drop=HTTP_DROP, merge=HTTP_MERGE,
        xlabel="connections", decorate=_mark_errors)
    if fig is not None:
        fig.claims["quantiles"] = [int(x[1:]) for x in q]
    return fig


# ---- HTTP: fibers / threads ratio beside the seed's ---------------------------------------

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
        return [e for e in rs.ok("http") if findings.http_load(e) and findings.requests_per_cpu_s(e)
                and (e.is_peer or (e.dim("stacks") == "pooled" and e.dim("scheduler") == "chaselev"
                                   and findings.registration(e) == findings.sweep_registration(rs)))]
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
        x_axis(ax, [r.connections for r in ratios] + [c for c, _ in seed_pts])
        value_axis(ax, False, "y")
        ax.set_xlabel("connections")
        ax.set_ylabel("fibers / threads (requests/s)")
        panel_title(ax, " · ".join(t for t in ((rs.name if len(sets) > 1 else ""),
                                                 f"scheduler={sc}", f"{findings.sweep_registration(rs)} registration") if t), width)
        series.append(len(by))
    for ax, (rs, shown) in zip(axes[len(panels):], cpu_rows):
        xs_all = []
        looks = {}   # two servers of one look (nginx with 1 and 2 workers): the second dashed
        for lab, ee in shown:
            ee.sort(key=lambda e: num(e.params.get("connections")))
            kw = style.point_kwargs(ee[0])
            xs = [num(e.params["connections"]) for e in ee]
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
        x_axis(ax, xs_all)
        value_axis(ax, False, "y")
        ax.set_xlabel("connections")
        ax.set_ylabel("requests per server CPU-second")
        kinds = f"variants (pooled, chaselev, {findings.sweep_registration(rs)}) and " if any(not ee[0].is_peer for _, ee in shown) else ""
        panel_title(ax, (rs.name + " · " if len(sets) > 1 else "") + kinds +
                     ", ".join(lab for lab, ee in shown if ee[0].is_peer), width)
        series.append(len(shown))
    everyone = [r.entry for _, rr in per for r in rr] + [
        ee[0] for _, shown in cpu_rows for _, ee in shown]
    groups = style.encoding_legend(everyone, {
        "reference": [(Line2D([], [], color="black", ls="-.", marker="x", ms=4),
                       f"seed's fibers/threads ({seed.HTTP_MACHINE})")],
        "marks": marks})
    title = "Do fibers beat threads at HTTP by the seed's margin?"
    rec = layout.finish(fig_, axes, out, "http_ratio", title, groups, dpi())
    limit = next((open_files_limit(rs) for rs in sets if open_files_limit(rs)), None)
    cap = captions.build(
        "Throughput of the fiber server over the thread-per-connection server at the same "
        "connection count (" + "; ".join(sorted({str(findings.sweep_registration(rs)) for rs in sets}))
        + " registration), one panel per scheduler, beside the seed's "
        "own ratio (dash-dot): a shape comparison, since the seed's absolute numbers come "
        f"from its {seed.CORES}-core machine" + (
            f"; its {seed.most_connections():,}-connection point is beyond this machine's "
            f"{limit:,} open files"
            if limit and limit - HTTP_FD_MARGIN < seed.most_connections() else "") +
        ". Rings: points where wrk counted socket errors. "
        + ("Requests per server CPU-second = requests/s x run length / the server's CPU "
           "seconds, for the pooled chaselev variants and the peers" if cpu_rows else ""),
        sets, ns)
    return Figure("http_ratio", "http", title, cap, series=series,
                  claims=captions.claims(ns, peers, True, ["requests_per_s"], scenarios=["http"]),
                  scenarios=("http",), **rec)
