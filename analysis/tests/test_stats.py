"""Mann-Whitney U and geometric mean against published and hand-worked values."""

import math

import pytest

from switchyard_analysis.stats import _u_counts, exact_cdf, geomean, mann_whitney_u, median


def test_r_documentation_example_exact():
    # R's ?wilcox.test: wilcox.test(x, y, alternative = "g") gives W = 35, p = 0.1272;
    # two-sided is twice that.
    x = [0.80, 0.83, 1.89, 1.04, 1.45, 1.38, 1.91, 1.64, 0.73, 1.46]
    y = [1.15, 0.88, 0.90, 0.74, 1.21]
    r = mann_whitney_u(x, y)
    assert r["method"] == "exact"
    assert r["u"] == 35
    assert r["p"] == pytest.approx(2 * 0.1272, abs=2e-4)


def test_scipy_documentation_example_exact_and_normal():
    # scipy.stats.mannwhitneyu docs: U1 = 17, exact p = 0.1111 (= 14/126),
    # asymptotic with continuity correction p = 0.11134688653314041.
    males, females = [19, 22, 16, 29, 24], [20, 11, 17, 12]
    r = mann_whitney_u(males, females)
    assert (r["u"], r["method"]) == (17, "exact")
    assert r["p"] == pytest.approx(14 / 126, rel=1e-12)
    r = mann_whitney_u(males, females, method="normal")
    assert r["p"] == pytest.approx(0.11134688653314041, rel=1e-9)


@pytest.mark.parametrize("n, critical", [(5, 2), (8, 13), (9, 17), (10, 23)])
def test_critical_values_table(n, critical):
    # Textbook table of two-tailed critical U at alpha = 0.05 for n1 = n2 = n:
    # P(U <= critical) <= 0.025 < P(U <= critical + 1).
    assert exact_cdf(critical, n, n) <= 0.025 < exact_cdf(critical + 1, n, n)


def test_null_distribution_3_3():
    # All 20 arrangements of 3 x's among 6 ranks, enumerated by hand.
    assert _u_counts(3, 3) == (1, 1, 2, 3, 3, 3, 3, 2, 1, 1)
    assert sum(_u_counts(9, 9)) == math.comb(18, 9)


def test_complete_separation_9_vs_9():
    r = mann_whitney_u(list(range(9)), list(range(100, 109)))
    assert r["u"] == 0
    assert r["p"] == pytest.approx(2 / math.comb(18, 9))


def test_ties_use_normal_with_tie_and_continuity_correction():
    # Worked by hand: x = 1 2 2 3, y = 2 3 4 5. Midranks 1; 3 3 3; 5.5 5.5; 7; 8.
    # R1 = 12.5, U = 2.5, mean 8, tie term (24 + 6) / 56, var = 16/12 * (9 - 30/56),
    # z = (5.5 - 0.5) / sqrt(var) = 1.48835, p = 2 * (1 - Phi(z)) = 0.13666.
    r = mann_whitney_u([1, 2, 2, 3], [2, 3, 4, 5])
    assert r["method"] == "normal"
    assert r["u"] == 2.5
    assert r["p"] == pytest.approx(0.13666, abs=2e-4)


def test_symmetry_and_degenerate_cases():
    a, b = [1.0, 5.0, 3.2, 8.0], [2.0, 4.0, 9.0, 7.5, 6.1]
    assert mann_whitney_u(a, b)["p"] == pytest.approx(mann_whitney_u(b, a)["p"])
    assert mann_whitney_u([3.0] * 5, [3.0] * 5)["p"] == 1.0
    with pytest.raises(ValueError):
        mann_whitney_u([], [1.0])
    with pytest.raises(ValueError):
        mann_whitney_u([1, 1], [2], method="exact")


def test_large_samples_use_normal_approximation():
    r = mann_whitney_u([float(i) for i in range(60)], [i + 0.5 for i in range(60)])
    assert r["method"] == "normal" and 0.5 < r["p"] <= 1.0


def test_geomean_and_median():
    assert geomean([1.0, 4.0]) == pytest.approx(2.0)
    assert geomean([2.0, 8.0, 4.0]) == pytest.approx(4.0)
    assert geomean([]) is None
    with pytest.raises(ValueError):
        geomean([1.0, 0.0])
    assert median([3, 1, 2]) == 2 and median([4, 1, 2, 3]) == 2.5
