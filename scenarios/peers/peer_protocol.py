"""What the peers' protocol tests share (test_peers.py, test_stackless_peers.py): where the
peer executables are, running one, and reading its one line of JSON."""
import importlib.util
import json
import os
import subprocess

import pytest


def _catalog():
    """analysis/switchyard_analysis/catalog.py (the reader of harness/catalog.json), found
    from this file upwards and loaded by its path."""
    d = os.path.dirname(os.path.abspath(__file__))
    while True:
        path = os.path.join(d, "analysis", "switchyard_analysis", "catalog.py")
        if os.path.exists(path):
            spec = importlib.util.spec_from_file_location("switchyard_catalog", path)
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
            return module
        if os.path.dirname(d) == d:
            raise RuntimeError("analysis/switchyard_analysis/catalog.py not found above " + __file__)
        d = os.path.dirname(d)


catalog = _catalog()
# What the harness knows: a peer's scenario and metric names must be among them, and each
# metric must carry the unit its name promises (results/SCHEMA.md).
SCENARIOS = catalog.scenario_names()
METRIC_UNITS = catalog.result_metrics()

BIN = os.environ.get("PEER_BIN", os.path.join(os.getcwd(), "bin"))
TIMEOUT = 120

NO_SUCH_SCENARIO = "no_such_scenario"
assert NO_SUCH_SCENARIO not in SCENARIOS

# Command lines every peer rejects with exit 2 and nothing on stdout.
USAGE_CASES = [
    ["--scenario", NO_SUCH_SCENARIO],
    ["--scenario", "yield", "--param", "no_such_param=1"],
    ["--scenario", "yield", "--param", "ops=ten"],
    ["--scenario", "yield", "--param", "ops"],
    ["--scenario", "yield", "--repetitions", "0"],
    ["--scenario", "yield", "--bogus-flag"],
    [],
]


def peer_path(peer):
    path = os.path.join(BIN, peer)
    if not os.path.exists(path):
        pytest.skip(f"{path} not built")
    return path


def run(peer, args, timeout=TIMEOUT):
    return subprocess.run([peer_path(peer)] + args, capture_output=True, text=True, timeout=timeout)


def param_args(params):
    out = []
    for key, value in params.items():
        out += ["--param", f"{key}={value}"]
    return out


def one_json_object(stdout):
    lines = [line for line in stdout.splitlines() if line.strip()]
    assert len(lines) == 1, f"expected exactly one line of JSON, got {stdout!r}"
    obj = json.loads(lines[0])
    assert isinstance(obj, dict)
    return obj


def check_metric(name, series):
    """A metric a peer reported: known to the catalogue, with the unit it names."""
    assert name in METRIC_UNITS, f"metric {name} is not in harness/catalog.json"
    assert series["unit"] == METRIC_UNITS[name], (name, series["unit"], METRIC_UNITS[name])


def check_listed_scenarios(listing):
    """A peer's --list names only scenarios the harness has."""
    unknown = [s["name"] for s in listing["scenarios"] if s["name"] not in SCENARIOS]
    assert not unknown, f"scenarios unknown to harness/catalog.json: {unknown}"


def check_scenario_ok(peer, scenario, params, metrics, reps=3):
    """One scenario run to the end: exactly the expected metrics, each with `reps` samples in
    the catalogue's unit, and the parameters given returned as used (defaults beside them)."""
    proc = run(peer, ["--scenario", scenario, "--repetitions", str(reps)] + param_args(params))
    assert proc.returncode == 0, proc.stderr
    obj = one_json_object(proc.stdout)
    assert obj["status"] == "ok", obj
    extra = {"distributions"} if scenario == "timers" else set()
    assert set(obj) == {"status", "metrics", "peak_rss_kib", "notes", "params"} | extra
    assert sorted(obj["metrics"]) == sorted(metrics)
    for name, series in obj["metrics"].items():
        check_metric(name, series)
        assert len(series["samples"]) == reps
        positive = name not in ("lateness_p50_us",)  # a sleeper may wake on time to the microsecond
        assert all(isinstance(v, (int, float)) and (v > 0 if positive else v >= 0)
                   for v in series["samples"]), series
    assert isinstance(obj["peak_rss_kib"], int) and obj["peak_rss_kib"] > 0
    assert all(isinstance(n, str) for n in obj["notes"]) and obj["notes"]
    for key, value in params.items():
        assert obj["params"][key] == (int(value) if value.isdigit() else value)
    if scenario in ("skynet", "mutex", "channel"):
        assert "carriers" in obj["params"]


def check_skipped(peer, scenario, params):
    """A scenario the peer cannot run: exit 0 and a `skipped` object with its reason."""
    proc = run(peer, ["--scenario", scenario] + param_args(params))
    assert proc.returncode == 0, proc.stderr
    obj = one_json_object(proc.stdout)
    assert obj["status"] == "skipped" and obj["reason"], obj


def check_usage_error(peer, args):
    """A bad command line: exit 2, a message on stderr, nothing on stdout."""
    proc = run(peer, args)
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    assert proc.stdout == ""
    assert proc.stderr.strip()


# Every flag of the peers' common command line, which --help must describe.
PEER_FLAGS = ["--scenario", "--param", "--repetitions", "--list", "--check"]


def check_command_line_conventions(peer, flags=PEER_FLAGS):
    """--help (and -h) exits 0 with every flag described on stdout; an unknown flag and a
    malformed value exit 2 with a message on stderr and nothing on stdout."""
    for help_flag in ("--help", "-h"):
        proc = run(peer, [help_flag])
        assert proc.returncode == 0, (help_flag, proc.stdout, proc.stderr)
        # Go's flag package writes "-flag"; CLI11 "--flag": either names the flag.
        missing = [f for f in flags if f[1:] not in proc.stdout]
        assert not missing, f"{peer} {help_flag} does not describe {missing}: {proc.stdout}"
    for args, message in [(["--bogus"], "bogus"),
                          (["--scenario", "yield", "--repetitions", "2.5"], "2.5"),
                          (["--scenario", "yield", "--repetitions", "0"], "expected an integer in [1, 1000]"),
                          (["--scenario", "yield", "stray"], "stray"),
                          (["--scenario"], "scenario")]:
        proc = run(peer, args)
        assert proc.returncode == 2, (args, proc.stdout, proc.stderr)
        assert proc.stdout == "", (args, proc.stdout)
        assert message in proc.stderr, (args, proc.stderr)
