"""Shared fixtures. All result folders here are SYNTHETIC (tests/fixtures/make_fixtures.py)."""

import os
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
ANALYSIS = os.path.dirname(HERE)
sys.path.insert(0, ANALYSIS)
sys.path.insert(0, os.path.join(HERE, "fixtures"))

import make_fixtures  # noqa: E402


@pytest.fixture
def make_folder(tmp_path):
    """make_folder(name, **build kwargs) -> path of a fresh synthetic results folder."""
    def make(name="a", **kw):
        kw.setdefault("small", True)
        path = tmp_path / name
        make_fixtures.write_folder(str(path), **kw)
        return str(path)
    return make


@pytest.fixture(scope="session")
def rendered(tmp_path_factory):
    """One full render of the small synthetic folder, shared by the figure/report tests
    (rendering is the slow part of the suite)."""
    import figures
    path = str(tmp_path_factory.mktemp("render") / "full")
    make_fixtures.write_folder(path, small=True)
    assert figures.main([path, "--check"]) == 0
    return path


NEW_SCENARIOS = {"http", "io_pingpong", "channel", "mutex", "gc_scan"}


@pytest.fixture(scope="session")
def records(tmp_path_factory):
    """The Figure records (legend texts, panel titles, x tick labels) of the scenarios added
    with the http / gc_scan / I/O work, from one render of a synthetic folder holding only
    them: {figure name: Figure}, plus the folder under key '_folder'."""
    from switchyard_analysis import plots
    from switchyard_analysis.results import load_folder
    path = str(tmp_path_factory.mktemp("records") / "new")
    make_fixtures.write_folder(path, small=True, scenarios=NEW_SCENARIOS)
    figs = {f.name: f for f in plots.render_all([load_folder(path)], os.path.join(path, "figures"))}
    figs["_folder"] = path
    return figs
