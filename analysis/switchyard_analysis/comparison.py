"""Comparisons: two results folders against each other, and variants within one folder.

Two folders (base, new), in the manner of Google Benchmark's tools/compare.py: per
(scenario, label, params, metric) the relative change of the medians, a two-sided
Mann-Whitney U test over the repetitions' samples, "unreliable" below 9 repetitions, and
geometric-mean rows. Instruction counts (callgrind) are nearly deterministic: they are
judged by a small relative tolerance instead of the test.

A regression is a change in the worse direction larger than the threshold that the
statistics do not contradict: with at least 9 samples on both sides it must also be
significant (p < alpha); with fewer, the threshold alone decides and the row says
"unreliable". Instruction counts regress when worse by more than max(threshold, tolerance).
"""

from dataclasses import dataclass

from .results import label_sort_key, lower_is_better, params_order, params_text
from .stats import geomean, mann_whitney_u

MIN_RELIABLE = 9
INSTRUCTIONS = "instructions_per_op"


@dataclass
class Row:
    scenario: str
    label: str
    params: str
    metric: str
    unit: str
    base: float
    new: float
    change: float          # new / base - 1
    p: object              # float or None
    n_base: int
    n_new: int
    unreliable: bool
    verdict: str           # better | worse | same | changed | n/a

    @property
    def cost_ratio(self):
        """>1 means worse, whatever the metric's direction; None without a direction."""
        d = lower_is_better(self.metric)
        if d is None or self.base <= 0 or self.new <= 0:
            return None
        return self.new / self.base if d else self.base / self.new


def _index(rs, metrics):
    out = {}
    for e in rs.ok():
        for name, m in e.metrics.items():
            if metrics and name not in metrics:
                continue
            out[(e.scenario, e.label, params_text(e.params), name)] = (e, m)
    return out


def compare_sets(base, new, metrics=None, alpha=0.05, instr_tolerance=0.01):
    """Rows for every measurement present, ok, in both folders (sorted for reading), and the
    keys present in only one of them."""
    bi, ni = _index(base, metrics), _index(new, metrics)
    rows = []
    for key in sorted(set(bi) & set(ni), key=lambda k: (
            k[0], label_sort_key(ni[k][0]), params_order(ni[k][0].params), k[3])):
        bm, nm = bi[key][1], ni[key][1]
        change = (nm.median / bm.median - 1.0) if bm.median != 0 else float("inf")
        direction = lower_is_better(key[3])
        p = None
        if bm.samples and nm.samples:
            p = mann_whitney_u(bm.samples, nm.samples)["p"]
        n_b, n_n = len(bm.samples), len(nm.samples)
        if key[3] == INSTRUCTIONS:
            unreliable = False
            moved = abs(change) > instr_tolerance
        else:
            unreliable = min(n_b, n_n) < MIN_RELIABLE
            moved = change != 0 and (p is not None and p < alpha)
        if not moved and unreliable and change != 0 and direction is not None:
            # Too few repetitions for the test to decide: show the direction, unconfirmed.
            verdict = ("worse?" if (change > 0) == direction else "better?")
        elif not moved:
            verdict = "same"
        elif direction is None:
            verdict = "changed"
        else:
            verdict = "worse" if (change > 0) == direction else "better"
        rows.append(Row(key[0], key[1], key[2], key[3], nm.unit, bm.median, nm.median, change, p,
                        n_b, n_n, unreliable, verdict))
    only_base = sorted(set(bi) - set(ni))
    only_new = sorted(set(ni) - set(bi))
    return rows, only_base, only_new


def geomean_rows(rows):
    """Per metric: geometric mean of new/base. Overall: geometric mean of the cost ratio
    (new/base for lower-is-better, base/new for higher-is-better; > 1 is worse)."""
    per_metric = {}
    for r in rows:
        if r.base > 0 and r.new > 0:
            per_metric.setdefault(r.metric, []).append(r.new / r.base)
    out = [(f"geomean {m} (new/base)", geomean(v), len(v)) for m, v in sorted(per_metric.items())]
    costs = [r.cost_ratio for r in rows if r.cost_ratio is not None]
    if costs:
        out.append(("GEOMEAN all metrics (cost ratio, >1 = worse)", geomean(costs), len(costs)))
    return out


def regressions(rows, threshold_pct, metrics=None, alpha=0.05, instr_tolerance=0.01):
    out = []
    for r in rows:
        if metrics and r.metric not in metrics:
            continue
        d = lower_is_better(r.metric)
        if d is None:
            continue
        worse_by = r.change if d else -r.change       # fraction worse
        if r.metric == INSTRUCTIONS:
            if worse_by * 100 > max(threshold_pct, instr_tolerance * 100):
                out.append(r)
            continue
        if worse_by * 100 <= threshold_pct:
            continue
        if r.unreliable or (r.p is not None and r.p < alpha) or r.p is None:
            out.append(r)
    return out


# ---- text tables for the CI log ---------------------------------------------------------

def _num(v):
    if v is None:
        return "-"
    a = abs(v)
    if a >= 1e5:
        return f"{v:,.0f}"
    if a >= 100:
        return f"{v:.1f}"
    return f"{v:.3g}"


def text_table(header, rows, align=None):
    """Columns padded to width; header cells may hold several lines ('\\n')."""
    hl = [h.split("\n") for h in header]
    depth = max(len(h) for h in hl)
    hl = [[""] * (depth - len(h)) + h for h in hl]
    widths = [max([len(x) for x in hl[i]] + [len(str(r[i])) for r in rows]) for i in range(len(header))]
    align = align or ["<"] + [">"] * (len(header) - 1)
    lines = []
    for d in range(depth):
        lines.append("  ".join(f"{hl[i][d]:{align[i]}{widths[i]}}" for i in range(len(header))).rstrip())
    lines.append("  ".join("-" * w for w in widths))
    for r in rows:
        lines.append("  ".join(f"{str(r[i]):{align[i]}{widths[i]}}" for i in range(len(header))).rstrip())
    return "\n".join(lines)


def format_comparison(rows, only_base, only_new, regs=()):
    reg_ids = {id(r) for r in regs}
    body = []
    for r in rows:
        p = "-" if r.p is None else (f"{r.p:.4f}" if r.p >= 0.001 else f"{r.p:.1e}")
        flag = ("unreliable" if r.unreliable else "") + (" REGRESSION" if id(r) in reg_ids else "")
        body.append([r.scenario, r.label, r.params or "-", r.metric, _num(r.base), _num(r.new),
                     f"{r.change * 100:+.1f}%", p, f"{r.n_base}/{r.n_new}", r.verdict, flag.strip()])
    out = [text_table(["scenario", "label", "params", "metric", "base", "new", "change",
                       "p (MWU)", "n", "verdict", "flags"], body,
                      ["<", "<", "<", "<", ">", ">", ">", ">", ">", "<", "<"])]
    g = geomean_rows(rows)
    if g:
        out.append("")
        out.append(text_table(["geometric mean", "value", "rows"],
                              [[name, f"{v:.4f}", str(n)] for name, v, n in g]))
    if only_base:
        out.append(f"\nonly in base ({len(only_base)}): " +
                   "; ".join(" ".join(x for x in k if x) for k in only_base[:20]) +
                   (" ..." if len(only_base) > 20 else ""))
    if only_new:
        out.append(f"\nonly in new ({len(only_new)}): " +
                   "; ".join(" ".join(x for x in k if x) for k in only_new[:20]) +
                   (" ..." if len(only_new) > 20 else ""))
    return "\n".join(out)


# ---- variants within one folder ------------------------------------------------------------

def variant_tables(rs, reference="asm-pooled-fifo", include_peers=False):
    """Per scenario: rows = (metric, params), columns = variants (or switch backends); the
    reference column shows the median with its unit, the others the ratio to it."""
    ref_switch = reference.split("-")[0]
    out = []
    scenarios = []
    for e in rs.ok():
        if e.scenario not in scenarios:
            scenarios.append(e.scenario)
    for scen in scenarios:
        es = [e for e in rs.ok(scen) if include_peers or not e.is_peer]
        if not es:
            continue
        cols = []
        for e in sorted(es, key=label_sort_key):
            if e.label not in cols:
                cols.append(e.label)
        ref = reference if reference in cols else (ref_switch if ref_switch in cols else cols[0])
        cells, order = {}, {}
        for e in es:
            for name, m in e.metrics.items():
                cells.setdefault((name, params_text(e.params)), {})[e.label] = m
                order[(name, params_text(e.params))] = (name, params_order(e.params))
        rows = []
        for (name, params) in sorted(cells, key=lambda k: order[k]):
            line = cells[(name, params)]
            refm = line.get(ref)
            row = [f"{name} {params}".strip()]
            for c in cols:
                m = line.get(c)
                if m is None:
                    row.append("-")
                elif c == ref:
                    row.append(f"{_num(m.median)} {m.unit}")
                elif refm is None or refm.median == 0:
                    row.append(f"{_num(m.median)} {m.unit}")
                else:
                    row.append(f"{m.median / refm.median:.2f}x")
            rows.append(row)
        header = [f"{scen} (ratio to {ref})"] + [c.replace("-", "\n") for c in cols]
        out.append(text_table(header, rows))
    return "\n\n".join(out)


@dataclass
class Invariant:
    name: str
    status: str          # PASS | FAIL | NOT CHECKED
    details: list


def _pick_backend(entries, name):
    """The entry for a switch backend: the label itself, else the first with that dimension."""
    exact = [e for e in entries if e.label == name]
    if exact:
        return exact[0]
    dims = sorted((e for e in entries if e.dim("switch") == name), key=label_sort_key)
    return dims[0] if dims else None


def _pairs_by(entries, key_fn, side_fn, lo, hi):
    groups = {}
    for e in entries:
        k = key_fn(e)
        if k is None:
            continue
        groups.setdefault(k, {}).setdefault(side_fn(e), []).append(e)
    for k, g in sorted(groups.items(), key=lambda kv: str(kv[0])):
        if g.get(lo) and g.get(hi):
            yield k, g[lo][0], g[hi][0]


def _judge(name, pairs, metric, lo_name, hi_name):
    details, failed = [], False
    for k, a, b in pairs:
        ma, mb = a.metrics[metric].median, b.metrics[metric].median
        ok = ma < mb
        failed |= not ok
        details.append(f"{'ok  ' if ok else 'FAIL'} {k}: {a.label} {_num(ma)} "
                       f"{'<' if ok else '>='} {b.label} {_num(mb)} {a.metrics[metric].unit} "
                       f"(ratio {ma / mb:.3f})" if mb else f"{k}: {b.label} is 0")
    if not details:
        return Invariant(name, "NOT CHECKED", [f"no data: needs {metric} for both {lo_name} and {hi_name}"])
    return Invariant(name, "FAIL" if failed else "PASS", details)


def check_invariants(rs):
    """Invariants that hold on any machine. Missing data is 'NOT CHECKED', never a pass."""
    results = []

    # 1. Fewer instructions per operation with asm than with ucontext (any scenario).
    with_insns = [e for e in rs.ok() if INSTRUCTIONS in e.metrics]
    pairs = []
    for scen in sorted({e.scenario for e in with_insns}):
        es = [e for e in with_insns if e.scenario == scen]
        variants = [e for e in es if e.variant is not None]
        pairs += list(_pairs_by(
            variants, lambda e: f"{scen} {e.dim('stacks')}-{e.dim('scheduler')} {params_text(e.params)}".strip(),
            lambda e: e.dim("switch"), "asm", "ucontext"))
        backends = [e for e in es if e.variant is None and not e.is_peer]
        for params in sorted({params_text(e.params) for e in backends}):
            same = [e for e in backends if params_text(e.params) == params]
            a, u = _pick_backend(same, "asm"), _pick_backend(same, "ucontext")
            if a and u:
                pairs.append((f"{scen} {params}".strip(), a, u))
    results.append(_judge("instructions per op: asm < ucontext", pairs, INSTRUCTIONS, "asm", "ucontext"))

    # 2. Pooled spawn+join cheaper than fresh, same switch and scheduler.
    es = [e for e in rs.ok("spawn_join") if e.variant is not None and "ns_per_spawn_join" in e.metrics]
    pairs = list(_pairs_by(es, lambda e: f"{e.dim('switch')}-*-{e.dim('scheduler')} {params_text(e.params)}".strip(),
                           lambda e: e.dim("stacks"), "pooled", "fresh"))
    results.append(_judge("spawn_join: pooled cheaper than fresh", pairs, "ns_per_spawn_join",
                          "pooled", "fresh"))

    # 3. The asm switch is cheaper than ucontext's (which makes a signal-mask system call).
    es = [e for e in rs.ok("switch") if "ns_per_switch" in e.metrics and not e.is_peer]
    pairs = []
    for params in sorted({params_text(e.params) for e in es}):
        same = [e for e in es if params_text(e.params) == params]
        a, u = _pick_backend(same, "asm"), _pick_backend(same, "ucontext")
        if a and u:
            pairs.append((f"switch {params}".strip(), a, u))
    results.append(_judge("switch: asm cheaper than ucontext", pairs, "ns_per_switch", "asm", "ucontext"))
    return results


def format_invariants(invs):
    lines = []
    for inv in invs:
        status = "NOT CHECKED (no data)" if inv.status == "NOT CHECKED" else inv.status
        lines.append(f"{status:<22} {inv.name}")
        lines += [f"    {d}" for d in inv.details]
    return "\n".join(lines)
