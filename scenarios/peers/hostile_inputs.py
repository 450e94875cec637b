#!/usr/bin/python3
"""What Boost.Beast answers to our HTTP server's hostile inputs.

  hostile_inputs.py PATH/TO/asio_peer [--markdown]

Sends every case of our server's robustness corpus (scenarios/http/robustness_test.py,
CORPUS: the malformed and hostile requests with the statuses our server answers) to
asio_peer's Beast server, one connection each, and records the statuses it got back, how
the connection ended and, for a request Beast refused, Beast's error (asio_peer answers
it with 400 "Bad Request: <Beast's error message>"). After every case a valid request
must still be answered: a case may be answered differently from our server, but it must
not take the server down. With --markdown it prints the table kept in ASIO.md.
"""
import os
import signal
import socket
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "http"))
import robustness_test  # noqa: E402  (the corpus is our server's, kept in one place)

# How long to wait for the server to answer and close. A case Beast keeps waiting on (it
# needs more bytes) ends here as "open".
DEADLINE_S = 1.0


class AsioServer:
    def __init__(self, binary, carriers=2):
        self.proc = subprocess.Popen([binary, "--scenario", "http", "--listen", "127.0.0.1:0",
                                      "--param", f"carriers={carriers}"],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()
        if not line.startswith("LISTENING "):
            self.proc.kill()
            raise RuntimeError(f"asio_peer printed {line!r}, not LISTENING: {self.proc.stderr.read()}")
        self.port = int(line.split()[1])

    def connect(self, timeout=5.0):
        s = socket.create_connection(("127.0.0.1", self.port), timeout=timeout)
        s.settimeout(timeout)
        return s

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        out, err = self.proc.communicate(timeout=20)
        return self.proc.returncode, out, err


def read_all(sock, deadline_s):
    """Bytes until the server closes or the deadline; and how it ended (eof, reset, open)."""
    data, end = b"", time.monotonic() + deadline_s
    while time.monotonic() < end:
        sock.settimeout(max(0.01, end - time.monotonic()))
        try:
            chunk = sock.recv(65536)
        except socket.timeout:
            return data, "open"
        except ConnectionResetError:
            return data, "reset"
        if not chunk:
            return data, "eof"
        data += chunk
    return data, "open"


def parse_responses(data):
    """[(status, body)] of the whole responses in data (each has a Content-Length)."""
    out = []
    while data:
        head, sep, rest = data.partition(b"\r\n\r\n")
        if not sep:
            break
        lines = head.decode("latin-1").split("\r\n")
        headers = {k.strip().lower(): v.strip() for k, v in (l.split(":", 1) for l in lines[1:] if ":" in l)}
        n = int(headers.get("content-length", "0"))
        out.append((int(lines[0].split()[1]), rest[:n].decode("latin-1")))
        data = rest[n:]
    return out


def send_case(srv, payload):
    s = srv.connect()
    try:
        try:
            s.sendall(payload)
        except (BrokenPipeError, ConnectionResetError):
            pass  # closed while we sent: what came back still counts
        data, how = read_all(s, DEADLINE_S)
    finally:
        s.close()
    return parse_responses(data), how


def answers_hello(srv):
    got, _ = send_case(srv, b"GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
    return [r[0] for r in got] == [200] and got[0][1] == "Hello, World!"


def record(binary):
    """One row per corpus case: name, ours (statuses), beast (statuses), how, error."""
    srv = AsioServer(binary)
    rows = []
    try:
        for name, payload, ours in robustness_test.CORPUS:
            got, how = send_case(srv, payload)
            errors = [body[len("Bad Request: "):] for status, body in got
                      if status == 400 and body.startswith("Bad Request: ")]
            rows.append({"name": name, "ours": ours, "beast": [r[0] for r in got], "how": how,
                         "error": "; ".join(errors), "alive": answers_hello(srv)})
    finally:
        code, out, err = srv.stop()
    rows.append({"name": "(shutdown)", "exit": code, "json": out.strip().splitlines()[-1:] or [""]})
    return rows


def markdown(rows):
    lines = ["| case | our server | Beast peer | connection | Beast's error |",
             "| --- | --- | --- | --- | --- |"]
    for r in rows:
        if "ours" not in r:
            continue
        same = "" if r["beast"] == r["ours"] else " (differs)"
        lines.append(f"| {r['name']} | {' '.join(map(str, r['ours']))} | "
                     f"{' '.join(map(str, r['beast'])) or 'none'}{same} | {r['how']} | {r['error']} |")
    return "\n".join(lines)


def main():
    if len(sys.argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    rows = record(sys.argv[1])
    if "--markdown" in sys.argv:
        print(markdown(rows))
    else:
        for r in rows:
            print(r)
    dead = [r["name"] for r in rows if r.get("alive") is False]
    if dead:
        print("server stopped answering after: " + ", ".join(dead), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
