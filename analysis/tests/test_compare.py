"""compare.py: two folders (change, Mann-Whitney U, geomean, regression exit code) and
variants within a folder (table, invariants)."""

import contextlib
import io
import json
import os
import subprocess
import sys

import pytest

from switchyard_analysis import comparison
from switchyard_analysis.results import load_folder

import compare

COMPARE = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "compare.py")


def run(*args):
    """compare.py in this process (a subprocess would import scipy again for each call, a
    second or more on a loaded machine): (exit code, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            rc = compare.main([str(a) for a in args])
        except SystemExit as e:         # argparse usage errors
            rc = e.code
    return rc, out.getvalue(), err.getvalue()


def run_script(*args):
    p = subprocess.run([sys.executable, COMPARE, *args], capture_output=True, text=True, timeout=60)
    return p.returncode, p.stdout, p.stderr


def _edit(folder, name, fn):
    path = os.path.join(folder, name)
    doc = json.load(open(path))
    fn(doc)
    json.dump(doc, open(path, "w"))


def _scale_metric(doc, label, metric, factor):
    for e in doc["entries"]:
        if e["label"] == label and metric in e["metrics"]:
            m = e["metrics"][metric]
            m["samples"] = [s * factor for s in m["samples"]]
            for k in ("median", "min", "max"):
                m[k] *= factor


def test_slower_machine_regresses_with_exit_code(make_folder):
    base = make_folder("base", scenarios={"yield", "http"})
    new = make_folder("new", scenarios={"yield", "http"}, seed=3, scale=1.2)
    rc, out, _ = run(base, new, "--metric", "ns_per_yield", "--threshold", "5", "--fail-on-regression")
    assert rc == 1
    assert "REGRESSION" in out and "p (MWU)" in out
    assert run(base, new, "--metric", "ns_per_yield", "--threshold", "50", "--fail-on-regression")[0] == 0
    assert run(base, new, "--metric", "ns_per_yield")[0] == 0      # report only
    # requests/s is higher-is-better: the same machine change is worse there too, but the
    # http fixtures have 3 repetitions, too few for the test: "~", not counted by default
    rc, out, _ = run(base, new, "--metric", "requests_per_s", "--threshold", "5", "--fail-on-regression")
    assert rc == 0 and "too few samples for p<0.05 (smallest possible p 0.1)" in out
    assert "regressions past 5% (requests_per_s): 0" in out
    # ... unless asked to let the threshold decide for small samples
    rc, out, _ = run(base, new, "--metric", "requests_per_s", "--threshold", "5", "--fail-on-regression",
                     "--small-samples-by-threshold")
    assert rc == 1 and "counted on the threshold alone" in out


def test_higher_throughput_is_not_a_regression(make_folder):
    base = make_folder("base", scenarios={"http"})
    new = make_folder("new", scenarios={"http"}, seed=3, scale=0.8)   # faster machine
    rc, out, _ = run(base, new, "--metric", "requests_per_s", "--fail-on-regression")
    assert rc == 0 and " ~ (1)" in out and "better" not in out   # 3 repetitions: not claimed


def test_geomean_rows():
    def row(metric, base, new):
        return comparison.Row("s", "l", "", metric, "ns", base, new, new / base - 1, None,
                              9, 9, False, "same")
    rows = [row("ns_per_yield", 10, 20), row("ns_per_yield", 10, 5), row("requests_per_s", 100, 50)]
    g = dict((name, v) for name, v, n in comparison.geomean_rows(rows))
    assert g["geomean ns_per_yield (new/base)"] == pytest.approx(1.0)
    assert g["geomean requests_per_s (new/base)"] == pytest.approx(0.5)
    # cost ratios: 2, 0.5, and 2 (half the throughput) -> cube root of 2
    assert g["GEOMEAN all metrics (cost ratio, >1 = worse)"] == pytest.approx(2 ** (1 / 3))


def test_same_folder_shows_no_change(make_folder):
    base = make_folder("base", scenarios={"yield"})
    rc, out, _ = run(base, base, "--fail-on-regression")
    assert rc == 0
    assert "GEOMEAN all metrics (cost ratio, >1 = worse)  1.0000" in out
    assert "regressions past 5% (every metric): 0" in out


def test_instruction_counts_use_tolerance(make_folder):
    base = make_folder("base", scenarios={"switch"})
    new = make_folder("new", scenarios={"switch"})
    _edit(new, "switch.json", lambda d: _scale_metric(d, "asm", "instructions_per_op", 1.005))
    rows, _, _ = comparison.compare_sets(load_folder(base), load_folder(new), {"instructions_per_op"})
    asm = next(r for r in rows if r.label == "asm")
    assert asm.verdict == "~" and not asm.unreliable    # 1 sample, deterministic
    _edit(new, "switch.json", lambda d: _scale_metric(d, "asm", "instructions_per_op", 1.04))
    rc, out, _ = run(base, new, "--metric", "instructions_per_op", "--threshold", "2",
                     "--fail-on-regression")
    assert rc == 1 and "switch asm  instructions_per_op: +4.5%" in out


def test_unreliable_flag_below_nine_repetitions(make_folder):
    base = make_folder("base", scenarios={"channel"}, reps=5)
    new = make_folder("new", scenarios={"channel"}, reps=5, seed=9)
    rows, _, _ = comparison.compare_sets(load_folder(base), load_folder(new))
    assert rows and all(r.unreliable for r in rows)
    rows, _, _ = comparison.compare_sets(*(load_folder(make_folder(n, scenarios={"channel"}, reps=9))
                                           for n in ("b9", "n9")))
    assert not any(r.unreliable for r in rows)


def test_variants_table_and_invariants_pass(make_folder):
    folder = make_folder(scenarios={"switch", "yield", "spawn_join"})
    rc, out, _ = run_script("--variants", folder, "--check-invariants")   # as the CI stage runs it
    assert rc == 0, out
    assert "yield (ratio to asm-pooled-fifo)" in out and "switch (ratio to asm)" in out
    assert out.count("PASS") == 3
    assert "1.00x" not in out.split("yield (ratio")[1].split("\n")[4]   # reference shows a value
    assert "ns" in out


def test_invariants_fail_when_violated(make_folder):
    folder = make_folder(scenarios={"switch", "spawn_join"})
    _edit(folder, "switch.json", lambda d: _scale_metric(d, "asm", "ns_per_switch", 100.0))
    _edit(folder, "spawn_join.json", lambda d: _scale_metric(d, "asm-pooled-fifo", "ns_per_spawn_join", 100.0))
    rc, out, err = run("--variants", folder, "--check-invariants")
    assert rc == 1 and "FAILED" in err
    assert "FAIL                   switch: asm cheaper than ucontext" in out
    assert "FAIL                   spawn_join: pooled cheaper than fresh" in out
    assert "FAIL asm-*-fifo carriers=1" in out


def test_invariants_without_data_are_not_passed(make_folder):
    folder = make_folder(scenarios={"channel"})
    rc, out, _ = run("--variants", folder, "--check-invariants")
    assert rc == 0
    assert out.count("NOT CHECKED (no data)") == 3 and "PASS" not in out


def test_usage_and_bad_input_exit_2(make_folder, tmp_path):
    folder = make_folder(scenarios={"channel"})
    assert run(folder)[0] == 2
    assert run("--check-invariants", folder, folder)[0] == 2
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "x.json").write_text("{")
    rc, _, err = run(folder, str(bad))
    assert rc == 2 and "x.json" in err
