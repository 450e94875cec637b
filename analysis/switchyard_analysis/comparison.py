"""Comparisons: two results sets against each other, and variants within one folder.

Two sets (base, new; each a results folder or a single results file), in the manner of
benchstat and Google Benchmark's tools/compare.py: per (scenario, label, params, metric)
the medians, the relative change (delta) with the 95 % bootstrap interval of the ratio of
medians (by round where the data carries rounds, schema 2, taken from the loader's
Metric.rounds so that a measurement pooled from several files keeps each file's rounds;
paired by round when both sides come from the same files, see inference.py), a
two-sided p-value (inference.two_sample_test: Mann-Whitney U of the samples, or a t-test of
round medians when both sides have rounds), the sample counts, and geometric-mean rows.

A difference is claimed ("better", "worse", "changed") only when the test rejects at
alpha AND the interval of the ratio excludes 1; otherwise the verdict is "~" (no
significant difference), with a note saying why when that is not plain: too few samples
for the test to reach alpha at all (n = 3 against 3 cannot go below p = 0.1), test and
interval disagreeing, or a change within the noise floor. Instruction counts (callgrind)
are nearly deterministic: they are judged by a small relative tolerance instead.

A regression is a "worse" row past the threshold. Rows measured on different hosts are
marked cross-host and are not counted unless asked (cross_host=True): a difference there
mixes code and machine. Rows with too few samples are counted on the threshold alone only
when asked (small_by_threshold=True).
"""

import csv
import difflib
import io
import json
import math
import os
import textwrap
from dataclasses import asdict, dataclass, field

from . import inference
from .hosts import (HOST_FIELDS, host_differences, host_identity, host_labels,  # noqa: F401
                    host_text, split_by_host)
from .results import (ResultSet, ResultsError, label_sort_key, load_file, load_folder,
                      lower_is_better, params_order, params_text, sample_rounds)
from .stats import geomean

MIN_RELIABLE = 9
INSTRUCTIONS = "instructions_per_op"
WIDTH = 120


# ---- inputs: folders or files ------------------------------------------------------------

def one_host(rs):
    """rs, or ResultsError when its files come from several hosts: measurements of one name
    from two machines are not one measurement, and comparing either side's would be a
    guess."""
    if len(rs.hosts) > 1:
        names = "; ".join(f"{label}: {', '.join(os.path.basename(p) for p in s.files)}"
                          for label, s in zip(host_labels(rs.hosts), split_by_host(rs)))
        raise ResultsError(f"{rs.folder}: results from {len(rs.hosts)} hosts ({names}); "
                           "compare one host's files: put each host's in a folder of its own")
    return rs


def load_input(path):
    """A results folder (every *.json in it, from one host) or one results file, as a
    ResultSet."""
    if os.path.isdir(path):
        return one_host(load_folder(path))
    if not os.path.exists(path):
        raise ResultsError(f"{path}: no such results file or folder")
    doc, entries = load_file(path)
    rs = ResultSet(path, files=[path], machine=doc["machine"], build=doc["build"],
                   machines=[(path, doc["machine"])], warnings=list(doc.get("_warnings", [])),
                   builds={path: doc["build"]}, designs={path: doc.get("design")},
                   noise_floors={path: doc.get("noise_floor")})
    seen = {}
    for e in entries:
        old = seen.get(e.key()) if e.status == "ok" else None
        if old is None:
            if e.status == "ok":
                seen[e.key()] = e
            rs.entries.append(e)
        else:
            # As load_folder does within one file: a later entry for the same measurement
            # adds (or replaces) its metrics on the first one.
            old.metrics.update(e.metrics)
    return rs


def noise_text(floors):
    """'floor 1.2%, drift +0.4% (3 files)' for the widest margin among floors, or None."""
    if not floors:
        return None
    _, nf = max(floors, key=lambda pf: pf[1].margin)
    more = f", widest of {len(floors)} files" if len(floors) > 1 else ""
    return f"floor {nf.floor * 100:.1f}%, drift {nf.drift * 100:+.1f}%{more}"


def _machine_of(rs):
    by_file = dict(rs.machines)
    return lambda e: by_file.get(e.source, rs.machine)


# ---- names: every name the user gives must exist -------------------------------------------

class UnknownName(ValueError):
    """A name given on the command line that is not in the data (message lists the valid ones)."""


def check_names(kind, given, valid):
    """Raise UnknownName for the first given name not in valid, listing the valid names and
    the closest one."""
    valid = sorted(set(valid))
    for g in given:
        if g not in valid:
            close = difflib.get_close_matches(g, valid, n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            raise UnknownName(f"unknown {kind} '{g}'{hint}; valid {kind}s here: " +
                             (", ".join(valid) if valid else "(none)"))


def names_in(*sets):
    """Scenario, label (variants, switch backends, peers) and metric names of ok entries."""
    scen, labels, metrics, backends = set(), set(), set(), set()
    for rs in sets:
        for e in rs.ok():
            scen.add(e.scenario)
            labels.add(e.label)
            metrics.update(e.metrics)
            if e.dim("switch"):
                backends.add(e.dim("switch"))
    return {"scenario": scen, "label": labels, "metric": metrics, "backend": backends}


# ---- two sets --------------------------------------------------------------------------

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
    unreliable: bool       # fewer than MIN_RELIABLE samples on a side
    verdict: str           # better | worse | changed | ~
    ci_low: object = None  # interval of new/base - 1 (None: not computed)
    ci_high: object = None
    ci_method: str = ""
    runs_base: int = 0     # distinct run indices (0: the data carries none)
    runs_new: int = 0
    cross_host: bool = False
    hosts_differ: list = field(default_factory=list)
    below_noise: bool = False
    trend: str = ""        # "base: ...; new: ..." when a side drifts
    test: str = ""         # what gave p: "MWU" (samples) or a t-test of round medians
    notes: list = field(default_factory=list)

    @property
    def cost_ratio(self):
        """>1 means worse, whatever the metric's direction; None without a direction."""
        d = lower_is_better(self.metric)
        if d is None or self.base <= 0 or self.new <= 0:
            return None
        return self.new / self.base if d else self.base / self.new

    def worse_by(self):
        """Fraction worse (negative: better); None without a direction."""
        d = lower_is_better(self.metric)
        if d is None:
            return None
        return self.change if d else -self.change

    def name(self):
        return f"{self.label} {self.params}".strip()


def _index(rs, metrics, labels=None, scenarios=None):
    out = {}
    machine = _machine_of(rs)
    for e in rs.ok():
        if (labels and e.label not in labels) or (scenarios and e.scenario not in scenarios):
            continue
        for name, m in e.metrics.items():
            if metrics and name not in metrics:
                continue
            out[(e.scenario, e.label, params_text(e.params), name)] = (e, m, machine(e))
    return out


def _judge_row(row, bm, nm, runs_b, runs_n, paired, alpha, instr_tolerance, noise_floor):
    direction = lower_is_better(row.metric)
    if row.metric == INSTRUCTIONS:
        row.unreliable = False
        moved = abs(row.change) > instr_tolerance
        if moved:
            row.verdict = "changed" if direction is None else (
                "worse" if (row.change > 0) == direction else "better")
        return
    if bm.samples and nm.samples:
        t = inference.two_sample_test(bm.samples, nm.samples, runs_b, runs_n, paired)
        row.p, row.test = t.p, t.method
        if bm.median > 0 and nm.median > 0:
            ci = inference.ratio_ci(bm.samples, nm.samples, runs_b, runs_n, paired)
            row.ci_low, row.ci_high, row.ci_method = ci.low - 1.0, ci.high - 1.0, ci.method
    tb = inference.trend_in_runs(bm.samples, runs_b) if bm.samples else None
    tn = inference.trend_in_runs(nm.samples, runs_n) if nm.samples else None
    row.trend = "; ".join(f"{side} {t.reason}" for side, t in (("base", tb), ("new", tn))
                          if t is not None and t.flagged)
    if row.trend:
        row.notes.append(f"trend within a sample ({row.trend}): warm-up or drift")
    test_rejects = row.p is not None and row.p < alpha
    ci_excludes = row.ci_low is not None and not (row.ci_low <= 0.0 <= row.ci_high)
    if row.change == 0 or row.base == 0:
        return
    if inference.below_noise_floor(row.change, noise_floor):
        row.below_noise = True
        row.notes.append(f"within the noise floor of {noise_floor * 100:.1f}%")
        return
    smallest = inference.smallest_p(row.n_base, row.n_new) if row.test == "MWU" else 0.0
    if smallest >= alpha:
        row.notes.append(f"n={row.n_base}/{row.n_new}: too few samples for p<{alpha:g} "
                         f"(smallest possible p {smallest:.2g})")
        return
    if test_rejects != ci_excludes:
        row.notes.append("test and interval disagree: not claimed")
        return
    if test_rejects:
        row.verdict = "changed" if direction is None else (
            "worse" if (row.change > 0) == direction else "better")


def compare_sets(base, new, metrics=None, alpha=0.05, instr_tolerance=0.01, noise_floor=None,
                 labels=None, scenarios=None):
    """Rows for every measurement present, ok, in both sets (sorted for reading), and the keys
    present in only one of them."""
    bi = _index(base, metrics, labels, scenarios)
    ni = _index(new, metrics, labels, scenarios)
    rows = []
    for key in sorted(set(bi) & set(ni), key=lambda k: (
            k[0], k[3], label_sort_key(ni[k][0]), params_order(ni[k][0].params))):
        (be, bm, bmach), (ne, nm, nmach) = bi[key], ni[key]
        change = (nm.median / bm.median - 1.0) if bm.median != 0 else float("inf")
        rb, rn = sample_rounds(be, key[3]), sample_rounds(ne, key[3])
        row = Row(key[0], key[1], key[2], key[3], nm.unit, bm.median, nm.median, change, None,
                  len(bm.samples), len(nm.samples),
                  min(len(bm.samples), len(nm.samples)) < MIN_RELIABLE, "~",
                  runs_base=len(set(rb)) if rb else 0, runs_new=len(set(rn)) if rn else 0)
        row.hosts_differ = host_differences(bmach, nmach)
        row.cross_host = bool(row.hosts_differ)
        # Rounds are shared only within one invocation (the same files): run 0 of a base
        # folder and run 0 of a new folder were different processes at different times.
        _judge_row(row, bm, nm, rb, rn, be.sources == ne.sources, alpha, instr_tolerance,
                   noise_floor)
        rows.append(row)
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


def gate(rows, threshold_pct, metrics=None, instr_tolerance=0.01, small_by_threshold=False,
         cross_host=False):
    """(regressions, held back). A regression: worse past the threshold and claimed by the
    statistics (instruction counts: past max(threshold, tolerance)). Held back, with the
    reason: rows worse past the threshold that are not counted, because they compare two
    hosts (without cross_host) or have too few samples for the test (without
    small_by_threshold, which then counts them on the threshold alone)."""
    regs, held = [], []
    for r in rows:
        if metrics and r.metric not in metrics:
            continue
        worse_by = r.worse_by()
        if worse_by is None:
            continue
        if r.metric == INSTRUCTIONS:
            past = worse_by * 100 > max(threshold_pct, instr_tolerance * 100)
            claimed = past
        else:
            past = worse_by * 100 > threshold_pct
            claimed = r.verdict == "worse"
            if (not claimed and past and r.unreliable and not r.below_noise
                    and small_by_threshold):
                claimed = True
                note = "counted on the threshold alone (--small-samples-by-threshold)"
                if note not in r.notes:
                    r.notes.append(note)
        if not past:
            continue
        if claimed and r.cross_host and not cross_host:
            held.append((r, "cross-host (" + ", ".join(r.hosts_differ) + " differ): "
                         "not counted without --cross-host"))
        elif claimed:
            regs.append(r)
        elif r.unreliable and not r.below_noise:
            held.append((r, "too few samples to confirm: not counted without "
                            "--small-samples-by-threshold"))
    return regs, held


def regressions(rows, threshold_pct, metrics=None, alpha=0.05, instr_tolerance=0.01,
                small_by_threshold=False, cross_host=False):
    return gate(rows, threshold_pct, metrics, instr_tolerance, small_by_threshold, cross_host)[0]


# ---- output ------------------------------------------------------------------------------

def _num(v):
    if v is None:
        return "-"
    a = abs(v)
    if a >= 1e5:
        return f"{v:,.0f}"
    if a >= 100:
        return f"{v:.1f}"
    return f"{v:.3g}"


def _pct(v):
    return "-" if v is None or not math.isfinite(v) else f"{v * 100:+.1f}%"


def _p(p):
    return "-" if p is None else (f"{p:.3f}" if p >= 0.001 else f"{p:.0e}")


def _n(r):
    n = f"{r.n_base}/{r.n_new}"
    if r.runs_base or r.runs_new:
        n += f" ({r.runs_base}/{r.runs_new} runs)"
    return n


def _ci(r):
    return "-" if r.ci_low is None else f"[{_pct(r.ci_low)}, {_pct(r.ci_high)}]"


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


def _fitted(header, rows, align, width):
    """A table whose first column shrinks so lines fit `width`; a first cell longer than
    its column goes on a line of its own, the values on the next."""
    rest = [max([len(header[i])] + [len(str(r[i])) for r in rows]) for i in range(1, len(header))]
    room = width - sum(rest) - 2 * (len(header) - 1)
    if room < 16:
        # Not even a short name fits beside the values: every name on a line of its own.
        widths = rest

        def values(cells):
            return "  ".join(f"{str(c):{a}{w}}" for c, a, w in zip(cells, align[1:], widths)).rstrip()
        out = [header[0], values(header[1:]), "  ".join("-" * w for w in widths)]
        for r in rows:
            out += [wrap(str(r[0]), width), values(r[1:])]
        return out
    w0 = max(len(header[0]), min(max([len(str(r[0])) for r in rows] + [0]), room))
    widths = [w0] + rest

    def line(cells):
        return "  ".join(f"{str(c):{a}{w}}" for c, a, w in zip(cells, align, widths)).rstrip()
    out = [line(header), "  ".join("-" * w for w in widths)]
    for r in rows:
        if len(str(r[0])) > w0:
            out.append(wrap(str(r[0]), width))
            out.append(line([""] + list(r[1:])))
        else:
            out.append(line(r))
    return out


def _verdict_cell(r, reg_ids, held_ids, note_no):
    v = r.verdict
    if id(r) in reg_ids:
        v += " REGRESSION"
    elif id(r) in held_ids:
        v += " (held)"
    if r.cross_host:
        v += " x-host"
    marks = "".join(f"({note_no[n]})" for n in r.notes)
    return f"{v} {marks}".strip()


def format_comparison(rows, only_base, only_new, regs=(), held=(), width=WIDTH, alpha=0.05):
    """The text table for a CI log: one block per (scenario, metric), lines within `width`;
    notes numbered below the blocks."""
    reg_ids = {id(r) for r in regs}
    held_ids = {id(r) for r, _ in held}
    note_no = {}
    for r in rows:
        for n in r.notes:
            note_no.setdefault(n, len(note_no) + 1)
    out = []
    align = ["<", ">", ">", ">", ">", ">", ">", "<"]
    blocks = {}
    for r in rows:
        blocks.setdefault((r.scenario, r.metric, r.unit), []).append(r)
    for (scen, metric, unit), rs in blocks.items():
        out.append(f"{scen} · {metric} ({unit})")
        tests = {r.test for r in rs if r.test}
        # The p column names its test: MWU over samples, or a t-test over round medians
        # (rows whose sides both have rounds); a block mixing them says "p" and the notes.
        p_head = f"p ({tests.pop()})" if len(tests) == 1 else "p"
        header = ["label params", "old", "new", "delta", "95% CI of delta", p_head, "n", "verdict"]
        body = [[r.name(), _num(r.base), _num(r.new), _pct(r.change), _ci(r), _p(r.p), _n(r),
                 _verdict_cell(r, reg_ids, held_ids, note_no)] for r in rs]
        out += ["  " + ln for ln in _fitted(header, body, align, width - 2)]
        out.append("")
    out.append(wrap(f"~ : no significant difference (p >= {alpha:g} or the 95% interval of "
                    "the ratio of medians includes 1); x-host: base and new from different hosts",
                    width))
    for n, k in note_no.items():
        out.append(wrap(f"({k}) {n}", width))
    g = geomean_rows(rows)
    if g:
        out.append("")
        out.append(text_table(["geometric mean", "value", "rows"],
                              [[name, f"{v:.4f}", str(n)] for name, v, n in g]))
    for what, keys in (("only in base", only_base), ("only in new", only_new)):
        if keys:
            out.append("")
            out.append(wrap(f"{what} ({len(keys)}): " +
                            "; ".join(" ".join(x for x in k if x) for k in keys[:20]) +
                            (" ..." if len(keys) > 20 else ""), width))
    return "\n".join(out)


def wrap(text, width=WIDTH, indent="    "):
    """Text folded to `width` (continuation lines indented); nothing is cut off."""
    return textwrap.fill(text, width, subsequent_indent=indent, break_long_words=True,
                         break_on_hyphens=False)


CSV_FIELDS = ["scenario", "label", "params", "metric", "unit", "base", "new", "change",
              "ci_low", "ci_high", "ci_method", "p", "test", "n_base", "n_new", "runs_base", "runs_new",
              "verdict", "regression", "held", "cross_host", "unreliable", "below_noise", "notes"]


def row_record(r, reg_ids=(), held=None):
    d = asdict(r)
    d["regression"] = id(r) in reg_ids
    d["held"] = (held or {}).get(id(r), "")
    d["hosts_differ"] = list(r.hosts_differ)
    return d


def format_csv(rows, regs=(), held=()):
    reg_ids, held_map = {id(r) for r in regs}, {id(r): why for r, why in held}
    buf = io.StringIO()
    w = csv.DictWriter(buf, CSV_FIELDS, extrasaction="ignore", lineterminator="\n")
    w.writeheader()
    for r in rows:
        d = row_record(r, reg_ids, held_map)
        d["notes"] = "; ".join(r.notes)
        w.writerow(d)
    return buf.getvalue().rstrip("\n")


def format_json(rows, only_base, only_new, regs=(), held=(), context=None):
    reg_ids, held_map = {id(r) for r in regs}, {id(r): why for r, why in held}
    doc = dict(context or {})
    doc["rows"] = [row_record(r, reg_ids, held_map) for r in rows]
    doc["geomean"] = [{"name": n, "value": v, "rows": k} for n, v, k in geomean_rows(rows)]
    doc["regressions"] = [f"{r.scenario} {r.name()} {r.metric}" for r in regs]
    doc["held_back"] = [{"row": f"{r.scenario} {r.name()} {r.metric}", "why": why}
                        for r, why in held]
    doc["only_base"] = [list(k) for k in only_base]
    doc["only_new"] = [list(k) for k in only_new]
    return json.dumps(doc, indent=1)


def format_markdown(rows, only_base, only_new, regs=(), held=(), alpha=0.05, intro=()):
    """One table of every row; `intro` lines (the two sides) above it."""
    reg_ids, held_ids = {id(r) for r in regs}, {id(r) for r, _ in held}
    note_no = {}
    for r in rows:
        for n in r.notes:
            note_no.setdefault(n, len(note_no) + 1)
    head = ["scenario", "label", "params", "metric", "old", "new", "delta", "95% CI", "p", "n",
            "verdict"]
    out = [f"{ln}  " for ln in intro] + ([""] if intro else [])
    out += ["| " + " | ".join(head) + " |", "|" + "|".join(["---"] * 4 + ["---:"] * 6 + ["---"]) + "|"]
    for r in rows:
        cells = [r.scenario, r.label, r.params or "-", r.metric, f"{_num(r.base)} {r.unit}",
                 f"{_num(r.new)} {r.unit}", _pct(r.change), _ci(r), _p(r.p), _n(r),
                 _verdict_cell(r, reg_ids, held_ids, note_no).replace("~", "\\~")]
        out.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    out.append("")
    out.append(f"\\~ : no significant difference (p >= {alpha:g} or the 95% interval of the "
               "ratio of medians includes 1).")
    for n, k in note_no.items():
        out.append(f"({k}) {n}  ")
    g = geomean_rows(rows)
    if g:
        out += ["", "| geometric mean | value | rows |", "|---|---:|---:|"]
        out += [f"| {name} | {v:.4f} | {n} |" for name, v, n in g]
    if regs or held:
        out += ["", f"Regressions: {len(regs)}" + "".join(
            f"\n- {r.scenario} {r.name()} {r.metric}: {_pct(r.change)}" for r in regs)]
        out += [f"- not counted: {r.scenario} {r.name()} {r.metric}: {_pct(r.change)}, {why}"
                for r, why in held]
    return "\n".join(out)


# ---- variants within one folder ------------------------------------------------------------

def variant_tables(rs, reference="asm-pooled-fifo", include_peers=False, metrics=None,
                   labels=None, scenarios=None, width=WIDTH):
    """Per scenario: rows = (metric, params), columns = variants (or switch backends); the
    reference column shows the median with its unit, the others the ratio to it. A scenario
    without the reference (nor its switch backend) uses its first column, and says so."""
    ref_switch = reference.split("-")[0]
    out = []
    for scen in _scenarios_in_order(rs, scenarios):
        es = [e for e in rs.ok(scen) if (include_peers or not e.is_peer)
              and (not labels or e.label in labels)]
        if not es:
            continue
        cols = []
        for e in sorted(es, key=label_sort_key):
            if e.label not in cols:
                cols.append(e.label)
        ref = reference if reference in cols else (ref_switch if ref_switch in cols else cols[0])
        # Parameters every entry shares are said once above the table, so row names stay short.
        shared = {k: v for k, v in es[0].params.items()
                  if all(k in e.params and e.params[k] == v for e in es)}
        cells, order = {}, {}
        for e in es:
            rest = params_text({k: v for k, v in e.params.items() if k not in shared})
            for name, m in e.metrics.items():
                if metrics and name not in metrics:
                    continue
                cells.setdefault((name, rest), {})[e.label] = m
                order[(name, rest)] = (name, params_order(e.params))
        if not cells:
            continue
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
        missing = "" if ref in (reference, ref_switch) else f"; {reference} not measured here"
        header = [f"{scen} (ratio to {ref}{missing})"] + [c.replace("-", "\n") for c in cols]
        table = _split_columns(header, rows, width)
        if shared:
            table = wrap(f"{scen}, every row: {params_text(shared)}", width) + "\n" + table
        out.append(table)
    return "\n\n".join(out)


def _split_columns(header, rows, width):
    """text_table within `width`: a first cell longer than half the width goes on a line of
    its own above its values, and the value columns are cut into several tables (each
    repeating the first column) when one table would still be wider."""
    cap = max(width // 2, max(len(x) for x in header[0].split("\n")))

    def table(cols):
        short = [[r[0] if len(str(r[0])) <= cap else ""] + [r[i] for i in cols] for r in rows]
        lines = text_table([header[0]] + [header[i] for i in cols], short).split("\n")
        depth = len(lines) - len(rows)
        out = lines[:depth]
        for r, ln in zip(rows, lines[depth:]):
            if len(str(r[0])) > cap:
                out.append(wrap(str(r[0]), width))
            out.append(ln)
        return "\n".join(out)
    whole = table(range(1, len(header)))
    if max(len(ln) for ln in whole.splitlines()) <= width or len(header) <= 2:
        return whole
    first = max([len(x) for x in header[0].split("\n")] +
                [len(str(r[0])) for r in rows if len(str(r[0])) <= cap])
    parts, group, used = [], [], first
    for i in range(1, len(header)):
        w = max([len(x) for x in header[i].split("\n")] + [len(str(r[i])) for r in rows]) + 2
        if group and used + w > width:
            parts.append(group)
            group, used = [], first
        group.append(i)
        used += w
    parts.append(group)
    return "\n\n".join(table(g) for g in parts)


def _scenarios_in_order(rs, scenarios=None):
    out = []
    for e in rs.ok():
        if e.scenario not in out and (not scenarios or e.scenario in scenarios):
            out.append(e.scenario)
    return out


def variant_intervals(rs, reference="asm-pooled-fifo", include_peers=False, metrics=None,
                      labels=None, scenarios=None, width=WIDTH):
    """Per scenario and metric: each variant's median with its 95 % bootstrap interval, and
    its ratio to the reference with the interval of the ratio (paired by run when both were
    measured in the same invocation and carry the same run indices)."""
    ref_switch = reference.split("-")[0]
    out = []
    for scen in _scenarios_in_order(rs, scenarios):
        es = sorted((e for e in rs.ok(scen) if (include_peers or not e.is_peer)
                     and (not labels or e.label in labels)), key=label_sort_key)
        present = {e.label for e in rs.ok(scen)}
        ref = reference if reference in present else (ref_switch if ref_switch in present else None)
        by_metric = {}
        for e in es:
            for name, m in e.metrics.items():
                if (not metrics or name in metrics) and m.samples:
                    by_metric.setdefault(name, []).append((e, m))
        for name in sorted(by_metric):
            refs = {params_text(e.params): (e, m) for e, m in
                    ((e, e.metrics.get(name)) for e in rs.ok(scen) if e.label == ref) if m}
            body = []
            for e, m in sorted(by_metric[name], key=lambda em: (params_order(em[0].params),
                                                                  label_sort_key(em[0]))):
                pk = params_text(e.params)
                r_e = sample_rounds(e, name)
                ci = inference.median_ci(m.samples, r_e)
                ratio = "-"
                rm = refs.get(pk)
                if rm and e.label != ref and rm[1].median > 0 and m.median > 0:
                    r_ref = sample_rounds(rm[0], name)
                    rc = inference.ratio_ci(rm[1].samples, m.samples, r_ref, r_e,
                                            paired=rm[0].sources == e.sources)
                    ratio = f"{rc.estimate:.3f}x [{rc.low:.3f}, {rc.high:.3f}]"
                body.append([f"{e.label} {pk}".strip(), _num(m.median),
                             f"[{_num(ci.low)}, {_num(ci.high)}]", str(len(m.samples)), ratio])
            out.append(f"{scen} · {name} ({by_metric[name][0][1].unit}), ratio to "
                       f"{ref or '(no reference here)'}")
            out += ["  " + ln for ln in _fitted(["label params", "median", "95% CI", "n",
                                                  "ratio [95% CI]"], body,
                                                 ["<", ">", ">", ">", ">"], width - 2)]
            out.append("")
    return "\n".join(out).rstrip()


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
