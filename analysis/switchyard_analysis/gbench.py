"""Google Benchmark JSON <-> Switchyard results (schema "switchyard-results" v1).

Export: every time-valued metric of every ok entry becomes one Google Benchmark run, named
`<scenario>.<metric>/<label>/<param>:<value>...` (Google Benchmark's own `name:value` form
for named arguments), with one "iteration" row per sample (repetition) and the aggregate
rows a Google Benchmark binary writes for repetitions (mean, median, stddev, cv). Google
Benchmark's tools/compare.py then pairs the two sides by name and runs its U test over the
iteration rows. Our samples carry one clock (the scenario says which), so real_time and
cpu_time hold the same value. A rate (requests_per_s) is exported as its inverse,
`ns_per_request`, so that "lower is better" holds for every row as compare.py assumes;
sizes and counts (KiB, count, instructions) are not times and are left out (said on stderr).

Import: the rows of a Google Benchmark JSON file (any binary, `--benchmark_out_format=json`
or `--benchmark_format=json`) become entries of one scenario. Each repetition ("iteration"
row) is one sample; aggregate rows are skipped, as the harness does with switch_bench and
runtime_bench. A run's name `family/arg/...` gives the entry: `name:value` parts become
params (`threads:N` too), plain numbers become params arg0, arg1, ...; the first other part
is the label (all of it when there are several), else the family. A label that is a
variant name (`asm-pooled-fifo`) or a peer (`boost_fiber`) makes a variant or peer entry;
any other label is an entry of its own kind with dimensions {"switch": label}, which is
how the schema holds entries that are neither (switch backends). The value is the counter
named like the metric when the rows have one (our benches set `ns_per_switch`, ...), else
real_time converted to the metric's unit; `value=` picks cpu_time or any counter.
The result is checked with harness/validate_results.py before it is returned.
"""

import datetime
import json
import math
import os
import re
import statistics
import sys

from .results import load_file, load_folder

_HARNESS = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                        "harness")
sys.path.insert(0, _HARNESS)
import validate_results  # noqa: E402  (harness/validate_results.py: the schema's one checker)

# Seconds per unit of the time units both formats share.
TIME_UNITS = {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1.0}

# The metric an import fills when --metric is not given: the scenario's headline cost.
# timers has three lateness percentiles and no single headline, so it must be chosen.
DEFAULT_METRIC = {
    "switch": "ns_per_switch", "yield": "ns_per_yield", "spawn_join": "ns_per_spawn_join",
    "skynet": "time_s", "steal": "time_s", "io_pingpong": "ns_per_roundtrip",
    "channel": "ns_per_handoff", "mutex": "ns_per_lock", "http": "requests_per_s",
    "gc_scan": "pause_ms",
}

# Parts of a Google Benchmark name that say how it measured, not what: kept as notes.
_MEASURE_TAGS = ("real_time", "manual_time", "process_time")
_MEASURE_KEYS = ("min_time", "min_warmup_time", "iterations", "repeats")


class GbenchError(Exception):
    """Bad input for an export or an import; the message says what and where."""


# ---- export -------------------------------------------------------------------------------

def _load_inputs(paths):
    """[(path, doc-without-entries, [Entry])] for results files and folders."""
    out = []
    for p in paths:
        if os.path.isdir(p):
            rs = load_folder(p)
            newest = rs.files[-1]
            doc, _ = load_file(newest)
            out.append((p, doc, rs.entries))
        elif os.path.isfile(p):
            doc, entries = load_file(p)
            out.append((p, doc, entries))
        else:
            raise GbenchError(f"{p}: no such file or folder")
    return out


def _gb_date(created):
    """Our '2026-11-28T07:10:00Z' in Google Benchmark's form '2026-11-28T07:10:00+00:00'."""
    return created[:-1] + "+00:00" if created.endswith("Z") else created


def export(paths):
    """Google Benchmark JSON (a dict) for results files or folders, and the list of
    (metric, count) left out because they are not times."""
    inputs = _load_inputs(paths)
    rows, skipped, seen = [], {}, {}
    families = {}
    for path, doc, entries in inputs:
        for e in entries:
            if e.status != "ok":
                continue
            for name in sorted(e.metrics):
                m = e.metrics[name]
                if m.unit in TIME_UNITS:
                    metric, unit, samples = name, m.unit, m.samples
                elif m.unit == "req/s" and all(s > 0 for s in m.samples):
                    # the time per request over the whole run: total time / total requests
                    metric, unit, samples = "ns_per_request", "ns", [1e9 / s for s in m.samples]
                else:
                    skipped[name] = skipped.get(name, 0) + 1
                    continue
                family = f"{e.scenario}.{metric}"
                run = "/".join([family, e.label] + [f"{k}:{e.params[k]}" for k in sorted(e.params)])
                if run in seen:
                    raise GbenchError(f"{run} is in both {seen[run]} and {path}: export them separately "
                                      "(compare.py would take both as repetitions of one run)")
                seen[run] = path
                fam = families.setdefault(family, [len(families), 0])
                rows.extend(_runs(run, fam[0], fam[1], unit, samples))
                fam[1] += 1
    if not rows:
        raise GbenchError("nothing to export: no ok entry with a time metric in "
                          + ", ".join(paths))
    newest = max((doc for _, doc, _ in inputs), key=lambda d: d["created"])
    m, b = newest["machine"], newest["build"]
    context = {
        "date": _gb_date(newest["created"]),
        "host_name": m.get("hostname", ""),
        "executable": newest["command"],
        "num_cpus": m["cores"],
        # Custom context (strings, as Google Benchmark's AddCustomContext writes them): the
        # provenance an import of this file reads back.
        "switchyard_schema_version": str(newest["schema_version"]),
        "cpu_model": str(m.get("cpu_model", "")),
        "kernel": str(m.get("kernel", "")),
        "compiler": str(b.get("compiler", "")),
        "build_type": str(b.get("build_type", "")),
        "boost_version": str(b.get("boost_version", "")),
        "commit": str(b.get("commit") or ""),
        "dirty": "" if b.get("dirty") is None else str(b["dirty"]).lower(),
        "sources": ", ".join(paths),
    }
    return {"context": context, "benchmarks": rows}, sorted(skipped.items())


def _runs(run, family_index, instance_index, unit, samples):
    """The rows Google Benchmark writes for one run with repetitions: one per repetition,
    then (with two or more) mean, median, stddev and cv."""
    n = len(samples)
    base = {"family_index": family_index, "per_family_instance_index": instance_index,
            "run_name": run, "repetitions": n, "threads": 1, "time_unit": unit}
    rows = []
    for i, s in enumerate(samples):
        rows.append({"name": run, **base, "run_type": "iteration", "repetition_index": i,
                     "iterations": 1, "real_time": s, "cpu_time": s})
    if n >= 2:
        mean = statistics.fmean(samples)
        sd = statistics.stdev(samples)
        for agg, v, aunit in (("mean", mean, "time"), ("median", statistics.median(samples), "time"),
                              ("stddev", sd, "time"), ("cv", sd / mean if mean else 0.0, "percentage")):
            rows.append({"name": f"{run}_{agg}", **base, "run_type": "aggregate", "aggregate_name": agg,
                         "aggregate_unit": aunit, "iterations": n, "real_time": v, "cpu_time": v})
    return rows


# ---- import -------------------------------------------------------------------------------

def _number(text):
    try:
        return int(text)
    except ValueError:
        pass
    try:
        v = float(text)
        return v if math.isfinite(v) else text
    except ValueError:
        return text


def parse_name(run_name):
    """(label, params, measure notes) of a Google Benchmark run name."""
    parts = run_name.split("/")
    family, rest = parts[0], parts[1:]
    params, words, notes, nargs = {}, [], [], 0
    for part in rest:
        key, sep, val = part.partition(":")
        if part in _MEASURE_TAGS or (sep and key in _MEASURE_KEYS):
            notes.append(part)
        elif sep and key:
            params[key] = _number(val)
        elif re.fullmatch(r"-?\d+", part):
            params[f"arg{nargs}"] = int(part)
            nargs += 1
        else:
            words.append(part)
    return ("/".join(words) if words else family), params, notes


def _created(context, override):
    if override is not None:
        text, where = override, "--created"
    else:
        text, where = context.get("date"), "context.date"
    if not isinstance(text, str) or not text:
        raise GbenchError(f"{where} is missing: give the time of the run with --created YYYY-MM-DDTHH:MM:SSZ")
    try:
        t = datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise GbenchError(f"{where} {text!r} is not an ISO-8601 time: give --created YYYY-MM-DDTHH:MM:SSZ") from None
    naive = t.tzinfo is None
    if not naive:
        t = t.astimezone(datetime.timezone.utc)
    return t.strftime("%Y-%m-%dT%H:%M:%SZ"), naive


def _kind(label):
    """(variant, dimensions, peer) for a label."""
    if label in validate_results.VARIANTS:
        return label, dict(validate_results.VARIANTS[label]), None
    if label in validate_results.PEERS:
        return None, None, label
    return None, {"switch": label}, None


def import_gbench(gb, scenario, source="google-benchmark.json", metric=None, value=None,
                  params=None, name_filter=None, created=None, command=None):
    """A Switchyard results document (a dict) from a parsed Google Benchmark JSON document."""
    if not isinstance(gb, dict) or not isinstance(gb.get("benchmarks"), list):
        if isinstance(gb, dict) and gb.get("schema") == "switchyard-results":
            raise GbenchError(f"{source}: already a Switchyard results file, not Google Benchmark output")
        raise GbenchError(f"{source}: not Google Benchmark JSON (no 'benchmarks' array); "
                          "write it with --benchmark_out=FILE --benchmark_out_format=json")
    context = gb.get("context") if isinstance(gb.get("context"), dict) else {}
    if scenario not in validate_results.SCENARIOS:
        raise GbenchError(f"unknown scenario {scenario!r} (valid: {', '.join(sorted(validate_results.SCENARIOS))})")
    if metric is None:
        metric = DEFAULT_METRIC.get(scenario)
        if metric is None:
            raise GbenchError(f"{scenario} has no single headline metric: choose one with --metric")
    if metric not in validate_results.METRICS:
        raise GbenchError(f"unknown metric {metric!r} (valid: {', '.join(sorted(validate_results.METRICS))})")
    unit = validate_results.METRICS[metric]
    try:
        rx = re.compile(name_filter) if name_filter else None
    except re.error as err:
        raise GbenchError(f"--filter {name_filter!r}: not a regular expression: {err}") from None

    groups, aggregates = {}, 0
    for i, row in enumerate(gb["benchmarks"]):
        if not isinstance(row, dict) or not isinstance(row.get("name"), str):
            raise GbenchError(f"{source}: benchmarks[{i}] has no name")
        run = row.get("run_name", row["name"])
        if rx and not rx.search(run):
            continue
        if row.get("run_type", "iteration") != "iteration":
            aggregates += 1      # mean/median/stddev/cv, BigO, RMS: computed, not measured
            continue
        groups.setdefault(run, []).append((i, row))
    if not groups:
        if aggregates:
            raise GbenchError(f"{source}: only aggregate rows (mean, median, ...) match: the repetitions are "
                              "needed as samples; run without --benchmark_report_aggregates_only")
        raise GbenchError(f"{source}: no benchmark " + (f"matches --filter {name_filter!r}" if rx else "in the file"))

    if value is None:
        first = next(iter(groups.values()))[0][1]
        value = metric if metric in first else "real_time"
    if value in ("real_time", "cpu_time") and unit not in TIME_UNITS:
        raise GbenchError(f"{metric} is in {unit}, not a time: name the counter that holds it with --value")

    entries, keys = [], {}
    for run, rows in groups.items():
        label, pr, measure = parse_name(run)
        pr.update(params or {})
        key = (label, json.dumps(pr, sort_keys=True))
        if key in keys:
            raise GbenchError(f"{keys[key]} and {run} both become {label} {pr or ''}: "
                              "select one family with --filter")
        keys[key] = run
        variant, dims, peer = _kind(label)
        e = {"scenario": scenario, "variant": variant, "dimensions": dims, "peer": peer, "label": label,
             "params": pr, "status": "ok", "reason": None, "repetitions": len(rows), "metrics": {},
             "peak_rss_kib": None, "notes": []}
        errors = [r.get("error_message") or "error" for _, r in rows if r.get("error_occurred")]
        if errors:
            e.update(status="failed", reason=f"{run}: {errors[0]}")
            entries.append(e)
            continue
        samples = []
        for i, r in rows:
            v = r.get(value)
            if not validate_results._num(v):
                raise GbenchError(f"{source}: benchmarks[{i}] ({run}) has no number {value!r}"
                                  + ("" if value in ("real_time", "cpu_time") else
                                     f" (its counters: {', '.join(_counters(r)) or 'none'})"))
            if value in ("real_time", "cpu_time"):
                tu = r.get("time_unit", "ns")
                if tu not in TIME_UNITS:
                    raise GbenchError(f"{source}: benchmarks[{i}] has time_unit {tu!r}")
                if tu != unit:   # v * 1e-9 / 1e-9 need not give v back
                    v = v * TIME_UNITS[tu] / TIME_UNITS[unit]
            samples.append(float(v))
        srt = sorted(samples)
        n = len(srt)
        med = srt[n // 2] if n % 2 else (srt[n // 2 - 1] + srt[n // 2]) / 2
        e["metrics"][metric] = {"unit": unit, "samples": samples, "median": med, "min": srt[0], "max": srt[-1]}
        how = f"counter {value}" if value not in ("real_time", "cpu_time") else \
            f"{value} per iteration in {unit}"
        e["notes"].append(f"imported from Google Benchmark output {os.path.basename(source)}: {run}, "
                          f"{n} repetition(s), one sample each; {metric} = {how}")
        if measure:
            e["notes"].append("measured with " + ", ".join(measure))
        entries.append(e)

    when, naive = _created(context, created)
    cores = context.get("num_cpus")
    if not (isinstance(cores, int) and not isinstance(cores, bool) and cores > 0):
        raise GbenchError(f"{source}: context.num_cpus is missing or not a positive integer")
    dirty = {"true": True, "false": False}.get(context.get("dirty"))
    doc = {
        "schema": "switchyard-results", "schema_version": 1, "created": when,
        "command": command or f"{context.get('executable', 'a Google Benchmark binary')} "
                              f"(Google Benchmark output {os.path.basename(source)})",
        "machine": {
            "hostname": str(context.get("host_name", "")),
            # Google Benchmark records neither the CPU model nor the kernel; our exports do.
            "cpu_model": str(context.get("cpu_model") or "unknown (not in Google Benchmark output)"),
            "cores": cores,
            "kernel": str(context.get("kernel") or "unknown"),
            "memory_kib": None,
            "limits": {"vm.max_map_count": None, "net.core.somaxconn": None, "open_files": None},
            "settings_applied": [],
        },
        "build": {
            "compiler": str(context.get("compiler") or "unknown"),
            "flags": "unknown",
            "build_type": str(context.get("build_type") or "unknown"),
            "sanitize": "",
            "commit": context.get("commit") or None,
            "dirty": dirty,
            "boost_version": str(context.get("boost_version") or "unknown"),
        },
        "entries": entries,
    }
    if naive:
        for e in entries:
            e["notes"].append("the run's date had no time zone; taken as UTC")
    problems = validate_results.validate(doc)
    if problems:
        raise GbenchError(f"{source}: the import does not fit the schema:\n  " + "\n  ".join(problems[:10]))
    return doc


_ROW_FIELDS = {"name", "family_index", "per_family_instance_index", "run_name", "run_type", "repetitions",
               "repetition_index", "threads", "iterations", "real_time", "cpu_time", "time_unit",
               "aggregate_name", "aggregate_unit", "label", "error_occurred", "error_message"}


def _counters(row):
    return sorted(k for k, v in row.items() if k not in _ROW_FIELDS and validate_results._num(v))


def read_json(path):
    try:
        with open(path) as f:
            return json.load(f)
    except OSError as err:
        raise GbenchError(f"{path}: cannot read: {err.strerror}") from None
    except (ValueError, UnicodeDecodeError) as err:
        raise GbenchError(f"{path}: not valid JSON: {err}") from None


__all__ = ["GbenchError", "export", "import_gbench", "parse_name", "read_json", "DEFAULT_METRIC",
           "TIME_UNITS"]
