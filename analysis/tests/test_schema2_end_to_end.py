"""Schema 2 results end to end: the hand-written files of fixtures/schema2 (SYNTHETIC) and a
newer file derived from them, through compare.py and through the report. The rounds and the
noise floor come from the loader (Metric.rounds, ResultSet.noise_floors), so a measurement
pooled from two files is compared by round and every file's noise floor is shown."""

import copy
import json
import os
import shutil

from switchyard_analysis import report
from switchyard_analysis.results import load_folder
from test_compare import run

SCHEMA2 = os.path.join(os.path.dirname(__file__), "fixtures", "schema2")


def _scaled(metric, factor):
    m = dict(metric, samples=[s * factor for s in metric["samples"]])
    m.update(median=metric["median"] * factor, min=min(m["samples"]), max=max(m["samples"]))
    return m


def _folders(tmp_path, ratio=1.01, noise_floor=True):
    """base: a_v1 (commit 1...) and b_v2 (commit 2..., noise floor 1.3 %, drift +2.0 %),
    the same yield measurement in both, so pooled; new: one later file (commit 3...) where
    asm-pooled-fifo is 1 % slower and asm-fresh-fifo `ratio` times that."""
    base, new = tmp_path / "base", tmp_path / "new"
    base.mkdir()
    new.mkdir()
    for name in ("a_v1.json", "b_v2.json"):
        shutil.copy(os.path.join(SCHEMA2, name), base / name)
    with open(os.path.join(SCHEMA2, "b_v2.json")) as f:
        doc = json.load(f)
    doc["created"] = "2026-12-03T10:00:00Z"
    doc["build"]["commit"] = "3" * 40
    pooled = doc["entries"][0]
    pooled["metrics"]["ns_per_yield"] = _scaled(pooled["metrics"]["ns_per_yield"], 1.01)
    fresh = copy.deepcopy(pooled)
    fresh["variant"] = fresh["label"] = "asm-fresh-fifo"
    fresh["dimensions"]["stacks"] = "fresh"
    fresh["metrics"]["ns_per_yield"] = _scaled(pooled["metrics"]["ns_per_yield"], ratio)
    doc["entries"].append(fresh)
    if not noise_floor:
        doc["noise_floor"] = None
    with open(new / "c.json", "w") as f:
        json.dump(doc, f)
    return str(base), str(new)


def test_compare_pools_rounds_and_shows_the_noise_floor(tmp_path):
    base, new = _folders(tmp_path)
    rc, out, err = run(base, new, "--metric", "ns_per_yield", "--format", "json")
    assert rc == 0, err
    (row,) = json.loads(out)["rows"]
    # The pooled base keeps each file's rounds apart: a_v1's round 0 and b_v2's two rounds.
    assert row["n_base"] == 7 and row["runs_base"] == 3 and row["runs_new"] == 2
    # Two invocations: resampled by round, not paired; the round is the test's unit.
    assert row["ci_method"] == "runs" and row["test"] == "Welch t, rounds"
    assert row["ci_low"] < row["change"] < row["ci_high"]
    rc, out, _ = run(base, new, "--metric", "ns_per_yield")
    head = out.split("yield ·")[0]
    assert "noise floor 1.3%, drift +2.0%" in head and "base:" in head and "new:" in head
    assert "7/4 (3/2 runs)" in out and "95% CI of delta" in out


def test_compare_pairs_rounds_within_one_folder(tmp_path):
    _, new = _folders(tmp_path)
    rc, out, _ = run("--variants", new, "--intervals", "--metric", "ns_per_yield",
                     "--reference", "asm-pooled-fifo")
    assert rc == 0
    line = next(ln for ln in out.splitlines() if ln.strip().startswith("asm-fresh-fifo"))
    # Both variants measured in the same two rounds: the paired ratio is each round's
    # 1.01, exactly, with a degenerate interval.
    assert "1.010x [1.010, 1.010]" in line, line


def _markdown(folder, out_dir):
    return report.to_markdown(report.build_blocks([load_folder(folder)], [], str(out_dir)))


def _row(md, name):
    return next(ln for ln in md.splitlines() if ln.startswith(f"| {name} |"))


def test_report_lists_commits_noise_floors_and_ratios_within_the_noise(tmp_path):
    base, new = _folders(tmp_path)
    md = _markdown(base, tmp_path)
    # A folder that mixes commits: all of them, and a warning.
    assert _row(md, "commit") == ("| commit | " + "1" * 40 + " (1 file); " + "2" * 40
                                  + " (dirty tree) (1 file) |")
    assert "the files were built from 2 commits" in md.split("## Warnings")[1]
    # The noise floor and drift of the file that measured one, beside the machine rows.
    nf = _row(md, "noise floor")
    assert nf.startswith("| noise floor | b_v2.json: noise floor 1.3% (reference workload "
                         "FIXTURE reference loop, 4 samples), drift +2.0%")
    assert md.index("| noise floor |") > md.index("| files |")
    # fresh/pooled is 1.01x, within the files' 2.0 % margin: the finding says so.
    md = _markdown(new, tmp_path)
    finding = next(ln for ln in md.splitlines() if "fresh/pooled" in ln)
    assert "fresh/pooled 1.01x [" in finding and "within the noise (2.0%)" in finding
    # A 1.1x difference clears the margin, and without a noise floor nothing is said.
    for kw in ({"ratio": 1.1}, {"noise_floor": False}):
        sub = tmp_path / next(iter(kw))
        sub.mkdir()
        md = _markdown(_folders(sub, **kw)[1], sub)
        finding = next(ln for ln in md.splitlines() if "fresh/pooled" in ln)
        assert "within the noise" not in finding
    assert "| noise floor |" not in md     # no file measured one: no row


def test_report_of_version_1_files_has_no_noise_floor_row(tmp_path):
    folder = tmp_path / "v1"
    folder.mkdir()
    shutil.copy(os.path.join(SCHEMA2, "a_v1.json"), folder / "a_v1.json")
    md = _markdown(str(folder), tmp_path)
    assert "noise floor" not in md and "within the noise" not in md
