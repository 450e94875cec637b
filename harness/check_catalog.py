#!/usr/bin/python3
"""Fails when the committed harness/catalog.json differs from what the built switchyard
prints (`switchyard list --json --portable`), naming the first difference and the command
that regenerates it.

    /usr/bin/python3 harness/check_catalog.py SWITCHYARD harness/catalog.json
"""
import json
import subprocess
import sys


def first_difference(a, b, where="catalog"):
    if type(a) is not type(b):
        return f"{where}: {a!r} vs {b!r}"
    if isinstance(a, dict):
        for k in sorted(set(a) | set(b)):
            if k not in a or k not in b:
                return f"{where}.{k}: only in the {'committed file' if k in a else 'binary'}"
            d = first_difference(a[k], b[k], f"{where}.{k}")
            if d:
                return d
        return None
    if isinstance(a, list):
        for i, (x, y) in enumerate(zip(a, b)):
            d = first_difference(x, y, f"{where}[{i}]")
            if d:
                return d
        if len(a) != len(b):
            return f"{where}: {len(a)} items committed, {len(b)} printed"
        return None
    return None if a == b else f"{where}: committed {a!r}, printed {b!r}"


def main(argv):
    if len(argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    binary, path = argv[1], argv[2]
    proc = subprocess.run([binary, "list", "--json", "--portable"], capture_output=True, text=True, timeout=60)
    if proc.returncode != 0:
        print(f"{binary} list --json --portable: exit {proc.returncode}: {proc.stderr}", file=sys.stderr)
        return 1
    with open(path, encoding="utf-8") as f:
        committed = f.read()
    if committed == proc.stdout:
        return 0
    try:
        diff = first_difference(json.loads(committed), json.loads(proc.stdout))
    except json.JSONDecodeError as e:
        diff = f"not JSON: {e}"
    print(f"{path} is stale: it differs from `switchyard list --json --portable` "
          f"({diff or 'same content, different formatting'}).\n"
          f"Regenerate it with `make catalog` (or: BUILD/bin/switchyard list --json --portable > {path}) "
          f"and commit it.", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
