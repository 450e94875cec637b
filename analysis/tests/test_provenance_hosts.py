"""The harness's provenance fields (results/SCHEMA.md, harness/provenance.cpp) as the
analysis reads them: a machine id alone tells hosts apart, files without the fields still
load, and the per-file load average does not make one run look like several machines.
Folders are SYNTHETIC (make_fixtures); the provenance values are the shape the harness
writes, not a real host's."""

import json
import os

from switchyard_analysis import comparison
from switchyard_analysis.results import load_folder
from test_compare import run

# One host as the harness describes it (every field but machine_id shared by both sides).
PROVENANCE = {
    "arch": "x86_64", "machine_id_source": "/etc/machine-id", "cpu_vendor": "AuthenticAMD",
    "cpu_family": 25, "cpu_model_id": 1, "cpu_stepping": 1, "cpu_microcode": "0x1000065",
    "cpu_flags": "fpu sse2 avx2", "cpu_bugs": "spectre_v1", "smt": {"control": "notsupported", "active": False},
    "cpufreq": None, "kernel_cmdline": "quiet", "mitigations": {"meltdown": "Not affected"},
    "clocksource": "tsc", "transparent_hugepages": {"enabled": "madvise", "defrag": "madvise"},
    "software": {"glibc": "2.36", "go": "1.19.8", "nginx": "1.22.1", "wrk": "4.1.0"},
}
HOST_A = "11111111-2222-5333-8444-555555555555"
HOST_B = "66666666-7777-5888-8999-aaaaaaaaaaaa"


def _provenance(folder, machine_id, load=(0.5, 0.4, 0.3)):
    """Gives every file of `folder` the provenance fields, with this machine id."""
    for name in os.listdir(folder):
        if not name.endswith(".json"):
            continue
        path = os.path.join(folder, name)
        doc = json.load(open(path))
        doc["machine"].update(PROVENANCE, machine_id=machine_id)
        doc["load_average"] = {"before": list(load), "after": [x + 1 for x in load]}
        doc["build"].update(describe="fixture", checkout=None, binary_older_than_checkout=None)
        json.dump(doc, open(path, "w"))


def _slower_pair(make_folder, id_base, id_new):
    base = make_folder("base", scenarios={"yield"})
    new = make_folder("new", scenarios={"yield"}, seed=3, scale=1.2)   # same hostname, 20 % slower
    _provenance(base, id_base)
    _provenance(new, id_new)
    return base, new


def test_files_differing_only_in_machine_id_are_different_hosts(make_folder):
    base, new = _slower_pair(make_folder, HOST_A, HOST_B)
    mb, mn = load_folder(base).machine, load_folder(new).machine
    assert {k for k in mb if mb[k] != mn[k]} == {"machine_id"}
    assert comparison.host_differences(mb, mn) == ["machine_id"]
    rc, out, _ = run(base, new, "--metric", "ns_per_yield", "--fail-on-regression")
    assert rc == 0, out
    assert "note: different hosts (machine_id differ)" in out and "x-host" in out
    assert "cross-host (machine_id differ): not counted without --cross-host" in out
    rc, out, _ = run(base, new, "--metric", "ns_per_yield", "--fail-on-regression", "--cross-host")
    assert rc == 1 and "REGRESSION" in out


def test_same_machine_id_is_one_host_and_the_regression_counts(make_folder):
    # The control for the test above: with equal ids the same data is a plain regression.
    base, new = _slower_pair(make_folder, HOST_A, HOST_A)
    assert comparison.host_differences(load_folder(base).machine, load_folder(new).machine) == []
    rc, out, _ = run(base, new, "--metric", "ns_per_yield", "--fail-on-regression")
    assert rc == 1 and "REGRESSION" in out and "note: different hosts" not in out


def test_files_without_provenance_still_load_and_compare(make_folder):
    # Older files lack every provenance field: a field only one side records cannot tell
    # hosts apart, so an old base against a new file is not called cross-host.
    old = make_folder("old", scenarios={"yield"})
    new = make_folder("new", scenarios={"yield"})
    _provenance(new, HOST_B)
    assert comparison.host_differences(load_folder(old).machine, load_folder(new).machine) == []
    rc, out, _ = run(old, new, "--metric", "ns_per_yield")
    assert rc == 0 and "note: different hosts" not in out


def test_load_average_per_file_is_not_another_machine(make_folder):
    # bench writes one file per scenario, each with its own load average: the folder is
    # still one machine (the load is outside the machine block for this reason).
    folder = make_folder("run", scenarios={"yield", "switch"})
    _provenance(folder, HOST_A)
    path = os.path.join(folder, "switch.json")
    doc = json.load(open(path))
    doc["load_average"] = {"before": [1.9, 1.2, 0.8], "after": [2.1, 1.5, 0.9]}
    json.dump(doc, open(path, "w"))
    rs = load_folder(folder)
    assert not [w for w in rs.warnings if "different machine" in w], rs.warnings
