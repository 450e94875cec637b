"""The "stackful against stackless" table (switchyard_analysis/stackless.py) on SYNTHETIC
results written with the fixture helpers and read back through load_folder."""

import json
import os
import random

import make_fixtures as mf
from switchyard_analysis import results, stackless


def _metric(unit, samples):
    s = sorted(samples)
    n = len(s)
    med = s[n // 2] if n % 2 else (s[n // 2 - 1] + s[n // 2]) / 2
    return {"unit": unit, "samples": list(samples), "median": med, "min": s[0], "max": s[-1]}


def _spread(base, n=7, seed=1, spread=0.03):
    rng = random.Random(seed)
    return [round(base * rng.lognormvariate(0.0, spread), 6) for _ in range(n)]


def _write(tmp_path, entries):
    folder = tmp_path / "res"
    folder.mkdir()
    with open(folder / "stackless.json", "w") as f:
        json.dump(mf.document("fixture-a", entries, "stackless", 1), f)
    return results.load_folder(str(folder))


def _entries():
    yield_params = {"carriers": 1, "fibers": 2}
    http = {"connections": 100, "mode": "load", "duration_s": 5, "wrk_threads": 2, "carriers": 2}
    e = [
        # yield: asm 5 ns is the best variant, ucontext 150 ns; coro 1 ns, asio 250 ns.
        mf.variant_entry("yield", "asm", "pooled", "fifo", yield_params,
                         {"ns_per_yield": _metric("ns", _spread(5.0, seed=2))}, 7),
        mf.variant_entry("yield", "ucontext", "pooled", "fifo", yield_params,
                         {"ns_per_yield": _metric("ns", _spread(150.0, seed=3))}, 7),
        mf.peer_entry("yield", "coro", {}, {"ns_per_yield": _metric("ns", _spread(1.0, seed=4))}, 7),
        mf.peer_entry("yield", "asio", {}, {"ns_per_yield": _metric("ns", _spread(250.0, seed=5))}, 7),
        # skynet on 1 and 2 carriers: separate rows; the 1000-leaf variant never matches.
        mf.variant_entry("skynet", "asm", "pooled", "fifo",
                         {"fibers": 10000, "carriers": 1, "stack_kib": 16, "guard": "off"},
                         {"time_s": _metric("s", _spread(0.02, seed=6)),
                          "peak_live_fibers": _metric("count", [11111] * 7)}, 7),
        mf.variant_entry("skynet", "asm", "pooled", "fifo",
                         {"fibers": 1000, "carriers": 1, "stack_kib": 16, "guard": "off"},
                         {"time_s": _metric("s", _spread(0.0001, seed=7)),
                          "peak_live_fibers": _metric("count", [1111] * 7)}, 7),
        mf.variant_entry("skynet", "asm", "pooled", "chaselev",
                         {"fibers": 10000, "carriers": 2, "stack_kib": 16, "guard": "off"},
                         {"time_s": _metric("s", [0.0040, 0.0041, 0.0039, 0.0042, 0.0038, 0.0040, 0.0041]),
                          "peak_live_fibers": _metric("count", [40] * 7)}, 7),
        mf.peer_entry("skynet", "coro", {"fibers": 10000, "carriers": 1},
                      {"time_s": _metric("s", _spread(0.002, seed=9)),
                       "peak_live_fibers": _metric("count", [11111] * 7),
                       "frame_kib_per_task": _metric("KiB", [0.234375] * 7)}, 7),
        # On 2 carriers the two overlap: no difference may be claimed.
        mf.peer_entry("skynet", "coro", {"fibers": 10000, "carriers": 2},
                      {"time_s": _metric("s", [0.0035, 0.0045, 0.0039, 0.0041, 0.0043, 0.0037, 0.0040]),
                       "peak_live_fibers": _metric("count", [9000] * 7),
                       "frame_kib_per_task": _metric("KiB", [0.234375] * 7)}, 7),
        # http: a rate. Ours 100k req/s against asio's 50k: ours costs half per request.
        mf.variant_entry("http", "asm", "pooled", "chaselev", dict(http, registration="oneshot", io_backend="epoll"),
                         {"requests_per_s": _metric("req/s", _spread(100000.0, n=3, seed=11))}, 3),
        mf.peer_entry("http", "asio", http, {"requests_per_s": _metric("req/s", _spread(50000.0, n=3, seed=12))}, 3),
        # channel with one sample each: a ratio without an interval.
        mf.variant_entry("channel", "asm", "pooled", "fifo", {"ops": 2000, "carriers": 1},
                         {"ns_per_handoff": _metric("ns", [40.0])}, 1),
        mf.peer_entry("channel", "coro", {"ops": 2000, "carriers": 1}, {"ns_per_handoff": _metric("ns", [10.0])}, 1),
        # Skipped entries are ignored.
        mf.peer_entry("mutex", "asio", {}, {}, 5, status="skipped", reason="Asio has no asynchronous mutex"),
    ]
    # Memory: peak RSS of the 1-carrier skynet entries (the whole tree alive at once).
    e[4]["peak_rss_kib"] = 11111 * 20  # 20 KiB per live fiber
    e[7]["peak_rss_kib"] = 11111 * 1   # 1 KiB per live task
    return e


def _rows(tmp_path):
    return {(r["scenario"], results.params_text(r["params"])): r
            for r in stackless.stackless_rows(_write(tmp_path, _entries()))}


def test_ratios_intervals_and_best_variant(tmp_path):
    rows = _rows(tmp_path)
    y = rows[("yield", "")]
    assert {d["ours"] for d in y["peers"].values()} == {"asm-pooled-fifo"}  # the best, not ucontext
    point, lo, hi = y["peers"]["coro"]["ratio"]
    assert 4.0 < lo <= point <= hi < 6.5
    point, lo, hi = y["peers"]["asio"]["ratio"]
    assert 0.015 < lo <= point <= hi < 0.03
    # A rate becomes a cost per request: asio's half rate makes ours 0.5x.
    point, lo, hi = rows[("http", "carriers=2 connections=100 duration_s=5 mode=load wrk_threads=2")]["peers"][
        "asio"]["ratio"]
    assert abs(point - 0.5) < 0.05 and hi < 1


def test_rows_keep_parameters_apart(tmp_path):
    rows = _rows(tmp_path)
    one = rows[("skynet", "carriers=1 fibers=10000")]["peers"]["coro"]
    assert one["ours"] == "asm-pooled-fifo" and 8 < one["ratio"][0] < 12  # 0.02 s against 0.002 s
    two = rows[("skynet", "carriers=2 fibers=10000")]["peers"]["coro"]
    assert two["ours"] == "asm-pooled-chaselev"
    assert ("mutex", "") not in rows  # skipped entries make no row


def test_markdown(tmp_path):
    text = stackless.stackless_table(_write(tmp_path, _entries()))
    assert text.startswith("### Stackful against stackless")
    lines = text.splitlines()
    yield_row = next(l for l in lines if l.startswith("| yield |"))
    cells = [c.strip() for c in yield_row.strip("|").split("|")]
    assert cells[3] == "asm-pooled-fifo" and "[" in cells[6] and not cells[6].endswith("~")
    two = next(l for l in lines if l.startswith("| skynet | carriers=2"))
    assert two.split("|")[7].strip().endswith("~")       # the intervals overlap: "~"
    assert two.split("|")[8].strip() == "-"               # no asio there
    assert "(n=1)" in next(l for l in lines if l.startswith("| channel |"))
    # The memory table: 20 KiB per live fiber against 1 KiB per task and a 240-byte frame.
    mem = next(l for l in lines if l.startswith("| skynet | carriers=1 fibers=10000 | asm-pooled-fifo | 20480"))
    assert mem.rstrip().endswith("| 1024 | 240 |")
    # Deterministic: the bootstrap has a fixed seed.
    assert stackless.stackless_table(results.load_folder(str(tmp_path / "res"))) == text


def test_no_peers_says_so(tmp_path):
    only_ours = [e for e in _entries() if e["peer"] is None]
    text = stackless.stackless_table(_write(tmp_path, only_ours))
    assert "No `coro` or `asio` entry" in text


def test_bootstrap_interval_covers_the_ratio_and_needs_two_samples():
    point, lo, hi = stackless.bootstrap_ratio([2.0, 2.1, 1.9, 2.05], [1.0, 1.02, 0.98, 1.01], "ns_per_yield")
    assert lo <= point <= hi and 1.7 < lo and hi < 2.3
    assert stackless.bootstrap_ratio([2.0], [1.0, 1.1, 1.2], "ns_per_yield")[1:] == (None, None)
    assert stackless.bootstrap_ratio([2.0, 2.2], [1.0, 1.1, 1.2], "ns_per_yield")[1:] == (None, None)
