"""The two-sample test (scipy's Mann-Whitney U through inference.mann_whitney) against
published values, and the geometric mean and median against hand-worked ones."""

import math

import pytest

from switchyard_analysis import inference
from switchyard_analysis.stats import geomean, median


def test_r_documentation_example_exact():
    # R's ?wilcox.test: wilcox.test(x, y, alternative = "g") gives W = 35, p = 0.1272;
    # two-sided is twice that.
    x = [0.80, 0.83, 1.89, 1.04, 1.45, 1.38, 1.91, 1.64, 0.73, 1.46]
    y = [1.15, 0.88, 0.90, 0.74, 1.21]
    u, p = inference.mann_whitney(x, y)
    assert u == 35
    assert p == pytest.approx(2 * 0.1272, abs=2e-4)


def test_scipy_documentation_example_exact():
    # scipy.stats.mannwhitneyu docs: U1 = 17, exact p = 0.1111 (= 14/126).
    u, p = inference.mann_whitney([19, 22, 16, 29, 24], [20, 11, 17, 12])
    assert u == 17
    assert p == pytest.approx(14 / 126, rel=1e-12)


def test_complete_separation_reaches_the_smallest_p():
    # Exact below 9 samples a side (scipy's rule), so smallest_p is the p it gives.
    u, p = inference.mann_whitney(list(range(7)), list(range(100, 107)))
    assert u == 0
    assert p == pytest.approx(2 / math.comb(14, 7)) == pytest.approx(inference.smallest_p(7, 7))
    assert inference.smallest_p(3, 3) == pytest.approx(0.1)
    assert inference.mann_whitney([1, 2, 3], [4, 5, 6])[1] == pytest.approx(0.1)


def test_ties_use_normal_with_tie_and_continuity_correction():
    # Worked by hand: x = 1 2 2 3, y = 2 3 4 5. Midranks 1; 3 3 3; 5.5 5.5; 7; 8.
    # R1 = 12.5, U = 2.5, mean 8, tie term (24 + 6) / 56, var = 16/12 * (9 - 30/56),
    # z = (5.5 - 0.5) / sqrt(var) = 1.48835, p = 2 * (1 - Phi(z)) = 0.13666.
    u, p = inference.mann_whitney([1, 2, 2, 3], [2, 3, 4, 5])
    assert u == 2.5
    assert p == pytest.approx(0.13666, abs=2e-4)


def test_symmetry_and_degenerate_cases():
    a, b = [1.0, 5.0, 3.2, 8.0], [2.0, 4.0, 9.0, 7.5, 6.1]
    assert inference.mann_whitney(a, b)[1] == pytest.approx(inference.mann_whitney(b, a)[1])
    assert inference.mann_whitney([3.0] * 5, [3.0] * 5)[1] == 1.0
    with pytest.raises(ValueError):
        inference.mann_whitney([], [1.0])
    with pytest.raises(ValueError):
        inference.mann_whitney([1.0, float("nan")], [1.0])


def test_geomean_and_median():
    assert geomean([1.0, 4.0]) == pytest.approx(2.0)
    assert geomean([2.0, 8.0, 4.0]) == pytest.approx(4.0)
    assert geomean([]) is None
    with pytest.raises(ValueError):
        geomean([1.0, 0.0])
    assert median([3, 1, 2]) == 2 and median([4, 1, 2, 3]) == 2.5
