"""Loading: the fixture folder loads; malformed or partial files fail clearly, naming the file."""

import copy
import json
import os

import pytest

import figures
import make_fixtures
from switchyard_analysis.results import ResultsError, load_file, load_folder

FIXTURES = os.path.join(os.path.dirname(__file__), "fixtures")


def _good_doc():
    return copy.deepcopy(make_fixtures.build(scenarios={"yield"}, small=True)["yield.json"])


def _write(tmp_path, name, doc_or_text):
    path = tmp_path / name
    path.write_text(doc_or_text if isinstance(doc_or_text, str) else json.dumps(doc_or_text))
    return str(path)


def test_fixture_folder_loads(make_folder):
    rs = load_folder(make_folder())
    assert rs.machine["cpu_model"] == "SYNTHETIC FIXTURE CPU"
    assert {"switch", "yield", "http", "gc_scan"} <= rs.scenarios_present()
    reasons = {e.reason for e in rs.not_ok()}
    assert "FIXTURE: nginx not installed" in reasons
    assert all(e.metrics for e in rs.ok())


def test_static_minimal_fixture_loads():
    doc, entries = load_file(os.path.join(FIXTURES, "minimal_ok.json"))
    assert [e.label for e in entries] == ["asm-pooled-fifo", "go"]


def test_truncated_file_names_file_and_problem():
    path = os.path.join(FIXTURES, "bad", "truncated.json")
    with pytest.raises(ResultsError) as err:
        load_file(path)
    assert "truncated.json" in str(err.value) and "not valid JSON" in str(err.value)


@pytest.mark.parametrize("mutate, expect", [
    (lambda d: d.update(schema="something-else"), "not a Switchyard results file"),
    (lambda d: d.update(schema_version=3), "schema_version 3 is not supported"),
    (lambda d: d.pop("machine"), "missing field 'machine'"),
    (lambda d: d["entries"][0]["metrics"]["ns_per_yield"].pop("median"),
     "entries[0].metrics.ns_per_yield: missing field 'median'"),
    (lambda d: d["entries"][0]["metrics"]["ns_per_yield"].update(unit="us"),
     "unit 'us' does not match the metric name (expected 'ns')"),
    (lambda d: d["entries"][1].update(status="skipped", reason=None), "status 'skipped' needs a reason"),
    (lambda d: d["entries"][1].update(status="maybe"), "status 'maybe' is not one of"),
    (lambda d: d["entries"][0]["metrics"]["ns_per_yield"]["samples"].append(1e9),
     "samples fall outside [min, max]"),
    (lambda d: d["entries"][0]["metrics"]["ns_per_yield"]["samples"].append("fast"),
     "samples must be finite numbers"),
    (lambda d: d["entries"][2].update(dimensions=None), "has no dimensions"),
    (lambda d: d["entries"][0].update(repetitions="nine"), "field 'repetitions' should be int"),
    (lambda d: d["entries"][0].pop("label"), "entries[0]: missing field 'label'"),
])
def test_malformed_entries_are_named(tmp_path, mutate, expect):
    doc = _good_doc()
    mutate(doc)
    path = _write(tmp_path, "broken.json", doc)
    with pytest.raises(ResultsError) as err:
        load_file(path)
    assert str(path) in str(err.value)
    assert expect in str(err.value)


def test_all_problems_in_a_file_are_listed(tmp_path):
    doc = _good_doc()
    doc["entries"][0]["metrics"]["ns_per_yield"].pop("median")
    doc["entries"][3].pop("params")
    with pytest.raises(ResultsError) as err:
        load_file(_write(tmp_path, "two.json", doc))
    assert "2 problem(s)" in str(err.value)
    assert "entries[3]: missing field 'params'" in str(err.value)


def test_empty_and_missing_folders(tmp_path):
    with pytest.raises(ResultsError, match="no results"):
        load_folder(str(tmp_path))
    with pytest.raises(ResultsError, match="not a directory"):
        load_folder(str(tmp_path / "nope"))
    _write(tmp_path, "empty.json", "")
    with pytest.raises(ResultsError, match="empty file"):
        load_folder(str(tmp_path))


def test_lenient_uses_good_files_and_records_bad(make_folder):
    folder = make_folder(scenarios={"yield", "switch"})
    with open(os.path.join(folder, "switch.json"), "w") as f:
        f.write('{"schema": "switchyard-results", "schema_version": 1, "entr')
    with pytest.raises(ResultsError, match="switch.json"):
        load_folder(folder)
    rs = load_folder(folder, lenient=True)
    assert rs.scenarios_present() == {"yield"}
    assert [os.path.basename(p) for p, _ in rs.bad_files] == ["switch.json"]


def test_figures_cli_rejects_bad_file_and_writes_nothing(make_folder, capsys):
    folder = make_folder(scenarios={"yield"})
    doc = json.load(open(os.path.join(folder, "yield.json")))
    doc["entries"][0]["metrics"]["ns_per_yield"]["unit"] = "ms"
    json.dump(doc, open(os.path.join(folder, "yield.json"), "w"))
    assert figures.main([folder]) == 2
    err = capsys.readouterr().err
    assert "yield.json" in err and "unit 'ms'" in err
    assert not os.path.exists(os.path.join(folder, "report.md"))
    assert not os.path.exists(os.path.join(folder, "figures"))


def test_separate_instruction_run_merges_into_timing_entry(make_folder):
    folder = make_folder(scenarios={"yield"})
    doc = json.load(open(os.path.join(folder, "yield.json")))
    timing, insns = copy.deepcopy(doc), copy.deepcopy(doc)
    for e in timing["entries"]:
        e["metrics"].pop("instructions_per_op", None)
    insns["entries"] = [e for e in insns["entries"] if "instructions_per_op" in e["metrics"]]
    for e in insns["entries"]:
        e["metrics"] = {"instructions_per_op": e["metrics"]["instructions_per_op"]}
    insns["created"] = "2026-11-28T08:00:00Z"
    json.dump(timing, open(os.path.join(folder, "yield.json"), "w"))
    json.dump(insns, open(os.path.join(folder, "yield-insns.json"), "w"))
    rs = load_folder(folder)
    e = next(e for e in rs.ok("yield") if e.label == "asm-pooled-fifo")
    assert set(e.metrics) == {"ns_per_yield", "instructions_per_op"}
    assert not rs.warnings


def test_harness_edge_cases_load(make_folder):
    """What the harness really writes: null commit outside git, a metric without samples
    (null statistics), an instruction count skipped for a peer next to its ok timing."""
    folder = make_folder(scenarios={"yield"})
    path = os.path.join(folder, "yield.json")
    doc = json.load(open(path))
    doc["build"]["commit"] = None
    doc["build"]["dirty"] = None
    doc["entries"][0]["metrics"]["ns_per_switch"] = {"unit": "ns", "samples": [], "median": None,
                                                     "min": None, "max": None}
    go = next(e for e in doc["entries"] if e["label"] == "go")
    skipped = copy.deepcopy(go)
    skipped.update(status="skipped", reason="instruction counts are taken for our variants only",
                   metrics={}, repetitions=1)
    doc["entries"].append(skipped)
    json.dump(doc, open(path, "w"))
    rs = load_folder(folder)
    assert any("ns_per_switch: no samples, left out" in w for w in rs.warnings)
    gos = [e for e in rs.entries if e.label == "go"]
    assert sorted(e.status for e in gos) == ["ok", "skipped"]
    assert "ns_per_yield" in next(e for e in gos if e.status == "ok").metrics
    assert "ns_per_switch" not in rs.ok("yield")[0].metrics


def test_merge_keeps_largest_repetition_count(make_folder):
    folder = make_folder(scenarios={"channel"})
    doc = json.load(open(os.path.join(folder, "channel.json")))
    ins = copy.deepcopy(doc)
    ins["created"] = "2026-11-28T06:00:00Z"      # loaded first
    for e in ins["entries"]:
        e["repetitions"] = 1
        e["metrics"] = {"instructions_per_op": {"unit": "instructions", "samples": [50.0],
                                                "median": 50.0, "min": 50.0, "max": 50.0}}
    json.dump(ins, open(os.path.join(folder, "channel-insns.json"), "w"))
    rs = load_folder(folder)
    assert all(e.repetitions == 9 and len(e.metrics) == 2 for e in rs.ok("channel"))


def test_same_measurement_twice_in_one_file_is_named_as_such(tmp_path):
    # io_pingpong --param io_backend=epoll,poll runs the threads peer (which ignores the
    # backend) once per value, with equal params: one entry kept, the warning says why.
    doc = _good_doc()
    twin = copy.deepcopy(doc["entries"][0])
    twin["metrics"]["ns_per_yield"]["median"] = twin["metrics"]["ns_per_yield"]["max"]
    doc["entries"].append(twin)
    _write(tmp_path, "yield.json", doc)
    rs = load_folder(str(tmp_path))
    assert len([e for e in rs.entries if e.label == twin["label"]]) == 1
    assert [w for w in rs.warnings if "more than once" in w] == [
        f"yield.json: 1 yield measurement(s) appear more than once with equal params ({twin['label']}; "
        f"for example {twin['label']} carriers=1 fibers=2), as when a peer ignores a swept parameter; "
        "the later entry of each is kept"]
    assert rs.entries[0].metrics["ns_per_yield"].median == twin["metrics"]["ns_per_yield"]["max"]
