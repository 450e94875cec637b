"""Shared fixtures. All result folders here are SYNTHETIC (tests/fixtures/make_fixtures.py)."""

import os
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
ANALYSIS = os.path.dirname(HERE)
sys.path.insert(0, ANALYSIS)
sys.path.insert(0, os.path.join(HERE, "fixtures"))

import make_fixtures  # noqa: E402

# Figures at a low resolution in tests: the checks read the layout, not the pixels.
os.environ.setdefault("SWITCHYARD_FIG_DPI", "50")


@pytest.fixture
def make_folder(tmp_path):
    """make_folder(name, **build kwargs) -> path of a fresh synthetic results folder."""
    def make(name="a", **kw):
        kw.setdefault("small", True)
        path = tmp_path / name
        make_fixtures.write_folder(str(path), **kw)
        return str(path)
    return make


_RENDERED = []   # the Figure records of the shared render


@pytest.fixture(scope="session")
def rendered(tmp_path_factory):
    """One full render of the small synthetic folder, shared by the figure/report tests
    (rendering is the slow part of the suite)."""
    import figures
    path = str(tmp_path_factory.mktemp("render") / "full")
    make_fixtures.write_folder(path, small=True)
    assert figures.main([path, "--check"]) == 0
    _RENDERED[:] = list(figures.LAST_FIGURES)
    return path




@pytest.fixture(scope="session")
def records(rendered):
    """The Figure records (legend texts, panel titles, ticks, series counts, captions, text
    checks) of that same render: {figure name: Figure}, plus the folder under '_folder'."""
    figs = {f.name: f for f in _RENDERED}
    figs["_folder"] = rendered
    return figs
