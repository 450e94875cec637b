#!/usr/bin/python3
"""Validate switchyard results files against schema version 1 or 2 (results/SCHEMA.md).

    /usr/bin/python3 harness/validate_results.py FILE.json [FILE.json ...]
    /usr/bin/python3 harness/validate_results.py --self-test

Exit 0 when every file is valid; 1 with one line per problem otherwise. Standard library
only, so it runs anywhere the results are read.
"""
import copy
import importlib.util
import json
import math
import os
import re
import sys


def _load_catalog_module():
    """analysis/switchyard_analysis/catalog.py, loaded by its path (without the analysis
    package, which needs matplotlib): the one reader of harness/catalog.json."""
    here = os.path.dirname(os.path.abspath(__file__))
    path = os.path.join(os.path.dirname(here), "analysis", "switchyard_analysis", "catalog.py")
    spec = importlib.util.spec_from_file_location("switchyard_catalog", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# The names come from the catalogue (harness/catalog.json, what `switchyard list --json`
# prints), so a new variant, scenario, peer or metric validates once it is registered.
catalog = _load_catalog_module()
SCENARIOS = set(catalog.scenario_names())
PEERS = set(catalog.peer_names())
STATUSES = {"ok", "skipped", "failed"}
# Metric name -> unit it must carry (the name says the unit); derived metrics excluded.
METRICS = catalog.result_metrics()
UNITS = set(METRICS.values())
# Variant name -> its dimensions ({"switch": "asm", "stacks": "pooled", "scheduler": "fifo"}).
VARIANTS = catalog.variants()
RELATIONS = {"same", "older", "edited", "other", "unknown"}
UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
DATE_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")


def _num(x):
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def _int(x):
    return isinstance(x, int) and not isinstance(x, bool)


def _str_or_none(x):
    return x is None or isinstance(x, str)


def _int_or_none(x):
    return x is None or _int(x)


def _bool_or_none(x):
    return x is None or isinstance(x, bool)


def _load(x):
    return x is None or (isinstance(x, list) and len(x) == 3 and all(_num(v) and v >= 0 for v in x))


def _fields(spec):
    """A check for an object whose listed keys, each optional, pass their checks."""
    return lambda v: isinstance(v, dict) and all(k not in v or ok(v[k]) for k, ok in spec.items())


# The provenance fields (harness/provenance.cpp). Each is optional, so files written before
# they existed stay valid; when present, each must have its type.
MACHINE_OPTIONAL = {
    "arch": (lambda v: isinstance(v, str) and v, "non-empty string"),
    # derived (a UUID), never the raw /etc/machine-id
    "machine_id": (lambda v: v is None or (isinstance(v, str) and UUID_RE.match(v)), "UUID string or null"),
    "machine_id_source": (_str_or_none, "string or null"),
    "cpu_vendor": (_str_or_none, "string or null"),
    "cpu_family": (_int_or_none, "integer or null"),
    "cpu_model_id": (_int_or_none, "integer or null"),
    "cpu_stepping": (_int_or_none, "integer or null"),
    "cpu_microcode": (_str_or_none, "string or null"),
    "cpu_flags": (lambda v: _str_or_none(v) or (isinstance(v, list) and all(isinstance(x, str) for x in v)),
                  "string, list of strings or null"),
    "cpu_bugs": (_str_or_none, "string or null"),
    "smt": (_fields({"control": _str_or_none, "active": _bool_or_none}), "object {control, active}"),
    "cpufreq": (lambda v: v is None or _fields({"driver": _str_or_none, "governor": _str_or_none,
                                                "min_khz": _int_or_none, "max_khz": _int_or_none,
                                                "boost": _bool_or_none})(v), "object or null"),
    "kernel_cmdline": (_str_or_none, "string or null"),
    "mitigations": (lambda v: v is None or (isinstance(v, dict) and all(_str_or_none(x) for x in v.values())),
                    "object of strings or null"),
    "clocksource": (_str_or_none, "string or null"),
    "transparent_hugepages": (_fields({"enabled": _str_or_none, "defrag": _str_or_none}),
                              "object {enabled, defrag}"),
    "software": (lambda v: isinstance(v, dict) and all(_str_or_none(x) for x in v.values()),
                 "object of strings or nulls"),
}
BUILD_OPTIONAL = {
    "describe": (_str_or_none, "string or null"),
    "checkout": (lambda v: v is None or (isinstance(v, dict) and set(v) == {"commit", "dirty", "relation"}
                                         and isinstance(v["commit"], str) and isinstance(v["dirty"], bool)
                                         and v["relation"] in RELATIONS),
                 f"null or {{commit, dirty, relation in {sorted(RELATIONS)}}}"),
    "binary_older_than_checkout": (_bool_or_none, "boolean or null"),
}


def validate(doc):
    """Returns a list of problems (empty when valid)."""
    p = []

    def need(obj, key, check, what, where):
        if not isinstance(obj, dict) or key not in obj:
            p.append(f"{where}: missing '{key}'")
            return None
        if not check(obj[key]):
            p.append(f"{where}.{key}: {what}, got {obj[key]!r}")
        return obj[key]

    if not isinstance(doc, dict):
        return ["top level: not an object"]
    need(doc, "schema", lambda v: v == "switchyard-results", "must be 'switchyard-results'", "top")
    version = need(doc, "schema_version", lambda v: v in (1, 2), "must be 1 or 2", "top")
    rounds = None
    if version == 2:
        design = need(doc, "design", lambda v: isinstance(v, dict), "object", "top")
        if isinstance(design, dict):
            p.extend(validate_design(design))
            if _int(design.get("runs")) and design["runs"] >= 1:
                rounds = design["runs"]
        if "noise_floor" not in doc:
            p.append("top: missing 'noise_floor' (null when not measured)")
        elif doc["noise_floor"] is not None:
            p.extend(validate_noise_floor(doc["noise_floor"], rounds))
    elif version == 1:
        for k in ("design", "noise_floor"):
            if k in doc:
                p.append(f"top: '{k}' belongs to schema version 2")
    need(doc, "created", lambda v: isinstance(v, str) and DATE_RE.match(v), "UTC ISO-8601 (…Z)", "top")
    need(doc, "command", lambda v: isinstance(v, str) and v, "non-empty string", "top")
    if "load_average" in doc:  # optional: files written before it lack it
        need(doc, "load_average", lambda v: isinstance(v, dict) and set(v) == {"before", "after"}
             and all(_load(x) for x in v.values()), "object {before, after}, each 3 numbers or null", "top")
    m = need(doc, "machine", lambda v: isinstance(v, dict), "object", "top")
    if isinstance(m, dict):
        for k in ("hostname", "cpu_model", "kernel"):
            need(m, k, lambda v: isinstance(v, str), "string", "machine")
        need(m, "cores", lambda v: _int(v) and v > 0, "positive integer", "machine")
        need(m, "memory_kib", lambda v: v is None or (_int(v) and v > 0), "positive integer or null", "machine")
        lim = need(m, "limits", lambda v: isinstance(v, dict), "object", "machine")
        if isinstance(lim, dict):
            for k in ("vm.max_map_count", "net.core.somaxconn", "open_files"):
                need(lim, k, lambda v: v is None or _int(v), "integer or null", "machine.limits")
        need(m, "settings_applied", lambda v: isinstance(v, list) and all(isinstance(s, str) for s in v),
             "list of strings", "machine")
        for k, (ok, what) in MACHINE_OPTIONAL.items():
            if k in m:
                need(m, k, ok, what, "machine")
    b = need(doc, "build", lambda v: isinstance(v, dict), "object", "top")
    if isinstance(b, dict):
        for k in ("compiler", "flags", "build_type", "sanitize", "boost_version"):
            need(b, k, lambda v: isinstance(v, str), "string", "build")
        need(b, "commit", lambda v: v is None or isinstance(v, str), "string or null", "build")
        need(b, "dirty", lambda v: v is None or isinstance(v, bool), "boolean or null", "build")
        for k, (ok, what) in BUILD_OPTIONAL.items():
            if k in b:
                need(b, k, ok, what, "build")
    entries = need(doc, "entries", lambda v: isinstance(v, list), "array", "top")
    for i, e in enumerate(entries if isinstance(entries, list) else []):
        p.extend(validate_entry(e, f"entries[{i}]", version, rounds))
    return p


ORDERS = {"interleaved", "shuffled", "sequential"}
SHARD_RE = re.compile(r"^[1-9][0-9]*(,[1-9][0-9]*)*/[1-9][0-9]*$")


def validate_design(d):
    p = []
    want = {"runs", "order", "seed", "shard", "isolation", "budget_s", "reductions"}
    for k in sorted(want - d.keys()):
        p.append(f"design: missing '{k}'")
    for k in sorted(d.keys() - want):
        p.append(f"design: unknown key '{k}'")
    if p:
        return p
    if not (_int(d["runs"]) and d["runs"] >= 1):
        p.append(f"design.runs: positive integer required, got {d['runs']!r}")
    if d["order"] not in ORDERS:
        p.append(f"design.order: {d['order']!r} not in {sorted(ORDERS)}")
    if not (d["seed"] is None or (_int(d["seed"]) and d["seed"] >= 0)):
        p.append(f"design.seed: non-negative integer or null, got {d['seed']!r}")
    sh = d["shard"]
    if sh is not None:
        if not (isinstance(sh, str) and SHARD_RE.match(sh)):
            p.append(f"design.shard: 'K/N' (or 'K1,K2/N' for merged parts) or null, got {sh!r}")
        else:
            ks, n = sh.split("/")
            if any(int(k) > int(n) for k in ks.split(",")):
                p.append(f"design.shard: {sh!r} names a part beyond N")
    iso = d["isolation"]
    if not (isinstance(iso, dict) and set(iso) == {"pin_carriers", "pin_loadgen", "cpus"}
            and isinstance(iso["pin_carriers"], bool) and isinstance(iso["pin_loadgen"], bool)
            and (iso["cpus"] is None or (isinstance(iso["cpus"], list) and iso["cpus"]
                                         and all(_int(c) and c >= 0 for c in iso["cpus"])))):
        p.append(f"design.isolation: {{pin_carriers: bool, pin_loadgen: bool, cpus: [CPU...] or null}}, got {iso!r}")
    if not (d["budget_s"] is None or (_num(d["budget_s"]) and d["budget_s"] > 0)):
        p.append(f"design.budget_s: positive number or null, got {d['budget_s']!r}")
    if not (isinstance(d["reductions"], list) and all(isinstance(r, str) for r in d["reductions"])):
        p.append("design.reductions: list of strings required")
    return p


def _median(xs):
    ss = sorted(xs)
    n = len(ss)
    return ss[n // 2] if n % 2 else (ss[n // 2 - 1] + ss[n // 2]) / 2


def _quantile(xs, q):
    """Linear interpolation between closest ranks (numpy's default; harness/results.cpp)."""
    ss = sorted(xs)
    pos = q * (len(ss) - 1)
    lo = int(pos)
    hi = min(lo + 1, len(ss) - 1)
    return ss[lo] + (ss[hi] - ss[lo]) * (pos - lo)


def _close(a, b):
    return _num(a) and abs(a - b) <= 1e-9 * max(1.0, abs(b))


def validate_noise_floor(nf, rounds):
    w = "noise_floor"
    want = {"workload", "metric", "unit", "rounds", "drift", "floor"}
    if not isinstance(nf, dict) or set(nf) != want:
        return [f"{w}: needs exactly {sorted(want)} (or null)"]
    p = []
    if not (isinstance(nf["workload"], str) and nf["workload"]):
        p.append(f"{w}.workload: non-empty string required")
    if nf["metric"] != "ns_per_op" or nf["unit"] != "ns":
        p.append(f"{w}: metric 'ns_per_op' in unit 'ns' required")
    rs = nf["rounds"]
    if not (isinstance(rs, list) and rs):
        return p + [f"{w}.rounds: non-empty list required"]
    start, end, seen = [], [], set()
    for i, r in enumerate(rs):
        rw = f"{w}.rounds[{i}]"
        if not (isinstance(r, dict) and set(r) == {"round", "start", "end"}):
            p.append(f"{rw}: needs exactly round, start, end")
            continue
        p.extend(_round_problems(r["round"], seen, rounds, rw))
        for k, into in (("start", start), ("end", end)):
            if not (isinstance(r[k], list) and all(_num(x) and x > 0 for x in r[k])):
                p.append(f"{rw}.{k}: list of positive numbers required")
            else:
                into.extend(r[k])
    if p:
        return p
    drift = _median(end) / _median(start) - 1 if start and end else None
    allv = start + end
    floor = (_quantile(allv, 0.95) - _quantile(allv, 0.05)) / 2 / _median(allv) if allv else None
    for k, want_v in (("drift", drift), ("floor", floor)):
        if want_v is None:
            if nf[k] is not None:
                p.append(f"{w}.{k}: must be null without samples")
        elif not _close(nf[k], want_v):
            p.append(f"{w}.{k}: {nf[k]!r} but the samples give {want_v!r}")
    return p


RUN_KEYS = {"round", "status", "reason", "peak_rss_kib", "elapsed_s"}


def _round_problems(r, seen, rounds, rw):
    """A record's round: an integer of the design (0..rounds-1; any when rounds is None),
    listed once (`seen` collects them)."""
    if not (_int(r) and r >= 0 and (rounds is None or r < rounds)):
        return [f"{rw}.round: {r!r} not a round of the design (design.runs {rounds})"]
    if r in seen:
        return [f"{rw}.round: round {r} listed twice"]
    seen.add(r)
    return []


def validate_runs(e, w, rounds):
    """The entry's run records (version 2); returns (problems, rounds of its ok runs)."""
    p = []
    runs = e["runs"]
    if not (isinstance(runs, list) and runs):
        return [f"{w}.runs: non-empty list of run records required"], set()
    ok_rounds, seen, statuses = set(), set(), []
    for i, r in enumerate(runs):
        rw = f"{w}.runs[{i}]"
        if not (isinstance(r, dict) and set(r) == RUN_KEYS):
            p.append(f"{rw}: needs exactly {sorted(RUN_KEYS)}")
            continue
        p.extend(_round_problems(r["round"], seen, rounds, rw))
        if r["status"] not in STATUSES:
            p.append(f"{rw}.status: {r['status']!r} not in {sorted(STATUSES)}")
        statuses.append(r["status"])
        if r["status"] == "ok":
            ok_rounds.add(r["round"])
            if r["reason"] is not None:
                p.append(f"{rw}.reason: must be null when ok")
        elif not (isinstance(r["reason"], str) and r["reason"]):
            p.append(f"{rw}.reason: a {r['status']} run needs a reason")
        if r["peak_rss_kib"] is not None and not (_int(r["peak_rss_kib"]) and r["peak_rss_kib"] >= 0):
            p.append(f"{rw}.peak_rss_kib: non-negative integer or null")
        if r["elapsed_s"] is not None and not (_num(r["elapsed_s"]) and r["elapsed_s"] >= 0):
            p.append(f"{rw}.elapsed_s: non-negative number or null")
    # The entry's status: ok only if every run was; a failed run makes it failed.
    want = "ok" if all(s == "ok" for s in statuses) else "failed" if "failed" in statuses else "skipped"
    if e["status"] != want:
        p.append(f"{w}.status: {e['status']!r} but its runs make it {want!r}")
    elif want != "ok" and not (isinstance(e["reason"], str) and re.search(r"\bround \d+", e["reason"])):
        p.append(f"{w}.reason: must name the round that was not ok ('round N: ...'), got {e['reason']!r}")
    return p, ok_rounds


def validate_rounds_of(arr, n, ok_rounds, w):
    """A `runs` array parallel to n samples or rows, each an ok run's round."""
    if not (isinstance(arr, list) and len(arr) == n and all(_int(r) for r in arr)):
        return [f"{w}.runs: {n} integers required (one round per sample or row), got "
                f"{len(arr) if isinstance(arr, list) else arr!r}"]
    bad = sorted(set(arr) - ok_rounds)
    if bad:
        return [f"{w}.runs: rounds {bad} are not ok runs of this entry"]
    return []


# The runtime's per-carrier scheduler counters (results/SCHEMA.md, "Carrier counters"), in
# the order the runtime writes them (CarrierCounters::kNames). Files written before the
# loop's times were counted hold the first six only, and stay valid.
CARRIER_COUNTER_NAMES = ["steals", "failed_steals", "sleeps", "kicks", "spin_hits", "wakes", "cpu_ns", "wall_ns"]
CARRIER_COUNTER_NAMES_BEFORE_TIMES = CARRIER_COUNTER_NAMES[:6]


def validate_carrier_counters(c, e, version, ok_rounds, w):
    want = {"counters", "values"} | ({"runs"} if version == 2 else set())
    if not isinstance(c, dict) or set(c) != want:
        return [f"{w}: needs exactly {sorted(want)}"]
    names = c["counters"]
    if names not in (CARRIER_COUNTER_NAMES, CARRIER_COUNTER_NAMES_BEFORE_TIMES):
        return [f"{w}.counters: must be {CARRIER_COUNTER_NAMES} (or, in files written before "
                f"the loop's times were counted, {CARRIER_COUNTER_NAMES_BEFORE_TIMES})"]
    rows = c["values"]
    if not (isinstance(rows, list) and rows):
        return [f"{w}.values: one row per repetition required"]
    p = []
    for i, rep in enumerate(rows):
        if not (isinstance(rep, list) and rep and all(
                isinstance(car, list) and len(car) == len(names) and all(_int(x) and x >= 0 for x in car)
                for car in rep)):
            p.append(f"{w}.values[{i}]: one row of {len(names)} non-negative integers per carrier required")
        elif len(rep) != len(rows[0]):
            p.append(f"{w}.values[{i}]: {len(rep)} carriers, the first repetition has {len(rows[0])}")
    if version == 2:
        p.extend(validate_rounds_of(c["runs"], len(rows), ok_rounds, w))
    elif _int(e.get("repetitions")) and len(rows) != e["repetitions"]:
        p.append(f"{w}.values: {len(rows)} rows, one per repetition ({e['repetitions']}) required")
    return p


# Optional entry fields: a distribution recorded beside the metrics (results/SCHEMA.md).
DISTRIBUTION_RE = re.compile(r"^[a-z][a-z0-9_]*_quantiles_ns$")


def validate_distribution(d, status, repetitions, w, version=1, ok_rounds=None):
    """{"quantiles": [q in [0, 1], strictly increasing], "values": [[one nanosecond value
    per quantile, nondecreasing] per repetition]}, only on an ok entry (version 2: with
    `runs`, the round of each row, and on any entry with an ok run)."""
    if status != "ok" and not (version == 2 and ok_rounds):
        return [f"{w}: a distribution belongs to an ok entry only"]
    keys = {"quantiles", "values"} | ({"runs"} if version == 2 else set())
    if not isinstance(d, dict) or set(d) != keys:
        return [f"{w}: needs exactly {' and '.join(sorted(keys))}"]
    qs, rows = d["quantiles"], d["values"]
    if not (isinstance(qs, list) and qs and all(_num(q) and 0 <= q <= 1 for q in qs)):
        return [f"{w}.quantiles: non-empty list of numbers in [0, 1] required"]
    if any(b <= a for a, b in zip(qs, qs[1:])):
        return [f"{w}.quantiles: must be strictly increasing"]
    if not (isinstance(rows, list) and rows):
        return [f"{w}.values: non-empty list of rows (one per repetition) required"]
    p = []
    if version == 2:
        p.extend(validate_rounds_of(d["runs"], len(rows), ok_rounds, w))
        if not p and _int(repetitions):
            for r in sorted(set(d["runs"])):
                if d["runs"].count(r) != repetitions:
                    p.append(f"{w}.values: {d['runs'].count(r)} rows in round {r} for {repetitions} repetitions")
    elif _int(repetitions) and len(rows) != repetitions:
        p.append(f"{w}.values: {len(rows)} rows for {repetitions} repetitions")
    for i, row in enumerate(rows):
        if not (isinstance(row, list) and len(row) == len(qs) and all(_num(v) for v in row)):
            p.append(f"{w}.values[{i}]: {len(qs)} finite numbers required (one per quantile)")
        elif any(b < a for a, b in zip(row, row[1:])):
            p.append(f"{w}.values[{i}]: decreases; the quantiles of one repetition never do")
    return p


def validate_entry(e, w, version=1, rounds=None):
    p = []
    if not isinstance(e, dict):
        return [f"{w}: not an object"]
    keys = {"scenario", "variant", "dimensions", "peer", "label", "params", "status", "reason",
            "repetitions", "metrics", "peak_rss_kib", "notes"} | ({"runs"} if version == 2 else set())
    # Optional: scheduler counters; in a merge of different builds or machines, each
    # entry's own (version 2).
    optional = {"carrier_counters"} | ({"build", "machine"} if version == 2 else set())
    for k in sorted(keys - e.keys()):
        p.append(f"{w}: missing '{k}'")
    for k in sorted(e.keys() - keys - optional):
        if not DISTRIBUTION_RE.match(k):
            p.append(f"{w}: unknown key '{k}'")
    if p:
        return p
    ok_rounds = None
    if version == 2:
        rp, ok_rounds = validate_runs(e, w, rounds)
        p.extend(rp)
        for k in ("build", "machine"):
            if k in e and not isinstance(e[k], dict):
                p.append(f"{w}.{k}: object required")
    for k in sorted(k for k in e if DISTRIBUTION_RE.match(k)):
        p.extend(validate_distribution(e[k], e["status"], e["repetitions"], f"{w}.{k}", version, ok_rounds))
    if "carrier_counters" in e:
        p.extend(validate_carrier_counters(e["carrier_counters"], e, version, ok_rounds or set(),
                                           f"{w}.carrier_counters"))
    if e["scenario"] not in SCENARIOS:
        p.append(f"{w}.scenario: unknown scenario {e['scenario']!r}")
    v, peer, dims = e["variant"], e["peer"], e["dimensions"]
    if v is not None and peer is not None:
        p.append(f"{w}: both variant and peer set")
    if v is not None:
        want = VARIANTS.get(v) if isinstance(v, str) else None
        if want is None:
            p.append(f"{w}.variant: not a variant name: {v!r}")
        elif dims != want:
            p.append(f"{w}.dimensions: {dims!r} does not match variant {v}")
        if e["label"] != v:
            p.append(f"{w}.label: {e['label']!r} should be the variant {v}")
    elif peer is not None:
        if peer not in PEERS:
            p.append(f"{w}.peer: unknown peer {peer!r}")
        if dims is not None:
            p.append(f"{w}.dimensions: must be null for a peer")
        if e["label"] != peer:
            p.append(f"{w}.label: {e['label']!r} should be the peer {peer}")
    else:  # a non-variant entry, e.g. a switch backend
        if not (isinstance(dims, dict) and isinstance(dims.get("switch"), str)):
            p.append(f"{w}.dimensions: an entry without variant or peer needs {{'switch': backend}}")
        elif e["label"] != dims["switch"]:
            p.append(f"{w}.label: {e['label']!r} should be the backend {dims['switch']}")
    if not isinstance(e["label"], str) or not e["label"]:
        p.append(f"{w}.label: non-empty string required")
    if not isinstance(e["params"], dict) or not all(
            isinstance(x, (str, int, float, bool)) for x in e["params"].values()):
        p.append(f"{w}.params: object of scalars required")
    st = e["status"]
    if st not in STATUSES:
        p.append(f"{w}.status: {st!r} not in {sorted(STATUSES)}")
    if st == "ok":
        if e["reason"] is not None:
            p.append(f"{w}.reason: must be null when ok")
        if not e["metrics"]:
            p.append(f"{w}.metrics: an ok entry needs at least one metric")
    elif not (isinstance(e["reason"], str) and e["reason"]):
        p.append(f"{w}.reason: a {st} entry needs a reason")
    elif e["metrics"] and not (version == 2 and ok_rounds):
        # version 2 keeps what the ok runs measured; with none, there is nothing to keep
        p.append(f"{w}.metrics: must be empty when {st}" + (" and no run was ok" if version == 2 else ""))
    if not (_int(e["repetitions"]) and e["repetitions"] >= 1):
        p.append(f"{w}.repetitions: positive integer required")
    if e["peak_rss_kib"] is not None and not (_int(e["peak_rss_kib"]) and e["peak_rss_kib"] >= 0):
        p.append(f"{w}.peak_rss_kib: non-negative integer or null")
    if not (isinstance(e["notes"], list) and all(isinstance(n, str) for n in e["notes"])):
        p.append(f"{w}.notes: list of strings required")
    metrics = e["metrics"] if isinstance(e["metrics"], dict) else {}
    if not isinstance(e["metrics"], dict):
        p.append(f"{w}.metrics: object required")
    for name, m in metrics.items():
        mw = f"{w}.metrics.{name}"
        if name not in METRICS:
            p.append(f"{mw}: unknown metric name")
        mkeys = {"unit", "samples", "median", "min", "max"} | ({"runs"} if version == 2 else set())
        if not isinstance(m, dict) or set(m) != mkeys:
            p.append(f"{mw}: needs exactly {', '.join(sorted(mkeys))}")
            continue
        if m["unit"] not in UNITS:
            p.append(f"{mw}.unit: {m['unit']!r} not in {sorted(UNITS)}")
        elif name in METRICS and m["unit"] != METRICS[name]:
            p.append(f"{mw}.unit: {m['unit']!r}, the name says {METRICS[name]!r}")
        s = m["samples"]
        if not (isinstance(s, list) and s and all(_num(x) for x in s)):
            p.append(f"{mw}.samples: non-empty list of finite numbers required")
            continue
        if version == 2:
            p.extend(validate_rounds_of(m["runs"], len(s), ok_rounds, mw))
        ss = sorted(s)
        n = len(ss)
        med = ss[n // 2] if n % 2 else (ss[n // 2 - 1] + ss[n // 2]) / 2
        for k, want in (("median", med), ("min", ss[0]), ("max", ss[-1])):
            if not _num(m[k]) or abs(m[k] - want) > 1e-9 * max(1.0, abs(want)):
                p.append(f"{mw}.{k}: {m[k]!r} but the samples give {want!r}")
    return p


def self_test():
    """The validator must accept a good document and reject each kind of breakage."""
    good = {
        "schema": "switchyard-results", "schema_version": 1, "created": "2026-11-28T07:10:00Z",
        "command": "switchyard run --scenario yield",
        "machine": {"hostname": "h", "cpu_model": "c", "cores": 2, "kernel": "6.1", "memory_kib": 100,
                    "limits": {"vm.max_map_count": 65530, "net.core.somaxconn": 4096, "open_files": 20000},
                    "settings_applied": []},
        "build": {"compiler": "g++ 12", "flags": "-O2", "build_type": "Release", "sanitize": "",
                  "commit": "abc", "dirty": False, "boost_version": "1.74"},
        "entries": [{
            "scenario": "yield", "variant": "asm-pooled-fifo",
            "dimensions": {"switch": "asm", "stacks": "pooled", "scheduler": "fifo"},
            "peer": None, "label": "asm-pooled-fifo", "params": {"carriers": 1}, "status": "ok",
            "reason": None, "repetitions": 3,
            "metrics": {"ns_per_yield": {"unit": "ns", "samples": [3.0, 1.0, 2.0], "median": 2.0,
                                         "min": 1.0, "max": 3.0}},
            "peak_rss_kib": 10, "notes": []}],
    }
    assert validate(good) == [], validate(good)
    # ... and one with every provenance field (harness/provenance.cpp)
    full = copy.deepcopy(good)
    full["machine"].update({
        "arch": "x86_64", "machine_id": "0f1e2d3c-4b5a-5968-8776-a5b4c3d2e1f0",
        "machine_id_source": "/etc/machine-id", "cpu_vendor": "AuthenticAMD", "cpu_family": 25,
        "cpu_model_id": 1, "cpu_stepping": 1, "cpu_microcode": "0x1000065", "cpu_flags": "fpu sse2 avx2",
        "cpu_bugs": "spectre_v1", "smt": {"control": "notsupported", "active": False},
        "cpufreq": {"driver": "acpi-cpufreq", "governor": "performance", "min_khz": 1500000,
                    "max_khz": 3500000, "boost": True},
        "kernel_cmdline": "quiet", "mitigations": {"meltdown": "Not affected"}, "clocksource": "tsc",
        "transparent_hugepages": {"enabled": "madvise", "defrag": "madvise"},
        "software": {"glibc": "2.36", "go": "1.19.8", "nginx": None, "wrk": "4.1.0"}})
    full["load_average"] = {"before": [0.5, 0.4, 0.3], "after": [1.5, 0.6, 0.35]}
    full["build"].update({"describe": "abc-dirty", "binary_older_than_checkout": True,
                          "checkout": {"commit": "abd", "dirty": True, "relation": "older"}})
    assert validate(full) == [], validate(full)
    # ... and one with a recorded distribution
    dist = copy.deepcopy(good)
    dist["entries"][0]["lateness_quantiles_ns"] = {"quantiles": [0, 0.5, 0.99, 1],
                                                   "values": [[10, 20, 30, 30]] * 3}
    assert validate(dist) == [], validate(dist)
    # ... and one with carrier counters (3 repetitions, 2 carriers), and each kind of breakage
    cc = copy.deepcopy(good)
    cc["entries"][0]["carrier_counters"] = {"counters": list(CARRIER_COUNTER_NAMES),
                                            "values": [[[1, 2, 3, 0, 1, 2, 900, 1000], [0, 5, 4, 2, 0, 1, 800, 1000]]] * 3}
    assert validate(cc) == [], validate(cc)
    # a file written before the loop's times were counted: six counters a row
    old_cc = copy.deepcopy(good)
    old_cc["entries"][0]["carrier_counters"] = {"counters": list(CARRIER_COUNTER_NAMES_BEFORE_TIMES),
                                                "values": [[[1, 2, 3, 0, 1, 2], [0, 5, 4, 2, 0, 1]]] * 3}
    assert validate(old_cc) == [], validate(old_cc)
    for breaks in [lambda c: c.update(counters=["steals"]),
                   lambda c: c.update(values=[]),
                   lambda c: c.update(values=[[[1, 2, 3, 0, 1, -2]]] * 3),
                   lambda c: c.update(values=[[[1, 2, 3, 0, 1]]] * 3),
                   lambda c: c.update(values=[[[0] * 6], [[0] * 6, [0] * 6], [[0] * 6]]),
                   lambda c: c.update(values=[[[0] * 6]] * 2),
                   lambda c: c.pop("values")]:
        bad = copy.deepcopy(cc)
        breaks(bad["entries"][0]["carrier_counters"])
        assert validate(bad) != [], "carrier_counters breakage accepted"
    breakages = [
        lambda d: d.update(schema_version=2),
        lambda d: d.pop("machine"),
        lambda d: d["entries"][0].update(status="great"),
        lambda d: d["entries"][0].update(status="failed"),          # failed without reason
        lambda d: d["entries"][0]["metrics"]["ns_per_yield"].update(median=2.5),
        lambda d: d["entries"][0]["metrics"]["ns_per_yield"].update(unit="us"),
        lambda d: d["entries"][0]["metrics"].update(ns_per_frob={"unit": "ns", "samples": [1], "median": 1,
                                                                 "min": 1, "max": 1}),
        lambda d: d["entries"][0].update(variant="asm-pooled-lifo", label="asm-pooled-lifo"),
        lambda d: d["entries"][0].update(peer="erlang"),
        lambda d: d["entries"][0].update(extra=1),
        lambda d: d["entries"][0]["metrics"]["ns_per_yield"].update(samples=[]),
        lambda d: d.update(created="yesterday"),
        # provenance: the raw machine id, wrong types
        lambda d: d["machine"].update(machine_id="3d1219c7c4c5404aaa1f6d2a48adfda4"),
        lambda d: d["machine"].update(cpu_family="25"),
        lambda d: d.update(load_average={"before": [0.5, 0.4], "after": None}),
        lambda d: d["machine"].update(smt={"active": "yes"}),
        lambda d: d["build"].update(checkout={"commit": "abc", "dirty": False, "relation": "newer"}),
        lambda d: d["build"].update(binary_older_than_checkout="no"),
        # a metric the analysis derives is never in results
        lambda d: d["entries"][0]["metrics"].update(kib_per_fiber={"unit": "KiB", "samples": [1], "median": 1,
                                                                   "min": 1, "max": 1}),
        lambda d: d["entries"][0].update(dimensions={"switch": "asm", "stacks": "fresh", "scheduler": "fifo"}),
    ]
    # a distribution: out of [0, 1], not increasing, a decreasing row, a short row, a row per
    # repetition missing, on an entry that failed, a misnamed field, an extra key
    qd = "lateness_quantiles_ns"
    breakages += [
        lambda d: d["entries"][0][qd]["quantiles"].__setitem__(3, 1.5),
        lambda d: d["entries"][0][qd].update(quantiles=[0, 0.99, 0.5, 1]),
        lambda d: d["entries"][0][qd].update(values=[[10, 20, 15, 30]] * 3),
        lambda d: d["entries"][0][qd].update(values=[[10, 20, 30]] * 3),
        lambda d: d["entries"][0][qd].update(values=[[10, 20, 30, 30]] * 2),
        lambda d: d["entries"][0].update(status="failed", reason="crashed", metrics={}),
        lambda d: d["entries"][0].update(lateness_quantiles_us=d["entries"][0].pop(qd)),
        lambda d: d["entries"][0][qd].update(unit="ns"),
    ]
    nbase = len(breakages) - 8
    for i, breaker in enumerate(breakages):
        d = copy.deepcopy(good if i < nbase else dist)
        breaker(d)
        assert validate(d), f"breakage {i} was accepted"
    # Variants come from the catalogue: one registered there validates, with its dimensions.
    new = copy.deepcopy(good)
    new["entries"][0].update(variant="asm-pooled-lifo", label="asm-pooled-lifo",
                             dimensions={"switch": "asm", "stacks": "pooled", "scheduler": "lifo"})
    assert validate(new), "an unregistered variant was accepted"
    VARIANTS["asm-pooled-lifo"] = {"switch": "asm", "stacks": "pooled", "scheduler": "lifo"}
    try:
        assert validate(new) == [], validate(new)
    finally:
        del VARIANTS["asm-pooled-lifo"]
    nv2 = self_test_v2(good, dist)
    print(f"self-test: good document accepted, {len(breakages)} broken ones rejected, "
          f"a variant registered in the catalogue accepted; version 2: {nv2} broken ones rejected")
    return 0


def self_test_v2(good_v1, dist_v1):
    """Version 2: rounds, run records, the design and the noise floor."""
    good = copy.deepcopy(good_v1)
    good["schema_version"] = 2
    good["design"] = {"runs": 3, "order": "shuffled", "seed": 42, "shard": None,
                      "isolation": {"pin_carriers": False, "pin_loadgen": False, "cpus": None},
                      "budget_s": None, "reductions": []}
    start, end = [10.0, 10.2, 10.1], [10.4, 10.3, 10.5]
    allv = start * 2 + end * 2
    good["noise_floor"] = {"workload": "w", "metric": "ns_per_op", "unit": "ns",
                           "rounds": [{"round": 0, "start": start, "end": end},
                                      {"round": 2, "start": start, "end": end}],
                           "drift": _median(end * 2) / _median(start * 2) - 1,
                           "floor": (_quantile(allv, 0.95) - _quantile(allv, 0.05)) / 2 / _median(allv)}
    e = good["entries"][0]
    e["repetitions"] = 2
    e["metrics"]["ns_per_yield"] = {"unit": "ns", "samples": [3.0, 1.0, 2.0, 2.0, 4.0, 5.0], "median": 2.5,
                                    "min": 1.0, "max": 5.0, "runs": [0, 0, 1, 1, 2, 2]}
    e["runs"] = [{"round": r, "status": "ok", "reason": None, "peak_rss_kib": 10, "elapsed_s": 1.5}
                 for r in range(3)]
    assert validate(good) == [], validate(good)
    # A failed round: the entry is failed, names the round, keeps the ok rounds' samples.
    part = copy.deepcopy(good)
    pe = part["entries"][0]
    pe["runs"][1].update(status="failed", reason="killed by signal 11 (SIGSEGV)")
    pe.update(status="failed", reason="round 1: killed by signal 11 (SIGSEGV)")
    pe["metrics"]["ns_per_yield"] = {"unit": "ns", "samples": [3.0, 1.0, 4.0, 5.0], "median": 3.5,
                                     "min": 1.0, "max": 5.0, "runs": [0, 0, 2, 2]}
    assert validate(part) == [], validate(part)
    dist = copy.deepcopy(good)
    dist["entries"][0]["lateness_quantiles_ns"] = {"quantiles": [0, 0.5, 1], "values": [[1, 2, 3]] * 6,
                                                   "runs": [0, 0, 1, 1, 2, 2]}
    dist["entries"][0]["carrier_counters"] = {"counters": list(CARRIER_COUNTER_NAMES),
                                              "values": [[[1, 2, 0, 0, 0, 0, 5, 6], [3, 4, 0, 0, 0, 0, 5, 6]]] * 6,
                                              "runs": [0, 0, 1, 1, 2, 2]}
    assert validate(dist) == [], validate(dist)
    m = lambda d: d["entries"][0]["metrics"]["ns_per_yield"]  # noqa: E731
    breakages = [
        (good, lambda d: d.pop("design")),
        (good, lambda d: d.pop("noise_floor")),
        (good, lambda d: d["design"].update(order="random")),
        (good, lambda d: d["design"].update(runs=0)),
        (good, lambda d: d["design"].update(shard="3/2")),
        (good, lambda d: d["design"].update(seed=-1)),
        (good, lambda d: d["design"]["isolation"].update(cpus=[])),
        # the runs array of a metric: a length mismatch, a round out of range, a round that
        # is not one of the entry's runs
        (good, lambda d: m(d).update(runs=[0, 0, 1, 1, 2])),
        (good, lambda d: m(d).update(runs=[0, 0, 1, 1, 2, 3])),
        (part, lambda d: m(d).update(runs=[0, 0, 1, 1])),
        (good, lambda d: m(d).pop("runs")),
        # run records: a round out of range, twice, a missing record key
        (good, lambda d: d["entries"][0]["runs"][2].update(round=3)),
        (good, lambda d: d["entries"][0]["runs"][2].update(round=1)),
        (good, lambda d: d["entries"][0]["runs"][0].pop("elapsed_s")),
        (good, lambda d: d["entries"][0].pop("runs")),
        # status rules: ok with a failed run; failed without naming the round; skipped where
        # a run failed; a failed run without reason
        (part, lambda d: d["entries"][0].update(status="ok", reason=None)),
        (part, lambda d: d["entries"][0].update(reason="killed by signal 11")),
        (part, lambda d: d["entries"][0].update(status="skipped")),
        (part, lambda d: d["entries"][0]["runs"][1].update(reason=None)),
        # no ok run, yet metrics
        (part, lambda d: [r.update(status="failed", reason="x") for r in d["entries"][0]["runs"]]),
        # the noise floor: drift or floor not what the samples give, a round out of range
        (good, lambda d: d["noise_floor"].update(drift=0.5)),
        (good, lambda d: d["noise_floor"].update(floor=0.0)),
        (good, lambda d: d["noise_floor"]["rounds"][1].update(round=3)),
        (good, lambda d: d["noise_floor"].update(metric="ns")),
        # rows: a distribution's or the counters' runs of the wrong length; a round short of rows
        (dist, lambda d: d["entries"][0]["lateness_quantiles_ns"].update(runs=[0, 0, 1, 1, 2])),
        (dist, lambda d: d["entries"][0]["lateness_quantiles_ns"].update(runs=[0, 0, 0, 1, 2, 2])),
        (dist, lambda d: d["entries"][0]["carrier_counters"].update(runs=[0, 1])),
        (dist, lambda d: d["entries"][0]["carrier_counters"]["values"].__setitem__(0, [[1, 2, 3]])),
        # version-2 fields in a version-1 file
        (good_v1, lambda d: d.update(design=good["design"])),
    ]
    for i, (base, breaker) in enumerate(breakages):
        d = copy.deepcopy(base)
        breaker(d)
        assert validate(d), f"version-2 breakage {i} was accepted"
    return len(breakages)


def main(argv):
    if argv == ["--self-test"]:
        return self_test()
    if not argv:
        print(__doc__, file=sys.stderr)
        return 2
    bad = 0
    for path in argv:
        try:
            with open(path) as f:
                doc = json.load(f)
        except (OSError, ValueError) as err:
            print(f"{path}: cannot read JSON: {err}")
            bad += 1
            continue
        problems = validate(doc)
        for prob in problems:
            print(f"{path}: {prob}")
        bad += bool(problems)
        if not problems:
            n = len(doc["entries"])
            by = {}
            for e in doc["entries"]:
                by[e["status"]] = by.get(e["status"], 0) + 1
            print(f"{path}: valid ({n} entries: {', '.join(f'{v} {k}' for k, v in sorted(by.items()))})")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
