"""Protocol tests for the stackless peers (coro_peer, asio_peer), and their entries in the
harness's results.

Every scenario at a tiny size: one JSON object with the documented shape, a sample per
repetition, parameters with defaults filled in; skips with a reason; exit code 2 with
nothing on stdout for a bad command line. The scenarios check their own results (skynet's
sum, the mutex counter and shared state, the channel echoes), so "ok" means right.
The asio HTTP server: the Hello, World! contract, keep-alive, 404, /sleep, the shutdown
protocol, and that no hostile input of our server's corpus takes it down.
The harness (SWITCHYARD set): skipped entries carry a reason, a peer whose program is
missing is "skipped" with "not built", and the profiles run both peers.

Run: PEER_BIN=<bin dir> SWITCHYARD=<switchyard> /usr/bin/python3 -m pytest test_stackless_peers.py
"""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time

import pytest

import peer_protocol
from peer_protocol import one_json_object, param_args, peer_path, run

HERE = os.path.dirname(os.path.abspath(__file__))
SWITCHYARD = os.environ.get("SWITCHYARD", "")

# (peer, scenario, params, metrics expected)
OK_CASES = [
    ("coro_peer", "yield", {"ops": "20000"}, ["ns_per_yield"]),
    ("coro_peer", "spawn_join", {"ops": "20000"}, ["ns_per_spawn_join"]),
    ("coro_peer", "skynet", {"fibers": "1000", "carriers": "1"},
     ["time_s", "peak_live_fibers", "frame_kib_per_task"]),
    ("coro_peer", "skynet", {"fibers": "10000", "carriers": "2"},
     ["time_s", "peak_live_fibers", "frame_kib_per_task"]),
    ("coro_peer", "skynet", {"fibers": "1", "carriers": "2"},
     ["time_s", "peak_live_fibers", "frame_kib_per_task"]),
    ("coro_peer", "channel", {"ops": "2000"}, ["ns_per_handoff"]),
    ("coro_peer", "channel", {"ops": "2000", "carriers": "2"}, ["ns_per_handoff"]),
    ("coro_peer", "mutex", {"fibers": "8", "ops": "10001", "carriers": "1"}, ["ns_per_lock", "time_s"]),
    ("coro_peer", "mutex", {"fibers": "50", "ops": "20000", "carriers": "2"}, ["ns_per_lock", "time_s"]),
    ("coro_peer", "mutex", {"fibers": "3", "ops": "1000", "inside": "0", "outside": "0"},
     ["ns_per_lock", "time_s"]),
    ("coro_peer", "timers", {"fibers": "2000", "max_ms": "20"},
     ["lateness_p50_us", "lateness_p99_us", "lateness_max_us", "time_s", "frame_kib_per_task"]),
    ("asio_peer", "yield", {"ops": "2000"}, ["ns_per_yield"]),
    ("asio_peer", "spawn_join", {"ops": "2000"}, ["ns_per_spawn_join"]),
]

SKIP_CASES = [
    ("coro_peer", "switch", {}),
    ("coro_peer", "io_pingpong", {}),
    ("coro_peer", "http", {}),
    ("coro_peer", "timers", {"carriers": "2"}),
    ("asio_peer", "channel", {}),
    ("asio_peer", "mutex", {}),
    ("asio_peer", "skynet", {}),
    ("asio_peer", "gc_scan", {}),
]

USAGE_CASES = peer_protocol.USAGE_CASES + [
    ["--scenario", "yield", "--param", "ops=0"],
    ["--scenario", "yield", "--param", "carriers=2"],
]



@pytest.mark.parametrize("peer,scenario,params,metrics", OK_CASES)
def test_scenario_ok(peer, scenario, params, metrics):
    peer_protocol.check_scenario_ok(peer, scenario, params, metrics)


def test_coro_frames_are_small_and_counted():
    """A suspended task holds its frame only: far below the smallest fiber stack (8 KiB),
    the same in every repetition, and the whole tree is alive at once on one thread (FIFO)."""
    proc = run("coro_peer", ["--scenario", "skynet", "--repetitions", "2"] +
               param_args({"fibers": "10000", "carriers": "1"}))
    obj = one_json_object(proc.stdout)
    frames = obj["metrics"]["frame_kib_per_task"]["samples"]
    assert 0 < frames[0] < 1 and frames[0] == frames[1], frames
    assert obj["metrics"]["peak_live_fibers"]["samples"][0] == 11111  # every task of the tree


def test_coro_timers_record_the_lateness_distribution():
    """One row per repetition at the suite's quantiles, nondecreasing, in ns, and the same
    nearest-rank reading as the percentile metrics: 0.5 is p50, 0.99 is p99, 1 is the max."""
    proc = run("coro_peer", ["--scenario", "timers", "--repetitions", "2"] +
               param_args({"fibers": "500", "max_ms": "5"}))
    obj = one_json_object(proc.stdout)
    assert obj["status"] == "ok", obj
    d = obj["distributions"]["lateness_quantiles_ns"]
    qs = d["quantiles"]
    assert qs == [0, .1, .25, .5, .75, .9, .95, .99, .995, .999, .9999, 1]
    assert len(d["values"]) == 2
    for rep, row in enumerate(d["values"]):
        assert len(row) == len(qs) and row == sorted(row) and row[0] >= 0, row
        for q, metric in ((.5, "lateness_p50_us"), (.99, "lateness_p99_us"), (1, "lateness_max_us")):
            us = obj["metrics"][metric]["samples"][rep]
            assert row[qs.index(q)] == pytest.approx(us * 1000, rel=1e-9, abs=1e-6), (q, row, us)


@pytest.mark.parametrize("peer,scenario,params", SKIP_CASES)
def test_scenario_skipped(peer, scenario, params):
    peer_protocol.check_skipped(peer, scenario, params)


@pytest.mark.parametrize("peer", ["coro_peer", "asio_peer"])
def test_command_line_conventions(peer):
    peer_protocol.check_command_line_conventions(peer, peer_protocol.PEER_FLAGS + (["--listen"] if peer == "asio_peer" else []))


@pytest.mark.parametrize("peer", ["coro_peer", "asio_peer"])
@pytest.mark.parametrize("args", USAGE_CASES)
def test_bad_command_line(peer, args):
    peer_protocol.check_usage_error(peer, args)


def test_coro_rejects_bad_parameters():
    for scenario, params, message in [("skynet", {"fibers": "999"}, "power of 10"),
                                      ("skynet", {"carriers": "0"}, "carriers=0"),
                                      ("mutex", {"fibers": "10", "ops": "5"}, "fibers > ops"),
                                      ("timers", {"max_ms": "-1"}, "max_ms=-1")]:
        proc = run("coro_peer", ["--scenario", scenario] + param_args(params))
        assert proc.returncode == 2 and message in proc.stderr, (scenario, proc.stderr)
        assert proc.stdout == ""


@pytest.mark.parametrize("peer", ["coro_peer", "asio_peer"])
def test_list(peer):
    proc = run(peer, ["--list"])
    assert proc.returncode == 0, proc.stderr
    obj = one_json_object(proc.stdout)
    names = {s["name"] for s in obj["scenarios"]}
    assert {"yield", "spawn_join"} <= names
    peer_protocol.check_listed_scenarios(obj)


# ---- the asio HTTP server ---------------------------------------------------------------

def start_asio(carriers=2):
    server = subprocess.Popen([peer_path("asio_peer"), "--scenario", "http", "--listen", "127.0.0.1:0",
                               "--param", f"carriers={carriers}"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    first = server.stdout.readline()
    assert first.startswith("LISTENING "), (first, server.stderr.read() if server.poll() is not None else "")
    return server, int(first.split()[1])


def exchange(port, payload, expect_close=True):
    """Sends payload on one connection; the bytes until the server closes (or 5 s)."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(payload)
        data = b""
        while True:
            try:
                chunk = s.recv(65536)
            except socket.timeout:
                assert not expect_close, f"the server did not close: {data!r}"
                return data
            if not chunk:
                return data
            data += chunk


def stop(server):
    server.send_signal(signal.SIGTERM)
    try:
        out, err = server.communicate(timeout=20)
    finally:
        if server.poll() is None:
            server.kill()
            server.communicate()
    assert server.returncode == 0, err
    return one_json_object(out)


def test_asio_http_contract():
    server, port = start_asio()
    try:
        # Two keep-alive requests on one connection, then one that asks to close.
        data = exchange(port, b"GET / HTTP/1.1\r\nHost: t\r\n\r\n" * 2 +
                        b"GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        assert data.count(b"HTTP/1.1 200 OK\r\n") == 3, data
        assert data.count(b"Content-Type: text/plain\r\n") == 3
        assert data.count(b"Content-Length: 13\r\n\r\nHello, World!") == 3
        data = exchange(port, b"GET /sleep?ms=20 HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        assert data.startswith(b"HTTP/1.1 200") and data.endswith(b"Hello, World!"), data
        data = exchange(port, b"GET /elsewhere HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        assert data.startswith(b"HTTP/1.1 404"), data
        data = exchange(port, b"GET /sleep?ms=x HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        assert data.startswith(b"HTTP/1.1 400"), data
        # A request Beast refuses: 400 naming Beast's error, then the server closes.
        data = exchange(port, b"GARBAGE\r\n\r\n")
        assert data.startswith(b"HTTP/1.1 400") and b"Bad Request: bad method" in data, data
        # An idle keep-alive connection is closed by the shutdown, and the server exits.
        idle = socket.create_connection(("127.0.0.1", port), timeout=10)
        idle.sendall(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
        assert idle.recv(4096).endswith(b"Hello, World!")
        obj = stop(server)
        assert idle.recv(4096) == b""  # closed by the server's shutdown
        idle.close()
    finally:
        if server.poll() is None:
            server.kill()
            server.communicate()
    assert obj["status"] == "ok" and obj["peak_rss_kib"] > 0
    assert obj["params"] == {"carriers": 2}
    assert any("after 5 requests" in n for n in obj["notes"]), obj["notes"]
    assert any("Boost 1." in n for n in obj["notes"]), obj["notes"]


def test_asio_http_request_in_flight_finishes_at_shutdown():
    server, port = start_asio(carriers=1)
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=10)
        s.sendall(b"GET /sleep?ms=500 HTTP/1.1\r\nHost: t\r\n\r\n")
        # The request is in the server before the signal: wait for the server to hold it
        # busy by asking on a second connection (answered only once both are accepted).
        assert exchange(port, b"GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n").endswith(b"Hello, World!")
        server.send_signal(signal.SIGTERM)
        data = b""
        while True:
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
        s.close()
        assert data.startswith(b"HTTP/1.1 200") and b"Connection: close" in data and data.endswith(b"Hello, World!")
        out, err = server.communicate(timeout=20)
        assert server.returncode == 0, err
    finally:
        if server.poll() is None:
            server.kill()
            server.communicate()


def test_asio_http_survives_running_out_of_descriptors():
    """With 32 descriptors, 40 connections exhaust them: accept fails (EMFILE), the server
    pauses and retries, and once they close it serves again and says what happened."""
    import resource

    def few_fds():
        resource.setrlimit(resource.RLIMIT_NOFILE, (32, 32))

    server = subprocess.Popen([peer_path("asio_peer"), "--scenario", "http", "--listen", "127.0.0.1:0",
                               "--param", "carriers=1"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True, preexec_fn=few_fds)
    try:
        first = server.stdout.readline()
        assert first.startswith("LISTENING "), first
        port = int(first.split()[1])
        held = [socket.create_connection(("127.0.0.1", port), timeout=10) for _ in range(40)]
        for s in held:  # keep-alive: each accepted one keeps its descriptor
            s.sendall(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
        # Out of descriptors with connections waiting: pausing, not spinning on accept.
        def cpu_ticks():
            with open(f"/proc/{server.pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            return int(fields[11]) + int(fields[12])  # utime + stime
        before = cpu_ticks()
        time.sleep(1.0)
        spent = (cpu_ticks() - before) / os.sysconf("SC_CLK_TCK")
        assert spent < 0.15, f"{spent:.2f} s of CPU in 1 s while out of descriptors"
        answered = 0
        for s in held:
            s.settimeout(0.3)
            try:
                answered += s.recv(4096).endswith(b"Hello, World!")
            except socket.timeout:
                pass
        for s in held:
            s.close()
        assert 0 < answered < 40, answered
        data = exchange(port, b"GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        assert data.endswith(b"Hello, World!"), data
        obj = stop(server)
    finally:
        if server.poll() is None:
            server.kill()
            server.communicate()
    assert any(n.startswith("accept: ") for n in obj["notes"]), obj["notes"]


@pytest.mark.parametrize("args,message", [
    (["--scenario", "http"], "--listen"),
    (["--scenario", "http", "--listen", "127.0.0.1:0", "--param", "carriers=0"], "carriers=0"),
    (["--scenario", "http", "--listen", "127.0.0.1:0", "--param", "workers=2"], "workers"),
    (["--scenario", "http", "--listen", "nowhere"], "ADDRESS:PORT"),
    (["--scenario", "yield", "--listen", "127.0.0.1:0"], "only for the http scenario"),
])
def test_asio_http_bad_command_line(args, message):
    proc = run("asio_peer", args, timeout=20)
    assert proc.returncode == 2 and message in proc.stderr, (proc.stdout, proc.stderr)
    assert proc.stdout == ""


def test_asio_survives_our_hostile_inputs():
    """Every case of our server's robustness corpus; the answers are recorded in ASIO.md."""
    sys.path.insert(0, HERE)
    import hostile_inputs
    rows = hostile_inputs.record(peer_path("asio_peer"))
    cases = [r for r in rows if "ours" in r]
    assert len(cases) > 30
    assert all(r["alive"] for r in cases), [r["name"] for r in cases if not r["alive"]]
    assert rows[-1]["exit"] == 0
    by_name = {r["name"]: r for r in cases}
    # What Beast checks: the request line, header syntax, Content-Length, TE+CL smuggling.
    assert by_name["smuggling: TE and CL"]["beast"] == [400]
    assert by_name["bare CR in header value"]["error"] == "bad line ending"
    # What it leaves to the application: Host, methods, obs-fold.
    assert by_name["missing Host"]["beast"] == [200]


# ---- the harness's entries ------------------------------------------------------------------

def harness(args, out_dir, exe=None):
    if not (exe or SWITCHYARD) or not os.path.exists(exe or SWITCHYARD):
        pytest.skip("SWITCHYARD (the switchyard binary) not given")
    out = os.path.join(out_dir, "r.json")
    proc = subprocess.run([exe or SWITCHYARD, "run", *args, "--repetitions", "1", "--out", out],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    with open(out) as f:
        return json.load(f)["entries"]


def test_harness_records_skips_with_reasons(tmp_path):
    entries = harness(["--scenario", "channel,io_pingpong", "--peer", "coro,asio", "--param", "ops=200"],
                      str(tmp_path))
    got = {(e["scenario"], e["peer"]): e for e in entries}
    assert got[("channel", "coro")]["status"] == "ok"
    assert got[("channel", "coro")]["metrics"]["ns_per_handoff"]["samples"]
    for key, words in [(("channel", "asio"), "1.80"), (("io_pingpong", "coro"), "poller"),
                       (("io_pingpong", "asio"), "no io_pingpong")]:
        assert got[key]["status"] == "skipped" and words in got[key]["reason"], got[key]


def test_harness_peer_not_built(tmp_path):
    if not SWITCHYARD:
        pytest.skip("SWITCHYARD not given")
    lone = os.path.join(str(tmp_path), "switchyard")
    shutil.copy(SWITCHYARD, lone)  # a bin folder without the peer programs
    entries = harness(["--scenario", "skynet", "--peer", "coro", "--param", "fibers=100"], str(tmp_path), lone)
    assert entries[0]["status"] == "skipped" and "coro_peer is not built" in entries[0]["reason"], entries[0]


@pytest.mark.parametrize("profile", ["quick", "all"])
def test_harness_lists_and_profiles_the_peers(tmp_path, profile):
    if not SWITCHYARD or not os.path.exists(SWITCHYARD):
        pytest.skip("SWITCHYARD not given")
    listing = subprocess.run([SWITCHYARD, "list"], capture_output=True, text=True, timeout=60).stdout
    assert "  coro " in listing and "  asio " in listing
    # The profile's spawn_join item, only the two peers' runs (a filter on the job names).
    proc = subprocess.run([SWITCHYARD, "bench", "--profile", profile, "--out-dir", str(tmp_path),
                           "--filter", "^spawn_join/(coro|asio)$"], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    found = {}
    for root, _, files in os.walk(str(tmp_path)):
        for name in files:
            if name.endswith(".json"):
                with open(os.path.join(root, name)) as f:
                    doc = json.load(f)
                for e in doc.get("entries", []) if isinstance(doc, dict) else []:
                    found[(e["scenario"], e["peer"])] = e["status"]
    assert found == {("spawn_join", "coro"): "ok", ("spawn_join", "asio"): "ok"}, (found, proc.stderr[-2000:])
