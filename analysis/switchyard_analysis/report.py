"""The report: Markdown and HTML from one list of blocks, so both always say the same.

Sections: sources and machines, then per scenario (in the fixed order) its figures and a
table of medians, or "not run"; the seed's published numbers beside ours; entries that
were skipped or failed with their reasons; warnings from loading.
"""

import html
import os
from datetime import datetime, timezone

from . import findings, inference, seed, stackless
from .plot_engine import fixed_text, num, varying
from .plots_http import HTTP_DROP, HTTP_FD_MARGIN, HTTP_MERGE, http_mode, http_name, open_files_limit
from .results import (SCENARIOS, ResultsError, label_sort_key, metric_value, noise_floors,
                      params_order, params_text, sample_rounds)

# Blocks: ("h", level, text) ("p", text) ("table", header, rows) ("img", path_rel, alt, pdf_rel)


def _fmt(v):
    if v is None:
        return "—"
    if abs(v) >= 1e3:   # 13,020 rather than 1.302e+04
        return f"{v:,.0f}"
    return f"{v:.4g}"


NOT_RECORDED = "not recorded"


def _given(v):
    return v is not None and v != "" and v != {} and v != []


def _joined(d, keys=None, sep=", "):
    """'a=1, b=2' of a dict's recorded values (in `keys` order when given)."""
    d = d or {}
    return sep.join(f"{k}={d[k]}" for k in (keys or d) if _given(d.get(k))) or NOT_RECORDED


def _cpu_id(m):
    parts = [f"{k.replace('cpu_', '').replace('_id', '')} {m[k]}"
             for k in ("cpu_vendor", "cpu_family", "cpu_model_id", "cpu_stepping", "cpu_microcode")
             if _given(m.get(k))]
    return ", ".join(parts) or NOT_RECORDED


def _cpufreq(m):
    if "cpufreq" not in m:
        return NOT_RECORDED
    f = m["cpufreq"]
    if not f:
        return "not exposed by the kernel (common in VMs)"
    khz = ""
    if _given(f.get("min_khz")) and _given(f.get("max_khz")):
        khz = f"{f['min_khz'] / 1e6:.2f}–{f['max_khz'] / 1e6:.2f} GHz"
    return ", ".join(x for x in (f.get("driver"), f.get("governor") and f"governor {f['governor']}", khz,
                                 None if f.get("boost") is None else f"boost {'on' if f['boost'] else 'off'}")
                     if x) or NOT_RECORDED


def _mitigations(m):
    """The vulnerabilities file by file would fill a page: counted by state, with the
    vulnerable ones named."""
    if "mitigations" not in m:
        return NOT_RECORDED
    v = m["mitigations"] or {}
    if not v:
        return "not readable"
    states = {"not affected": 0, "mitigated": 0, "vulnerable": 0, "other": 0}
    weak = []
    for name, text in sorted(v.items()):
        s = str(text).lower()
        if s.startswith("not affected"):
            states["not affected"] += 1
        elif s.startswith("mitigation"):
            states["mitigated"] += 1
        elif s.startswith("vulnerable"):
            states["vulnerable"] += 1
            weak.append(name)
        else:
            states["other"] += 1
    text = ", ".join(f"{n} {k}" for k, n in states.items() if n)
    return text + (f" (vulnerable: {', '.join(weak)})" if weak else "")


def _checkout(b):
    if "checkout" not in b:
        return NOT_RECORDED
    c = b["checkout"]
    if not c:
        return "not beside its checkout when run"
    text = f"{c.get('relation', '?')} ({(c.get('commit') or '?')[:12]}{', dirty' if c.get('dirty') else ''})"
    if b.get("binary_older_than_checkout"):
        text += ": the checkout holds work the binary lacks"
    return text


def _commits(rs):
    """Every commit the folder's files were built from, with how many files each."""
    counts = {}
    for path in rs.files:
        bb = rs.builds.get(path, rs.build)
        key = (bb.get("commit") or "?") + (" (dirty tree)" if bb.get("dirty") else "")
        counts[key] = counts.get(key, 0) + 1
    if len(counts) <= 1:
        return next(iter(counts), (rs.build.get("commit") or "?") +
                    (" (dirty tree)" if rs.build.get("dirty") else ""))
    return "; ".join(f"{c} ({n} file{'s' if n > 1 else ''})" for c, n in counts.items())


def _machine_rows(rs):
    """(name, value) rows, the same names in the same order for every set (the table of
    several sets zips them); a provenance field the files do not carry reads NOT_RECORDED,
    and a row no set records is left out of the table."""
    m, b = rs.machine, rs.build
    lim = m.get("limits") or {}
    sw = m.get("software")
    smt = m.get("smt")
    rows = [
        ("host", m.get("hostname", "?")),
        ("machine id", f"{m['machine_id'].split('-')[0]}… (from {m.get('machine_id_source') or '?'})"
         if _given(m.get("machine_id")) else NOT_RECORDED),
        ("architecture", m.get("arch") or NOT_RECORDED),
        ("CPU", m.get("cpu_model", "?")), ("CPU id", _cpu_id(m)),
        ("CPU flags", f"{len(str(m['cpu_flags']).split())} flags (listed in the results files)"
         if _given(m.get("cpu_flags")) else NOT_RECORDED),
        ("CPU bugs", m.get("cpu_bugs") or (NOT_RECORDED if "cpu_bugs" not in m else "none")),
        ("cores", str(m.get("cores", "?"))),
        ("SMT", _joined(smt, ("control", "active")) if smt is not None else NOT_RECORDED),
        ("frequency scaling", _cpufreq(m)),
        ("kernel", m.get("kernel", "?")),
        ("kernel command line", m.get("kernel_cmdline") or NOT_RECORDED),
        ("mitigations", _mitigations(m)),
        ("clocksource", m.get("clocksource") or NOT_RECORDED),
        ("transparent huge pages", _joined(m.get("transparent_hugepages"), ("enabled", "defrag"))),
        ("memory", f"{m['memory_kib'] / 1048576:.1f} GiB" if isinstance(m.get("memory_kib"), (int, float)) else "?"),
        ("limits", ", ".join(f"{k}={v}" for k, v in lim.items()) or "—"),
        ("settings applied", ", ".join(m.get("settings_applied") or []) or "none"),
        ("software", _joined(sw, ("glibc", "go", "nginx", "wrk")) if sw is not None else NOT_RECORDED),
        ("compiler / flags", f"{b.get('compiler', '?')} / {b.get('flags', '?')} ({b.get('build_type', '?')})"),
        ("sanitizer", b.get("sanitize") or "none"),
        ("commit", _commits(rs)),
        ("describe", b.get("describe") or NOT_RECORDED),
        ("checkout", _checkout(b)),
        ("Boost", b.get("boost_version", "?")),
        ("files", ", ".join(os.path.basename(f) for f in rs.files)),
        ("noise floor", _noise_floors(rs)),
    ]
    return rows


def _noise_floors(rs):
    """Each file's noise floor and drift (NoiseFloor.describe), NOT_RECORDED when no file
    measured one (version 1 files, or `noise_floor` null)."""
    try:
        floors = noise_floors(rs)
    except ResultsError as err:
        return f"malformed: {err}"
    if not floors:
        return NOT_RECORDED
    if len(floors) == 1 and len(rs.files) == 1:
        return floors[0][1].describe()
    return "; ".join(f"{os.path.basename(p)}: {nf.describe()}" for p, nf in floors)


def _cell(mv):
    if mv is None:
        return "—"
    return _fmt(mv[0]) if mv[1] == mv[2] else f"{_fmt(mv[0])} [{_fmt(mv[1])}–{_fmt(mv[2])}]"


def _unit(sets, scenario, m):
    return next((e.metrics[m].unit for rs in sets for e in rs.ok(scenario) if m in e.metrics), "")


TREND_HEADER = "trend (first third against last)"
TREND_MIN_SAMPLES = inference.trend_min_samples(0.05)
TREND_NOTE = (
    "Trend: the entry's samples in the order taken (within each run when the samples come "
    "from several), first third against last third, flagged when scipy's Mann-Whitney test "
    "rejects at p < 0.05 (divided among the runs) and the thirds' medians differ by more than "
    "2 %: warm-up not finished or the machine drifting, so the median mixes two states. "
    f"Needs {TREND_MIN_SAMPLES} samples a run; instruction counts are deterministic and not "
    "checked.")


def _trends(e, metrics):
    """'metric: last third +8.1% against the first (p=0.003)' for each of the entry's
    metrics whose samples drift, '' when none does."""
    out = []
    for m in metrics:
        mt = e.metrics.get(m)
        if mt is None or m == "instructions_per_op" or len(mt.samples) < 2:
            continue
        t = inference.trend_in_runs(mt.samples, sample_rounds(e, m))
        if t.flagged:
            out.append(f"{m}: {t.reason}")
    return "; ".join(out)


def n_cell(e):
    """The table's n: the samples behind the row's medians and, when they came from more
    than one fresh process (schema 2's rounds, or files pooled as repeated runs), how many:
    "9 (3 runs)". Samples of one process move together, so a reader needs both to judge an
    interval. A single version 1 file has no rounds: its repetitions, as always."""
    if not e.runs and len(e.sources) < 2:
        return str(e.repetitions)
    n = max((len(m.samples) for m in e.metrics.values()), default=0)
    runs = len(e.round_ids())
    return f"{n} ({runs} run{'s' if runs != 1 else ''})"


def _median_table(sets, scenario, select=None, metrics=None, derived=(), drop_params=()):
    """Rows: folder (when several), label, the parameters that vary, n; columns: `metrics`
    (default: every metric present, in order of appearance) and `derived` columns, each a
    (header, fn(entry, entries) -> text). Returns (constants text, header, rows): the
    parameters every entry shares are said once above the table instead of on every row.
    A last column (TREND_HEADER) names the metrics whose samples drift, when any does."""
    entries = [(rs, e) for rs in sets for e in rs.ok(scenario) if select is None or select(e)]
    if metrics is None:
        metrics = []
        for _, e in entries:
            for mname in e.metrics:
                if mname not in metrics:
                    metrics.append(mname)
    metrics = [m for m in metrics if any(m in e.metrics for _, e in entries)]
    # The harness's per-entry peak resident memory, when it is not also a metric.
    entry_rss = "peak_rss_kib" not in metrics and any(e.peak_rss_kib is not None for _, e in entries)
    es = [e for _, e in entries]
    skip = set(drop_params)
    vary = varying(es, skip)
    constants = fixed_text(es, skip | vary)
    header = (["folder"] if len(sets) > 1 else []) + ["label", "params", "n"] + [
        f"{m} ({_unit(sets, scenario, m)})" for m in metrics] + [h for h, _ in derived] + (
        ["peak RSS (KiB)"] if entry_rss else [])
    rows = []
    ordered = sorted(entries, key=lambda t: (sets.index(t[0]), label_sort_key(t[1]),
                                             params_order(t[1].params)))
    for rs, e in ordered:
        cells = [rs.name] if len(sets) > 1 else []
        shown = {k: v for k, v in e.params.items() if k in vary}
        cells += [e.label, params_text(shown) or "—", n_cell(e)]
        cells += [_cell(metric_value(e, m) if m in e.metrics else None) for m in metrics]
        cells += [fn(e, [x for r2, x in entries if r2 is rs]) for _, fn in derived]
        if entry_rss:
            cells.append(_fmt(e.peak_rss_kib))
        rows.append(cells)
    # Next to the entry, not in a list elsewhere: the reader of a median sees at once that
    # its samples drift.
    trends = [_trends(e, metrics) for rs, e in ordered]
    if any(trends):
        header.append(TREND_HEADER)
        for cells, tr in zip(rows, trends):
            cells.append(tr or "—")
    return constants, header, rows


def _same_but(e, other, params):
    """Same label and parameters, except `params`."""
    return other.label == e.label and {k: v for k, v in other.params.items() if k not in params} \
        == {k: v for k, v in e.params.items() if k not in params}


def _io_ratio(e, entries):
    """Round trip over the same series' round trip at one pair (the design's 'idle waiters
    cost nothing': 9,000 pairs within 1.2x of 1 pair)."""
    if num(e.params.get("pairs")) in (None, 1.0):
        return "—"
    one = [o for o in entries if _same_but(e, o, ("pairs",))
           and num(o.params.get("pairs")) == 1.0 and metric_value(o, "ns_per_roundtrip")]
    mv = metric_value(e, "ns_per_roundtrip")
    if not one or not mv:
        return "—"
    return f"{mv[0] / metric_value(one[-1], 'ns_per_roundtrip')[0]:.2f}x"


def _gc_vs_off(e, entries):
    """Per-yield cost added by a collector design over the same variant with design=off."""
    if e.params.get("design") == "off":
        return "—"
    off = [o for o in entries if _same_but(e, o, ("design",)) and o.params.get("design") == "off"
           and metric_value(o, "ns_per_yield")]
    mv = metric_value(e, "ns_per_yield")
    if not off or not mv:
        return "—"
    d = mv[0] - metric_value(off[-1], "ns_per_yield")[0]
    return f"{d:+.3g} ns"


def _wrk_errors(e, entries):
    vals = []
    for m in ("socket_errors_connect", "socket_errors_read", "socket_errors_write",
              "socket_errors_timeout", "http_errors_status"):
        mv = metric_value(e, m)
        vals.append("?" if mv is None else f"{mv[0]:.0f}")
    return "/".join(vals)


HTTP_LOAD_METRICS = ["requests_per_s", "latency_p50_us", "latency_p99_us", "latency_max_us",
                     "server_cpu_s", "server_rss_kib", "server_vm_kib", "server_threads"]
HTTP_IDLE_METRICS = ["kib_per_conn", "rss_kib_per_conn", "pte_kib_per_conn",
                     "kstack_kib_per_conn", "server_rss_kib", "server_vm_kib", "server_threads"]

# Scenarios whose entries read better as several tables: (title, select, metrics, derived,
# parameters left out of the params column). None = one table of every metric.
TABLES = {
    "http": [
        ("Under load (mode=load); latency closed-loop (wrk): subject to coordinated omission; "
         "errors = wrk's connect/read/write/timeout/status counts",
         findings.http_load, HTTP_LOAD_METRICS, [("errors c/r/w/t/s", _wrk_errors)],
         HTTP_DROP),
        ("Idle connections (mode=idle)", lambda e: http_mode(e) == "idle",
         HTTP_IDLE_METRICS, [], HTTP_DROP + HTTP_MERGE),
    ],
    "gc_scan": [
        ("Collection pause (measure=pause)", lambda e: findings.gc_measure(e) == "pause",
         ["pause_ms", "pushed_kib", "used_kib"], [], ("measure",)),
        ("Cost per switch (measure=switch; the pause parameters do not apply)",
         lambda e: findings.gc_measure(e) == "switch", ["ns_per_yield"],
         [("vs design=off", _gc_vs_off)], ("measure", "fibers", "depth_kib", "stack_kib", "scan")),
    ],
    "io_pingpong": [
        (None, None, ["ns_per_roundtrip"], [("vs 1 pair", _io_ratio)], ()),
    ],
}


def _scenario_tables(sets, scenario):
    out = []
    for title, select, metrics, derived, drop in TABLES.get(scenario, [(None, None, None, [], ())]):
        constants, header, rows = _median_table(sets, scenario, select, metrics, derived, drop)
        if not rows:
            continue
        if title:
            out.append(("p", f"**{title}.**"))
        if constants:
            out.append(("p", f"Every row (that has the parameter): {constants}."))
        out.append(("table", header, rows))
        if TREND_HEADER in header:
            out.append(("p", TREND_NOTE))
    return out




def _seed_blocks(sets):
    out = [("h", 2, "The seed's results, compared by shape"),
           ("p", f"The seed measured on a {seed.CORES}-core machine ({seed.SOURCE}); ours run on the "
                 "machines above. Absolute numbers from different machines are not comparable, "
                 "so this section compares shapes: the fibers/threads ratio, and the yield "
                 "relative to a kernel thread switch.")]
    # Yield: relative to a thread switch, on each side.
    rows = []
    lo, hi = seed.THREAD_SWITCH_NS
    for rs in sets:
        thr = [e for e in rs.ok("yield") if e.peer == "threads" and metric_value(e, "ns_per_yield")]
        for e in sorted(rs.ok("yield"), key=label_sort_key):
            mv = metric_value(e, "ns_per_yield")
            if not mv or e.is_peer or str(e.params.get("fibers", 2)) != "2":
                continue
            t = thr[0] if thr else None
            rows.append(([rs.name] if len(sets) > 1 else []) + [
                e.label, _fmt(mv[0]),
                "—" if t is None else f"{metric_value(t, 'ns_per_yield')[0] / mv[0]:.3g}x",
                f"{lo / seed.YIELD_NS:.2f}–{hi / seed.YIELD_NS:.2f}x"])
    out.append(("h", 3, "Two-fiber yield against a thread switch"))
    if rows:
        out.append(("p", f"Seed: {seed.YIELD_NS:.0f} ns per fiber yield "
                         f"({seed.YIELD_SWITCHES_PER_S / 1e6:.1f} M/s) against "
                         f"{lo}–{hi} ns for a kernel thread switch, so its fibers yielded "
                         f"{lo / seed.YIELD_NS:.2f}–{hi / seed.YIELD_NS:.2f} times as fast as "
                         "threads switched (slower). Ours: the threads peer's yield over each "
                         "variant's (> 1 = fibers faster)."))
        out.append(("table", (["folder"] if len(sets) > 1 else []) + [
            "ours", "ns per yield (median)", "threads peer / ours", "seed: thread switch / fiber yield"], rows))
    else:
        out.append(("p", "yield: not run."))
    out += _seed_http(sets)
    out.append(("h", 3, "GC pause"))
    out.append(("p", f"The seed published no GC pause numbers ({seed.SOURCE}); ours are in "
                     "the gc_scan section above."))
    return out


def _best(entries, metric, higher=True):
    best = None
    for e in entries:
        mv = metric_value(e, metric)
        if mv and (best is None or (mv[0] > best[0] if higher else mv[0] < best[0])):
            best = (mv[0], e)
    return best


def _short(reason, n=70):
    """A reason in a table cell: its first clause; the whole text is under 'Skipped and failed'."""
    head = str(reason).split(" (")[0].split("; ")[0]
    return head if len(head) <= n else head[:n - 1] + "…"


def _vm_per_connection(entries):
    """Address space per connection: the growth of peak VmSize between the fewest and the
    most connections run, per added connection (the server's fixed part cancels out); with
    one connection count, VmSize / connections (an upper bound)."""
    def conns(e):
        return num(e.params.get("connections")) or 0
    if not entries:
        return "not run"
    hi = max(entries, key=conns)
    lo = min((e for e in entries if http_name(e) == http_name(hi)), key=conns)
    vlo, vhi = metric_value(lo, "server_vm_kib")[0], metric_value(hi, "server_vm_kib")[0]
    if conns(hi) > conns(lo):
        return (f"{(vhi - vlo) / (conns(hi) - conns(lo)):,.1f} KiB (peak VmSize growth from "
                f"{conns(lo):,.0f} to {conns(hi):,.0f} connections, {hi.label})")
    return f"{vhi / conns(hi):,.1f} KiB (peak VmSize / {conns(hi):,.0f} connections, {hi.label})"


def _seed_http(sets):
    out = [("h", 3, "HTTP requests/s (wrk)")]
    any_http = False
    for rs in sets:
        load = [e for e in rs.ok("http") if findings.http_load(e) and metric_value(e, "requests_per_s")]
        idle = [e for e in rs.ok("http") if metric_value(e, "kib_per_conn")]
        if not load and not idle:
            continue
        any_http = True
        title = f"{rs.name}: " if len(sets) > 1 else ""
        nofile = open_files_limit(rs)
        edge = None if nofile is None else nofile - HTTP_FD_MARGIN
        bad = [e for e in rs.not_ok() if e.scenario == "http" and findings.http_load(e)]

        def ours(c, pick, fiber):
            es = [e for e in load if pick(e) and num(e.params.get("connections")) == c]
            best = _best(es, "requests_per_s")
            if best:
                text = f"{best[0]:,.0f}"
                return (text + f" ({http_name(best[1])})") if fiber else text, best[0]
            why = [f"{e.status}: {_short(e.reason)}" for e in bad if pick(e)
                   and num(e.params.get("connections")) == c]
            if why:
                return why[0], None
            if edge is not None and c > edge:
                return f"out of reach here (open-file limit {nofile:,})", None
            return "not run", None

        ratios = findings.http_ratios(rs)
        rows = []
        for c, st, sf in seed.HTTP:
            at = [r for r in ratios if r.connections == c]
            th, _ = ours(c, lambda e: e.peer == "threads", False)
            if at:
                best = max(at, key=lambda r: r.ratio.value)
                worst = min(at, key=lambda r: r.ratio.value)
                mine = f"{best.ratio.text()} ({best.entry.label})"
                rng = f"{worst.ratio.value:.3g}–{best.ratio.value:.3g}x over {len(at)} variants"
                err = "yes" if any(r.errors > 0 for r in at) else "no"
            else:
                mine, rng, err = th if th != "not run" else "not run", "—", "—"
            rows.append([f"{c:,}", f"{sf / st:.3g}x", mine, rng, err])
        limit = (f" Open-file limit here: {nofile:,} per process; the driver needs the "
                 f"connections + {HTTP_FD_MARGIN}, so more than {edge:,} connections "
                 "cannot run on this machine.") if nofile is not None else ""
        out.append(("p", f"{title}fibers/threads requests/s at the seed's connection counts: the "
                         f"seed's ({seed.HTTP_MACHINE}) against ours (mode=load, "
                         f"{findings.sweep_registration(rs)} registration, each variant over the threads server at the same count; "
                         f"the threads server saw socket timeouts in the seed from "
                         f"{seed.HTTP_THREADS_TIMEOUTS_FROM:,} connections).{limit}"))
        out.append(("table", ["connections", "seed fibers/threads", "ours: best variant [95 % CI]",
                              "ours: range", "wrk errors"], rows))
        # Level-triggered epoll: the seed's livelock at 10k connections.
        c, seed_v = seed.LEVEL_10K
        lv, _ = ours(c, lambda e: e.variant is not None and e.params.get("registration") == "level", True)
        out.append(("p", f"{title}Level-triggered epoll at {c:,} connections: seed {seed_v:,} req/s "
                         f"(a livelock, fixed by edge-triggered one-shot); ours with "
                         f"registration=level: {lv}."))
        # Memory: the seed's reservations against measured address space and resident memory.
        rows = []
        for kind, pick in (("threads", lambda e: e.peer == "threads"),
                           ("fibers", lambda e: e.variant is not None)):
            vm = _vm_per_connection([e for e in load if pick(e) and metric_value(e, "server_vm_kib")])
            mine = [e for e in idle if pick(e)]
            most = max((num(e.params.get("connections")) or 0 for e in mine), default=0)
            res = _best([e for e in mine if (num(e.params.get("connections")) or 0) == most],
                        "kib_per_conn", higher=False)   # at the most idle connections measured
            rows.append([kind, f"{seed.STACK_RESERVATION_KIB[kind]:,} KiB (stack reservation)", vm,
                         "not run" if res is None else
                         f"{res[0]:.3g} KiB ({res[1].label}, {res[1].params.get('connections')} idle)"])
        out.append(("p", f"{title}Memory per connection: the seed gives stack reservations (threads "
                         f"about {seed.RESERVED_GB_AT_MOST['threads']:g} GB of address space at "
                         f"{seed.most_connections():,} connections against "
                         f"{seed.RESERVED_GB_AT_MOST['fibers']:g} GB for "
                         "fibers), not resident memory; ours: address space under load and "
                         "measured growth per idle connection (at the largest idle count run; the lowest "
                         "fiber variant there)."))
        out.append(("table", ["server", "seed", "ours: address space per connection",
                              "ours: resident growth per idle connection"], rows))
    if not any_http:
        out.append(("p", "http: not run."))
    return out


def _figure_blocks(f, out_dir):
    png = [p for p in f.files if p.endswith(".png")][0]
    pdf = [p for p in f.files if p.endswith(".pdf")][0]
    return [("img", os.path.relpath(png, out_dir), f.title, os.path.relpath(pdf, out_dir)),
            ("p", f"*{f.title}* {f.caption}")]


def findings_blocks(sets, figures, out_dir=None):
    """The report's opening: 5-10 sentences per folder from the data, each with its numbers,
    interval and figure, then the figures that summarise across scenarios."""
    names = [f.name for f in figures]
    b = [("h", 2, "Findings")]
    for rs in sets:
        if len(sets) > 1:
            b.append(("h", 3, rs.name))
        sents = findings.sentences(rs, names)
        b.append(("list", sents) if sents else ("p", "No finding: too little data."))
    if out_dir is not None:
        for f in figures:
            if f.scenario is None:
                b += _figure_blocks(f, out_dir)
    return b


# ---- stackless peers -------------------------------------------------------------------------
# The stackless peers (coro: a C++20 coroutine resume; asio) get their table from
# switchyard_analysis/stackless.py: stackless_tables(results) returns (note, header, rows)
# per table, [] when the results hold no stackless peer.

def stackless_blocks(sets):
    out = []
    for rs in sets:
        tables = stackless.stackless_tables(rs)
        if not tables:
            continue
        if not out:
            out.append(("h", 2, "Stackful against stackless (the floor under a stackful switch)"))
        if len(sets) > 1:
            out.append(("p", f"**{rs.name}.**"))
        for note, header, rows in tables:
            out.append(("p", note))
            out.append(("table", list(header), [list(r) for r in rows]))
    return out


def _speedup_blocks(sets):
    """The speedup figure's base cases: each series' 1-carrier time (EVIDENCE: a speedup
    states its base and that base's absolute time)."""
    rows = []
    for rs in sets:
        for sp in findings.speedups(rs):
            c, r = sp.points[-1]
            rows.append(([rs.name] if len(sets) > 1 else []) + [
                sp.workload, sp.series.label, findings.fmt3(sp.base_s), f"{c:g}", r.text()])
    if not rows:
        return []
    return [("p", "**Speedup: each series against its own 1-carrier time.**"),
            ("table", (["folder"] if len(sets) > 1 else []) +
             ["workload", "series", "1-carrier time (s)", "carriers", "speedup [95 % CI]"], rows)]


# Why the HTTP latency stays closed-loop: what Debian packages (bookworm) offer. A fact about
# the tools, not a measurement.
OPEN_LOOP_WHY = (
    "No Debian package offers an open-loop HTTP/1.1 load generator: wrk2, vegeta and k6 are "
    "not packaged; h2load (nghttp2-client) has a fixed rate per client (--rps) and HTTP/1.1 "
    "(--h1), but a request that falls due while its connection's one HTTP/1.1 request is in "
    "flight waits unsent and is timed from when it is sent, not from when it was due (h2load's "
    "rps_cb keeps it pending), so a stall still goes uncounted, and it reports request time as "
    "min, max, mean and deviation only; ab (apache2-utils) and siege are closed-loop too")


def not_measured(sets):
    """What this data cannot show, derived from what is absent."""
    out = []
    for rs in sets:
        pre = f"{rs.name}: " if len(sets) > 1 else ""
        cores = rs.machine.get("cores")
        if cores:
            out.append(f"{pre}scaling past {cores} carriers: the machine has {cores} CPUs, "
                       f"so speedups stop there and say nothing of {seed.CORES} cores (the seed's machine)")
        stacks = {(str(e.params.get("stack_kib")), str(e.params.get("guard")))
                  for s in ("stacks", "timers", "skynet") for e in rs.ok(s) if "stack_kib" in e.params}
        if len(stacks) <= 1:
            which = ", ".join(f"stack_kib={a} guard={b}" for a, b in sorted(stacks)) or "none"
            out.append(f"{pre}memory per fiber across stack sizes and guard settings: only "
                       f"{which} ran (the profile has no stack-size or guard sweep)")
        if rs.ok("timers") and not any(e.quantiles.get("lateness_quantiles_ns") for e in rs.ok("timers")):
            have = sorted({m.split("_")[1] for e in rs.ok("timers") for m in e.metrics
                           if m.startswith("lateness_")})
            out.append(f"{pre}the whole timer lateness distribution: the timers scenario "
                       f"records {', '.join(have)} only, so its CDF is those points")
        if rs.ok("switch") and not any("mask" in e.label for e in rs.ok("switch")):
            out.append(f"{pre}ucontext's signal-mask system call on its own: the decomposition "
                       "bounds it by ucontext's switch minus asm's")
        if rs.ok("steal") and not any(e.is_peer for e in rs.ok("steal")):
            out.append(f"{pre}a peer in the steal scenario: its speedups have no Go beside them")
        if any(findings.http_load(e) for e in rs.ok("http")):
            out.append(f"{pre}open-loop HTTP latency: wrk is closed-loop (coordinated "
                       "omission), so its latencies understate the tail. " + OPEN_LOOP_WHY)
            nofile = open_files_limit(rs)
            if nofile:
                out.append(f"{pre}more than {nofile - HTTP_FD_MARGIN:,} connections "
                           f"(the open-file limit is {nofile:,}), including the seed's {seed.most_connections():,}")
            if not any("server_cpu_s" in e.metrics for e in rs.ok("http")):
                out.append(f"{pre}requests per server CPU-second (no server CPU time recorded)")
            if all(len(e.metrics["requests_per_s"].samples) < 3 for e in rs.ok("http")
                   if "requests_per_s" in e.metrics):
                out.append(f"{pre}intervals for HTTP: fewer than 3 repetitions per point")
        sizes = [len(m.samples) for e in rs.ok() for n, m in e.metrics.items()
                 if n != "instructions_per_op"]
        if sizes and max(sizes) < TREND_MIN_SAMPLES:
            out.append(f"{pre}drift within a measurement's samples (warm-up not finished): the "
                       f"trend check needs {TREND_MIN_SAMPLES} samples, and no entry has more "
                       f"than {max(sizes)}")
    return out


def build_blocks(sets, figures, out_dir):
    now = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    b = [("h", 1, "Switchyard results"),
         ("p", f"Generated {now} by analysis/figures.py from: " +
          ", ".join(rs.folder for rs in sets) + ". Tables: medians over repetitions, "
          "[min–max]; n = repetitions, or samples and the runs (fresh processes) they come "
          "from, as 9 (3 runs), where the data records runs or pools files. Figures: " + _style_text())]
    b += findings_blocks(sets, figures, out_dir)
    b += stackless_blocks(sets)
    b.append(("h", 2, "Machines and builds"))
    rows = [r for r in zip(*[_machine_rows(rs) for rs in sets])
            if any(c[1] != NOT_RECORDED for c in r)]
    b.append(("table", ["", *([""] if len(sets) == 1 else [rs.name for rs in sets])],
              [[r[0][0], *[c[1] for c in r]] for r in rows]))
    by_scen = {}
    for f in figures:
        if f.scenario is not None:
            by_scen.setdefault(f.scenario, []).append(f)
    present = set().union(*(rs.scenarios_present() for rs in sets))
    b.append(("h", 2, "Scenarios"))
    summary = [[s, "ok" if s in present else "not run",
                ", ".join(f.name for f in by_scen.get(s, [])) or "—"] for s in SCENARIOS]
    extra = sorted(present - set(SCENARIOS))
    summary += [[s, "ok (unknown scenario name: table only)", "—"] for s in extra]
    b.append(("table", ["scenario", "status", "figures"], summary))
    for s in SCENARIOS + extra:
        b.append(("h", 3, s))
        if s not in present:
            reasons = [f"{e.label}: {e.status} ({e.reason})" for rs in sets for e in rs.not_ok()
                       if e.scenario == s]
            b.append(("p", "not run." + (" " + "; ".join(reasons) if reasons else "")))
            continue
        for f in by_scen.get(s, []):
            b += _figure_blocks(f, out_dir)
        b += _scenario_tables(sets, s)
        if s == "steal":
            b += _speedup_blocks(sets)
    b.append(("h", 2, "Not measured here"))
    nm = not_measured(sets)
    b.append(("list", nm) if nm else ("p", "Nothing this report knows to be missing."))
    b += _seed_blocks(sets)
    b.append(("h", 2, "Skipped and failed entries"))
    rows = [([rs.name] if len(sets) > 1 else []) + [e.scenario, e.label, params_text(e.params) or "—",
                                                    e.status, e.reason]
            for rs in sets for e in rs.not_ok()]
    if rows:
        b.append(("table", (["folder"] if len(sets) > 1 else []) +
                  ["scenario", "label", "params", "status", "reason"], rows))
    else:
        b.append(("p", "None."))
    notes = sorted({f"{e.scenario} {e.label}: {n}" for rs in sets for e in rs.ok() for n in e.notes})
    if notes:
        b.append(("h", 2, "Notes recorded with the results"))
        b.append(("list", notes))
    warns = [f"{rs.name}: {w}" for rs in sets for w in rs.warnings] + [
        f"{rs.name}: {os.path.basename(p)} was NOT used: {msg}" for rs in sets for p, msg in rs.bad_files]
    if warns:
        b.append(("h", 2, "Warnings"))
        b.append(("list", warns))
    return b


# ---- the README's results table --------------------------------------------------------------

README_BEGIN = "<!-- results-table: generated by analysis/figures.py {folder} --readme-table -->"
README_END = "<!-- /results-table -->"


def _med(rs, scenario, label, metric, where=None, **params):
    """The median of the first entry with this label and these parameters (and, given a
    `where`, for which it holds): callers name every parameter that varies in the folder."""
    for e in rs.ok(scenario):
        if e.label == label and metric in e.metrics and all(
                str(e.params.get(k)) == str(v) for k, v in params.items()) and (where is None or where(e)):
            return e.metrics[metric].median
    return None


def _pair(a, b, fmt):
    if a is None and b is None:
        return "—"
    return f"{fmt(a) if a is not None else '—'} / {fmt(b) if b is not None else '—'}"


def readme_table(rs):
    """The README's results table, from one results folder: each backend with pooled stacks,
    FIFO / Chase-Lev side by side (the order of two backends can flip with the scheduler,
    so neither is picked for the reader), peers in the last column."""
    def k(v):
        return "—" if v is None else (f"{v / 1000:.3g}k" if v >= 1000 else findings.fmt3(v))

    def f3(v):
        return findings.fmt3(v)
    backends = ["asm", "boost", "ucontext"]
    rows = []
    sw = [f"{f3(_med(rs, 'switch', b, 'ns_per_switch'))} / {f3(_med(rs, 'switch', b, 'instructions_per_op'))}"
          if _med(rs, "switch", b, "ns_per_switch") is not None else "—" for b in backends]
    rows.append(["one-way switch (ns / instructions)"] + sw + [""])

    def peers(scenario, metric, fmt, **params):
        out = []
        for e in sorted(rs.ok(scenario), key=label_sort_key):
            if e.is_peer and metric in e.metrics and all(
                    str(e.params.get(kk)) == str(v) for kk, v in params.items() if kk in e.params):
                out.append(f"{http_name(e) if scenario == 'http' else e.label} "
                           f"{fmt(e.metrics[metric].median)}")
        return ", ".join(out)

    def row(text, scenario, metric, fmt, where=None, **params):
        cells = [_pair(_med(rs, scenario, f"{b}-pooled-fifo", metric, where, **params),
                       _med(rs, scenario, f"{b}-pooled-chaselev", metric, where, **params), fmt)
                 for b in backends]
        if all(c == "—" for c in cells):
            return
        rows.append([text] + cells + [peers(scenario, metric, fmt, **params)])
    row("scheduler yield, 2 fibers (ns)", "yield", "ns_per_yield", f3, fibers=2)
    # The public size only (a FIFO runs skynet smaller: its cell stays empty rather than show
    # another size), at the default idle policy (the profile also runs a fixed spin).
    row("skynet 1M, 2 carriers (s)", "skynet", "time_s", f3,
        lambda e: int(e.params.get("idle_spin_us", -1)) == -1, carriers=2, fibers=1000000)
    # Every variant at the sweep's registration (one variant also runs the others).
    reg = findings.sweep_registration(rs)

    def at_sweep_registration(e):
        return findings.registration(e) == reg
    row("HTTP, 100 connections (requests/s)", "http", "requests_per_s", k, at_sweep_registration,
        connections=100, mode="load")
    idle = [e for e in rs.ok("http") if "kib_per_conn" in e.metrics and not findings.http_load(e)]
    if idle:
        c = max(e.params.get("connections") for e in idle)
        row(f"memory per idle connection at {c:,} (KiB)", "http", "kib_per_conn", f3,
            at_sweep_registration, connections=c, mode="idle")
    head = ["on this run (pooled stacks; FIFO / Chase-Lev)", "asm", "boost", "ucontext", "peers"]
    lines = ["| " + " | ".join(head) + " |", "| " + " | ".join("---" for _ in head) + " |"]
    lines += ["| " + " | ".join(_md_cell(c) for c in r) + " |" for r in rows]
    return "\n".join(lines)


def readme_block(rs, folder):
    return "\n".join([README_BEGIN.format(folder=folder), readme_table(rs), README_END])


def _style_text():
    from . import style
    return (style.style_note() + "; figure whiskers are 95 % bootstrap intervals of the median "
            "(whole runs resampled where the data records them; none below 3 repetitions), "
            "grey dots each repetition.")


def _md_cell(s):
    return str(s).replace("|", "\\|").replace("\n", " ")


def to_markdown(blocks):
    out = []
    for blk in blocks:
        kind = blk[0]
        if kind == "h":
            out.append("#" * blk[1] + " " + blk[2])
        elif kind == "p":
            out.append(blk[1])
        elif kind == "list":
            out.append("\n".join(f"- {x}" for x in blk[1]))
        elif kind == "img":
            out.append(f"![{blk[2]}]({blk[1]})  \n[PDF]({blk[3]})")
        elif kind == "table":
            header, rows = blk[1], blk[2]
            lines = ["| " + " | ".join(_md_cell(h) for h in header) + " |",
                     "|" + "|".join("---" for _ in header) + "|"]
            lines += ["| " + " | ".join(_md_cell(c) for c in r) + " |" for r in rows]
            out.append("\n".join(lines))
        out.append("")
    return "\n".join(out)


def to_html(blocks):
    e = html.escape
    body = []
    for blk in blocks:
        kind = blk[0]
        if kind == "h":
            body.append(f"<h{blk[1]}>{e(blk[2])}</h{blk[1]}>")
        elif kind == "p":
            text = e(blk[1])
            if text.startswith("**") and "**" in text[2:]:   # a table's bold title
                head, rest = text[2:].split("**", 1)
                text = f"<strong>{head}</strong>{rest}"
            elif text.startswith("*") and ".*" in text:     # the figure caption's italic title
                head, rest = text[1:].split(".*", 1)
                text = f"<em>{head}.</em>{rest}"
            body.append(f"<p>{text}</p>")
        elif kind == "list":
            body.append("<ul>" + "".join(f"<li>{e(x)}</li>" for x in blk[1]) + "</ul>")
        elif kind == "img":
            body.append(f'<figure><img src="{e(blk[1])}" alt="{e(blk[2])}">'
                        f'<figcaption><a href="{e(blk[3])}">PDF</a></figcaption></figure>')
        elif kind == "table":
            head = "".join(f"<th>{e(str(h))}</th>" for h in blk[1])
            rows = "".join("<tr>" + "".join(f"<td>{e(str(c))}</td>" for c in r) + "</tr>"
                           for r in blk[2])
            body.append(f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>")
    css = ("body{font-family:sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}"
           "table{border-collapse:collapse;font-size:85%;margin:.5em 0 1.5em}"
           "td,th{border:1px solid #ccc;padding:2px 6px;text-align:left}th{background:#f2f2f2}"
           "img{max-width:100%;border:1px solid #eee}figure{margin:1em 0}")
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>Switchyard results</title><style>{css}</style></head><body>\n"
            + "\n".join(body) + "\n</body></html>\n")


def write_report(sets, figures, out_dir):
    os.makedirs(out_dir, exist_ok=True)
    blocks = build_blocks(sets, figures, out_dir)
    paths = []
    for name, text in (("report.md", to_markdown(blocks)), ("report.html", to_html(blocks))):
        path = os.path.join(out_dir, name)
        tmp = path + ".tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)   # a failed run never leaves half a report
        paths.append(path)
    return paths
