"""The catalogue reader (switchyard_analysis/catalog.py) and what reads through it."""
import json
import os
import subprocess
import sys

import pytest

from switchyard_analysis import catalog, results

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
VALIDATE = os.path.join(ROOT, "harness", "validate_results.py")


def test_committed_catalogue_is_complete_and_consistent():
    doc = catalog.load()
    assert doc["catalog_version"] == catalog.VERSION
    dims = catalog.dimensions()
    assert list(dims) == ["switch", "stacks", "scheduler"]
    for name, d in catalog.variants().items():
        assert set(d) == set(dims) and all(d[k] in dims[k] for k in d), name
    units = catalog.unit_texts()
    for name, (unit, label, better) in catalog.metrics().items():
        assert unit in units and label and better in ("lower", "higher", None), name
    # derived metrics are the analysis's, never a results file's
    assert "kib_per_fiber" in catalog.metrics() and "kib_per_fiber" not in catalog.result_metrics()
    assert catalog.unit_texts()["us"] == "µs"


def test_results_module_reads_the_catalogue():
    assert results.SCENARIOS == catalog.scenario_names()
    assert results.PEER_ORDER == catalog.peer_names()
    assert results.expected_unit("requests_per_s") == "req/s"
    assert results.lower_is_better("requests_per_s") is False
    assert results.lower_is_better("ns_per_yield") is True
    assert results.lower_is_better("peak_live_fibers") is None


def _throwaway_catalogue(tmp_path):
    """The committed catalogue plus a variant with a scheduler nobody has written."""
    doc = json.loads(json.dumps(catalog.load()))
    doc["dimensions"][2]["choices"].append("lifo")
    doc["variants"].append({"name": "asm-pooled-lifo",
                            "dimensions": {"switch": "asm", "stacks": "pooled", "scheduler": "lifo"}})
    path = tmp_path / "catalog.json"
    path.write_text(json.dumps(doc))
    return path


def _results_with(variant, scheduler):
    return {
        "schema": "switchyard-results", "schema_version": 1, "created": "2026-11-28T07:10:00Z",
        "command": "switchyard run --scenario yield",
        "machine": {"hostname": "h", "cpu_model": "c", "cores": 2, "kernel": "6.1", "memory_kib": 100,
                    "limits": {"vm.max_map_count": 1, "net.core.somaxconn": 1, "open_files": 1},
                    "settings_applied": []},
        "build": {"compiler": "g++", "flags": "", "build_type": "Release", "sanitize": "", "commit": "a",
                  "dirty": False, "boost_version": "1.74"},
        "entries": [{"scenario": "yield", "variant": variant,
                     "dimensions": {"switch": "asm", "stacks": "pooled", "scheduler": scheduler},
                     "peer": None, "label": variant, "params": {}, "status": "ok", "reason": None,
                     "repetitions": 1, "peak_rss_kib": None, "notes": [],
                     "metrics": {"ns_per_yield": {"unit": "ns", "samples": [1.0], "median": 1.0,
                                                  "min": 1.0, "max": 1.0}}}],
    }


def test_a_variant_registered_in_the_catalogue_validates(tmp_path):
    f = tmp_path / "r.json"
    f.write_text(json.dumps(_results_with("asm-pooled-lifo", "lifo")))
    env = dict(os.environ)
    env.pop("SWITCHYARD_CATALOG", None)
    before = subprocess.run([sys.executable, VALIDATE, str(f)], capture_output=True, text=True, env=env)
    assert before.returncode == 1 and "not a variant name" in before.stdout
    env["SWITCHYARD_CATALOG"] = str(_throwaway_catalogue(tmp_path))
    after = subprocess.run([sys.executable, VALIDATE, str(f)], capture_output=True, text=True, env=env)
    assert after.returncode == 0, after.stdout + after.stderr


def test_a_stale_or_missing_catalogue_says_how_to_regenerate(tmp_path, monkeypatch):
    monkeypatch.setenv("SWITCHYARD_CATALOG", str(tmp_path / "nope.json"))
    with pytest.raises(catalog.CatalogError, match="make catalog"):
        catalog.load()
    bad = tmp_path / "v2.json"
    bad.write_text(json.dumps({"catalog_version": 2}))
    monkeypatch.setenv("SWITCHYARD_CATALOG", str(bad))
    with pytest.raises(catalog.CatalogError, match="version"):
        catalog.load()
