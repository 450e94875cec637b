"""The trend check in the report: an entry whose samples drift says so in its own row of
the scenario's table. Folders are SYNTHETIC (make_fixtures) with samples set here."""

import json
import os
import random
import statistics

import schema2_fixtures
from switchyard_analysis import report
from switchyard_analysis.results import load_folder


def _steady(seed, n=15, level=100.0):
    rng = random.Random(seed)
    return [level * rng.lognormvariate(0.0, 0.01) for _ in range(n)]


def _set_samples(folder, samples_of, runs_of=None):
    """samples_of: {label: samples} for ns_per_yield in yield.json (runs_of: their runs)."""
    path = os.path.join(folder, "yield.json")
    doc = json.load(open(path))
    for e in doc["entries"]:
        s = samples_of.get(e["label"])
        if s is None:
            continue
        m = e["metrics"]["ns_per_yield"]
        m.update(samples=s, median=statistics.median(s), min=min(s), max=max(s))
        if runs_of and e["label"] in runs_of:
            m["runs"] = runs_of[e["label"]]
        e["repetitions"] = len(s)
    if runs_of:
        schema2_fixtures.upgrade(doc, 1 + max(max(r) for r in runs_of.values()))
    json.dump(doc, open(path, "w"))


def _yield_table(folder):
    rs = load_folder(folder)
    blocks = report._scenario_tables([rs], "yield")
    tables = [b for b in blocks if b[0] == "table"]
    assert len(tables) == 1
    _, header, rows = tables[0]
    return header, {r[0]: r for r in rows}, blocks


def test_a_drifting_entry_is_flagged_in_its_row(make_folder):
    folder = make_folder("t", scenarios={"yield"})
    drifting = [v * (1 + 0.01 * i) for i, v in enumerate(_steady(1))]   # +14 % over the run
    _set_samples(folder, {"asm-pooled-fifo": drifting, "asm-fresh-fifo": _steady(2)})
    header, rows, blocks = _yield_table(folder)
    assert header[-1] == report.TREND_HEADER
    col = len(header) - 1
    assert rows["asm-pooled-fifo"][col].startswith("ns_per_yield: last third +")
    assert rows["asm-fresh-fifo"][col] == "—"
    assert ("p", report.TREND_NOTE) in blocks


def test_steady_entries_and_run_to_run_differences_add_no_column(make_folder):
    folder = make_folder("t", scenarios={"yield"})
    # Two fresh processes 10 % apart, each steady: not a trend once runs are known.
    two_runs = _steady(3) + _steady(4, level=110.0)
    _set_samples(folder, {"asm-pooled-fifo": two_runs, "asm-fresh-fifo": _steady(2)},
                 {"asm-pooled-fifo": [0] * 15 + [1] * 15})
    header, _, blocks = _yield_table(folder)
    assert report.TREND_HEADER not in header
    assert ("p", report.TREND_NOTE) not in blocks


def test_too_few_samples_anywhere_is_said_once(make_folder):
    rs = load_folder(make_folder("t", scenarios={"yield"}))   # the fixtures hold a few samples
    said = [s for s in report.not_measured([rs]) if "trend check needs" in s]
    assert len(said) == 1 and f"needs {report.TREND_MIN_SAMPLES} samples" in said[0]
    folder = make_folder("u", scenarios={"yield"})
    _set_samples(folder, {"asm-pooled-fifo": _steady(5)})
    assert not [s for s in report.not_measured([load_folder(folder)]) if "trend check" in s]
