"""Hosts: which fields of a result's `machine` block tell two machines apart, and keeping
the results of different hosts apart.

A results folder may hold files from several machines (a CI matrix, a batch job array, a
folder copied together by hand). Their numbers are not pooled: load_folder gives every
entry the index of its host, and split_by_host turns such a folder into one ResultSet per
host, which the figures draw as panels of their own and the report lists with their own
machine rows.
"""

import os
import re
from dataclasses import replace

# Fields of a result's `machine` block that tell hosts apart. The baseline and the second
# host share hostname "vm", cpu_model "AMD EPYC" and 2 cores; only the kernel build differs.
# The others are read when the harness records them. What changes from run to run on one
# host (the load average, the limits, the settings bench applied) is not among them.
HOST_FIELDS = ("hostname", "machine_id", "arch", "cpu_model", "cpu_family", "cpu_model_id",
               "cpu_stepping", "cpu_microcode", "cpu_flags", "cores", "kernel")


def host_identity(machine):
    """{field: value} of the host-identifying fields a machine block records."""
    out = {}
    for k in HOST_FIELDS:
        v = (machine or {}).get(k)
        # A value the writer could not know (a Google Benchmark import has neither CPU
        # model nor kernel: gbench.py writes "unknown (...)") is not recorded either.
        if v is None or (isinstance(v, str) and (not v.strip() or v.startswith("unknown"))):
            continue
        if isinstance(v, (list, tuple)):
            v = " ".join(sorted(str(x) for x in v))
        elif isinstance(v, str) and k == "cpu_flags":
            v = " ".join(sorted(v.split()))
        out[k] = v
    return out


def host_differences(m1, m2):
    """Fields present in both machine blocks whose values differ (a field only one side
    records cannot tell the hosts apart)."""
    a, b = host_identity(m1), host_identity(m2)
    return [k for k in HOST_FIELDS if k in a and k in b and a[k] != b[k]]


def host_text(machine):
    h = host_identity(machine)
    parts = [f"host {h.get('hostname', '?')}", h.get("cpu_model", "?")]
    if "kernel" in h:
        parts.append(f"kernel {h['kernel']}")
    return ", ".join(parts)


def assign_host(hosts, machine):
    """The index in `hosts` (a list of machine blocks, one per host seen so far) of the host
    `machine` belongs to: the first that no recorded field tells apart from it. A machine
    unlike all of them is appended as a new host."""
    for i, m in enumerate(hosts):
        if not host_differences(m, machine):
            return i
    hosts.append(machine)
    return len(hosts) - 1


def _short(field, value):
    text = str(value)
    # A machine id is a UUID: its first group tells hosts apart in a label.
    return text.split("-")[0] if field == "machine_id" else text


def host_labels(hosts):
    """A short name per host: its hostname, and where hostnames repeat, the first field that
    tells it from the others with that name ('vm, kernel=6.1.0-13')."""
    out = []
    for i, m in enumerate(hosts):
        name = str((m or {}).get("hostname") or f"host {i + 1}")
        same = [o for j, o in enumerate(hosts) if j != i
                and str((o or {}).get("hostname") or f"host {j + 1}") == name]
        diff = next((k for o in same for k in host_differences(m, o)), None)
        out.append(f"{name}, {diff}={_short(diff, host_identity(m)[diff])}" if diff else name)
    return out


def split_by_host(rs):
    """[ResultSet]: `rs` itself when its files come from one host, else one set per host
    (in the order the hosts were first seen), each with that host's files, entries,
    machine block and newest build, named '<folder> (<host>)'."""
    if len(rs.hosts) <= 1:
        return [rs]
    labels = host_labels(rs.hosts)
    out = []
    for i, label in enumerate(labels):
        files = [p for p in rs.files if rs.host_of_file.get(p) == i]
        out.append(replace(
            rs, files=files, host_label=label, machine=rs.hosts[i],
            build=rs.builds[files[-1]] if files else rs.build,
            machines=[(p, m) for p, m in rs.machines if rs.host_of_file.get(p) == i],
            entries=[replace(e, host=0) for e in rs.entries if e.host == i], hosts=[rs.hosts[i]],
            host_of_file={p: 0 for p in files}, builds={p: rs.builds[p] for p in files},
            designs={p: rs.designs.get(p) for p in files},
            noise_floors={p: rs.noise_floors.get(p) for p in files},
            bad_files=list(rs.bad_files) if i == 0 else [], warnings=[]))
    # A loading warning goes with the host(s) whose files it names; one naming no file
    # (or a bad file's) stays with the first, as do the bad files, so each is said once.
    for w in rs.warnings:
        hit = [s for s in out if any(_names(w, os.path.basename(p)) for p in s.files)]
        for s in hit or out[:1]:
            s.warnings.append(w)
    return out


def _names(text, filename):
    return re.search(r"(?<![\w.-])" + re.escape(filename) + r"(?![\w.-])", text) is not None
