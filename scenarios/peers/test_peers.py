"""Protocol tests for the peer programs (boost_fiber_peer, threads_peer, go_peer).

Runs every scenario of every peer at a tiny size and checks what the harness relies on:
one JSON object on stdout with the documented shape, a sample per repetition, the
parameters with defaults filled in, skips with a reason, and exit code 2 (nothing on
stdout) for a bad command line. The scenarios check their own results (skynet's sum,
the mutex counter, the channel echoes) and report "failed" otherwise, so "ok" here means
the computation was right.

Run: PEER_BIN=<dir with the peer executables> /usr/bin/python3 -m pytest test_peers.py
"""

import os
import signal
import subprocess
import urllib.error
import urllib.request

import pytest

import peer_protocol
from peer_protocol import TIMEOUT, one_json_object, param_args, peer_path, run


# (peer, scenario, params, metrics expected)
OK_CASES = [
    ("threads_peer", "yield", {"ops": "2000"}, ["ns_per_yield"]),
    ("threads_peer", "spawn_join", {"ops": "200"}, ["ns_per_spawn_join"]),
    ("threads_peer", "mutex", {"fibers": "8", "ops": "10001"}, ["ns_per_lock", "time_s"]),
    ("threads_peer", "mutex", {"fibers": "3", "ops": "1000", "inside": "0", "outside": "0"},
     ["ns_per_lock", "time_s"]),
    ("threads_peer", "io_pingpong", {"pairs": "50", "ops": "300"}, ["ns_per_roundtrip"]),
    ("threads_peer", "io_pingpong", {"pairs": "20", "ops": "300", "active": "all", "carriers": "1"},
     ["ns_per_roundtrip"]),
    ("boost_fiber_peer", "skynet", {"fibers": "1000", "carriers": "2"},
     ["time_s", "peak_live_fibers"]),
    ("boost_fiber_peer", "skynet", {"fibers": "100", "carriers": "1", "stack_kib": "64"},
     ["time_s", "peak_live_fibers"]),
    # Guard pages prove that the default 8 KiB stacks do not overflow (a fault, not
    # silent heap corruption, if they did).
    ("boost_fiber_peer", "skynet", {"fibers": "1000", "carriers": "2", "guard": "on"},
     ["time_s", "peak_live_fibers"]),
    ("boost_fiber_peer", "channel", {"ops": "2000"}, ["ns_per_handoff"]),
    ("go_peer", "yield", {"ops": "20000"}, ["ns_per_yield"]),
    ("go_peer", "spawn_join", {"ops": "1000"}, ["ns_per_spawn_join"]),
    ("go_peer", "skynet", {"fibers": "1000", "carriers": "2"}, ["time_s", "peak_live_fibers"]),
    ("go_peer", "channel", {"ops": "2000", "carriers": "2"}, ["ns_per_handoff"]),
    ("go_peer", "mutex", {"fibers": "8", "ops": "10001"}, ["ns_per_lock", "time_s"]),
    # steal's two workloads; each checks its result (the skynet sum, fib(n)) or fails.
    ("go_peer", "steal", {"workload": "fib", "fib_n": "20", "cutoff": "8", "carriers": "2"}, ["time_s"]),
    ("go_peer", "steal", {"workload": "skynet", "fibers": "1000", "carriers": "2"}, ["time_s"]),
]

SKIP_CASES = [
    ("threads_peer", "channel", {}),
    ("threads_peer", "skynet", {}),
    ("boost_fiber_peer", "yield", {}),
    ("boost_fiber_peer", "channel", {"carriers": "2"}),
    ("go_peer", "switch", {}),
    ("go_peer", "io_pingpong", {}),
]

USAGE_CASES = peer_protocol.USAGE_CASES



@pytest.mark.parametrize("peer,scenario,params,metrics", OK_CASES)
def test_scenario_ok(peer, scenario, params, metrics):
    peer_protocol.check_scenario_ok(peer, scenario, params, metrics)


@pytest.mark.parametrize("peer,scenario,params", SKIP_CASES)
def test_scenario_skipped(peer, scenario, params):
    peer_protocol.check_skipped(peer, scenario, params)


@pytest.mark.parametrize("peer", ["threads_peer", "boost_fiber_peer", "go_peer"])
def test_command_line_conventions(peer):
    peer_protocol.check_command_line_conventions(peer, peer_protocol.PEER_FLAGS + (["--listen"] if peer == "go_peer" else []))


@pytest.mark.parametrize("peer", ["threads_peer", "boost_fiber_peer", "go_peer"])
@pytest.mark.parametrize("args", USAGE_CASES)
def test_bad_command_line(peer, args):
    if peer == "boost_fiber_peer" and "yield" in args and len(args) > 2:
        args = [a.replace("yield", "channel") for a in args]
    peer_protocol.check_usage_error(peer, args)


@pytest.mark.parametrize("peer", ["threads_peer", "boost_fiber_peer", "go_peer"])
def test_skynet_rejects_incomplete_tree(peer):
    proc = run(peer, ["--scenario", "skynet", "--param", "fibers=999"])
    if peer == "threads_peer":
        assert one_json_object(proc.stdout)["status"] == "skipped"
    else:
        assert proc.returncode == 2 and "power of 10" in proc.stderr


@pytest.mark.parametrize("params,message", [
    ({"workload": "skynet", "fibers": "20"}, "power of 10"),
    ({"workload": "fork"}, "workload=fork"),
    ({"cutoff": "1"}, "cutoff=1"),
    ({"stack_kib": "16"}, "stack_kib"),  # goroutine stacks grow: the harness never sends it
])
def test_go_steal_rejects_what_steal_rejects(params, message):
    proc = run("go_peer", ["--scenario", "steal"] + param_args(params))
    assert proc.returncode == 2 and message in proc.stderr, (proc.stdout, proc.stderr)


def test_go_steal_fib_counts_goroutines_as_steal_counts_fibers():
    # fib(20) with cutoff 8: F(k) = 1 + F(k-1) + F(k-2) from k = 8 up, 0 below (fib_fibers).
    f = {}
    for k in range(21):
        f[k] = 0 if k < 8 else 1 + f[k - 1] + f[k - 2]
    proc = run("go_peer", ["--scenario", "steal", "--repetitions", "1"] +
               param_args({"fib_n": "20", "cutoff": "8"}))
    obj = one_json_object(proc.stdout)
    assert obj["status"] == "ok", obj
    assert any(f"({f[20]} goroutines)" in n for n in obj["notes"]), obj["notes"]


@pytest.mark.parametrize("peer", ["threads_peer", "boost_fiber_peer", "go_peer"])
def test_list(peer):
    proc = run(peer, ["--list"])
    assert proc.returncode == 0, proc.stderr
    obj = one_json_object(proc.stdout)
    assert obj["scenarios"] and all("name" in s for s in obj["scenarios"])
    peer_protocol.check_listed_scenarios(obj)


def test_go_http_server():
    path = peer_path("go_peer")
    server = subprocess.Popen([path, "--scenario", "http", "--listen", "127.0.0.1:0",
                               "--param", "carriers=1"], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
    try:
        first = server.stdout.readline()
        assert first.startswith("LISTENING "), first
        base = f"http://127.0.0.1:{int(first.split()[1])}"
        with urllib.request.urlopen(base + "/", timeout=10) as response:
            assert response.status == 200
            assert response.headers["Content-Type"] == "text/plain"
            assert response.read() == b"Hello, World!"
        with urllib.request.urlopen(base + "/sleep?ms=20", timeout=10) as response:
            assert response.read() == b"Hello, World!"
        with pytest.raises(urllib.error.HTTPError) as missing:
            urllib.request.urlopen(base + "/elsewhere", timeout=10)
        assert missing.value.code == 404
        server.send_signal(signal.SIGTERM)
        out, err = server.communicate(timeout=20)
    finally:
        if server.poll() is None:
            server.kill()
            server.communicate()
    assert server.returncode == 0, err
    obj = one_json_object(out)
    assert obj["status"] == "ok" and obj["peak_rss_kib"] > 0
    assert any("after 2 requests" in n for n in obj["notes"]), obj["notes"]


def test_go_http_needs_listen():
    proc = run("go_peer", ["--scenario", "http"])
    assert proc.returncode == 2 and "--listen" in proc.stderr


@pytest.mark.parametrize("scenario", ["spawn_join", "mutex", "io_pingpong"])
def test_threads_more_carriers_than_cpus_is_skipped(scenario):
    # The accepted range is the same on every machine; the CPUs are not. More carriers than
    # this process may use is a skip naming why, not a bad command line (it was exit 2).
    carriers = len(os.sched_getaffinity(0)) + 1
    proc = run("threads_peer", ["--scenario", scenario, "--param", f"carriers={carriers}"])
    assert proc.returncode == 0, proc.stderr
    obj = one_json_object(proc.stdout)
    assert obj["status"] == "skipped" and "sched_getaffinity" in obj["reason"], obj
    # Pinned to one CPU, the mutex scenario's default of 2 carriers is such a case.
    pinned = subprocess.run(["taskset", "-c", "0", peer_path("threads_peer"), "--scenario", scenario,
                             "--param", "carriers=2", "--check"], capture_output=True, text=True,
                            timeout=TIMEOUT)
    assert pinned.returncode == 0 and one_json_object(pinned.stdout)["status"] == "skipped", pinned
