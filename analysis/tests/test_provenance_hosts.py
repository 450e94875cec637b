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


# ---- a folder holding files from two hosts ----------------------------------------------

def _two_host_folder(make_folder):
    """One folder, two yield files measuring the same entries: host A's, and host B's
    (another machine id, 20 % slower, built from another commit)."""
    a = make_folder("mixed", scenarios={"yield"})
    b = make_folder("other", scenarios={"yield"}, seed=3, scale=1.2)
    _provenance(a, HOST_A)
    _provenance(b, HOST_B)
    doc = json.load(open(os.path.join(b, "yield.json")))
    doc["created"] = "2026-11-29T07:10:00Z"    # the newer file
    doc["build"]["commit"] = "other-commit"
    json.dump(doc, open(os.path.join(a, "yield_host_b.json"), "w"))
    return a


def _yield_medians(rs):
    return {e.label: e.metrics["ns_per_yield"].median for e in rs.ok("yield")}


def test_files_differing_only_in_run_settings_are_one_machine(make_folder):
    # The limits, the settings bench applied and the provenance read at run time may differ
    # between two runs on one host: only the host-identifying fields make another machine.
    folder = make_folder("run", scenarios={"yield", "switch"})
    _provenance(folder, HOST_A)
    path = os.path.join(folder, "switch.json")
    doc = json.load(open(path))
    doc["machine"]["limits"]["open_files"] = 1048576
    doc["machine"]["settings_applied"] = ["vm.max_map_count=262144"]
    doc["machine"].update(kernel_cmdline="quiet mitigations=off", clocksource="hpet")
    json.dump(doc, open(path, "w"))
    rs = load_folder(folder)
    assert not [w for w in rs.warnings if "different machine" in w], rs.warnings
    assert len(rs.hosts) == 1


def test_two_hosts_in_one_folder_are_kept_apart(make_folder):
    folder = _two_host_folder(make_folder)
    rs = load_folder(folder)
    warn = [w for w in rs.warnings if "different machine" in w]
    assert len(warn) == 1 and "machine_id differ" in warn[0] and "kept apart" in warn[0]
    # Both hosts' entries stay: the newer file does not replace the older one's medians.
    assert len(rs.hosts) == 2
    per_host = {}
    for e in rs.ok("yield"):
        per_host.setdefault(e.host, {})[e.label] = e.metrics["ns_per_yield"].median
    assert set(per_host) == {0, 1} and per_host[0].keys() == per_host[1].keys()
    assert not [w for w in rs.warnings if "replaces" in w], rs.warnings
    # Split by host: each set holds exactly its own host's file, numbers and build.
    from switchyard_analysis import hosts
    a, b = hosts.split_by_host(rs)
    alone_a = _yield_medians(load_folder(make_folder("a_alone", scenarios={"yield"})))
    assert _yield_medians(a) == alone_a
    assert all(b_ > a_ for a_, b_ in zip(_yield_medians(a).values(), _yield_medians(b).values()))
    assert [os.path.basename(f) for f in a.files] == ["yield.json"]
    assert [os.path.basename(f) for f in b.files] == ["yield_host_b.json"]
    assert a.machine["machine_id"] == HOST_A and b.machine["machine_id"] == HOST_B
    assert b.build["commit"] == "other-commit" and a.build["commit"] != "other-commit"
    # Same hostname: the label says what tells them apart.
    assert a.name == "mixed (fixture-a, machine_id=11111111)"
    assert b.name == "mixed (fixture-a, machine_id=66666666)"


def test_compare_refuses_a_folder_of_two_hosts(make_folder):
    folder = _two_host_folder(make_folder)
    rc, out, err = run(folder, folder, "--metric", "ns_per_yield")
    assert rc == 2, out
    assert "results from 2 hosts" in err and "yield_host_b.json" in err


def test_report_lists_each_host_with_its_provenance(make_folder):
    from switchyard_analysis import hosts, report
    sets = hosts.split_by_host(load_folder(_two_host_folder(make_folder)))
    blocks = report.build_blocks(sets, [], str(make_folder("out")))
    i = blocks.index(("h", 2, "Machines and builds"))
    _, header, rows = blocks[i + 1]
    assert header == ["", sets[0].name, sets[1].name]
    row = {r[0]: r[1:] for r in rows}
    assert row["machine id"][0].startswith("11111111") and row["machine id"][1].startswith("66666666")
    assert row["architecture"] == ["x86_64", "x86_64"]
    assert row["kernel command line"] == ["quiet", "quiet"]
    assert row["clocksource"] == ["tsc", "tsc"]
    assert row["software"][0] == "glibc=2.36, go=1.19.8, nginx=1.22.1, wrk=4.1.0"
    assert row["mitigations"][0] == "1 not affected"
    assert row["CPU id"][0] == "vendor AuthenticAMD, family 25, model 1, stepping 1, microcode 0x1000065"
    assert row["describe"] == ["fixture", "fixture"]
    assert row["commit"][1] == "other-commit"


def test_report_of_old_files_has_no_provenance_rows(make_folder):
    # Files from before the provenance fields: no row of 'not recorded' everywhere.
    from switchyard_analysis import report
    rs = load_folder(make_folder("old", scenarios={"yield"}))
    blocks = report.build_blocks([rs], [], str(make_folder("out")))
    _, _, rows = blocks[blocks.index(("h", 2, "Machines and builds")) + 1]
    names = [r[0] for r in rows]
    assert "host" in names and "kernel" in names
    assert not {"machine id", "clocksource", "software", "checkout"} & set(names)
    assert all(report.NOT_RECORDED not in r[1] for r in rows)


def test_figures_draw_each_host_of_a_folder_as_its_own_panel(make_folder, tmp_path):
    import figures
    folder = _two_host_folder(make_folder)
    assert figures.main([folder, "--out", str(tmp_path / "out"), "--check"]) == 0
    yld = next(f for f in figures.LAST_FIGURES if f.name == "yield")
    titles = " | ".join(yld.panels)
    assert "mixed (fixture-a, machine_id=11111111)" in titles
    assert "mixed (fixture-a, machine_id=66666666)" in titles


def test_unknown_fields_of_an_import_do_not_make_another_host():
    # A Google Benchmark import beside our files knows the hostname and CPUs only.
    ours = {"hostname": "vm", "cpu_model": "AMD EPYC", "cores": 2, "kernel": "6.1.0"}
    imported = {"hostname": "vm", "cpu_model": "unknown (not in Google Benchmark output)",
                "cores": 2, "kernel": "unknown"}
    assert comparison.host_differences(ours, imported) == []
    assert comparison.host_differences(ours, dict(imported, cores=4)) == ["cores"]
