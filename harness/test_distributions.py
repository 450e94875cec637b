"""ctest harness_distributions: the timers scenario's lateness distribution reaches the
results file, for a variant and for the coro peer, in the shape results/SCHEMA.md gives,
read by nearest rank like the percentile metrics beside it, and the file validates.

Run: SWITCHYARD=<switchyard> /usr/bin/python3 -m pytest -q harness/test_distributions.py
"""
import json
import os
import subprocess
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
SWITCHYARD = os.environ.get("SWITCHYARD", "")
QUANTILES = [0, .1, .25, .5, .75, .9, .95, .99, .995, .999, .9999, 1]
REPS = 2


@pytest.fixture(scope="module")
def timers_file(tmp_path_factory):
    if not SWITCHYARD or not os.path.exists(SWITCHYARD):
        pytest.skip("SWITCHYARD (the switchyard binary) not given")
    out = str(tmp_path_factory.mktemp("dist") / "timers.json")
    proc = subprocess.run([SWITCHYARD, "run", "--scenario", "timers", "--variant", "asm-pooled-fifo",
                           "--peer", "coro", "--param", "fibers=400", "--param", "max_ms=5",
                           "--repetitions", str(REPS), "--out", out],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return out


def test_the_file_validates(timers_file):
    proc = subprocess.run([sys.executable, os.path.join(HERE, "validate_results.py"), timers_file],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.parametrize("label", ["asm-pooled-fifo", "coro"])
def test_entry_carries_the_distribution(timers_file, label):
    with open(timers_file) as f:
        entries = json.load(f)["entries"]
    mine = [e for e in entries if e["label"] == label]
    if label == "coro" and mine and mine[0]["status"] == "skipped":
        pytest.skip("coro peer not built: " + mine[0]["reason"])
    assert len(mine) == 1 and mine[0]["status"] == "ok", mine
    e = mine[0]
    d = e["lateness_quantiles_ns"]
    assert set(d) == {"quantiles", "values", "runs"}  # schema version 2: the round of each row
    assert d["quantiles"] == QUANTILES
    assert len(d["values"]) == REPS and d["runs"] == [0] * REPS
    for rep, row in enumerate(d["values"]):
        assert len(row) == len(QUANTILES) and row == sorted(row), row
        # The same nearest-rank reading as the metrics, in ns where they are in us.
        for q, metric in ((.5, "lateness_p50_us"), (.99, "lateness_p99_us"), (1, "lateness_max_us")):
            us = e["metrics"][metric]["samples"][rep]
            assert row[QUANTILES.index(q)] == pytest.approx(us * 1000, rel=1e-9, abs=1e-6), (q, row, us)
