"""Loading and validating Switchyard results folders (schema "switchyard-results" v1).

The harness writes one JSON file per invocation into a results folder. Everything the
analysis draws or compares comes through `load_folder`, which checks each file against
the schema and raises `ResultsError` naming the file, the place in it and what is wrong,
so that a truncated or hand-edited file is never silently half-plotted.
"""

import json
import math
import os
from dataclasses import dataclass, field

from . import catalog
from .hosts import assign_host, host_differences

SCHEMA_NAME = "switchyard-results"
SCHEMA_VERSION = 1

# Names and their order come from the catalogue (harness/catalog.json): scenarios in the
# registry's order (the report's), dimensions and their choices in the variants' order,
# peers in the harness's order.
SCENARIOS = catalog.scenario_names()
STATUSES = ("ok", "skipped", "failed")
DIMENSIONS = tuple(catalog.dimensions())
# The figures show the switch backends in the seed report's order (Boost.Context beside our
# assembly, ucontext last); a backend the catalogue adds follows in the catalogue's order.
SWITCH_ORDER = sorted(catalog.dimensions()["switch"],
                      key=lambda s: (["asm", "boost", "ucontext"] + catalog.dimensions()["switch"]).index(s))
STACKS_ORDER = catalog.dimensions()["stacks"]
SCHEDULER_ORDER = catalog.dimensions()["scheduler"]
PEER_ORDER = catalog.peer_names()


class ResultsError(Exception):
    """A results file (or folder) that does not follow the schema. The message names the file."""


def expected_unit(metric):
    """The unit a metric's name promises: the catalogue's; for a name it lacks (a file from
    a newer harness), what the naming convention says, or None."""
    m = catalog.metrics().get(metric)
    if m:
        return m[0]
    if metric.startswith("ns_"):
        return "ns"
    if metric.endswith("_us"):
        return "us"
    if metric.endswith("_ms"):
        return "ms"
    if metric.startswith("kib_") or metric.endswith("_kib"):
        return "KiB"
    return None


def lower_is_better(metric):
    """True / False for metrics with a direction; None when 'better' is not defined
    (peak_live_fibers is a property of the workload, not a cost) or the metric is unknown."""
    m = catalog.metrics().get(metric)
    better = m[2] if m else None
    return None if better is None else better == "lower"


@dataclass
class Metric:
    name: str
    unit: str
    samples: list
    median: float
    min: float
    max: float


@dataclass
class Entry:
    scenario: str
    variant: object          # str or None
    dimensions: object       # dict or None
    peer: object             # str or None
    label: str
    params: dict
    status: str
    reason: object
    repetitions: int
    metrics: dict            # name -> Metric
    peak_rss_kib: object     # int or None
    notes: list
    source: str              # file it came from
    created: str = ""
    # Distributions recorded beside the metrics, e.g. "lateness_quantiles_ns":
    # (quantiles, [values per repetition]) (see _check_quantiles).
    quantiles: dict = field(default_factory=dict)
    host: int = 0            # index in its ResultSet's hosts

    @property
    def is_peer(self):
        return self.peer is not None

    def dim(self, name):
        """A variant dimension; for switch-backend entries (no variant) the backend is the
        `switch` dimension when given, else the label."""
        if self.dimensions and name in self.dimensions:
            return self.dimensions[name]
        if name == "switch" and self.scenario == "switch" and not self.is_peer:
            return self.label
        return None

    def params_key(self, exclude=()):
        return params_text({k: v for k, v in self.params.items() if k not in exclude})

    def key(self):
        return (self.scenario, self.label, params_text(self.params))


def params_order(params):
    """Sort key for parameter sets: numbers as numbers (100 before 2500 before 10000)."""
    def val(v):
        try:
            return (0, float(v), "")
        except (TypeError, ValueError):
            return (1, 0.0, str(v))
    return tuple((k, val(params[k])) for k in sorted(params))


def params_text(params):
    """Canonical, readable text for a parameter set: 'carriers=2 fibers=100'."""
    return " ".join(f"{k}={params[k]}" for k in sorted(params))


@dataclass
class ResultSet:
    """Everything in one results folder."""
    folder: str
    files: list = field(default_factory=list)       # paths loaded
    machine: dict = field(default_factory=dict)     # from the newest file
    build: dict = field(default_factory=dict)
    machines: list = field(default_factory=list)    # distinct (file, machine) when they differ
    entries: list = field(default_factory=list)
    warnings: list = field(default_factory=list)
    bad_files: list = field(default_factory=list)   # (path, message) when loaded leniently
    # One machine block per host the files came from (hosts.py), the host of each file, and
    # each file's build: a folder from several machines is kept apart by host, not pooled.
    hosts: list = field(default_factory=list)
    host_of_file: dict = field(default_factory=dict)
    builds: dict = field(default_factory=dict)
    host_label: str = ""     # set on the sets hosts.split_by_host makes

    @property
    def name(self):
        base = os.path.basename(os.path.normpath(self.folder)) or self.folder
        return f"{base} ({self.host_label})" if self.host_label else base

    def ok(self, scenario=None):
        return [e for e in self.entries if e.status == "ok"
                and (scenario is None or e.scenario == scenario)]

    def not_ok(self):
        return [e for e in self.entries if e.status != "ok"]

    def scenarios_present(self):
        return {e.scenario for e in self.entries if e.status == "ok"}


def _is_number(x):
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


class _Checker:
    """Collects every problem in one file, so the user fixes them in one pass."""

    def __init__(self, path):
        self.path = path
        self.problems = []
        self.warnings = []

    def fail(self, where, what):
        self.problems.append(f"{where}: {what}" if where else what)

    def need(self, obj, key, where, types, allow_none=False):
        if not isinstance(obj, dict) or key not in obj:
            self.fail(where, f"missing field '{key}'")
            return None
        value = obj[key]
        if value is None and allow_none:
            return None
        if not isinstance(value, types) or (isinstance(value, bool) and bool not in _tuple(types)):
            tname = " or ".join(t.__name__ for t in _tuple(types)) + (" or null" if allow_none else "")
            self.fail(where, f"field '{key}' should be {tname}, got {json.dumps(value)[:60]}")
            return None
        return value


def _tuple(t):
    return t if isinstance(t, tuple) else (t,)


def _check_metric(ck, name, m, where, repetitions):
    if not isinstance(m, dict):
        ck.fail(where, "should be an object with unit, samples, median, min, max")
        return None
    if m.get("samples") == [] and all(m.get(k, 0) is None for k in ("median", "min", "max")):
        # The harness writes a metric that got no sample with null statistics: no value,
        # not a broken file. Dropped here and said in the report's warnings.
        ck.warnings.append(f"{where}: no samples, left out")
        return None
    unit = ck.need(m, "unit", where, str)
    samples = ck.need(m, "samples", where, list)
    stats = {}
    for k in ("median", "min", "max"):
        v = ck.need(m, k, where, (int, float))
        if v is not None and not math.isfinite(v):
            ck.fail(where, f"'{k}' is not finite")
            v = None
        stats[k] = v
    if unit is not None:
        want = expected_unit(name)
        if want is not None and unit != want:
            ck.fail(where, f"unit '{unit}' does not match the metric name (expected '{want}')")
    if samples is not None:
        bad = [s for s in samples if not _is_number(s)]
        if bad:
            ck.fail(where, f"samples must be finite numbers, found {json.dumps(bad[0])}")
            samples = None
    if None in stats.values() or unit is None or samples is None:
        return None
    lo, med, hi = stats["min"], stats["median"], stats["max"]
    tol = 1e-9 * max(1.0, abs(hi))
    if not (lo - tol <= med <= hi + tol):
        ck.fail(where, f"min <= median <= max does not hold ({lo}, {med}, {hi})")
    if samples:
        if min(samples) < lo - tol or max(samples) > hi + tol:
            ck.fail(where, f"samples fall outside [min, max] = [{lo}, {hi}]")
    return Metric(name, unit, [float(s) for s in samples], float(med), float(lo), float(hi))


QUANTILES_SUFFIX = "_quantiles_ns"


def _check_quantiles(ck, name, d, where):
    """An optional distribution field: {"quantiles": [q in [0, 1], increasing],
    "values": [[one value per quantile, nondecreasing] per repetition]}, in ns."""
    if not isinstance(d, dict):
        ck.fail(where, f"'{name}' should be an object with quantiles and values")
        return None
    qs, vals = d.get("quantiles"), d.get("values")
    if not isinstance(qs, list) or not qs or not all(_is_number(q) and 0 <= q <= 1 for q in qs):
        ck.fail(where, f"'{name}.quantiles' should be a non-empty list of numbers in [0, 1]")
        return None
    if any(b <= a for a, b in zip(qs, qs[1:])):
        ck.fail(where, f"'{name}.quantiles' should be strictly increasing")
        return None
    if not isinstance(vals, list) or not vals:
        ck.fail(where, f"'{name}.values' should be a non-empty list (one list per repetition)")
        return None
    for i, row in enumerate(vals):
        if not isinstance(row, list) or len(row) != len(qs) or not all(_is_number(v) for v in row):
            ck.fail(where, f"'{name}.values[{i}]' should hold {len(qs)} finite numbers")
            return None
        if any(b < a for a, b in zip(row, row[1:])):
            ck.fail(where, f"'{name}.values[{i}]' decreases: quantiles of one run never do")
            return None
    return [float(q) for q in qs], [[float(v) for v in row] for row in vals]


def _check_entry(ck, e, where, path, created):
    if not isinstance(e, dict):
        ck.fail(where, "entry should be an object")
        return None
    before = len(ck.problems)
    scenario = ck.need(e, "scenario", where, str)
    variant = ck.need(e, "variant", where, str, allow_none=True)
    dims = ck.need(e, "dimensions", where, dict, allow_none=True)
    peer = ck.need(e, "peer", where, str, allow_none=True)
    label = ck.need(e, "label", where, str)
    params = ck.need(e, "params", where, dict)
    status = ck.need(e, "status", where, str)
    reason = ck.need(e, "reason", where, str, allow_none=True)
    reps = ck.need(e, "repetitions", where, int)
    metrics = ck.need(e, "metrics", where, dict)
    rss = ck.need(e, "peak_rss_kib", where, (int, float), allow_none=True)
    notes = ck.need(e, "notes", where, list)
    if status is not None and status not in STATUSES:
        ck.fail(where, f"status '{status}' is not one of {', '.join(STATUSES)}")
    if status in ("skipped", "failed") and not reason:
        ck.fail(where, f"status '{status}' needs a reason")
    if variant is not None and peer is not None:
        ck.fail(where, "an entry is a variant or a peer, not both")
    if variant is not None:
        if dims is None:
            ck.fail(where, f"variant '{variant}' has no dimensions")
        else:
            missing = [d for d in DIMENSIONS if not isinstance(dims.get(d), str)]
            if missing:
                ck.fail(where, f"dimensions lack {', '.join(missing)}")
    if peer is not None and dims is not None:
        ck.fail(where, "a peer has no dimensions (should be null)")
    if reps is not None and reps < 0:
        ck.fail(where, "repetitions is negative")
    parsed = {}
    if metrics is not None:
        if status == "ok" and not metrics:
            ck.fail(where, "status 'ok' but no metrics")
        nwarn = len(ck.warnings)
        for name, m in metrics.items():
            pm = _check_metric(ck, name, m, f"{where}.metrics.{name}", reps)
            if pm is not None:
                parsed[name] = pm
        if status == "ok" and metrics and not parsed and len(ck.warnings) > nwarn:
            ck.warnings.append(f"{where}: status 'ok' but no metric has a sample: nothing to draw")
    quantiles = {}
    if isinstance(e, dict):
        for k, v in e.items():
            if k.endswith(QUANTILES_SUFFIX):
                q = _check_quantiles(ck, k, v, where)
                if q is not None:
                    quantiles[k] = q
    if len(ck.problems) > before:
        return None
    return Entry(scenario, variant, dims, peer, label, params, status, reason, reps, parsed,
                 rss, [str(n) for n in notes], path, created, quantiles)


def load_file(path):
    """Parse and validate one results file. Returns (top-level dict, [Entry])."""
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except OSError as err:
        raise ResultsError(f"{path}: cannot read: {err.strerror}") from None
    if not raw.strip():
        raise ResultsError(f"{path}: empty file (an interrupted run?)")
    try:
        doc = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        hint = " (truncated file?)" if "Expecting" in str(err) and \
            getattr(err, "pos", 0) >= len(raw.rstrip()) - 1 else ""
        raise ResultsError(f"{path}: not valid JSON: {err}{hint}") from None
    ck = _Checker(path)
    if not isinstance(doc, dict):
        raise ResultsError(f"{path}: top level should be an object, got {type(doc).__name__}")
    if doc.get("schema") != SCHEMA_NAME:
        raise ResultsError(f"{path}: not a Switchyard results file "
                           f"(schema is {json.dumps(doc.get('schema'))}, expected \"{SCHEMA_NAME}\")")
    if doc.get("schema_version") != SCHEMA_VERSION:
        raise ResultsError(f"{path}: schema_version {json.dumps(doc.get('schema_version'))} "
                           f"is not supported (this analysis reads version {SCHEMA_VERSION})")
    created = ck.need(doc, "created", "", str) or ""
    ck.need(doc, "command", "", str)
    machine = ck.need(doc, "machine", "", dict)
    if machine is not None:
        ck.need(machine, "cpu_model", "machine", str)
        ck.need(machine, "cores", "machine", int)
    build = ck.need(doc, "build", "", dict)
    if build is not None:
        ck.need(build, "commit", "build", str, allow_none=True)   # null: built outside git
    entries = ck.need(doc, "entries", "", list)
    parsed = []
    for i, e in enumerate(entries or []):
        pe = _check_entry(ck, e, f"entries[{i}]", path, created)
        if pe is not None:
            parsed.append(pe)
    if ck.problems:
        shown = ck.problems[:12]
        more = f"\n  ... and {len(ck.problems) - 12} more" if len(ck.problems) > 12 else ""
        raise ResultsError(f"{path}: {len(ck.problems)} problem(s):\n  " +
                           "\n  ".join(shown) + more)
    doc["_warnings"] = [f"{os.path.basename(path)}: {w}" for w in ck.warnings]
    return doc, parsed


def result_files(folder):
    if not os.path.isdir(folder):
        raise ResultsError(f"{folder}: not a directory")
    return sorted(os.path.join(folder, n) for n in os.listdir(folder)
                  if n.endswith(".json") and os.path.isfile(os.path.join(folder, n)))


def load_folder(folder, lenient=False):
    """Load every *.json in a results folder. Strict by default: the first bad file raises
    (after all files were checked, so the message lists every bad file). With lenient=True
    the bad files are recorded in `bad_files` and the rest is used."""
    rs = ResultSet(folder)
    files = result_files(folder)
    if not files:
        raise ResultsError(f"{folder}: no results (*.json) in this folder")
    errors = []
    docs = []
    for path in files:
        try:
            doc, entries = load_file(path)
        except ResultsError as err:
            errors.append(str(err))
            rs.bad_files.append((path, str(err)))
            continue
        docs.append((doc.get("created", ""), path, doc, entries))
    if errors and not lenient:
        raise ResultsError("\n".join(errors))
    if not docs:
        raise ResultsError(f"{folder}: no valid results file\n" + "\n".join(errors))
    docs.sort(key=lambda d: (d[0], d[1]))
    seen = {}   # (host, key) -> the ok entry for it
    twice = {}  # (file, scenario) -> entries measured again in the same file
    for created, path, doc, entries in docs:
        rs.files.append(path)
        rs.warnings += doc.pop("_warnings", [])
        # Only the host-identifying fields tell machines apart: the limits, the settings
        # applied and the provenance read at run time may differ between runs of one host.
        differ = host_differences(rs.machine, doc["machine"]) if rs.machine else []
        host = assign_host(rs.hosts, doc["machine"])
        rs.hosts[host] = doc["machine"]   # the newest block of that host
        if differ:
            rs.warnings.append(
                f"{os.path.basename(path)} was measured on a different machine than "
                f"{os.path.basename(rs.files[-2])} ({', '.join(differ)} differ: "
                f"{doc['machine'].get('hostname')}, {doc['machine'].get('cpu_model')}); "
                "the results of each host are kept apart")
        rs.host_of_file[path] = host
        rs.builds[path] = doc["build"]
        rs.machines.append((path, doc["machine"]))
        rs.machine = doc["machine"]
        rs.build = doc["build"]
        for e in entries:
            e.host = host
            k = (host,) + e.key()
            old = seen.get(k)
            if e.status != "ok" or old is None:
                # Skipped/failed entries are all kept for the report (a skipped instruction
                # count must not hide the timing of the same measurement).
                if e.status == "ok":
                    seen[k] = e
                rs.entries.append(e)
            else:
                # The same measurement twice: a separate --instructions run adds its metric
                # to the timing entry; a metric measured twice keeps the newer run.
                again = sorted(set(old.metrics) & set(e.metrics))
                if again and e.source == old.source:
                    # One run measured it twice: a peer that ignores a swept parameter (the
                    # threads peer of io_pingpong under io_backend=epoll,poll) gets one entry
                    # per value of it, all with the same params. Said once per file below.
                    twice.setdefault((os.path.basename(e.source), e.scenario), []).append(e)
                elif again:
                    rs.warnings.append(
                        f"{e.scenario} {e.label} {params_text(e.params)}: {', '.join(again)} from "
                        f"{os.path.basename(e.source)} replaces {os.path.basename(old.source)}")
                old.metrics.update(e.metrics)
                old.quantiles.update(e.quantiles)
                old.notes += [n for n in e.notes if n not in old.notes]
                old.repetitions = max(old.repetitions, e.repetitions)
                if e.peak_rss_kib is not None:
                    old.peak_rss_kib = e.peak_rss_kib
    for (name, scenario), es in twice.items():
        labels = sorted({e.label for e in es})
        rs.warnings.append(
            f"{name}: {len(es)} {scenario} measurement(s) appear more than once with equal "
            f"params ({', '.join(labels)}; for example {es[0].label} {params_text(es[0].params)}), "
            "as when a peer ignores a swept parameter; the later entry of each is kept")
    return rs


def label_sort_key(e):
    """Variants in dimension order, then switch backends, then peers in a fixed order."""
    def idx(seq, v):
        return seq.index(v) if v in seq else len(seq)
    if e.is_peer:
        return (2, idx(PEER_ORDER, e.peer), e.peer, e.label)
    if e.variant is None:   # switch backends: 'asm_nofpu' sorts with its family 'asm'
        family = (e.dim("switch") or e.label).replace("-", "_").split("_")[0]
        return (0, idx(SWITCH_ORDER, family), 0, 0, e.label)
    return (1, idx(SWITCH_ORDER, e.dim("switch")), idx(STACKS_ORDER, e.dim("stacks")),
            idx(SCHEDULER_ORDER, e.dim("scheduler")), e.label)


def metric_value(entry, name):
    """(median, low, high, samples) of a metric; peak_rss_kib falls back to the entry field."""
    m = entry.metrics.get(name)
    if m is not None:
        return m.median, m.min, m.max, m.samples
    if name == "peak_rss_kib" and entry.peak_rss_kib is not None:
        v = float(entry.peak_rss_kib)
        return v, v, v, [v]
    return None
