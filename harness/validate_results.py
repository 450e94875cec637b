#!/usr/bin/python3
"""Validate switchyard results files against schema v1 (results/SCHEMA.md).

    /usr/bin/python3 harness/validate_results.py FILE.json [FILE.json ...]
    /usr/bin/python3 harness/validate_results.py --self-test

Exit 0 when every file is valid; 1 with one line per problem otherwise. Standard library
only, so it runs anywhere the results are read.
"""
import copy
import json
import math
import re
import sys

SCENARIOS = {"switch", "yield", "spawn_join", "skynet", "io_pingpong", "channel", "mutex",
             "timers", "steal", "http", "gc_scan"}
PEERS = {"boost_fiber", "go", "threads", "eventloop", "nginx", "coro", "asio"}
STATUSES = {"ok", "skipped", "failed"}
UNITS = {"ns", "s", "us", "ms", "req/s", "KiB", "count", "instructions"}
# Metric name -> unit it must carry (the name says the unit).
METRICS = {
    "ns_per_switch": "ns", "ns_per_yield": "ns", "ns_per_spawn_join": "ns", "ns_per_recycle": "ns",
    "time_s": "s", "ns_per_handoff": "ns", "ns_per_roundtrip": "ns", "ns_per_lock": "ns",
    "requests_per_s": "req/s",
    "latency_p50_us": "us", "latency_p90_us": "us", "latency_p99_us": "us", "latency_max_us": "us",
    "lateness_p50_us": "us", "lateness_p99_us": "us", "lateness_max_us": "us", "pause_ms": "ms",
    "kib_per_conn": "KiB", "peak_rss_kib": "KiB", "peak_live_fibers": "count",
    "instructions_per_op": "instructions",
    # gc_scan (scenarios/gc_scan.cpp): what the root pusher handed the collector, and the
    # stack each suspended fiber really used.
    "pushed_kib": "KiB", "used_kib": "KiB",
    # http (scenarios/http/driver/): wrk's error counts, the server's processes under load,
    # and the parts of kib_per_conn.
    "socket_errors_connect": "count", "socket_errors_read": "count", "socket_errors_write": "count",
    "socket_errors_timeout": "count", "http_errors_status": "count", "server_cpu_s": "s",
    "server_rss_kib": "KiB", "server_vm_kib": "KiB", "server_threads": "count",
    "rss_kib_per_conn": "KiB", "pte_kib_per_conn": "KiB", "kstack_kib_per_conn": "KiB",
    # coro peer (skynet, timers): the coroutine frame a suspended task holds.
    "frame_kib_per_task": "KiB",
}
RELATIONS = {"same", "older", "edited", "other", "unknown"}
UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
VARIANT_RE = re.compile(r"^(asm|ucontext|boost)-(pooled|fresh)-(fifo|chaselev)$")
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
    need(doc, "schema_version", lambda v: v == 1, "must be 1", "top")
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
        p.extend(validate_entry(e, f"entries[{i}]"))
    return p


def validate_entry(e, w):
    p = []
    if not isinstance(e, dict):
        return [f"{w}: not an object"]
    keys = {"scenario", "variant", "dimensions", "peer", "label", "params", "status", "reason",
            "repetitions", "metrics", "peak_rss_kib", "notes"}
    for k in sorted(keys - e.keys()):
        p.append(f"{w}: missing '{k}'")
    for k in sorted(e.keys() - keys):
        p.append(f"{w}: unknown key '{k}'")
    if p:
        return p
    if e["scenario"] not in SCENARIOS:
        p.append(f"{w}.scenario: unknown scenario {e['scenario']!r}")
    v, peer, dims = e["variant"], e["peer"], e["dimensions"]
    if v is not None and peer is not None:
        p.append(f"{w}: both variant and peer set")
    if v is not None:
        mv = VARIANT_RE.match(v) if isinstance(v, str) else None
        if not mv:
            p.append(f"{w}.variant: not a variant name: {v!r}")
        elif dims != {"switch": mv.group(1), "stacks": mv.group(2), "scheduler": mv.group(3)}:
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
    elif e["metrics"]:
        p.append(f"{w}.metrics: must be empty when {st}")
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
        if not isinstance(m, dict) or set(m) != {"unit", "samples", "median", "min", "max"}:
            p.append(f"{mw}: needs exactly unit, samples, median, min, max")
            continue
        if m["unit"] not in UNITS:
            p.append(f"{mw}.unit: {m['unit']!r} not in {sorted(UNITS)}")
        elif name in METRICS and m["unit"] != METRICS[name]:
            p.append(f"{mw}.unit: {m['unit']!r}, the name says {METRICS[name]!r}")
        s = m["samples"]
        if not (isinstance(s, list) and s and all(_num(x) for x in s)):
            p.append(f"{mw}.samples: non-empty list of finite numbers required")
            continue
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
    ]
    for i, breaker in enumerate(breakages):
        d = copy.deepcopy(good)
        breaker(d)
        assert validate(d), f"breakage {i} was accepted"
    print(f"self-test: good document accepted, {len(breakages)} broken ones rejected")
    return 0


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
