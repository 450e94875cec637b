"""Loading and validating Switchyard results folders (schema "switchyard-results" v1 and v2).

The harness writes one JSON file per invocation into a results folder. Everything the
analysis draws or compares comes through `load_folder`, which checks each file against
the schema and raises `ResultsError` naming the file, the place in it and what is wrong,
so that a truncated or hand-edited file is never silently half-plotted.

Version 2 measures each job in several fresh processes (rounds): every sample carries the
round it came from (`Metric.rounds`), so that two measurements can be paired by round. A
version 1 file is one round (round 0). Files of one host that measured the same thing
(scenario, label, params) are pooled, their rounds renumbered so that they stay distinct
(see `load_folder`).
"""

import json
import math
import os
import statistics
from dataclasses import dataclass, field

from . import catalog
from .hosts import assign_host, host_differences, host_identity

SCHEMA_NAME = "switchyard-results"
SCHEMA_VERSION = 2                 # the newest this analysis reads
SCHEMA_VERSIONS = (1, 2)

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
    # The round of each sample (parallel to samples): 0 for a version 1 file; in a folder
    # that pooled several files, renumbered so that each file's rounds stay distinct.
    rounds: list = None

    def __post_init__(self):
        if self.rounds is None:
            self.rounds = [0] * len(self.samples)

    def by_round(self):
        """{round: [samples of that round]}, rounds in increasing order."""
        out = {}
        for r, v in sorted(zip(self.rounds, self.samples), key=lambda rv: rv[0]):
            out.setdefault(r, []).append(v)
        return out


@dataclass
class CarrierCounters:
    """The scheduler's per-carrier counters of an entry: `values[rep][carrier][i]` counts
    `counters[i]`, one row per carrier, one block per repetition; `rounds[rep]` is the
    repetition's round."""
    counters: list
    values: list
    rounds: list

    def per_repetition(self, name):
        """[(round, total over the carriers)] of one counter, one per repetition."""
        i = self.counters.index(name)
        return [(r, sum(row[i] for row in rep)) for r, rep in zip(self.rounds, self.values)]


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
    # The machine and build blocks of the file(s) it came from: a folder that mixes commits
    # keeps each entry's own (`builds` lists every build a pooled entry was measured on).
    machine: dict = field(default_factory=dict)
    build: dict = field(default_factory=dict)
    builds: list = field(default_factory=list)
    sources: list = field(default_factory=list)     # every file pooled into it
    runs: list = field(default_factory=list)        # v2: one record per fresh process
    quantile_rounds: dict = field(default_factory=dict)   # name -> round per row of values
    carrier_counters: object = None                 # CarrierCounters or None

    @property
    def arch(self):
        return (self.machine or {}).get("arch")

    def round_ids(self):
        """Every round any metric of this entry has a sample from, in increasing order."""
        return sorted({r for m in self.metrics.values() for r in m.rounds})

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
    designs: dict = field(default_factory=dict)        # file -> its `design` block (v2) or None
    noise_floors: dict = field(default_factory=dict)   # file -> its `noise_floor` (v2) or None

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

    def __init__(self, path, version=1):
        self.path = path
        self.version = version
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
    rounds = _check_rounds(ck, m, where, len(samples), "samples")
    if rounds is False:
        return None
    return Metric(name, unit, [float(s) for s in samples], float(med), float(lo), float(hi), rounds)


def _check_rounds(ck, obj, where, n, parallel_to):
    """The `runs` array of a version 2 metric, distribution or counters block: one round
    (a non-negative integer) per element of `parallel_to`. None in a version 1 file (all
    round 0); False after a problem was recorded."""
    if ck.version < 2:
        return None
    rounds = obj.get("runs")
    if not isinstance(rounds, list):
        ck.fail(where, f"missing field 'runs' (the round of each of '{parallel_to}', schema version 2)")
        return False
    if len(rounds) != n:
        ck.fail(where, f"'runs' has {len(rounds)} rounds for {n} {parallel_to}: they should be parallel")
        return False
    if not all(isinstance(r, int) and not isinstance(r, bool) and r >= 0 for r in rounds):
        ck.fail(where, "'runs' should hold non-negative integers (0-based rounds)")
        return False
    return list(rounds)


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
    rounds = _check_rounds(ck, d, f"{where}.{name}", len(vals), "values")
    if rounds is False:
        return None
    return [float(q) for q in qs], [[float(v) for v in row] for row in vals], rounds


COUNTERS_FIELD = "carrier_counters"


def _check_counters(ck, d, where):
    """The optional scheduler counters: {"counters": [names], "values": [[[one integer per
    counter] per carrier] per repetition]} (+ `runs` in version 2)."""
    where = f"{where}.{COUNTERS_FIELD}"
    if not isinstance(d, dict):
        ck.fail(where, "should be an object with counters and values")
        return None
    names, vals = d.get("counters"), d.get("values")
    if not isinstance(names, list) or not names or not all(isinstance(n, str) and n for n in names) \
            or len(set(names)) != len(names):
        ck.fail(where, "'counters' should be a non-empty list of distinct names")
        return None
    if not isinstance(vals, list):
        ck.fail(where, "'values' should be a list (one block per repetition)")
        return None
    for i, rep in enumerate(vals):
        if not isinstance(rep, list) or not rep:
            ck.fail(where, f"'values[{i}]' should hold one row per carrier")
            return None
        for c, row in enumerate(rep):
            if not isinstance(row, list) or len(row) != len(names) or not all(
                    isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in row):
                ck.fail(where, f"'values[{i}][{c}]' should hold {len(names)} non-negative integers "
                               f"({', '.join(names)})")
                return None
    rounds = _check_rounds(ck, d, where, len(vals), "values")
    if rounds is False:
        return None
    return CarrierCounters(list(names), vals, rounds if rounds is not None else [0] * len(vals))


def _check_runs(ck, runs, where):
    """A version 2 entry's `runs`: one record per fresh process."""
    if not isinstance(runs, list):
        ck.fail(where, "field 'runs' should be a list (one record per round)")
        return []
    out = []
    for i, r in enumerate(runs):
        if not isinstance(r, dict) or not isinstance(r.get("round"), int) or r["round"] < 0 \
                or isinstance(r.get("round"), bool):
            ck.fail(where, f"runs[{i}] should be an object with a non-negative integer 'round'")
            continue
        if r.get("status") is not None and r["status"] not in STATUSES:
            ck.fail(where, f"runs[{i}].status '{r['status']}' is not one of {', '.join(STATUSES)}")
            continue
        out.append(dict(r))
    return out


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
    quantiles, qrounds = {}, {}
    counters, runs = None, []
    if isinstance(e, dict):
        for k, v in e.items():
            if k.endswith(QUANTILES_SUFFIX):
                q = _check_quantiles(ck, k, v, where)
                if q is not None:
                    quantiles[k] = q[:2]
                    qrounds[k] = q[2] if q[2] is not None else [0] * len(q[1])
        if e.get(COUNTERS_FIELD) is not None:
            counters = _check_counters(ck, e[COUNTERS_FIELD], where)
        if ck.version >= 2:
            runs = _check_runs(ck, e.get("runs"), where)
    if len(ck.problems) > before:
        return None
    return Entry(scenario, variant, dims, peer, label, params, status, reason, reps, parsed,
                 rss, [str(n) for n in notes], path, created, quantiles,
                 sources=[path], runs=runs, quantile_rounds=qrounds, carrier_counters=counters)


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
    if not isinstance(doc, dict):
        raise ResultsError(f"{path}: top level should be an object, got {type(doc).__name__}")
    if doc.get("schema") != SCHEMA_NAME:
        raise ResultsError(f"{path}: not a Switchyard results file "
                           f"(schema is {json.dumps(doc.get('schema'))}, expected \"{SCHEMA_NAME}\")")
    version = doc.get("schema_version")
    if version not in SCHEMA_VERSIONS or isinstance(version, bool):
        raise ResultsError(f"{path}: schema_version {json.dumps(version)} is not supported "
                           f"(this analysis reads versions {', '.join(map(str, SCHEMA_VERSIONS))})")
    ck = _Checker(path, version)
    if version >= 2:
        design = ck.need(doc, "design", "", dict)
        if design is not None:
            runs = ck.need(design, "runs", "design", int)
            if runs is not None and runs < 1:
                ck.fail("design", "'runs' should be at least 1")
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
    files = result_files(folder)
    if not files:
        raise ResultsError(f"{folder}: no results (*.json) in this folder")
    return _load(folder, files, lenient)


def load_paths(paths, lenient=False):
    """Results folders and single results files loaded as one set, as `load_folder` loads
    one folder: repeated runs of a measurement on one host are pooled (their rounds kept
    distinct), different hosts are kept apart. Named after the first path."""
    if not paths:
        raise ResultsError("no results folder or file given")
    files = []
    for p in paths:
        if os.path.isdir(p):
            found = result_files(p)
            if not found:
                raise ResultsError(f"{p}: no results (*.json) in this folder")
        elif os.path.isfile(p):
            found = [p]
        else:
            raise ResultsError(f"{p}: no such results folder or file")
        files += [f for f in found if os.path.realpath(f) not in {os.path.realpath(g) for g in files}]
    return _load(paths[0] if len(paths) == 1 else " + ".join(paths), files, lenient)


def _load(name, files, lenient):
    rs = ResultSet(name)
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
        raise ResultsError(f"{name}: no valid results file\n" + "\n".join(errors))
    docs.sort(key=lambda d: (d[0], d[1]))
    seen = {}   # (host, key) -> the ok entry for it
    twice = {}  # (file, scenario) -> entries measured again in the same file
    next_round = {}   # (host, scenario) -> the first round number no file has used yet
    pooled = {}       # file -> {earlier file: measurements pooled with it}
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
        rs.designs[path] = doc.get("design")
        rs.noise_floors[path] = doc.get("noise_floor")
        rs.machines.append((path, doc["machine"]))
        rs.machine = doc["machine"]
        rs.build = doc["build"]
        _renumber_rounds(doc, entries, host, next_round)
        for e in entries:
            e.host = host
            e.machine, e.build, e.builds = doc["machine"], doc["build"], [doc["build"]]
            k = (host,) + e.key()
            old = seen.get(k)
            if e.status != "ok" or old is None:
                # Skipped/failed entries are all kept for the report (a skipped instruction
                # count must not hide the timing of the same measurement).
                if e.status == "ok":
                    seen[k] = e
                rs.entries.append(e)
            elif e.source == old.source:
                # One run measured it twice: a peer that ignores a swept parameter (the
                # threads peer of io_pingpong under io_backend=epoll,poll) gets one entry
                # per value of it, all with the same params, measured in the same round.
                # Not a repeated run: the later entry is kept; said once per file below.
                if set(old.metrics) & set(e.metrics):
                    twice.setdefault((os.path.basename(e.source), e.scenario), []).append(e)
                old.metrics.update(e.metrics)
                old.quantiles.update(e.quantiles)
                old.quantile_rounds.update(e.quantile_rounds)
                old.carrier_counters = e.carrier_counters or old.carrier_counters
                old.notes += [n for n in e.notes if n not in old.notes]
                old.repetitions = max(old.repetitions, e.repetitions)
                if e.peak_rss_kib is not None:
                    old.peak_rss_kib = e.peak_rss_kib
            else:
                # The same measurement in another file: a repeated run (pooled, its rounds
                # already renumbered apart), or a separate --instructions run that adds
                # its metric to the timing entry.
                if _pool(old, e, rs.warnings):
                    by = pooled.setdefault(os.path.basename(path), {})
                    src = os.path.basename(old.sources[-2])
                    by[src] = by.get(src, 0) + 1
    for (name, scenario), es in twice.items():
        labels = sorted({e.label for e in es})
        rs.warnings.append(
            f"{name}: {len(es)} {scenario} measurement(s) appear more than once with equal "
            f"params ({', '.join(labels)}; for example {es[0].label} {params_text(es[0].params)}), "
            "as when a peer ignores a swept parameter; the later entry of each is kept")
    for name, by in pooled.items():
        rs.warnings.append(
            f"{name}: " + ", ".join(f"{n} measurement(s) also in {src}" for src, n in by.items()) +
            ": pooled as repeated runs (each file's rounds kept distinct)")
    found = commits(rs)
    if len(found) > 1:
        rs.warnings.append(
            f"the files were built from {len(found)} commits ({', '.join(found)}): each entry "
            "keeps its own build, and a measurement pooled from several lists them all")
    return rs


def _file_rounds(doc, entries):
    """How many rounds a file holds: its design's runs (version 2), at least one more than
    the highest round any sample names; a version 1 file is one round."""
    n = 1
    design = doc.get("design")
    if isinstance(design, dict) and isinstance(design.get("runs"), int):
        n = max(n, design["runs"])
    for e in entries:
        for r in _entry_rounds(e):
            n = max(n, r + 1)
    return n


def _entry_rounds(e):
    for m in e.metrics.values():
        yield from m.rounds
    for rr in e.quantile_rounds.values():
        yield from rr
    if e.carrier_counters is not None:
        yield from e.carrier_counters.rounds
    for run in e.runs:
        yield run["round"]


def _renumber_rounds(doc, entries, host, next_round):
    """Shift a file's rounds past those of the earlier files of the same host and scenario,
    so that pooled repeated runs keep distinct rounds and a pairing by round never pairs
    samples of two separate invocations. Rounds are shifted per (host, scenario): the
    files of one `bench` (one per scenario) all keep their own 0-based rounds."""
    n = _file_rounds(doc, entries)
    offsets = {}
    for sc in sorted({e.scenario for e in entries}):
        offsets[sc] = next_round.get((host, sc), 0)
        next_round[(host, sc)] = offsets[sc] + n
    for e in entries:
        off = offsets[e.scenario]
        if not off:
            continue
        for m in e.metrics.values():
            m.rounds = [r + off for r in m.rounds]
        for name, rr in e.quantile_rounds.items():
            e.quantile_rounds[name] = [r + off for r in rr]
        if e.carrier_counters is not None:
            e.carrier_counters.rounds = [r + off for r in e.carrier_counters.rounds]
        for run in e.runs:
            run["round"] += off


def _pooled_metric(a, b):
    samples, rounds = a.samples + b.samples, a.rounds + b.rounds
    return Metric(a.name, a.unit, samples, statistics.median(samples), min(samples), max(samples), rounds)


def _pool(old, e, warnings):
    """Fold entry `e` (another file) into `old`, the same measurement on the same host.
    Returns True when a metric was measured in both (a repeated run), False when `e` only
    added metrics (a separate --instructions run)."""
    again = sorted(set(old.metrics) & set(e.metrics))
    for name, m in e.metrics.items():
        old.metrics[name] = _pooled_metric(old.metrics[name], m) if name in old.metrics else m
    for name, (qs, vals) in e.quantiles.items():
        if name in old.quantiles and old.quantiles[name][0] == qs:
            old.quantiles[name] = (qs, old.quantiles[name][1] + vals)
            old.quantile_rounds[name] = old.quantile_rounds[name] + e.quantile_rounds[name]
        else:
            if name in old.quantiles:
                warnings.append(f"{e.scenario} {e.label} {params_text(e.params)}: {name} of "
                                f"{os.path.basename(e.source)} has other quantiles than "
                                f"{os.path.basename(old.source)}'s; the newer is kept")
            old.quantiles[name] = (qs, vals)
            old.quantile_rounds[name] = e.quantile_rounds[name]
    cc, oc = e.carrier_counters, old.carrier_counters
    if cc is not None and oc is not None and cc.counters == oc.counters:
        old.carrier_counters = CarrierCounters(oc.counters, oc.values + cc.values, oc.rounds + cc.rounds)
    elif cc is not None:
        old.carrier_counters = cc
    old.runs = old.runs + e.runs
    old.notes += [n for n in e.notes if n not in old.notes]
    old.repetitions = max(old.repetitions, e.repetitions)
    if e.peak_rss_kib is not None:
        old.peak_rss_kib = max(old.peak_rss_kib or 0, e.peak_rss_kib)
    old.sources.append(e.source)
    if _commit_text(e.build) not in {_commit_text(b) for b in old.builds}:
        old.builds.append(e.build)
    old.build = e.build      # the newest
    return bool(again)


def _commit_text(build):
    b = build or {}
    return (b.get("commit") or "unknown") + (" (dirty tree)" if b.get("dirty") else "")


def commits(rs):
    """Every commit the set's files were built from ('unknown' when built outside git,
    ' (dirty tree)' appended for a dirty checkout), in the order the files were loaded."""
    out = []
    for path in rs.files:
        c = _commit_text(rs.builds.get(path))
        if c not in out:
            out.append(c)
    return out


def entry_commits(entry):
    """The commits an entry's samples were measured on (several when pooled)."""
    return [_commit_text(b) for b in entry.builds] or [_commit_text(entry.build)]


def sample_rounds(entry, metric):
    """The round of each sample of the entry's `metric` (Metric.rounds, renumbered apart
    when files were pooled) when its files are schema 2, else None: a version 1 file has no
    rounds, and its samples are not to be grouped as one."""
    m = entry.metrics.get(metric)
    return list(m.rounds) if m is not None and entry.runs else None


def noise_floors(rs):
    """[(file, inference.NoiseFloor)] for the files of rs that measured one (schema 2's
    top-level `noise_floor`, kept by the loader; v1 files and null have none), in load
    order. A malformed block: ResultsError naming the file."""
    from .inference import noise_floor
    out = []
    for path in rs.files:
        try:
            nf = noise_floor(rs.noise_floors.get(path))
        except ValueError as err:
            raise ResultsError(f"{path}: {err}") from None
        if nf is not None:
            out.append((path, nf))
    return out


def host_key(entry):
    """A key telling an entry's host apart from every other (the host-identifying fields of
    its machine block, hosts.HOST_FIELDS), stable across folders: figures and studies
    group or facet by it, and never pool entries with different keys."""
    return tuple(sorted(host_identity(entry.machine).items()))


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
