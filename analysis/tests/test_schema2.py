"""Schema version 2 and folders of several files: rounds, pooling, commits, hosts.

The files in fixtures/schema2 are SYNTHETIC and written by hand from the schema: a v1 file
and a v2 file of one host (two commits) measuring the same thing, and a v2 file of a
second host."""

import json
import os
import shutil

import pytest

from switchyard_analysis.results import (ResultsError, commits, entry_commits, host_key,
                                         load_file, load_folder)

SCHEMA2 = os.path.join(os.path.dirname(__file__), "fixtures", "schema2")
C1, C2 = "1" * 40, "2" * 40


def _folder(tmp_path, names):
    for n in names:
        shutil.copy(os.path.join(SCHEMA2, n), tmp_path / n)
    return str(tmp_path)


def test_v2_file_keeps_rounds_counters_runs_and_design():
    doc, (e,) = load_file(os.path.join(SCHEMA2, "b_v2.json"))
    m = e.metrics["ns_per_yield"]
    assert m.rounds == [0, 0, 1, 1]
    assert m.by_round() == {0: [30.0, 31.0], 1: [32.0, 33.0]}
    assert [r["round"] for r in e.runs] == [0, 1]
    assert e.carrier_counters.per_repetition("steals") == [(0, 1), (0, 1), (1, 7), (1, 7)]
    assert doc["design"]["runs"] == 2


def test_v1_file_is_one_round():
    _, (e,) = load_file(os.path.join(SCHEMA2, "a_v1.json"))
    assert e.metrics["ns_per_yield"].rounds == [0, 0, 0]
    assert e.runs == [] and e.carrier_counters is None


def test_v1_and_v2_files_of_one_host_are_pooled_with_distinct_rounds(tmp_path):
    rs = load_folder(_folder(tmp_path, ["a_v1.json", "b_v2.json"]))
    (e,) = rs.ok("yield")
    m = e.metrics["ns_per_yield"]
    # Pooled, not replaced: the v1 file (older, loaded first) is round 0, the v2 file's
    # rounds 0 and 1 become 1 and 2.
    assert m.samples == [20.0, 21.0, 22.0, 30.0, 31.0, 32.0, 33.0]
    assert m.rounds == [0, 0, 0, 1, 1, 2, 2]
    assert (m.median, m.min, m.max) == (30.0, 20.0, 33.0)
    assert e.round_ids() == [0, 1, 2]
    assert [r["round"] for r in e.runs] == [1, 2]
    assert e.carrier_counters.rounds == [1, 1, 2, 2]
    assert e.peak_rss_kib == 4100 and e.repetitions == 3
    assert [os.path.basename(s) for s in e.sources] == ["a_v1.json", "b_v2.json"]
    assert any("pooled as repeated runs" in w and "also in a_v1.json" in w for w in rs.warnings)
    assert not [w for w in rs.warnings if "replaces" in w]


def test_mixed_commits_are_listed_kept_per_entry_and_warned(tmp_path):
    rs = load_folder(_folder(tmp_path, ["a_v1.json", "b_v2.json"]))
    assert commits(rs) == [C1, C2 + " (dirty tree)"]
    (e,) = rs.ok("yield")
    assert entry_commits(e) == [C1, C2 + " (dirty tree)"]
    warn = [w for w in rs.warnings if "2 commits" in w]
    assert len(warn) == 1 and C1 in warn[0] and C2 in warn[0]
    # One commit: no warning.
    os.makedirs(tmp_path / "one")
    one = load_folder(_folder(tmp_path / "one", ["b_v2.json"]))
    assert commits(one) == [C2 + " (dirty tree)"]
    assert not [w for w in one.warnings if "commits" in w]


def test_two_hosts_are_never_pooled(tmp_path):
    rs = load_folder(_folder(tmp_path, ["a_v1.json", "b_v2.json", "c_v2_other_host.json"]))
    es = rs.ok("yield")
    assert len(es) == 2 and len(rs.hosts) == 2
    a, b = sorted(es, key=lambda e: e.host)
    assert len(a.metrics["ns_per_yield"].samples) == 7
    assert b.metrics["ns_per_yield"].samples == [90.0, 91.0]
    # The other host's rounds are its own: not shifted past host a's.
    assert b.metrics["ns_per_yield"].rounds == [0, 0]
    assert host_key(a) != host_key(b)
    assert (a.arch, b.arch) == ("x86_64", "aarch64")
    from switchyard_analysis.hosts import split_by_host
    sa, sb = split_by_host(rs)
    assert [e.metrics["ns_per_yield"].median for e in sb.ok()] == [90.5]
    assert list(sb.designs) == [os.path.join(str(tmp_path), "c_v2_other_host.json")]


def test_the_same_file_twice_pools_its_runs(tmp_path):
    # Two invocations of one plan (same commit, same host): 2 + 2 rounds.
    doc = json.load(open(os.path.join(SCHEMA2, "b_v2.json")))
    (tmp_path / "r1.json").write_text(json.dumps(doc))
    doc["created"] = "2026-12-02T11:00:00Z"
    (tmp_path / "r2.json").write_text(json.dumps(doc))
    rs = load_folder(str(tmp_path))
    (e,) = rs.ok("yield")
    assert e.metrics["ns_per_yield"].rounds == [0, 0, 1, 1, 2, 2, 3, 3]
    assert commits(rs) == [C2 + " (dirty tree)"]


@pytest.mark.parametrize("mutate, expect", [
    (lambda e: e["metrics"]["ns_per_yield"].pop("runs"), "missing field 'runs'"),
    (lambda e: e["metrics"]["ns_per_yield"].update(runs=[0, 1]), "'runs' has 2 rounds for 4 samples"),
    (lambda e: e["metrics"]["ns_per_yield"].update(runs=[0, 0, -1, 1]), "non-negative integers"),
    (lambda e: e["carrier_counters"]["values"][0][0].pop(), "should hold 6 non-negative integers"),
    (lambda e: e["carrier_counters"].update(runs=[0]), "'runs' has 1 rounds for 4 values"),
    (lambda e: e.update(runs=[{"status": "ok"}]), "non-negative integer 'round'"),
])
def test_bad_v2_fields_fail_naming_the_place(tmp_path, mutate, expect):
    doc = json.load(open(os.path.join(SCHEMA2, "b_v2.json")))
    mutate(doc["entries"][0])
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(ResultsError) as err:
        load_file(str(path))
    assert expect in str(err.value) and "bad.json" in str(err.value)


def test_v2_without_design_fails(tmp_path):
    doc = json.load(open(os.path.join(SCHEMA2, "b_v2.json")))
    doc.pop("design")
    path = tmp_path / "nodesign.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(ResultsError, match="missing field 'design'"):
        load_file(str(path))


def test_several_folders_and_files_load_as_one_set(tmp_path):
    from switchyard_analysis.results import load_paths
    one, two = tmp_path / "one", tmp_path / "two"
    os.makedirs(one)
    os.makedirs(two)
    _folder(one, ["a_v1.json"])
    _folder(two, ["b_v2.json", "c_v2_other_host.json"])
    rs = load_paths([str(one), str(two / "b_v2.json"), str(two)])
    assert len(rs.files) == 3      # b_v2.json named twice, loaded once
    a = next(e for e in rs.ok("yield") if e.machine["hostname"] == "fixture-a")
    assert a.metrics["ns_per_yield"].rounds == [0, 0, 0, 1, 1, 2, 2]
    with pytest.raises(ResultsError, match="no such results folder or file"):
        load_paths([str(tmp_path / "missing")])
