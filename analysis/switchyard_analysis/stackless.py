"""Stackful against stackless: our best variant beside the coroutine peers.

For every scenario the `coro` peer (C++20 coroutines on a minimal scheduler: the stackless
floor) or the `asio` peer (Boost.Asio/Beast on C++20 coroutines: what C++ users pick) ran,
one row per parameter set: our best variant's cost divided by the peer's, with a 95%
bootstrap interval. A second table sets the memory a suspended task holds beside the memory
a suspended fiber holds.

How the numbers are made (EVIDENCE.md):
- cost ratio = ours / peer from the medians of the samples; for a rate (requests_per_s) the
  cost per request, peer / ours. Above 1: our runtime costs more.
- "our best variant": among the variants measured with the same parameters as the peer
  (the parameters both recorded), the one with the lowest median cost.
- the interval: percentile bootstrap of the ratio of medians, resampling each entry's
  samples with replacement (B = 4000, a fixed seed: the table is reproducible). A difference
  is claimed only when the interval excludes 1; otherwise the row says "~".
- an entry with fewer than 3 samples gets no interval (the cell says n): resampling one or
  two values gives an interval that only looks narrow.

stackless_table(results) -> markdown. `results` is a ResultSet (results.load_folder) or a
list of Entry objects.
"""

import math
import random

from .results import params_text
from .stats import median

PEERS = ("coro", "asio")

# scenario -> (the metric compared, condition on the parameters or None). The metric is
# the scenario's headline cost, as its own figure shows it.
HEADLINE = {
    "yield": "ns_per_yield",
    "spawn_join": "ns_per_spawn_join",
    "skynet": "time_s",
    "channel": "ns_per_handoff",
    "mutex": "ns_per_lock",
    "timers": "lateness_p99_us",
    "http": None,  # mode=load: requests_per_s; mode=idle: kib_per_conn
}
SCENARIO_ORDER = ["yield", "spawn_join", "skynet", "channel", "mutex", "timers", "http"]
BOOTSTRAP_B = 4000
MIN_SAMPLES = 3
SEED = 20261206


def _metric_for(entry):
    if entry.scenario == "http":
        return "kib_per_conn" if entry.params.get("mode") == "idle" else "requests_per_s"
    return HEADLINE.get(entry.scenario)


def _is_rate(metric):
    return metric == "requests_per_s"


def _cost_ratio(ours, peer, metric):
    """ours/peer as a cost: for a rate the cost per unit of work, so peer/ours."""
    return peer / ours if _is_rate(metric) else ours / peer


def bootstrap_ratio(ours, peer, metric, b=BOOTSTRAP_B, seed=SEED):
    """(ratio of medians, low, high) with a 95% percentile bootstrap interval; low/high are
    None when a side has fewer than MIN_SAMPLES samples."""
    point = _cost_ratio(median(ours), median(peer), metric)
    if len(ours) < MIN_SAMPLES or len(peer) < MIN_SAMPLES:
        return point, None, None
    rng = random.Random(seed)
    ratios = []
    for _ in range(b):
        o = median([rng.choice(ours) for _ in ours])
        p = median([rng.choice(peer) for _ in peer])
        if o > 0 and p > 0:
            ratios.append(_cost_ratio(o, p, metric))
    ratios.sort()
    if not ratios:
        return point, None, None
    lo = ratios[int(math.floor(0.025 * (len(ratios) - 1)))]
    hi = ratios[int(math.ceil(0.975 * (len(ratios) - 1)))]
    return point, lo, hi


def _entries(results):
    return list(getattr(results, "entries", results))


def _matches(variant_entry, peer_entry):
    """The variant ran with the peer's parameters: every key both recorded agrees."""
    shared = set(variant_entry.params) & set(peer_entry.params)
    return all(str(variant_entry.params[k]) == str(peer_entry.params[k]) for k in shared)


def _row_params(peer_entry, variants):
    """The parameters that tell the row apart: those the variants recorded too."""
    keys = set(peer_entry.params)
    for v in variants:
        keys &= set(v.params)
    return {k: peer_entry.params[k] for k in sorted(keys)}


def _fmt(x):
    if x is None:
        return "-"
    a = abs(x)
    if a >= 100:
        return f"{x:.0f}"
    if a >= 10:
        return f"{x:.1f}"
    if a >= 1:
        return f"{x:.2f}"
    return f"{x:.3g}"


def _ratio_cell(point, lo, hi, n):
    if lo is None:
        return f"{point:.2f}x (n={n})"
    verdict = "" if (lo > 1 or hi < 1) else " ~"
    return f"{point:.2f}x [{lo:.2f}, {hi:.2f}]{verdict}"


def _best_variant(variants, metric):
    """The variant entry with the lowest median cost (highest rate), and its samples."""
    scored = [(v, v.metrics[metric]) for v in variants if metric in v.metrics and v.metrics[metric].samples]
    if not scored:
        return None, None
    pick = max if _is_rate(metric) else min
    best = pick(scored, key=lambda vm: vm[1].median)
    return best[0], best[1].samples


def stackless_rows(results):
    """One dict per (scenario, parameters) where coro or asio ran: the data of the table."""
    entries = [e for e in _entries(results) if e.status == "ok"]
    rows = {}
    for pe in entries:
        if pe.peer not in PEERS:
            continue
        metric = _metric_for(pe)
        if metric is None or metric not in pe.metrics or not pe.metrics[metric].samples:
            continue
        variants = [v for v in entries if v.scenario == pe.scenario and v.variant is not None and _matches(v, pe)]
        best, ours = _best_variant(variants, metric)
        if best is None:
            continue
        params = _row_params(pe, [best])
        key = (pe.scenario, params_text(params), metric)
        row = rows.setdefault(key, {"scenario": pe.scenario, "params": params, "metric": metric,
                                    "unit": pe.metrics[metric].unit, "peers": {}})
        # Several files may hold the same row: the peer's later entry wins, and the best
        # variant is the best over every peer's matches.
        row["peers"][pe.peer] = {"median": pe.metrics[metric].median, "samples": pe.metrics[metric].samples,
                                 "ours": best.label, "ours_samples": ours}
    out = []
    for key in sorted(rows, key=lambda k: (SCENARIO_ORDER.index(k[0]) if k[0] in SCENARIO_ORDER else 99, k[1])):
        row = rows[key]
        for peer, d in row["peers"].items():
            d["ratio"] = bootstrap_ratio(d["ours_samples"], d["samples"], row["metric"])
        out.append(row)
    return out


def stackless_tables(results):
    """The "stackful against stackless" tables as data: a list of (note, header, rows), the
    cost table first and the memory table when there is one; [] without coro or asio rows."""
    rows = stackless_rows(results)
    if not rows:
        return []
    note = ("Cost ratio = our best variant / the peer (for requests/s: cost per request, peer rate / ours); "
            "above 1 our runtime costs more. Medians of the samples; [95% percentile bootstrap interval of the "
            f"ratio of medians, B = {BOOTSTRAP_B}]; \"~\" when the interval holds 1 (no difference shown). `coro`: "
            "C++20 coroutines on a minimal FIFO scheduler (the stackless floor); `asio`: Boost.Asio/Beast on C++20 "
            "coroutines.")
    header = ["scenario", "parameters", "metric", "our best variant", "ours", "coro", "ours / coro", "asio",
              "ours / asio"]
    body = []
    for row in rows:
        peers = row["peers"]
        any_peer = next(iter(peers.values()))
        # The best variant can differ per peer only when their parameters differ; it is the
        # same entry whenever both ran with the same parameters.
        best = " / ".join(sorted({d["ours"] for d in peers.values()}))
        cells = []
        for peer in PEERS:
            if peer in peers:
                d = peers[peer]
                n = min(len(d["samples"]), len(d["ours_samples"]))
                cells += [_fmt(d["median"]), _ratio_cell(*d["ratio"], n)]
            else:
                cells += ["-", "-"]
        body.append([row["scenario"], params_text(row["params"]) or "-", f"{row['metric']} ({row['unit']})", best,
                     _fmt(median(any_peer["ours_samples"]))] + cells)
    out = [(note, header, body)]
    memory = memory_rows(results)
    if memory:
        out.append(("Memory a suspended task holds: bytes per live task = peak RSS / peak live tasks "
                    "(skynet, the whole tree alive on one carrier with FIFO) or / sleeping tasks (timers); one "
                    "peak per entry, no interval. The coroutine frame is exact (frame_kib_per_task, what the "
                    "frames asked of operator new); a fiber holds at least its stack's touched pages.",
                    ["scenario", "parameters", "ours (best variant)", "bytes per suspended fiber",
                     "coro bytes per suspended task", "coro frame bytes"],
                    [[m["scenario"], params_text(m["params"]), m["ours"], f"{m['ours_bytes']:.0f}",
                      f"{m['coro_bytes']:.0f}", f"{m['frame_bytes']:.0f}"] for m in memory]))
    return out


def stackless_table(results):
    """The "stackful against stackless" markdown: a cost table and a memory table."""
    lines = ["### Stackful against stackless", ""]
    tables = stackless_tables(results)
    if not tables:
        lines.append("No `coro` or `asio` entry beside a variant with the same parameters in these results.")
        return "\n".join(lines) + "\n"
    for k, (note, header, body) in enumerate(tables):
        if k:
            lines.append("")
        lines += [note, "", "| " + " | ".join(header) + " |",
                  "| " + " | ".join("---" if i < 4 or (k and i < 3) else "---:" for i in range(len(header))) + " |"]
        lines += ["| " + " | ".join(r) + " |" for r in body]
    return "\n".join(lines) + "\n"


def _live_tasks(entry):
    if entry.scenario == "skynet" and "peak_live_fibers" in entry.metrics:
        return max(entry.metrics["peak_live_fibers"].samples)
    if entry.scenario == "timers" and "fibers" in entry.params:
        return float(entry.params["fibers"])
    return None


def memory_rows(results):
    """skynet (1 carrier) and timers: bytes per suspended task, ours against coro."""
    entries = [e for e in _entries(results) if e.status == "ok"]
    out = []
    for pe in entries:
        if pe.peer != "coro" or pe.scenario not in ("skynet", "timers") or not pe.peak_rss_kib:
            continue
        if pe.scenario == "skynet" and str(pe.params.get("carriers")) != "1":
            continue
        live = _live_tasks(pe)
        if not live or "frame_kib_per_task" not in pe.metrics:
            continue
        per = []
        for v in entries:
            if v.scenario == pe.scenario and v.variant is not None and _matches(v, pe) and v.peak_rss_kib:
                n = _live_tasks(v)
                if n:
                    per.append((v.peak_rss_kib * 1024.0 / n, v.label))
        if not per:
            continue
        ours_bytes, ours_label = min(per)
        out.append({"scenario": pe.scenario, "params": _row_params(pe, []), "ours": ours_label,
                    "ours_bytes": ours_bytes, "coro_bytes": pe.peak_rss_kib * 1024.0 / live,
                    "frame_bytes": median(pe.metrics["frame_kib_per_task"].samples) * 1024.0})
    out.sort(key=lambda m: (m["scenario"], params_text(m["params"])))
    return out
