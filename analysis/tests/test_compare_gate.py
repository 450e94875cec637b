"""compare.py as a CI gate: names that are not in the data, small samples, several hosts,
run indices, output formats, files as inputs. Folders are SYNTHETIC (make_fixtures)."""

import csv
import io
import json
import os
import shutil

import schema2_fixtures
from switchyard_analysis import comparison
from test_compare import _edit, run

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BASELINE = os.path.join(REPO, "results", "vm-20261128")


def slower(make_folder, **kw):
    """(base, new): new is a 20 % slower machine, 9 repetitions a side unless given."""
    base = make_folder("base", scenarios={"yield", "http"}, **kw)
    new = make_folder("new", scenarios={"yield", "http"}, seed=3, scale=1.2, **kw)
    return base, new


def test_typo_metric_exits_2_and_lists_the_valid_names(make_folder):
    base, new = slower(make_folder)
    # the data holds a real +20 % regression: the right name fails the gate ...
    assert run(base, new, "--metric", "ns_per_yield", "--fail-on-regression")[0] == 1
    # ... and the typo must not pass it
    rc, out, err = run(base, new, "--metric", "ns_per_yeild", "--fail-on-regression")
    assert rc == 2 and out == ""
    assert "unknown metric 'ns_per_yeild' (did you mean 'ns_per_yield'?)" in err
    assert "valid metrics here:" in err and "requests_per_s" in err
    rc, _, err = run(base, new, "--metric", "ns_per_yield,bogus")
    assert rc == 2 and "unknown metric 'bogus'" in err


def test_unknown_reference_exits_2(make_folder):
    folder = make_folder(scenarios={"switch", "yield"})
    rc, out, err = run("--variants", folder, "--reference", "asm-poold-fifo")
    assert rc == 2 and out == ""
    assert "unknown reference 'asm-poold-fifo' (did you mean 'asm-pooled-fifo'?)" in err
    assert "asm-fresh-fifo" in err and "ucontext" in err
    rc, out, _ = run("--variants", folder, "--reference", "ucontext-pooled-fifo")
    assert rc == 0 and "yield (ratio to ucontext-pooled-fifo)" in out
    # a backend name is a valid reference: the switch table uses it, and variant tables
    # that lack it say so instead of silently dividing by their first column
    rc, out, _ = run("--variants", folder, "--reference", "ucontext")
    assert rc == 0 and "switch (ratio to ucontext)" in out
    assert "yield (ratio to asm-pooled-fifo; ucontext not measured here)" in out
    # --reference means nothing for two folders
    assert run(folder, folder, "--reference", "asm")[0] == 2


def test_unknown_variant_and_scenario_exit_2(make_folder):
    base, new = slower(make_folder)
    rc, _, err = run(base, new, "--variant", "asm-pooled-fiffo")
    assert rc == 2 and "unknown variant 'asm-pooled-fiffo'" in err and "go" in err
    rc, _, err = run(base, new, "--scenario", "yeild")
    assert rc == 2 and "unknown scenario 'yeild' (did you mean 'yield'?)" in err
    rc, out, _ = run(base, new, "--scenario", "yield", "--variant", "asm-pooled-fifo")
    assert rc == 0 and "yield · ns_per_yield (ns)" in out and "http" not in out.split("regressions")[0]
    rc, _, err = run("--variants", base, "--scenario", "yeild")
    assert rc == 2 and "did you mean 'yield'" in err
    # a scenario the suite knows but the data lacks would filter everything away: an error
    rc, _, err = run(base, new, "--scenario", "steal", "--fail-on-regression")
    assert rc == 2 and "unknown scenario 'steal'" in err and "valid scenarios here: http, yield" in err


def test_small_samples_read_tilde_not_regression(make_folder):
    base, new = slower(make_folder, reps=3)
    rc, out, _ = run(base, new, "--metric", "ns_per_yield", "--fail-on-regression")
    assert rc == 0
    assert "regressions past 5% (ns_per_yield): 0" in out
    assert "n=3/3: too few samples for p<0.05 (smallest possible p 0.1)" in out
    body = [ln for ln in out.splitlines() if ln.startswith("  asm-pooled-fifo ")]
    assert body and all(" 3/3  ~ (" in ln for ln in body), body
    assert "too few samples to confirm: not counted without --small-samples-by-threshold" in out
    rc, out, _ = run(base, new, "--metric", "ns_per_yield", "--fail-on-regression",
                     "--small-samples-by-threshold")
    assert rc == 1 and "REGRESSION" in out


def test_cross_host_difference_is_held_back(make_folder):
    base = make_folder("base", scenarios={"yield"})
    new = make_folder("new", scenarios={"yield"}, seed=3, scale=1.2, host="fixture-b")
    rc, out, _ = run(base, new, "--metric", "ns_per_yield", "--fail-on-regression")
    assert rc == 0
    assert "note: different hosts (hostname differ)" in out and "x-host" in out
    assert "regressions past 5% (ns_per_yield): 0" in out
    assert "cross-host (hostname differ): not counted without --cross-host" in out
    rc, out, _ = run(base, new, "--metric", "ns_per_yield", "--fail-on-regression", "--cross-host")
    assert rc == 1 and "REGRESSION" in out


def test_hosts_told_apart_by_kernel_and_cpu_flags_when_hostname_agrees():
    # The baseline and the second host both say hostname "vm" and cpu_model "AMD EPYC".
    doc = json.load(open(os.path.join(BASELINE, "yield.json")))
    m1 = doc["machine"]
    m2 = dict(m1, kernel="6.18.44-fc-v1272")
    assert comparison.host_differences(m1, m1) == []
    assert comparison.host_differences(m1, m2) == ["kernel"]
    # flags compare as sets; a field one side lacks cannot tell hosts apart
    a = dict(m1, cpu_flags="sse avx2 avx512f")
    assert comparison.host_differences(a, dict(m1, cpu_flags="avx2 avx512f sse")) == []
    assert comparison.host_differences(a, dict(m1, cpu_flags=["sse", "avx2"])) == ["cpu_flags"]
    assert comparison.host_differences(a, m1) == []


def _add_runs(doc, shared_level=None):
    """The file as schema 2 with three runs (rounds) per metric (run = sample index mod 3):
    the loader keeps a sample's round only from a version 2 file. With shared_level, each
    run's samples are scaled by that run's factor: drift every variant of a round shares."""
    for e in doc["entries"]:
        for m in e["metrics"].values():
            m["runs"] = [i % 3 for i in range(len(m["samples"]))]
            if shared_level:
                m["samples"] = [s * shared_level[r] for s, r in zip(m["samples"], m["runs"])]
                m["min"], m["max"] = min(m["samples"]), max(m["samples"])
                m["median"] = sorted(m["samples"])[len(m["samples"]) // 2]
    schema2_fixtures.upgrade(doc, 3)


def test_runs_resample_by_run_and_pair_within_one_invocation(make_folder):
    base, new = slower(make_folder)
    for f in (base, new):
        _edit(f, "yield.json", _add_runs)
    # two folders: run k of each was another process at another time, so not paired
    rc, out, _ = run(base, new, "--metric", "ns_per_yield", "--format", "json")
    rows = json.loads(out)["rows"]
    assert rows and all(r["ci_method"] == "runs" and r["runs_base"] == 3 for r in rows)
    # the rounds are the unit of the test too: a rank test of the samples would not be
    assert all(r["test"] == "Welch t, rounds" for r in rows)
    rc, out, _ = run(base, new, "--metric", "ns_per_yield")
    assert "9/9 (3/3 runs)" in out and "p (Welch t, rounds)" in out
    assert max(len(ln) for ln in out.splitlines()) <= 120
    # within one folder the variants of a round share its drift: the ratio is paired
    folder = make_folder("drift", scenarios={"yield"})
    _edit(folder, "yield.json", lambda d: _add_runs(d, shared_level=(0.8, 1.0, 1.25)))
    rc, out, _ = run("--variants", folder, "--intervals", "--metric", "ns_per_yield",
                     "--variant", "asm-pooled-fifo,asm-fresh-fifo")
    line = next(ln for ln in out.splitlines() if ln.strip().startswith("asm-fresh-fifo"))
    lo, hi = (float(x) for x in line.split("x [")[1].rstrip("]").split(", "))
    # the fixture's 3 % spread, not the rounds' +-25 %, sets the width
    assert hi - lo < 0.15, line


def test_output_formats_parse(make_folder):
    base, new = slower(make_folder)
    args = (base, new, "--metric", "ns_per_yield,requests_per_s", "--fail-on-regression")
    rc_text, text, _ = run(*args)
    rc, out, _ = run(*args, "--format", "json")
    doc = json.loads(out)
    assert rc == rc_text == doc["exit"] == 1
    n = len(doc["rows"])
    assert n > 10 and doc["regressions"] and {"base", "new", "geomean"} <= set(doc)
    r = doc["rows"][0]
    assert {"base", "new", "change", "ci_low", "ci_high", "p", "n_base", "n_new", "verdict"} <= set(r)
    rc, out, _ = run(*args, "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(out)))
    assert rc == 1 and len(rows) == n and rows[0].keys() >= {"change", "ci_low", "p", "verdict"}
    assert sum(row["regression"] == "True" for row in rows) == len(doc["regressions"])
    rc, out, _ = run(*args, "--format", "markdown")
    table = [ln for ln in out.splitlines() if ln.startswith("| scenario")]
    assert rc == 1 and len(table) == 1
    lines = out.splitlines()
    start = lines.index(table[0])
    body = lines[start:start + 2 + n]
    cells = {len([c for c in ln.replace("\\|", "").split("|")]) for ln in body}
    assert len(cells) == 1, body            # every row has the header's column count
    assert "\\~" in out or "worse" in out


def test_text_fits_120_columns(make_folder):
    base, new = slower(make_folder)
    _, out, _ = run(base, new)
    assert max(len(ln) for ln in out.splitlines()) <= 120
    _, out, _ = run(base, new, "--width", "80")
    assert max(len(ln) for ln in out.splitlines()) <= 80
    assert "95% CI of delta" in out and "p (MWU)" in out
    # the variant tables of the CI stage too: shared params said once, columns split
    _, out, _ = run("--variants", base, "--check-invariants", "--peers")
    assert max(len(ln) for ln in out.splitlines()) <= 120
    assert "http, every row: " in out and out.count("http (ratio to asm-pooled-fifo)") >= 2


def test_files_as_well_as_folders(make_folder, tmp_path):
    base, new = slower(make_folder)
    rc_f, out_f, _ = run(os.path.join(base, "yield.json"), os.path.join(new, "yield.json"),
                         "--format", "json")
    rc_d, out_d, _ = run(base, new, "--scenario", "yield", "--format", "json")
    rows_f, rows_d = json.loads(out_f)["rows"], json.loads(out_d)["rows"]
    assert rc_f == rc_d == 0 and rows_f == rows_d and rows_f
    # a file against a folder, and the file's name in the error when it is bad
    rc, out, _ = run(os.path.join(base, "yield.json"), new, "--scenario", "yield")
    assert rc == 0 and "yield · ns_per_yield" in out
    bad = tmp_path / "cut.json"
    shutil.copy(os.path.join(base, "yield.json"), bad)
    bad.write_text(bad.read_text()[:200])
    rc, _, err = run(str(bad), new)
    assert rc == 2 and "cut.json" in err
    rc, _, err = run(str(tmp_path / "missing.json"), new)
    assert rc == 2 and "no such results file or folder" in err


def test_variant_intervals(make_folder):
    folder = make_folder(scenarios={"yield"})
    rc, out, _ = run("--variants", folder, "--intervals", "--metric", "ns_per_yield")
    assert rc == 0
    block = out.split("Medians with 95% bootstrap intervals")[1]
    assert "yield · ns_per_yield (ns), ratio to asm-pooled-fifo" in block
    ucx = [ln for ln in block.splitlines() if ln.strip().startswith("ucontext-pooled-fifo")]
    assert ucx and "x [" in ucx[0]
    assert max(len(ln) for ln in block.splitlines()) <= 120


def test_noise_floor_in_the_files_reads_within_noise(make_folder):
    # New is 4 % slower, 9 repetitions a side: the test claims it. A noise floor of 8 % in
    # the new file's reference workload makes it "~ within the noise floor".
    base = make_folder("base", scenarios={"yield"})
    new = make_folder("new", scenarios={"yield"}, seed=3, scale=1.04)
    rc, out, _ = run(base, new, "--metric", "ns_per_yield", "--threshold", "2",
                     "--fail-on-regression")
    assert rc == 1 and "within the noise floor" not in out

    def floor(doc):
        doc["noise_floor"] = {"workload": "ref", "metric": "ns_per_op", "unit": "ns",
                              "rounds": [], "floor": 0.08, "drift": 0.01}
    _edit(new, "yield.json", floor)
    rc, out, _ = run(base, new, "--metric", "ns_per_yield", "--threshold", "2",
                     "--fail-on-regression")
    assert rc == 0 and "within the noise floor of 8.0%" in out
    assert "noise floor 8.0%, drift +1.0%" in out
    rc, out, _ = run(base, new, "--metric", "ns_per_yield", "--format", "json")
    doc = json.loads(out)
    assert doc["noise_margin"] == 0.08 and doc["noise_floor"]["new"][0]["floor"] == 0.08
    assert sum(r["below_noise"] for r in doc["rows"]) >= 6
    assert all(r["verdict"] == "~" for r in doc["rows"])
    # A malformed noise floor is bad input.
    _edit(new, "yield.json", lambda d: d.__setitem__("noise_floor", {"rounds": "x"}))
    rc, _, err = run(base, new)
    assert rc == 2 and "noise_floor" in err
