"""gbench.py: our results as Google Benchmark JSON (its compare.py reads them) and Google
Benchmark JSON as our results (they validate, load and draw).

fixtures/gbench/switch_bench.json is REAL output of our switch_bench, made with
    build/bin/switch_bench --benchmark_filter='^BM_Switch/(asm|ucontext)$' \
        --benchmark_repetitions=3 --benchmark_min_time=0.01 \
        --benchmark_out=analysis/tests/fixtures/gbench/switch_bench.json --benchmark_out_format=json
test_import_of_a_benchmark_built_here compiles a tiny Google Benchmark binary of its own
(named arguments, threads, UseRealTime, no counters). The results under results/vm-20261128
are the project's measured baseline."""

import contextlib
import copy
import glob
import io
import json
import os
import shutil
import subprocess
import sys

import pytest

import gbench
from switchyard_analysis.results import load_folder

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
BASELINE = os.path.join(REPO, "results", "vm-20261128")
SWITCH_BENCH = os.path.join(HERE, "fixtures", "gbench", "switch_bench.json")
VALIDATE = os.path.join(REPO, "harness", "validate_results.py")


def run(*args):
    """gbench.py in this process: (exit code, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            rc = gbench.main([str(a) for a in args])
        except SystemExit as e:          # argparse: --help, usage errors
            rc = e.code
    return rc, out.getvalue(), err.getvalue()


def gb_compare_py():
    """Google Benchmark's tools/compare.py as Debian's libbenchmark-tools installs it."""
    found = glob.glob("/usr/share/benchmark/compare.py") + glob.glob("/usr/share/benchmark/tools/compare.py")
    if not found and shutil.which("dpkg"):
        p = subprocess.run(["dpkg", "-L", "libbenchmark-tools"], capture_output=True, text=True)
        found = [line for line in p.stdout.splitlines() if line.endswith("/compare.py")]
    return found[0] if found else None


def _rows(doc, name):
    return [b for b in doc["benchmarks"] if b["name"] == name]


def _set_samples(metric, samples):
    s = sorted(samples)
    n = len(s)
    metric.update(samples=samples, min=s[0], max=s[-1],
                  median=s[n // 2] if n % 2 else (s[n // 2 - 1] + s[n // 2]) / 2)


# ---- export ---------------------------------------------------------------------------------

def test_export_writes_each_sample_as_a_repetition(tmp_path):
    out = tmp_path / "gb.json"
    rc, _, err = run("export", os.path.join(BASELINE, "yield.json"), os.path.join(BASELINE, "http.json"),
                     "-o", out)
    assert rc == 0, err
    gb = json.load(open(out))
    src = json.load(open(os.path.join(BASELINE, "yield.json")))
    e = next(e for e in src["entries"] if e["label"] == "asm-pooled-fifo" and "ns_per_yield" in e["metrics"])
    name = "yield.ns_per_yield/asm-pooled-fifo/carriers:1/fibers:2"
    it = [r for r in _rows(gb, name) if r["run_type"] == "iteration"]
    samples = e["metrics"]["ns_per_yield"]["samples"]
    assert [r["real_time"] for r in it] == samples and [r["cpu_time"] for r in it] == samples
    assert [r["repetition_index"] for r in it] == list(range(len(samples)))
    assert {r["time_unit"] for r in it} == {"ns"} and {r["repetitions"] for r in it} == {len(samples)}
    assert _rows(gb, name + "_median")[0]["real_time"] == e["metrics"]["ns_per_yield"]["median"]
    assert _rows(gb, name + "_cv")[0]["aggregate_unit"] == "percentage"
    # a rate goes out as its inverse, so that lower is better on every row
    http = json.load(open(os.path.join(BASELINE, "http.json")))
    h = next(e for e in http["entries"] if e["status"] == "ok" and "requests_per_s" in e["metrics"])
    hname = "/".join(["http.ns_per_request", h["label"]] + [f"{k}:{h['params'][k]}" for k in sorted(h["params"])])
    got = [r["real_time"] for r in _rows(gb, hname)]
    assert got == pytest.approx([1e9 / s for s in h["metrics"]["requests_per_s"]["samples"]])
    # sizes and counts are not times: left out, and said
    assert "not times, left out" in err and "server_rss_kib" in err
    assert not any(b["name"].startswith("http.server_rss_kib") for b in gb["benchmarks"])
    assert gb["context"]["num_cpus"] == src["machine"]["cores"]
    assert gb["context"]["date"] == max(src["created"], http["created"]).replace("Z", "+00:00")   # the newer


def test_google_benchmark_compare_py_reads_two_exports(tmp_path):
    compare_py = gb_compare_py()
    if compare_py is None:
        pytest.skip("Google Benchmark's compare.py is not installed (Debian package libbenchmark-tools; "
                    "`make deps` installs it)")
    # NEW: the baseline with asm-pooled-fifo's yield twice as slow, everything else equal
    new_dir = tmp_path / "new"
    new_dir.mkdir()
    for name in ("yield.json", "switch.json"):
        doc = json.load(open(os.path.join(BASELINE, name)))
        for e in doc["entries"]:
            m = e["metrics"].get("ns_per_yield")
            if e["label"] == "asm-pooled-fifo" and m:
                _set_samples(m, [2 * s for s in m["samples"]])
        json.dump(doc, open(new_dir / name, "w"))
    base_dir = tmp_path / "base"
    base_dir.mkdir()
    for name in ("yield.json", "switch.json"):
        shutil.copy(os.path.join(BASELINE, name), base_dir / name)
    assert run("export", base_dir, "-o", tmp_path / "old.gb.json")[0] == 0
    assert run("export", new_dir, "-o", tmp_path / "new.gb.json")[0] == 0
    dump = tmp_path / "diff.json"
    p = subprocess.run([sys.executable, compare_py, "--no-color", "-d", str(dump), "benchmarks",
                        str(tmp_path / "old.gb.json"), str(tmp_path / "new.gb.json")],
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "yield.ns_per_yield/asm-pooled-fifo/carriers:1/fibers:2" in p.stdout
    report = {r["name"]: r for r in json.load(open(dump))}
    slow = report["yield.ns_per_yield/asm-pooled-fifo/carriers:1/fibers:2"]
    assert [m["time"] for m in slow["measurements"]] == pytest.approx([1.0] * 9)   # +100 %
    assert slow["utest"]["nr_of_repetitions"] == 9 and slow["utest"]["time_pvalue"] < 0.001
    same = report["yield.ns_per_yield/asm-pooled-chaselev/carriers:1/fibers:2"]
    assert [m["time"] for m in same["measurements"]] == [0.0] * 9
    assert report["switch.ns_per_switch/asm"]["measurements"][0]["time"] == 0.0
    assert report["yield.ns_per_yield/asm-pooled-fifo/carriers:1/fibers:2_median"]["run_type"] == "aggregate"
    assert "OVERALL_GEOMEAN" in report


# ---- import ---------------------------------------------------------------------------------

def _validates(path):
    p = subprocess.run([sys.executable, VALIDATE, str(path)], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stdout + p.stderr


def test_import_of_switch_bench_output_validates_loads_and_draws(tmp_path):
    folder = tmp_path / "imported"
    folder.mkdir()
    out = folder / "switch.json"
    rc, _, err = run("import", SWITCH_BENCH, "--scenario", "switch", "-o", out)
    assert rc == 0, err
    _validates(out)
    rs = load_folder(str(folder))
    gb = json.load(open(SWITCH_BENCH))
    want = {}
    for r in gb["benchmarks"]:
        if r["run_type"] == "iteration":
            want.setdefault(r["run_name"].split("/", 1)[1], []).append(r["ns_per_switch"])
    got = {e.label: e.metrics["ns_per_switch"].samples for e in rs.entries}
    assert got == want and len(want) == 2          # aggregates (_mean, _median, ...) are not samples
    assert all(e.dim("switch") == e.label and e.status == "ok" for e in rs.entries)
    assert rs.machine["cores"] == gb["context"]["num_cpus"]
    from switchyard_analysis import plots, style
    style.setup()
    fig = plots.fig_switch_cost([rs], str(tmp_path / "figures"))
    assert fig is not None and os.path.getsize(tmp_path / "figures" / "switch_cost.png") > 0


TINY_BENCH = r"""
#include <benchmark/benchmark.h>
static void BM_Sum(benchmark::State& state) {
  long s = 0;
  for (auto _ : state)
    for (long i = 0; i < state.range(0); ++i) benchmark::DoNotOptimize(s += i);
}
BENCHMARK(BM_Sum)->ArgName("n")->Arg(16)->Arg(256)->Threads(1)->UseRealTime();
static void BM_Broken(benchmark::State& state) {
  for (auto _ : state) state.SkipWithError("no device");
}
BENCHMARK(BM_Broken);
"""


def test_import_of_a_benchmark_built_here(tmp_path):
    cxx = shutil.which("g++")
    if cxx is None or not os.path.exists("/usr/include/benchmark/benchmark.h"):
        pytest.skip("needs g++ and libbenchmark-dev (both in the Makefile's DEB_PACKAGES)")
    (tmp_path / "tiny.cpp").write_text(TINY_BENCH)
    subprocess.run([cxx, "-O1", str(tmp_path / "tiny.cpp"), "-o", str(tmp_path / "tiny"),
                    "-lbenchmark", "-lbenchmark_main", "-lpthread"], check=True, timeout=300)
    gb_path = tmp_path / "tiny.json"
    subprocess.run([str(tmp_path / "tiny"), "--benchmark_repetitions=3", "--benchmark_min_time=0.001",
                    f"--benchmark_out={gb_path}", "--benchmark_out_format=json"],
                   check=True, capture_output=True, timeout=120)
    out = tmp_path / "skynet.json"
    # skynet's headline metric is time_s: real_time (ns here) converted to seconds
    rc, _, err = run("import", gb_path, "--scenario", "skynet", "--param", "carriers=1", "-o", out)
    assert rc == 0, err
    _validates(out)
    doc = json.load(open(out))
    by = {(e["label"], e["params"].get("n")): e for e in doc["entries"]}
    assert set(by) == {("BM_Sum", 16), ("BM_Sum", 256), ("BM_Broken", None)}
    rows = json.load(open(gb_path))["benchmarks"]
    for n in (16, 256):
        e = by[("BM_Sum", n)]
        assert e["params"] == {"n": n, "threads": 1, "carriers": 1} and e["dimensions"] == {"switch": "BM_Sum"}
        src = [r for r in rows if r["run_name"] == f"BM_Sum/n:{n}/real_time/threads:1"
               and r["run_type"] == "iteration"]
        assert e["metrics"]["time_s"]["samples"] == pytest.approx([r["real_time"] * 1e-9 for r in src])
        assert "measured with real_time" in e["notes"]
    broken = by[("BM_Broken", None)]
    assert broken["status"] == "failed" and "no device" in broken["reason"] and broken["metrics"] == {}
    # cpu_time on request
    rc, _, err = run("import", gb_path, "--scenario", "skynet", "--value", "cpu_time", "--filter", "BM_Sum",
                     "-o", out)
    assert rc == 0, err
    doc = json.load(open(out))
    src = [r["cpu_time"] * 1e-9 for r in rows if r["run_name"].startswith("BM_Sum/n:16/")
           and r["run_type"] == "iteration"]
    e = next(e for e in doc["entries"] if e["params"]["n"] == 16)
    assert e["metrics"]["time_s"]["samples"] == pytest.approx(src)


def test_export_then_import_gives_back_the_entries(tmp_path):
    gb_path = tmp_path / "gb.json"
    assert run("export", os.path.join(BASELINE, "yield.json"), "-o", gb_path)[0] == 0
    out = tmp_path / "yield.json"
    rc, _, err = run("import", gb_path, "--scenario", "yield", "--filter", r"^yield\.ns_per_yield/", "-o", out)
    assert rc == 0, err
    _validates(out)
    src = json.load(open(os.path.join(BASELINE, "yield.json")))
    back = json.load(open(out))

    def ident(e):
        return (e["label"], e["variant"], e["peer"], json.dumps(e["params"], sort_keys=True))
    want = {ident(e): e["metrics"]["ns_per_yield"] for e in src["entries"] if "ns_per_yield" in e["metrics"]}
    got = {ident(e): e["metrics"]["ns_per_yield"] for e in back["entries"]}
    assert got == want
    assert {e["peer"] for e in back["entries"]} >= {"go", "boost_fiber", "threads"}
    # provenance our export carries comes back
    assert back["machine"]["cpu_model"] == src["machine"]["cpu_model"]
    assert back["build"]["commit"] == src["build"]["commit"] and back["build"]["dirty"] == src["build"]["dirty"]
    assert back["created"] == src["created"]


# ---- bad input ------------------------------------------------------------------------------

def _gb_variant(tmp_path, fn, name="gb.json"):
    doc = json.load(open(SWITCH_BENCH))
    fn(doc)
    path = tmp_path / name
    json.dump(doc, open(path, "w"))
    return path


def test_help_exits_0():
    p = subprocess.run([sys.executable, os.path.join(REPO, "analysis", "gbench.py"), "import", "--help"],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0 and "--scenario" in p.stdout and "--filter" in p.stdout
    rc, out, _ = run("--help")
    assert rc == 0 and "export" in out and "import" in out


@pytest.mark.parametrize("case, message", [
    ("not_json", "not valid JSON"),
    ("ours", "already a Switchyard results file"),
    ("no_benchmarks", "not Google Benchmark JSON"),
    ("unknown_scenario", "unknown scenario 'swtich'"),
    ("unknown_metric", "unknown metric 'ns_per_swtich'"),
    ("timers_needs_metric", "timers has no single headline metric"),
    ("aggregates_only", "only aggregate rows"),
    ("filter_matches_nothing", "no benchmark matches --filter 'BM_Nothing'"),
    ("bad_regex", "not a regular expression"),
    ("same_label_twice", "select one family with --filter"),
    ("missing_counter", "has no number 'items_per_second' (its counters: ns_per_switch)"),
    ("rate_from_time", "requests_per_s is in req/s, not a time"),
    ("no_date", "context.date is missing"),
    ("bad_param", "expected k=v"),
    ("unwritable", "cannot write"),
])
def test_bad_import_exits_2(tmp_path, case, message):
    args = ["--scenario", "switch"]
    path = SWITCH_BENCH
    if case == "not_json":
        path = tmp_path / "x.json"
        path.write_text('{"benchmarks": [')
    elif case == "ours":
        path = os.path.join(BASELINE, "switch.json")
    elif case == "no_benchmarks":
        path = _gb_variant(tmp_path, lambda d: d.pop("benchmarks"))
    elif case == "unknown_scenario":
        args = ["--scenario", "swtich"]
    elif case == "unknown_metric":
        args += ["--metric", "ns_per_swtich"]
    elif case == "timers_needs_metric":
        args = ["--scenario", "timers"]
    elif case == "aggregates_only":
        path = _gb_variant(tmp_path, lambda d: d.update(
            benchmarks=[b for b in d["benchmarks"] if b["run_type"] == "aggregate"]))
    elif case == "filter_matches_nothing":
        args += ["--filter", "BM_Nothing"]
    elif case == "bad_regex":
        args += ["--filter", "BM_(Switch"]
    elif case == "same_label_twice":
        def twice(d):
            extra = copy.deepcopy([b for b in d["benchmarks"] if b["run_name"] == "BM_Switch/asm"])
            for b in extra:
                b["name"] = b["name"].replace("BM_Switch", "BM_Other")
                b["run_name"] = "BM_Other/asm"
            d["benchmarks"] += extra
        path = _gb_variant(tmp_path, twice)
    elif case == "missing_counter":
        args += ["--value", "items_per_second"]
    elif case == "rate_from_time":
        args = ["--scenario", "http", "--value", "real_time"]
    elif case == "no_date":
        path = _gb_variant(tmp_path, lambda d: d["context"].pop("date"))
    elif case == "bad_param":
        args += ["--param", "carriers"]
    elif case == "unwritable":
        args += ["-o", tmp_path / "no" / "such" / "dir.json"]
    rc, out, err = run("import", path, *args)
    assert rc == 2 and out == "", (rc, out, err)
    assert message in err, err
    assert not list(tmp_path.glob("**/*.tmp"))


def test_bad_export_exits_2(tmp_path):
    rc, _, err = run("export", tmp_path / "missing", "-o", tmp_path / "o.json")
    assert rc == 2 and "no such file or folder" in err
    bad = tmp_path / "bad"
    bad.mkdir()
    doc = json.load(open(os.path.join(BASELINE, "switch.json")))
    doc["entries"][0]["metrics"]["ns_per_switch"]["median"] = "fast"
    json.dump(doc, open(bad / "switch.json", "w"))
    rc, _, err = run("export", bad, "-o", tmp_path / "o.json")
    assert rc == 2 and "switch.json" in err and "median" in err
    # the same run twice would become extra repetitions in compare.py: refused
    rc, _, err = run("export", os.path.join(BASELINE, "switch.json"), os.path.join(BASELINE, "switch.json"))
    assert rc == 2 and "export them separately" in err
    # nothing that is a time
    only = tmp_path / "only"
    only.mkdir()
    doc = json.load(open(os.path.join(BASELINE, "switch.json")))
    doc["entries"] = [e for e in doc["entries"] if set(e["metrics"]) == {"instructions_per_op"}]
    assert doc["entries"]
    json.dump(doc, open(only / "switch.json", "w"))
    rc, _, err = run("export", only)
    assert rc == 2 and "nothing to export" in err
    assert not (tmp_path / "o.json").exists()
