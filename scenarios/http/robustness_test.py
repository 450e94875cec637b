#!/usr/bin/python3
"""Robustness of switchyard_http_server under every taskmaster.

  robustness_test.py PATH/TO/switchyard_http_server [--only NAME]

For each server configuration: a corpus of malformed and hostile requests, each of which
must get its status (then a close) or a clean close, with a valid request answered after
every case; then 10,000 connections opened and dropped abruptly (reset), after which the
server's open fds, live tasks (fibers or threads) and live connections must be back to
their baseline; then a graceful shutdown with a request in flight. Loopback only; every
wait is bounded.
"""
import json
import os
import random
import resource
import select
import signal
import socket
import struct
import subprocess
import sys
import threading
import time

IDLE_MS = 1000
REQUEST_MS = 1500

CONFIGS = {
    "threads": ["--taskmaster", "threads"],
    "eventloop": ["--taskmaster", "eventloop", "--carriers", "2"],
    "fibers-asm-pooled-chaselev": ["--taskmaster", "fibers", "--variant", "asm-pooled-chaselev", "--carriers", "2"],
    "fibers-boost-fresh-fifo-persistent": ["--taskmaster", "fibers", "--variant", "boost-fresh-fifo",
                                           "--carriers", "2", "--registration", "persistent"],
}

GOOD = b"GET / HTTP/1.1\r\nHost: t\r\n\r\n"
H = b"Host: t\r\n"


class Server:
    def __init__(self, binary, args):
        self.proc = subprocess.Popen(
            [binary, *args, "--listen", "127.0.0.1:0", "--idle-timeout-ms", str(IDLE_MS),
             "--request-timeout-ms", str(REQUEST_MS), "--shutdown-grace-ms", "3000"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        ready, _, _ = select.select([self.proc.stdout], [], [], 10)
        line = self.proc.stdout.readline().decode() if ready else ""
        if not line.startswith("LISTENING "):
            self.proc.kill()
            raise AssertionError(f"no LISTENING line: {line!r} {self.proc.stderr.read()!r}")
        self.port = int(line.split()[1])

    def connect(self, timeout=5.0):
        s = socket.create_connection(("127.0.0.1", self.port), timeout=timeout)
        s.settimeout(timeout)
        return s

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            out, err = self.proc.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            raise AssertionError("server did not exit within 15 s of SIGTERM")
        return self.proc.returncode, out.decode(), err.decode()


def read_responses(sock, deadline_s=6.0):
    """Reads until the server closes. Returns ([(status, headers, body)], how it ended)."""
    data = b""
    end = time.monotonic() + deadline_s
    how = "timeout"
    while time.monotonic() < end:
        sock.settimeout(max(0.01, end - time.monotonic()))
        try:
            chunk = sock.recv(65536)
        except socket.timeout:
            break
        except ConnectionResetError:
            how = "reset"
            break
        if not chunk:
            how = "eof"
            break
        data += chunk
    responses = []
    while data:
        head, sep, rest = data.partition(b"\r\n\r\n")
        if not sep:
            raise AssertionError(f"truncated response head: {data[:200]!r}")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        headers = {k.strip().lower(): v.strip() for k, v in (l.split(":", 1) for l in lines[1:])}
        n = int(headers["content-length"])
        responses.append((status, headers, rest[:n]))
        data = rest[n:]
    return responses, how


def exchange(srv, payload, *, pause=0.0, trickle=None):
    s = srv.connect()
    try:
        if trickle:
            for b in payload:
                s.sendall(bytes([b]))
                time.sleep(trickle)
        else:
            s.sendall(payload)
        if pause:
            time.sleep(pause)
        return read_responses(s)
    finally:
        s.close()


def bad_request(name, payload, status):
    return (name, payload, [status])


# (name, bytes sent, statuses expected in order, then the server must close).
CORPUS = [
    bad_request("not http", b"GARBAGE\r\n\r\n", 400),
    bad_request("method only", b"GET\r\n\r\n", 400),
    bad_request("http/0.9", b"GET /\r\n\r\n", 400),
    bad_request("two spaces", b"GET  / HTTP/1.1\r\n" + H + b"\r\n", 400),
    bad_request("extra token", b"GET / HTTP/1.1 x\r\n" + H + b"\r\n", 400),
    bad_request("lower-case protocol", b"GET / http/1.1\r\n" + H + b"\r\n", 400),
    bad_request("control char in target", b"GET /a\x01b HTTP/1.1\r\n" + H + b"\r\n", 400),
    bad_request("bare CR in target", b"GET /a\rb HTTP/1.1\r\n" + H + b"\r\n", 400),
    bad_request("relative target", b"GET foo HTTP/1.1\r\n" + H + b"\r\n", 400),
    bad_request("http/2.0", b"GET / HTTP/2.0\r\n" + H + b"\r\n", 505),
    bad_request("unknown method", b"BREW / HTTP/1.1\r\n" + H + b"\r\n", 501),
    bad_request("lower-case method", b"get / HTTP/1.1\r\n" + H + b"\r\n", 501),
    bad_request("CONNECT", b"CONNECT example.com:443 HTTP/1.1\r\n" + H + b"\r\n", 501),
    bad_request("header without colon", b"GET / HTTP/1.1\r\n" + H + b"NoColon\r\n\r\n", 400),
    bad_request("space before colon", b"GET / HTTP/1.1\r\nHost : t\r\n\r\n", 400),
    bad_request("space in header name", b"GET / HTTP/1.1\r\n" + H + b"Bad Name: x\r\n\r\n", 400),
    bad_request("obs-fold", b"GET / HTTP/1.1\r\n" + H + b"X: a\r\n b\r\n\r\n", 400),
    bad_request("NUL in header value", b"GET / HTTP/1.1\r\n" + H + b"X: a\x00b\r\n\r\n", 400),
    bad_request("bare CR in header value", b"GET / HTTP/1.1\r\n" + H + b"X: a\rb\r\n\r\n", 400),
    bad_request("missing Host", b"GET / HTTP/1.1\r\n\r\n", 400),
    bad_request("two Hosts", b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400),
    bad_request("too many empty lines", b"\r\n" * 20 + GOOD, 400),
    bad_request("request line too long", b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\n" + H + b"\r\n", 414),
    bad_request("request line too long, no end", b"GET /" + b"a" * 9000, 414),
    bad_request("one huge header", b"GET / HTTP/1.1\r\n" + H + b"X: " + b"v" * 9000 + b"\r\n\r\n", 431),
    bad_request("too many headers", b"GET / HTTP/1.1\r\n" + H + b"X: 1\r\n" * 200 + b"\r\n", 431),
    bad_request("Content-Length not a number", b"POST / HTTP/1.1\r\n" + H + b"Content-Length: ten\r\n\r\n", 400),
    bad_request("Content-Length negative", b"POST / HTTP/1.1\r\n" + H + b"Content-Length: -5\r\n\r\n", 400),
    bad_request("Content-Length conflicting",
                b"POST / HTTP/1.1\r\n" + H + b"Content-Length: 1\r\nContent-Length: 2\r\n\r\nab", 400),
    bad_request("Content-Length overflow",
                b"POST / HTTP/1.1\r\n" + H + b"Content-Length: 99999999999999999999999\r\n\r\n", 400),
    bad_request("body too large", b"POST / HTTP/1.1\r\n" + H + b"Content-Length: 5000000\r\n\r\n", 413),
    bad_request("chunked", b"POST / HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 501),
    bad_request("unknown transfer coding", b"POST / HTTP/1.1\r\n" + H + b"Transfer-Encoding: gzip\r\n\r\n", 501),
    bad_request("smuggling: TE and CL",
                b"POST / HTTP/1.1\r\n" + H + b"Content-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400),
    bad_request("smuggling: CL and TE",
                b"POST / HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n0\r\n\r\n", 400),
    bad_request("TLS client hello", bytes.fromhex("160301020001000100fc0303") + os.urandom(200), 400),
    bad_request("NUL bytes", b"\x00" * 64, 400),
    bad_request("random binary", b"\xff\xfe" + bytes(random.Random(7).randrange(256) for _ in range(500)), 400),
    ("Content-Length shorter than the body: the rest is a bad request",
     b"POST / HTTP/1.1\r\n" + H + b"Content-Length: 2\r\n\r\nabXYZ\r\n\r\n", [200, 400]),
    ("valid then garbage, pipelined", GOOD + b"GET /x HTTP/1.1\r\n" + H + b"\r\n" + b"\x01\x02\r\n\r\n", [200, 404, 400]),
    ("HTTP/1.0 closes", b"GET / HTTP/1.0\r\n\r\n" + GOOD, [200]),
    ("Connection: close", b"GET / HTTP/1.1\r\n" + H + b"Connection: close\r\n\r\n" + GOOD, [200]),
    ("bad sleep parameter keeps the connection", b"GET /sleep?ms=x HTTP/1.1\r\n" + H + b"Connection: close\r\n\r\n",
     [400]),
]


def check_alive(srv, context):
    responses, _ = exchange(srv, b"GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
    assert [r[0] for r in responses] == [200] and responses[0][2] == b"Hello, World!", \
        f"server not answering after {context}: {responses}"


def run_corpus(srv):
    for name, payload, statuses in CORPUS:
        responses, how = exchange(srv, payload)
        got = [r[0] for r in responses]
        assert got == statuses, f"{name}: expected {statuses}, got {got} ({how})"
        assert how in ("eof", "reset"), f"{name}: the server did not close ({how})"
        if statuses[-1] >= 400:
            assert responses[-1][1].get("connection") == "close", f"{name}: no Connection: close"
        check_alive(srv, name)
    n = len(CORPUS)

    # Timeouts: a body that never comes, a slowloris trickle, an idle connection.
    t0 = time.monotonic()
    responses, how = exchange(srv, b"POST / HTTP/1.1\r\n" + H + b"Content-Length: 100\r\n\r\nonly ten b")
    assert [r[0] for r in responses] == [408] and how in ("eof", "reset"), f"short body: {responses} {how}"
    assert time.monotonic() - t0 < IDLE_MS / 1000 + 3
    t0 = time.monotonic()
    s = srv.connect()
    sent = 0
    closed = False
    try:
        for b in b"GET / HTTP/1.1\r\nHost: t\r\nX-Slow: " + b"z" * 200:  # one byte per 100 ms, never ending
            s.sendall(bytes([b]))
            sent += 1
            time.sleep(0.1)
            if time.monotonic() - t0 > REQUEST_MS / 1000 + 3:
                break
    except (BrokenPipeError, ConnectionResetError):
        closed = True
    responses, how = read_responses(s, 3) if not closed else ([], "reset")
    s.close()
    elapsed = time.monotonic() - t0
    assert closed or how in ("eof", "reset"), f"slowloris: not closed after {elapsed:.1f}s"
    assert elapsed < REQUEST_MS / 1000 + 3, f"slowloris kept the connection {elapsed:.1f}s"
    assert all(r[0] == 408 for r in responses), f"slowloris: {responses}"
    t0 = time.monotonic()
    s = srv.connect()
    responses, how = read_responses(s, IDLE_MS / 1000 + 3)
    s.close()
    assert responses == [] and how == "eof", f"idle connection: {responses} {how}"
    check_alive(srv, "timeouts")
    n += 3

    # Abrupt disconnects: mid-head, mid-body, mid-sleep, after a request without reading.
    before = stats(srv)["connections_live"]
    for payload in (b"GET / HTTP/1.1\r\nHo", b"POST / HTTP/1.1\r\n" + H + b"Content-Length: 50\r\n\r\nabc",
                    b"GET /sleep?ms=200 HTTP/1.1\r\n" + H + b"\r\n", GOOD * 50):
        s = srv.connect()
        s.sendall(payload)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        s.close()  # reset
        n += 1
    # Every reset connection is gone once the live count is back (the /stats one is counted in both).
    assert wait_for(lambda: stats(srv)["connections_live"] == before, 10), "abrupt disconnects: connections not released"
    check_alive(srv, "abrupt disconnects")
    return n


def wait_for(cond, limit_s):
    """Polls cond until it holds or limit_s passes; returns whether it held."""
    deadline = time.monotonic() + limit_s
    while not cond():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def stats(srv):
    responses, _ = exchange(srv, b"GET /stats HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
    assert responses and responses[0][0] == 200, f"/stats not answered: {responses}"
    return json.loads(responses[0][2])


def live_tasks(st):
    for key in ("live_fibers", "live_threads"):
        if key in st:
            return st[key]
    return 0


def abrupt_connections(srv, total=10_000, batch=1000):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    base = stats(srv)
    linger = struct.pack("ii", 1, 0)
    done = 0
    while done < total:
        socks = []
        for i in range(min(batch, total - done)):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, linger)
            s.settimeout(5)
            s.connect(("127.0.0.1", srv.port))
            if i % 3 == 1:
                s.send(b"GET / HTTP/1.1\r\nHo")  # mid-request
            elif i % 3 == 2:
                s.send(GOOD)  # a whole request whose answer is never read
            socks.append(s)
        for s in socks:
            s.close()  # SO_LINGER 0: a reset, not a FIN
        done += len(socks)
    deadline = time.monotonic() + 30
    while True:
        st = stats(srv)
        back = (st["open_fds"] == base["open_fds"] and live_tasks(st) == live_tasks(base)
                and st["connections_live"] == base["connections_live"])
        if back or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert st["connections_accepted"] >= base["connections_accepted"] + total, (base, st)
    assert back, f"after {total} abrupt connections: baseline {base}, now {st}"
    return base, st


def graceful_shutdown(srv):
    results = {}

    def sleeper():
        results["sleep"] = exchange(srv, b"GET /sleep?ms=700 HTTP/1.1\r\nHost: t\r\n\r\n")

    idle = srv.connect()
    idle.sendall(GOOD)  # a keep-alive connection left idle after its answer
    t = threading.Thread(target=sleeper)
    t.start()
    # Stop only once the request is inside its handler: that is the in-flight case tested.
    assert wait_for(lambda: stats(srv).get("sleeping") == 1, 10), "the /sleep request never reached its handler"
    t0 = time.monotonic()
    rc, out, err = srv.stop()
    t.join(10)
    responses, how = results["sleep"]
    assert [r[0] for r in responses] == [200], f"in-flight request not finished: {responses} {how}"
    assert responses[0][1].get("connection") == "close", responses
    idle_responses, idle_how = read_responses(idle, 3)
    assert [r[0] for r in idle_responses] == [200] and idle_how == "eof", (idle_responses, idle_how)
    assert rc == 0, f"exit code {rc}: {err}"
    last = json.loads(out.strip().splitlines()[-1])
    for key in ("requests", "connections_accepted", "peak_rss_kib", "threads_peak"):
        assert isinstance(last.get(key), int), (key, last)
    assert last["status"] == "ok"
    return time.monotonic() - t0, last


def main():
    binary = sys.argv[1]
    only = sys.argv[sys.argv.index("--only") + 1] if "--only" in sys.argv else None
    # The command line: unknown names are usage errors (exit 2, nothing on stdout).
    for bad in (["--taskmaster", "nope"], ["--taskmaster", "fibers", "--variant", "nope"],
                ["--taskmaster", "fibers", "--registration", "nope"], ["--carriers", "0"], ["--bogus"]):
        p = subprocess.run([binary, *bad], capture_output=True, timeout=10)
        assert p.returncode == 2 and p.stdout == b"" and p.stderr, (bad, p)
    # A malformed value (a fraction, a port out of range) is refused too, not truncated.
    for bad in (["--backlog", "2.5"], ["--listen", "127.0.0.1:70000"], ["--listen", "nowhere"],
                ["--idle-timeout-ms"], ["stray"]):
        p = subprocess.run([binary, *bad], capture_output=True, timeout=10)
        assert p.returncode == 2 and p.stdout == b"" and p.stderr, (bad, p)
    # --help: exit 0, every flag described on stdout.
    p = subprocess.run([binary, "--help"], capture_output=True, text=True, timeout=10)
    assert p.returncode == 0, p
    flags = ["--taskmaster", "--variant", "--carriers", "--registration", "--io-backend", "--listen",
             "--backlog", "--max-conns", "--idle-timeout-ms", "--request-timeout-ms", "--shutdown-grace-ms"]
    assert not [f for f in flags if f not in p.stdout], p.stdout
    failures = 0
    for name, args in CONFIGS.items():
        if only and only != name:
            continue
        t0 = time.monotonic()
        srv = Server(binary, args)
        try:
            cases = run_corpus(srv)
            base, after = abrupt_connections(srv)
            took, last = graceful_shutdown(srv)
            print(f"ok   {name}: {cases} hostile cases, 10000 abrupt connections (fds {base['open_fds']} -> "
                  f"{after['open_fds']}, live tasks {live_tasks(base)} -> {live_tasks(after)}), shutdown in "
                  f"{took:.2f}s, {last['requests']} requests, peak RSS {last['peak_rss_kib']} KiB, "
                  f"{time.monotonic() - t0:.1f}s", flush=True)
        except AssertionError as e:
            failures += 1
            print(f"FAIL {name}: {e}", flush=True)
            if srv.proc.poll() is None:
                srv.proc.kill()
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
