"""The committed baseline (results/<host>-<date>/, from `make bench-all`) stays readable by
this analysis code, keeps its rendered figures and report, passes the machine-independent
invariants, and every figure the README shows exists. These are REAL results, not fixtures:
the tests only read them."""

import glob
import os
import re

import pytest

import compare
from switchyard_analysis.results import load_folder

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
RESULTS = os.path.join(REPO, "results")


def _baselines():
    out = []
    for d in sorted(glob.glob(os.path.join(RESULTS, "*", ""))):
        name = os.path.basename(os.path.dirname(d))
        if name != "quick" and glob.glob(os.path.join(d, "*.json")):
            out.append(os.path.dirname(d))
    return out


def test_a_baseline_is_committed():
    assert _baselines(), "results/ holds no `make bench-all` folder (see results/README.md)"


@pytest.mark.parametrize("folder", _baselines(), ids=os.path.basename)
def test_baseline_loads_strictly_and_has_its_figures(folder):
    rs = load_folder(folder)  # strict: any schema problem raises, naming the file
    assert rs.ok(), "no measurement succeeded"
    for f in ("report.md", "report.html"):
        assert os.path.getsize(os.path.join(folder, f)) > 0
    pngs = glob.glob(os.path.join(folder, "figures", "*.png"))
    pdfs = glob.glob(os.path.join(folder, "figures", "*.pdf"))
    assert len(pngs) >= 10 and len(pdfs) == len(pngs)
    assert all(os.path.getsize(p) > 0 for p in pngs + pdfs)


@pytest.mark.parametrize("folder", _baselines(), ids=os.path.basename)
def test_baseline_passes_the_invariants(folder, capsys):
    assert compare.main(["--variants", folder, "--check-invariants"]) == 0
    assert "invariant" in capsys.readouterr().out.lower()


def test_readme_figures_exist():
    text = open(os.path.join(REPO, "README.md"), encoding="utf-8").read()
    links = re.findall(r"!\[[^\]]*\]\(([^)\s]+)\)", text)
    assert links, "README.md shows no figure"
    for link in links:
        path = os.path.join(REPO, link)
        assert os.path.isfile(path) and os.path.getsize(path) > 0, link
