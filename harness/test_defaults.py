"""Every default is valid on the machine that runs this: each scenario's and each peer's.

Walks the machine-readable parameter lists (`switchyard list --json`, each peer's
`--list`) and gives every default back on the command line to the program's own
validation (`switchyard run --dry-run`, a peer's `--check`), which runs nothing. Then the
cross product the harness runs: a scenario's defaults, as the harness passes them to each
of its peers (Scenario::peer_params), must be accepted by that peer too.

ctest runs it natively and under sigstksz_shim.so (SY_FAKE_MINSIGSTKSZ), acting out a CPU
whose signal frame is larger (AVX-512, AMX): the machine where boost_fiber_peer's own
8 KiB default once fell below Boost.Context's minimum stack and exited 2.

Run: SWITCHYARD=build/bin/switchyard /usr/bin/python3 -m pytest -q harness/test_defaults.py
"""

import json
import math
import os
import subprocess

import pytest

SWITCHYARD = os.environ.get("SWITCHYARD", os.path.join(os.getcwd(), "bin", "switchyard"))
BIN = os.path.dirname(os.path.abspath(SWITCHYARD))
TIMEOUT = 60
# The peers that are programs of their own (eventloop and nginx are driven by the http scenario).
PEER_PROGRAMS = {"boost_fiber": "boost_fiber_peer", "threads": "threads_peer", "go": "go_peer"}
# Arguments a scenario needs beyond its parameters (the go peer's http server listens).
EXTRA_ARGS = {("go_peer", "http"): ["--listen", "127.0.0.1:0"]}


def run(args):
    return subprocess.run(args, capture_output=True, text=True, timeout=TIMEOUT)


def as_text(value):
    return value if isinstance(value, str) else json.dumps(value)


def param_args(params):
    out = []
    for key, value in params.items():
        out += ["--param", f"{key}={as_text(value)}"]
    return out


def one_json(stdout):
    lines = [line for line in stdout.splitlines() if line.strip()]
    assert len(lines) == 1, stdout
    return json.loads(lines[0])


def peer_path(program):
    path = os.path.join(BIN, program)
    if not os.access(path, os.X_OK):
        pytest.skip(f"{path} not built")
    return path


def peer_list(program):
    proc = run([peer_path(program), "--list"])
    assert proc.returncode == 0, f"{program} --list: exit {proc.returncode}: {proc.stderr}"
    return one_json(proc.stdout)


def switchyard_list():
    if not os.access(SWITCHYARD, os.X_OK):
        pytest.skip(f"{SWITCHYARD} not built")
    proc = run([SWITCHYARD, "list", "--json"])
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def check_in_spec(where, key, spec, value):
    if "choices" in spec:
        assert value in spec["choices"], f"{where}: {key}={value} not one of {spec['choices']}"
    else:
        assert spec["min"] <= value <= spec["max"], f"{where}: {key}={value} not in [{spec['min']}, {spec['max']}]"


@pytest.mark.parametrize("program", sorted(PEER_PROGRAMS.values()))
def test_peer_defaults_pass_its_own_validation(program):
    listed = peer_list(program)
    checked = 0
    for sc in listed["scenarios"]:
        if sc.get("skipped"):
            continue
        where = f"{program} {sc['name']}"
        defaults = sc["params"]
        # The list is machine-readable: every parameter has its range, and the written
        # default is inside it (a value the machine raised is explained by a note).
        assert set(sc["spec"]) == set(defaults), where
        for key, spec in sc["spec"].items():
            check_in_spec(where, key, spec, spec["default"])
            check_in_spec(where, key, spec, defaults[key])
        # Given back on the command line, every default is accepted, and comes back as used.
        proc = run([peer_path(program), "--scenario", sc["name"], "--check"] + param_args(defaults) +
                   EXTRA_ARGS.get((program, sc["name"]), []))
        assert proc.returncode == 0, f"{where} --check {defaults}: exit {proc.returncode}: {proc.stderr}"
        result = one_json(proc.stdout)
        assert result["status"] in ("valid", "skipped"), (where, result)
        if result["status"] == "valid":
            assert result["params"] == defaults, where
        checked += 1
    assert checked > 0


def test_boost_fiber_stack_default_follows_the_cpu():
    """The skynet stack is never below Boost.Context's minimum, which grows with the CPU's
    signal frame: max(4 x frame, 8192) bytes (glibc's SIGSTKSZ), rounded up to KiB."""
    listed = peer_list("boost_fiber_peer")
    skynet = next(s for s in listed["scenarios"] if s["name"] == "skynet")
    fake = os.environ.get("SY_FAKE_MINSIGSTKSZ")
    if fake:
        min_kib = math.ceil(max(4 * int(fake), 8192) / 1024)
        assert skynet["params"]["stack_kib"] == max(8, min_kib), skynet
        if min_kib > 8:
            assert any("stack_kib=8 became" in n and "minimum stack" in n for n in skynet["notes"]), skynet
    assert skynet["spec"]["stack_kib"]["default"] == 8
    # An explicit size below the minimum is raised the same way, and the result says so.
    proc = run([peer_path("boost_fiber_peer"), "--scenario", "skynet", "--check", "--param", "stack_kib=1"])
    assert proc.returncode == 0, proc.stderr
    result = one_json(proc.stdout)
    assert result["params"]["stack_kib"] >= 8
    assert any(n.startswith("stack_kib=1 became") for n in result["notes"]), result


def test_scenario_defaults_pass_switchyard_validation():
    listed = switchyard_list()
    assert listed["scenarios"]
    for sc in listed["scenarios"]:
        given = {p["name"]: p["default"] for p in sc["params"] if not p["fixed"]}
        for p in sc["params"]:
            check_in_spec(sc["name"], p["name"], p, p["default"])
        args = [SWITCHYARD, "run", "--scenario", sc["name"], "--dry-run"] + param_args(given)
        if sc["peers"]:
            args += ["--peer", "all"]
        proc = run(args)
        assert proc.returncode == 0, f"{sc['name']} defaults {given}: exit {proc.returncode}: {proc.stderr}"
        jobs = json.loads(proc.stdout)["jobs"]
        assert jobs, sc["name"]


def harness_sends(sc, peer):
    """The parameters the harness gives `peer` at the scenario's defaults (harness plan())."""
    given = {p["name"]: p["default"] for p in sc["params"] if not p["fixed"]}
    keys = sc["peer_params"].get(peer)
    return given if keys is None else {k: given[k] for k in keys}


def test_scenario_defaults_are_accepted_by_each_peer():
    listed = switchyard_list()
    pairs = 0
    for sc in listed["scenarios"]:
        if sc["peers_driven_by_switchyard"]:
            continue  # http: its peers are servers the scenario drives, not protocol children
        for peer in sc["peers"]:
            program = PEER_PROGRAMS.get(peer)
            if program is None or not os.access(os.path.join(BIN, program), os.X_OK):
                continue
            sent = harness_sends(sc, peer)
            proc = run([os.path.join(BIN, program), "--scenario", sc["name"], "--check"] + param_args(sent))
            assert proc.returncode == 0, f"{program} {sc['name']} {sent}: exit {proc.returncode}: {proc.stderr}"
            assert one_json(proc.stdout)["status"] in ("valid", "skipped")
            pairs += 1
    assert pairs > 0
