"""What the peers' protocol tests share (test_peers.py, test_stackless_peers.py): where the
peer executables are, running one, and reading its one line of JSON."""
import json
import os
import subprocess

import pytest

BIN = os.environ.get("PEER_BIN", os.path.join(os.getcwd(), "bin"))
TIMEOUT = 120

# Command lines every peer rejects with exit 2 and nothing on stdout.
USAGE_CASES = [
    ["--scenario", "no_such_scenario"],
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
