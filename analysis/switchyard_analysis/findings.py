"""Numbers the findings, the heat map and the new figures share: cost ratios to a reference
variant, the effect of each variant dimension, the switch-cost decomposition, speedups,
the HTTP fibers/threads ratio, the GC scan rate, memory per fiber. Pure functions of a
ResultSet, so each is tested on fixtures with known answers.

Every interval of a median, a ratio, a difference or a geometric mean of ratios comes from
inference.py with each sample's round (schema 2): samples of one process move together, so
the round is what gets resampled, and two entries measured in the same files (one
invocation) are paired by round. Version 1 data has no rounds and is resampled sample by
sample, as before."""

import math
from dataclasses import dataclass

import numpy as np

from . import inference, seed, stats
from .results import ResultsError, metric_value, noise_floors, params_text, sample_rounds

REFERENCE = "asm-pooled-fifo"


def _num(v):
    try:
        return float(v)
    except (TypeError, ValueError):
        return None


def http_load(e):
    return str(e.params.get("mode", "load")) == "load"


def gc_measure(e):
    return str(e.params.get("measure", "pause"))


# The heat map's columns: (column name, scenario, metric, select, lower is better).
COLUMNS = [
    ("yield", "yield", "ns_per_yield", None, True),
    ("spawn_join", "spawn_join", "ns_per_spawn_join", None, True),
    ("skynet", "skynet", "time_s", None, True),
    ("steal", "steal", "time_s", None, True),
    ("channel", "channel", "ns_per_handoff", None, True),
    ("mutex", "mutex", "ns_per_lock", None, True),
    ("io_pingpong", "io_pingpong", "ns_per_roundtrip", None, True),
    ("timers p99", "timers", "lateness_p99_us", None, True),
    ("http req/s", "http", "requests_per_s", http_load, False),
    ("gc pause", "gc_scan", "pause_ms", lambda e: gc_measure(e) == "pause", True),
    ("gc switch", "gc_scan", "ns_per_yield", lambda e: gc_measure(e) == "switch", True),
]

DIMENSION_LEVELS = {"switch": ("asm", ["boost", "ucontext"]), "stacks": ("pooled", ["fresh"]),
                    "scheduler": ("fifo", ["chaselev"])}


def _column_entries(rs, col):
    _, scenario, metric, select, _ = col
    return [e for e in rs.ok(scenario) if not e.is_peer and e.variant is not None
            and metric in e.metrics and (select is None or select(e))]


def side(e, metric):
    """An entry's metric as inference sees it: its samples, their rounds (None for a
    version 1 file) and the files it was measured in, which name its invocation: two
    entries of the same files share their rounds and are paired by them."""
    return inference.Sample(tuple(e.metrics[metric].samples), sample_rounds(e, metric),
                            tuple(e.sources))


def enough(*sides):
    """Below stats.BOOTSTRAP_MIN_N samples a side's resampled median says nothing: no
    interval is drawn."""
    return all(len(s.values) >= stats.BOOTSTRAP_MIN_N for s in sides)


def _cost_pair(a, b, metric, lower):
    """(numerator, denominator) inference.Samples of cost(a) / cost(b)."""
    sa, sb = side(a, metric), side(b, metric)
    return (sa, sb) if lower else (sb, sa)


def geomean_ratio(pairs):
    """Ratio of the geometric mean over pairs (numerator, denominator) of the median ratios,
    its interval from inference.geomean_ratio_ci (None when a side has too few samples)."""
    if not pairs:
        raise ValueError("no pairs")
    if not all(enough(a, b) for a, b in pairs):
        point = stats.geomean([stats.median(a.values) / stats.median(b.values) for a, b in pairs])
        return Ratio(point, None, len(pairs))
    ci = inference.geomean_ratio_ci(pairs)
    return Ratio(ci.estimate, (ci.low, ci.high), len(pairs))


def median_ratio(num, den):
    """median(num) / median(den) of two inference.Samples as a Ratio: inference.ratio_ci,
    paired by round when both come from the same invocation over the same rounds (the
    estimate is then the geometric mean of the per-round ratios), else each side resampled
    on its own. No interval below stats.BOOTSTRAP_MIN_N samples a side or with a median
    that is not positive."""
    mn, md = stats.median(num.values), stats.median(den.values)
    if not enough(num, den) or mn <= 0 or md <= 0:
        return Ratio(mn / md, None, 1)
    paired = num.invocation is not None and num.invocation == den.invocation
    ci = inference.ratio_ci(den.values, num.values, den.runs, num.runs, paired=paired)
    return Ratio(ci.estimate, (ci.low, ci.high), 1)


def median_interval(s):
    """The interval of one side's median (stats.median_ci, by round when it has rounds)."""
    return stats.median_ci(s.values, s.runs)


@dataclass
class Ratio:
    value: float
    interval: object     # (lo, hi) or None (too few samples)
    pairs: int

    @property
    def includes_one(self):
        return self.interval is not None and self.interval[0] <= 1.0 <= self.interval[1]

    def text(self, digits=3, margin=None):
        """'1.23x [1.1–1.4]'; with `margin` (the files' noise margin, inference's
        NoiseFloor.margin) a ratio no further from 1 than the margin says so, whatever its
        interval: the machine moved that much on its own."""
        v = f"{self.value:.{digits}g}x"
        if self.interval is None:
            v += " (no interval: n < 3)"
        else:
            lo, hi = self.interval
            v += f" [{lo:.{digits}g}–{hi:.{digits}g}]"
        if inference.within_noise(self.value, margin):
            v += f", within the noise ({margin * 100:.1f}%)"
        return v


def cost_ratios(rs, reference=REFERENCE):
    """{column: {variant label: Ratio}}: cost of each variant over the reference's, matched
    on equal parameters; over several parameter sets the geometric mean of the ratios
    (labelled so in the heat map's caption). Higher-is-better metrics are inverted so that
    > 1 always means costlier."""
    out = {}
    for col in COLUMNS:
        es = _column_entries(rs, col)
        refs = {params_text(e.params): e for e in es if e.label == reference}
        if not refs:
            continue
        by_label = {}
        for e in es:
            r = refs.get(params_text(e.params))
            if r is not None:
                by_label.setdefault(e.label, []).append(_cost_pair(e, r, col[2], col[4]))
        out[col[0]] = {lab: geomean_ratio(pairs) for lab, pairs in by_label.items()}
    return out


@dataclass
class Effect:
    column: str
    dimension: str
    base: str
    level: str
    ratio: Ratio


def dimension_effects(rs):
    """For each column and dimension level: the geometric mean, over every pair of variants
    that differ only in that dimension (same parameters), of cost(level) / cost(base)."""
    out = []
    for col in COLUMNS:
        es = _column_entries(rs, col)
        index = {(e.dim("switch"), e.dim("stacks"), e.dim("scheduler"), params_text(e.params)): e
                 for e in es}
        for dim, (base, levels) in DIMENSION_LEVELS.items():
            pos = ("switch", "stacks", "scheduler").index(dim)
            for level in levels:
                pairs = []
                for key, e in index.items():
                    if key[pos] != level:
                        continue
                    other = list(key)
                    other[pos] = base
                    b = index.get(tuple(other))
                    if b is not None:
                        pairs.append(_cost_pair(e, b, col[2], col[4]))
                if pairs:
                    out.append(Effect(col[0], dim, base, level, geomean_ratio(pairs)))
    return out


def dominant(effects):
    """{column: the Effect with the largest |log ratio|}."""
    best = {}
    for ef in effects:
        cur = best.get(ef.column)
        if cur is None or abs(math.log(ef.ratio.value)) > abs(math.log(cur.ratio.value)):
            best[ef.column] = ef
    return best


# ---- switch-cost decomposition ---------------------------------------------------------------

@dataclass
class Step:
    name: str
    start_ns: float
    end_ns: float
    interval: object        # interval of end_ns - start_ns, or None
    instructions: object    # instructions at the end of the step (callgrind), or None
    source: str
    path: str = "asm"       # "asm": the asm switch and the runtime around it; "ucontext":
                            # what ucontext adds from the asm switch


def _entry(rs, scenario, label, **params):
    for e in rs.ok(scenario):
        if e.label == label and all(str(e.params.get(k)) == str(v) for k, v in params.items()):
            return e
    return None


def _diff_ci(a, b):
    """Interval of median(a) - median(b) (inference.difference_ci of two Samples), or None."""
    if not enough(a, b):
        return None
    ci = inference.difference_ci([(1, a), (-1, b)])
    return ci.low, ci.high


def switch_steps(rs):
    """The waterfall: bare switch (asm without the FP control save), + the FP control save,
    + the runtime's yield around it, + the GC hooks (locked design over off), and, from the
    asm switch, ucontext's extra: its signal-mask system call measured on its own (the
    switch scenario's `sigprocmask` entry) and the rest of ucontext's switch, or, without
    that entry, the two together. Steps whose data is absent are left out."""
    steps = []
    bare, asm, uc = (_entry(rs, "switch", n) for n in ("asm_nofpu", "asm", "ucontext"))

    def m(e, name="ns_per_switch"):
        return e.metrics[name] if e is not None and name in e.metrics else None

    def sd(e, name="ns_per_switch"):
        return side(e, name)

    def ins(e):
        return m(e, "instructions_per_op").median if m(e, "instructions_per_op") else None
    if m(bare):
        steps.append(Step("bare switch (asm, no FP control save)", 0.0, m(bare).median,
                          median_interval(sd(bare)), ins(bare), "switch asm_nofpu"))
    if m(asm):
        start = m(bare).median if m(bare) else 0.0
        steps.append(Step("+ FP control save (asm)" if m(bare) else "asm switch", start,
                          m(asm).median, _diff_ci(sd(asm), sd(bare)) if m(bare)
                          else median_interval(sd(asm)), ins(asm), "switch asm"))
    y = _entry(rs, "yield", REFERENCE, fibers=2)
    if m(y, "ns_per_yield") and m(asm):
        steps.append(Step(f"+ runtime yield ({REFERENCE})", m(asm).median,
                          m(y, "ns_per_yield").median,
                          _diff_ci(sd(y, "ns_per_yield"), sd(asm)),
                          ins(y), "yield " + REFERENCE))
        gon = [e for e in rs.ok("gc_scan") if e.label == REFERENCE and gc_measure(e) == "switch"]
        on = next((e for e in gon if e.params.get("design") == "locked"), None)
        off = next((e for e in gon if e.params.get("design") == "off"), None)
        if m(on, "ns_per_yield") and m(off, "ns_per_yield"):
            d = m(on, "ns_per_yield").median - m(off, "ns_per_yield").median
            base = m(y, "ns_per_yield").median
            steps.append(Step("+ GC hooks (locked design over off)", base, base + d,
                              _diff_ci(sd(on, "ns_per_yield"), sd(off, "ns_per_yield")),
                              None, "gc_scan measure=switch"))
    sig = _entry(rs, "switch", "sigprocmask")
    if m(uc) and m(asm) and m(sig):
        a, u, g = m(asm).median, m(uc).median, m(sig).median
        steps.append(Step("ucontext: + signal-mask system call (sigprocmask, measured alone)",
                          a, a + g, median_interval(sd(sig)), None, "switch sigprocmask",
                          "ucontext"))
        steps.append(Step("ucontext: + the rest of its switch (larger save)", a + g, u,
                          _rest_ci(sd(uc), sd(asm), sd(sig)),
                          ins(uc), "switch ucontext", "ucontext"))
    elif m(uc) and m(asm):
        steps.append(Step("ucontext instead of asm (signal-mask system call, larger save)",
                          m(asm).median, m(uc).median, _diff_ci(sd(uc), sd(asm)),
                          ins(uc), "switch ucontext", "ucontext"))
    return steps


def _rest_ci(uc, asm, sig):
    """Interval of median(uc) - median(asm) - median(sig) (inference.difference_ci of three
    Samples), or None."""
    if not enough(uc, asm, sig):
        return None
    ci = inference.difference_ci([(1, uc), (-1, asm), (-1, sig)])
    return ci.low, ci.high


# ---- speedup ---------------------------------------------------------------------------------

@dataclass
class Speedup:
    series: object          # an entry of the series (label, dims, peer)
    workload: str
    base_s: float           # the 1-carrier time (its absolute base, as EVIDENCE asks)
    points: list            # [(carriers, Ratio)]


SPEEDUP_SOURCES = [("steal", "time_s"), ("skynet", "time_s")]


def speedups(rs):
    """Per scenario/workload and series: T(1 carrier) / T(c carriers), each series against
    its own 1-carrier time (Go's against Go's)."""
    out = []
    for scenario, metric in SPEEDUP_SOURCES:
        groups = {}
        for e in rs.ok(scenario):
            c = _num(e.params.get("carriers"))
            if c is None or metric not in e.metrics:
                continue
            rest = {k: v for k, v in e.params.items() if k not in ("carriers", "ops")}
            groups.setdefault((e.label, params_text(rest)), {})[c] = e
        for (label, rest), by_c in sorted(groups.items()):
            if 1.0 not in by_c or len(by_c) < 2:
                continue
            one = by_c[1.0]
            wl = scenario + (f" {one.params['workload']}" if "workload" in one.params else "")
            pts = [(1.0, Ratio(1.0, (1.0, 1.0), 1))]
            for c in sorted(by_c):
                if c == 1.0:
                    continue
                pts.append((c, median_ratio(side(one, metric), side(by_c[c], metric))))
            out.append(Speedup(one, wl, one.metrics[metric].median, pts))
    return out


# ---- HTTP: fibers / threads ------------------------------------------------------------------

HTTP_ERROR_METRICS = ("socket_errors_connect", "socket_errors_read", "socket_errors_write",
                      "socket_errors_timeout", "http_errors_status")


def http_errors(e):
    """Total of wrk's error counts (medians), or 0."""
    return sum(metric_value(e, m)[0] for m in HTTP_ERROR_METRICS if metric_value(e, m))


@dataclass
class HttpRatio:
    entry: object
    connections: float
    ratio: Ratio
    errors: float           # errors of the fiber server and the threads server at that point


def registration(e):
    """The fiber server's epoll registration of an HTTP entry ("oneshot" for results
    recorded before the parameter existed, when it was the only mode)."""
    return str(e.params.get("registration", "oneshot"))


def sweep_registration(rs):
    """The registration the variant sweep ran with: the one most HTTP variants share (the
    profile runs every variant at the runtime's default and one variant at the others).
    None without fiber HTTP entries."""
    counts = {}
    for e in rs.ok("http"):
        if e.variant is not None and http_load(e):
            counts.setdefault(registration(e), set()).add(e.variant)
    if not counts:
        return None
    return max(sorted(counts), key=lambda r: len(counts[r]))


def http_ratios(rs, registration_=None):
    """Fibers/threads requests/s at each connection count (same duration), per variant with
    the given epoll registration (default: the sweep's, sweep_registration); the seed's
    ratio is seed.http_ratio()."""
    registration_ = registration_ or sweep_registration(rs)
    load = [e for e in rs.ok("http") if http_load(e) and "requests_per_s" in e.metrics]
    threads = {(_num(e.params.get("connections")), e.params.get("duration_s")): e
               for e in load if e.peer == "threads"}
    out = []
    for e in load:
        if e.variant is None or registration(e) != registration_:
            continue
        c = _num(e.params.get("connections"))
        t = threads.get((c, e.params.get("duration_s")))
        if t is None:
            continue
        out.append(HttpRatio(e, c, median_ratio(side(e, "requests_per_s"), side(t, "requests_per_s")),
                             http_errors(e) + http_errors(t)))
    return out


def requests_per_cpu_s(e):
    """Requests served per second of server CPU: requests/s x duration / server CPU seconds
    (both over the same measured run), or None."""
    rps, cpu = metric_value(e, "requests_per_s"), metric_value(e, "server_cpu_s")
    dur = _num(e.params.get("duration_s"))
    if not rps or not cpu or not dur or cpu[0] <= 0:
        return None
    return rps[0] * dur / cpu[0]


# ---- GC scan rate ----------------------------------------------------------------------------

@dataclass
class ScanFit:
    intercept_ms: float
    ms_per_mib: float
    interval: object        # interval of ms_per_mib (bootstrap over points), or None
    points: int

    @property
    def mib_per_ms(self):
        return 1.0 / self.ms_per_mib if self.ms_per_mib > 0 else float("inf")


def gc_points(rs):
    """[(entry, scanned MiB, pause ms)] of measure=pause entries with pushed_kib."""
    out = []
    for e in rs.ok("gc_scan"):
        if gc_measure(e) == "pause" and "pause_ms" in e.metrics and "pushed_kib" in e.metrics:
            out.append((e, e.metrics["pushed_kib"].median / 1024.0, e.metrics["pause_ms"].median))
    return out


def scan_rate(rs):
    """Least-squares line pause = a + b * MiB over every pause point (medians); the slope's
    interval from resampling the points."""
    pts = gc_points(rs)
    if len(pts) < 3:
        return None
    x = np.array([p[1] for p in pts])
    y = np.array([p[2] for p in pts])
    if np.ptp(x) <= 0:
        return None
    b, a = np.polyfit(x, y, 1)
    rng = np.random.default_rng(5)
    slopes = []
    for _ in range(1000):
        i = rng.integers(0, len(x), len(x))
        if np.ptp(x[i]) > 0:
            slopes.append(np.polyfit(x[i], y[i], 1)[0])
    # The points are medians of separate entries, so the unit resampled is the point (no
    # rounds in play): the 95 % percentile interval of the resampled slopes.
    iv = tuple(float(v) for v in np.quantile(slopes, [0.025, 0.975])) if slopes else None
    return ScanFit(float(a), float(b), iv, len(pts))


# ---- memory per fiber ------------------------------------------------------------------------

@dataclass
class FiberMemory:
    entry: object
    stack_kib: float
    guard: str
    kib_per_fiber: float
    fibers: tuple           # (fewer, more) live fibers the growth is taken between


def memory_per_fiber(rs):
    """Resident memory per live fiber: the growth of the harness's peak RSS between the
    fewest and the most sleeping fibers of the timers scenario (all alive at once), per
    added fiber, so the process's fixed part cancels. Per variant, stack size and guard."""
    groups = {}
    for e in rs.ok("timers"):
        f = _num(e.params.get("fibers"))
        if f is None or e.peak_rss_kib is None:
            continue
        key = (e.label, str(e.params.get("stack_kib", "?")), str(e.params.get("guard", "?")),
               params_text({k: v for k, v in e.params.items()
                            if k not in ("fibers", "stack_kib", "guard")}))
        groups.setdefault(key, {})[f] = e
    out = []
    for (label, stack, guard, _), by_f in sorted(groups.items()):
        if len(by_f) < 2:
            continue
        lo, hi = min(by_f), max(by_f)
        growth = (by_f[hi].peak_rss_kib - by_f[lo].peak_rss_kib) / (hi - lo)
        out.append(FiberMemory(by_f[hi], _num(stack), guard, growth, (lo, hi)))
    return out


# ---- the report's findings: sentences generated from the numbers above ----------------------

DIM_WORDS = {"switch": "the switch backend", "stacks": "the stack strategy",
             "scheduler": "the scheduler"}


def fmt3(v):
    """Three significant digits, thousands separated: 66,100 rather than 6.61e+04."""
    if v == 0:
        return "0"
    if abs(v) >= 1000:
        digits = int(math.floor(math.log10(abs(v)))) - 2
        return f"{round(v, -digits):,.0f}"
    return f"{v:.3g}"


def _ef_text(ef, margin=None):
    return f"{ef.level}/{ef.base} {ef.ratio.text(margin=margin)}"


def stack_memory_sentence(rs):
    """Memory per parked fiber at the smallest and largest stack size the stacks scenario
    ran, and what a guard page adds (address space, mappings); None without that data."""
    es = [e for e in rs.ok("stacks") if "rss_kib_per_fiber" in e.metrics
          and _num(e.params.get("stack_kib")) is not None]
    sizes = sorted({_num(e.params["stack_kib"]) for e in es})
    if len(sizes) < 2:
        return None

    def at(size, metric, guard=None):
        return [e.metrics[metric].median for e in es if _num(e.params["stack_kib"]) == size
                and metric in e.metrics and (guard is None or str(e.params.get("guard")) == guard)]
    lo, hi = sizes[0], sizes[-1]
    rlo, rhi = at(lo, "rss_kib_per_fiber"), at(hi, "rss_kib_per_fiber")
    grows = stats.median(rhi) > 1.5 * stats.median(rlo)
    guards = sorted({str(e.params.get("guard")) for e in es})

    def rss(size, g):
        v = at(size, "rss_kib_per_fiber", g)
        return fmt3(stats.median(v)) + (f" ({fmt3(min(v))}–{fmt3(max(v))})"
                                        if fmt3(min(v)) != fmt3(max(v)) else "")
    parts = [f"guard={g} {rss(lo, g)} KiB at a {lo:g} KiB stack and {rss(hi, g)} KiB at {hi:g} KiB"
             for g in guards if at(lo, "rss_kib_per_fiber", g) and at(hi, "rss_kib_per_fiber", g)]
    if not parts:
        return None
    text = ("Resident memory per parked fiber (medians over stack strategies): " + "; ".join(parts)
            + ", so it " + ("grows with the stack size" if grows else
                            "follows the pages a fiber touches, not its stack size"))
    m_on, m_off = at(hi, "mappings_per_fiber", "on"), at(hi, "mappings_per_fiber", "off")
    v_on, v_off = at(hi, "mapped_kib_per_fiber", "on"), at(hi, "mapped_kib_per_fiber", "off")
    if m_on and m_off:
        text += (f"; guard pages take {fmt3(stats.median(m_on))} memory mappings per fiber against "
                 f"{fmt3(stats.median(m_off))} without"
                 + (f" and {fmt3(stats.median(v_on))} against {fmt3(stats.median(v_off))} KiB of "
                    f"address space at {hi:g} KiB" if v_on and v_off else ""))
        limit = (rs.machine.get("limits") or {}).get("vm.max_map_count")
        mem = rs.machine.get("memory_kib")
        per = stats.median(m_on)
        r_on = at(hi, "rss_kib_per_fiber", "on")
        if limit and mem and per >= 1 and r_on:
            most = limit / per
            need_mib = most * stats.median(r_on) / 1024
            if need_mib * 1024 < mem:
                text += (f"; with vm.max_map_count {limit:,} the mappings stop guarded fibers at "
                         f"about {fmt3(most)}, which hold only {fmt3(need_mib)} MiB of this "
                         f"machine's {fmt3(mem / 1024 / 1024)} GiB")
    return text


def noise_margin(rs):
    """The widest noise margin of the set's files (inference.combined_margin), None when no
    file measured a noise floor or one's block is malformed (the report says which)."""
    try:
        return inference.combined_margin(*[nf for _, nf in noise_floors(rs)])
    except ResultsError:
        return None


def sentences(rs, figures=()):
    """5-10 sentences, each with its numbers, interval and figure; a sentence whose data is
    absent is left out. `figures`: names of the figures drawn (a sentence names one only
    when it exists)."""
    have = set(figures)
    margin = noise_margin(rs)

    def fig(name):
        return f" (figure {name})" if name in have or not have else ""
    out = []
    effects = dimension_effects(rs)
    dom = dominant(effects)
    by_dim = {}
    for col in [c[0] for c in COLUMNS]:
        if col in dom:
            by_dim.setdefault(dom[col].dimension, []).append(dom[col])
    for dim in ("stacks", "switch", "scheduler"):
        efs = by_dim.get(dim)
        if not efs:
            continue
        efs.sort(key=lambda ef: -abs(math.log(ef.ratio.value)))
        parts = [f"{ef.column} ({_ef_text(ef, margin)})" for ef in efs[:6]]
        more = f" and {len(efs) - 6} more" if len(efs) > 6 else ""
        out.append(f"{DIM_WORDS[dim][0].upper() + DIM_WORDS[dim][1:]} is the dimension that "
                   f"moves cost most in {', '.join(parts)}{more}{fig('heatmap')}.")
    flat = []
    for col in [c[0] for c in COLUMNS]:
        sw = [ef for ef in effects if ef.column == col and ef.dimension == "switch"]
        if sw and all(ef.ratio.includes_one for ef in sw):
            flat.append(f"{col} ({'; '.join(_ef_text(ef, margin) for ef in sw)})")
    if flat:
        out.append(f"The switch backend makes no difference the intervals can show in "
                   f"{', '.join(flat)}{fig('heatmap')}.")
    steps = switch_steps(rs)
    if steps:
        def iv(st):
            return (f" [{fmt3(st.start_ns + st.interval[0])}–{fmt3(st.start_ns + st.interval[1])}]"
                    if st.interval else "")
        first = steps[0]
        ins = f", {first.instructions:.3g} instructions" if first.instructions is not None else ""
        text = f"A {first.name} costs {fmt3(first.end_ns)} ns{iv(first)}{ins}"
        for st in steps[1:]:
            if st.source == "switch sigprocmask":
                own = f" [{fmt3(st.interval[0])}–{fmt3(st.interval[1])}]" if st.interval else ""
                text += (f"; ucontext's signal-mask system call alone costs "
                         f"{fmt3(st.end_ns - st.start_ns)} ns{own}")
            elif st.path == "ucontext":
                base = next(x.start_ns for x in steps if x.path == "ucontext")
                text += (f"; ucontext's switch costs {fmt3(st.end_ns)} ns{iv(st)}, "
                         f"{st.end_ns / base:.3g}x asm's, with "
                         + (f"{st.instructions:.3g} user-mode instructions" if st.instructions else
                            "its system call") )
            else:
                text += f"; {st.name[2:]} brings it to {fmt3(st.end_ns)} ns{iv(st)}"
        out.append(text + fig("switch_decomposition") + ".")
    sps = speedups(rs)
    cores = rs.machine.get("cores") or 0
    by_wl = {}
    for sp in sps:
        by_wl.setdefault(sp.workload, []).append(sp)
    parts = []
    cmax = None
    for wl, group in sorted(by_wl.items()):
        best = max((sp for sp in group if not sp.series.is_peer),
                   key=lambda sp: sp.points[-1][1].value, default=None)
        if best is None:
            continue
        c, r = best.points[-1]
        cmax = c
        ptxt = "".join(f", {sp.series.label}'s own {sp.points[-1][1].text(margin=margin)}"
                       for sp in group if sp.series.is_peer)
        parts.append(f"{wl} {r.text(margin=margin)} ({best.series.label}, from {fmt3(best.base_s)} s{ptxt})")
    if parts:
        out.append(f"On {cmax:g} carriers (this machine has {cores} CPUs) the best variant's "
                   f"speedup over its own 1-carrier time is: " + "; ".join(parts) + fig("speedup") + ".")
    hr = http_ratios(rs)
    if hr:
        lo_c = min(r.connections for r in hr)
        hi_c = max(r.connections for r in hr)
        parts = []
        for c in sorted({lo_c, hi_c}):
            at = [r for r in hr if r.connections == c]
            best = max(at, key=lambda r: r.ratio.value)
            worst = min(at, key=lambda r: r.ratio.value)
            s_ = seed.http_ratio_at(c)
            parts.append(f"at {c:,.0f} connections {worst.ratio.value:.3g}x to "
                         f"{best.ratio.text(margin=margin)} ({worst.entry.label} to {best.entry.label})"
                         + (f" against the seed's {s_:.3g}x" if s_ else ""))
        near = min(seed.HTTP, key=lambda t: abs(t[0] - hi_c))
        if seed.http_ratio_at(hi_c) is None:
            parts.append(f"the seed's nearest point, {near[0]:,}, had {near[2] / near[1]:.3g}x")
        out.append(f"Fibers over threads in HTTP requests/s ({sweep_registration(rs)} registration): "
                   + "; ".join(parts) + fig("http_ratio") + ".")
    lat = {}
    for e in rs.ok("timers"):
        if "lateness_p99_us" in e.metrics and not e.is_peer:
            lat.setdefault(e.params.get("fibers"), {}).setdefault(e.dim("scheduler"), []).append(
                e.metrics["lateness_p99_us"].median)
    if lat:
        f = max(lat, key=lambda v: _num(v) or 0)
        parts = [f"{sc} {fmt3(stats.median(v))} µs (median of {len(v)} variants, range "
                 f"{fmt3(min(v))}–{fmt3(max(v))})" for sc, v in sorted(lat[f].items())]
        out.append(f"With {_num(f):,.0f} sleeping fibers the p99 wake lateness is "
                   + " against ".join(parts) + fig("timers_cdf") + ".")
    fit = scan_rate(rs)
    if fit is not None:
        iv = (f" [{1 / fit.interval[1]:.3g}–{1 / fit.interval[0]:.3g}]"
              if fit.interval and fit.interval[0] > 0 else "")
        out.append(f"The collection pause follows the stack bytes pushed to the collector: "
                   f"one line fits {fit.points} cells at {fit.mib_per_ms:.3g} MiB per ms{iv} "
                   f"plus {fit.intercept_ms:.3g} ms{fig('gc_scan_rate')}.")
    mem = stack_memory_sentence(rs)
    if mem:
        out.append(mem + fig("memory_fiber") + ".")
    idle = [e for e in rs.ok("http") if "kib_per_conn" in e.metrics and not http_load(e)]
    if idle:
        c = max(_num(e.params.get("connections")) or 0 for e in idle)
        at = [e for e in idle if (_num(e.params.get("connections")) or 0) == c]
        fib = [e for e in at if e.variant is not None]
        thr = [e for e in at if e.peer == "threads"]
        if fib and thr:
            lo = min(fib, key=lambda e: e.metrics["kib_per_conn"].median)
            t = thr[0].metrics["kib_per_conn"]
            out.append(f"An idle connection costs {lo.metrics['kib_per_conn'].median:.3g} KiB "
                       f"with fibers ({lo.label}) against {t.median:.3g} KiB with a thread "
                       f"each, at {c:,.0f} connections (n = {len(t.samples)}: no interval)"
                       + fig("memory_connection") + ".")
    return out[:10]
