"""The studies over rounds (switchyard_analysis/studies.py, study.py) on SYNTHETIC schema 2
results whose answers are known by construction (fixtures/schema2_fixtures.py)."""

import json
import os

import pytest

import schema2_fixtures as F
import study
from switchyard_analysis import studies
from switchyard_analysis.results import load_paths

SLOW = {1, 4, 7, 10, 13, 16, 19, 22}


def _folder(tmp_path, name, **docs):
    folder = str(tmp_path / name)
    for fname, doc in docs.items():
        F.write(folder, fname + ".json", doc)
    return folder


def test_scaling_fails_when_ours_does_not_speed_up_and_go_does(tmp_path):
    rs = load_paths([_folder(tmp_path, "r", steal=F.steal_doc(1.0, 1.6))])
    res = studies.scaling(rs)
    assert {s.subject["workload"] for s in res} == {"skynet", "fib"}
    for s in res:
        assert len(s.rounds) == 12
        assert 0.60 < s.estimate < 0.66          # 1.0 / 1.6 = 0.625
        assert s.high < 0.9 and s.verdict == "fail"


def test_scaling_passes_when_ours_scales_as_go_does(tmp_path):
    rs = load_paths([_folder(tmp_path, "r", steal=F.steal_doc(1.6, 1.6))])
    res = studies.scaling(rs)
    assert len(res) == 2
    assert all(0.97 < s.estimate < 1.03 and s.low >= 0.9 and s.verdict == "pass" for s in res)


def test_http_pairing_by_round_is_what_passes_under_common_drift(tmp_path):
    # Both servers drift alike from round to round (sd 30 %): the per-round ratio is 0.97.
    rs = load_paths([_folder(tmp_path, "r", http=F.http_doc(0.97, 0.3))])
    res = studies.http(rs)
    assert [s.subject["connections"] for s in res] == [100, 1000]
    for s in res:
        assert 0.95 < s.estimate < 0.99
        assert s.low >= 0.9 and s.verdict == "pass"
        assert s.unpaired_low < 0.9              # without pairing the target is not shown


def test_http_fails_below_the_target(tmp_path):
    rs = load_paths([_folder(tmp_path, "r", http=F.http_doc(0.8, 0.05))])
    assert [s.verdict for s in studies.http(rs)] == ["fail", "fail"]


def test_too_few_rounds_give_no_verdict_and_pooled_files_add_rounds(tmp_path):
    one = _folder(tmp_path, "one", http=F.http_doc(0.97, 0.3, rounds=6, seed=5))
    assert {s.verdict for s in studies.http(load_paths([one]))} == {"too few rounds"}
    doc = F.http_doc(0.97, 0.3, rounds=6, seed=6)
    doc["created"] = "2026-12-06T10:00:00Z"
    two = _folder(tmp_path, "two", http=doc)
    res = studies.http(load_paths([one, two]))
    assert [len(s.rounds) for s in res] == [12, 12]
    assert {s.verdict for s in res} == {"pass"}


def test_a_round_missing_on_one_side_is_left_out(tmp_path):
    doc = F.http_doc(0.97, 0.3)
    ev = doc["entries"][1]["metrics"]["requests_per_s"]
    keep = [i for i, r in enumerate(ev["runs"]) if r != 3]
    ev["samples"] = [ev["samples"][i] for i in keep]
    ev["runs"] = [ev["runs"][i] for i in keep]
    ev["min"], ev["max"] = min(ev["samples"]), max(ev["samples"])
    res = studies.http(load_paths([_folder(tmp_path, "r", http=doc)]))
    assert 3 not in res[0].rounds and len(res[0].rounds) == 11
    assert res[0].notes == ["rounds 3 lack a side and are left out"]


def test_hosts_are_studied_apart(tmp_path):
    a = F.steal_doc(1.6, 1.6)
    b = F.steal_doc(1.0, 1.6, seed=9)
    b["machine"].update(hostname="fixture-b", machine_id="fixture-b-id")
    res = studies.scaling(load_paths([_folder(tmp_path, "r", a=a, b=b)]))
    verdicts = {(s.host, s.subject["workload"]): s.verdict for s in res}
    assert verdicts == {("fixture-a", "skynet"): "pass", ("fixture-a", "fib"): "pass",
                        ("fixture-b", "skynet"): "fail", ("fixture-b", "fib"): "fail"}


def test_two_modes_and_the_counter_that_separates_them(tmp_path):
    rs = load_paths([_folder(tmp_path, "r", steal=F.bimodal_doc(SLOW))])
    (s,) = studies.modes(rs)
    assert s.bimodal and s.enough_runs and len(s.rounds) == 24
    assert set(s.modes[1]["runs"]) == SLOW and s.modes[0]["n"] == 16
    assert s.best_counter == "steals"
    best = s.counters[0]
    assert best["auc"] == 1.0 and best["higher_in"] == "slow"
    # Counters drawn alike in both modes separate far less.
    noise = [c for c in s.counters if c["counter"] in ("sleeps", "kicks", "wakes")]
    assert noise and all(abs(c["rank_biserial"]) < 0.7 for c in noise)


def test_one_mode_is_not_split(tmp_path):
    rs = load_paths([_folder(tmp_path, "r", steal=F.bimodal_doc(SLOW, bimodal=False))])
    (s,) = studies.modes(rs)
    assert not s.bimodal and s.mode == [] and s.best_counter is None
    assert s.delta_bic < studies.MODES_MIN_DBIC


def test_cli_json_check_and_plot(tmp_path, capsys):
    folder = _folder(tmp_path, "r", steal=F.steal_doc(1.0, 1.6), http=F.http_doc(0.97, 0.3),
                     modes=F.bimodal_doc(SLOW))
    plots = str(tmp_path / "plots")
    assert study.main([folder, "--json", "--check", "--plots", plots]) == 1   # scaling fails
    doc = json.loads(capsys.readouterr().out)
    assert [s["verdict"] for s in doc["scaling"]] == ["fail", "fail"]
    assert [s["verdict"] for s in doc["http"]] == ["pass", "pass"]
    assert doc["modes"][0]["best_counter"] == "steals"
    assert doc["plots"] and all(os.path.getsize(p) > 0 for p in doc["plots"])
    assert study.main([folder, "--study", "http", "--check"]) == 0
    text = capsys.readouterr().out
    assert "HTTP: fiber server / eventloop" in text and "PASS" in text and "Scaling" not in text


@pytest.mark.parametrize("args", [["--study", "speed"], ["--modes-param", "carriers"], []])
def test_cli_bad_input_exits_2(tmp_path, args, capsys):
    folder = _folder(tmp_path, "r", http=F.http_doc(0.97, 0.3))
    if not args:        # nothing any study can use
        args = ["--study", "scaling"]
    assert study.main([folder, *args]) == 2
    assert capsys.readouterr().err.startswith("study.py:")


def test_check_fails_when_an_asked_study_found_nothing(tmp_path, capsys):
    folder = _folder(tmp_path, "r", http=F.http_doc(0.97, 0.3))
    assert study.main([folder, "--study", "http", "--check"]) == 0
    assert study.main([folder, "--study", "http,scaling", "--check"]) == 1
    assert "(no measurement of this study in the results)" in capsys.readouterr().out
