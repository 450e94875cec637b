"""inference.py and the comparison's verdicts on SYNTHETIC samples with a known shift (fixed
seeds): a real shift is found, no shift is rarely called a difference, intervals behave."""

import random

import numpy as np
import pytest

from switchyard_analysis import comparison, inference
from switchyard_analysis.results import Entry, Metric, ResultSet
from switchyard_analysis.stats import mann_whitney_u

ALPHA = 0.05
MACHINE = {"hostname": "synthetic", "cpu_model": "SYNTHETIC", "cores": 2, "kernel": "k"}


def lognormal(seed, n, scale=1.0, spread=0.05, base=100.0):
    rng = random.Random(seed)
    return [base * scale * rng.lognormvariate(0.0, spread) for _ in range(n)]


def one_set(samples, name="s", machine=MACHINE):
    """A ResultSet holding one yield measurement with these samples (no files)."""
    m = Metric("ns_per_yield", "ns", list(samples), float(np.median(samples)), min(samples),
               max(samples))
    e = Entry("yield", "asm-pooled-fifo", {"switch": "asm", "stacks": "pooled", "scheduler": "fifo"},
              None, "asm-pooled-fifo", {"fibers": 2}, "ok", None, len(samples),
              {"ns_per_yield": m}, None, [], name)
    return ResultSet(name, files=[], machine=machine, build={"commit": "x"},
                     machines=[(name, machine)], entries=[e])


def verdict(base, new):
    rows, _, _ = comparison.compare_sets(one_set(base), one_set(new), alpha=ALPHA)
    assert len(rows) == 1
    return rows[0]


def test_a_20_percent_shift_is_detected():
    # 9 samples a side, 5 % log-normal spread (wider than the baseline's yield samples).
    for seed in range(20):
        r = verdict(lognormal(seed, 9), lognormal(1000 + seed, 9, scale=1.2))
        assert r.verdict == "worse", (seed, r)
        assert r.ci_low > 0.1 and r.ci_low < 0.2 < r.ci_high + 0.05
        regs = comparison.regressions([r], 5.0)
        assert regs == [r]


def test_no_shift_false_positive_rate_within_alpha_plus_5_points():
    calls = sum(verdict(lognormal(seed, 9), lognormal(5000 + seed, 9)).verdict != "~"
                for seed in range(100))
    assert calls <= (ALPHA + 0.05) * 100, calls


def test_no_shift_skewed_bimodal_samples_also_within_bound():
    # Timings are often bimodal (a slow mode 30 % of the time): the rank test and the
    # bootstrap assume nothing about the shape.
    def bimodal(seed):
        rng = random.Random(seed)
        return [100.0 * (1.4 if rng.random() < 0.3 else 1.0) * rng.lognormvariate(0, 0.03)
                for _ in range(9)]
    calls = sum(verdict(bimodal(seed), bimodal(7000 + seed)).verdict != "~" for seed in range(100))
    assert calls <= (ALPHA + 0.05) * 100, calls


def test_three_samples_are_never_a_difference():
    r = verdict(lognormal(1, 3), lognormal(2, 3, scale=1.2))
    assert r.verdict == "~" and r.unreliable
    assert any("smallest possible p 0.1" in n for n in r.notes)
    assert comparison.regressions([r], 5.0) == []
    assert comparison.regressions([r], 5.0, small_by_threshold=True) == [r]


def test_scipy_mann_whitney_agrees_with_the_hand_written_test():
    for seed in range(5):
        x, y = lognormal(seed, 9), lognormal(seed + 50, 7, scale=1.05)
        assert inference.mann_whitney(x, y)[1] == pytest.approx(mann_whitney_u(x, y)["p"], rel=1e-9)
    assert inference.smallest_p(3, 3) == pytest.approx(0.1)
    assert inference.mann_whitney([1, 2, 3], [4, 5, 6])[1] == pytest.approx(0.1)
    assert inference.mann_whitney([3.0] * 4, [3.0] * 4)[1] == 1.0


def test_median_interval_is_fixed_by_the_seed_and_holds_the_median():
    s = lognormal(3, 15)
    a, b = inference.median_ci(s), inference.median_ci(s)
    assert (a.low, a.high) == (b.low, b.high)
    assert a.low <= a.estimate <= a.high and a.low < a.high
    assert inference.median_ci([5.0]).method == "degenerate"
    with pytest.raises(ValueError):
        inference.median_ci([])


def test_ratio_interval_covers_the_true_ratio_most_of_the_time():
    covered = sum(inference.ratio_ci(lognormal(s, 15), lognormal(900 + s, 15, scale=1.1))
                  .excludes(1.1) is False for s in range(60))
    # percentile bootstrap of a median undercovers at small n; 95 % nominal, >= 80 % here
    assert covered >= 48, covered


def test_pairing_by_run_cancels_drift_shared_by_both_sides():
    # Three fresh processes; each run's machine state scales both sides alike (+-15 %),
    # and the new side is 5 % slower in every run.
    rng = random.Random(11)
    runs, base, new = [], [], []
    for run, level in enumerate((0.85, 1.0, 1.15)):
        for _ in range(5):
            runs.append(run)
            base.append(100 * level * rng.lognormvariate(0, 0.01))
            new.append(105 * level * rng.lognormvariate(0, 0.01))
    paired = inference.ratio_ci(base, new, runs, runs, paired=True)
    unpaired = inference.ratio_ci(base, new, runs, runs)     # runs of two invocations
    assert paired.method == "paired-runs" and unpaired.method == "runs"
    assert paired.excludes(1.0) and paired.low > 1.02
    assert not unpaired.excludes(1.0)
    assert paired.high - paired.low < (unpaired.high - unpaired.low) / 3
    with pytest.raises(ValueError):
        inference.ratio_ci(base, new, runs[:-1], runs, paired=True)


def test_trend_first_third_against_last_third():
    steady = lognormal(4, 15, spread=0.01)
    assert not inference.trend(steady).flagged
    drifting = [v * (1 + 0.01 * i) for i, v in enumerate(steady)]   # +14 % over the sample
    t = inference.trend(drifting)
    assert t.flagged and t.change > 0.05 and "last third" in t.reason
    assert inference.trend(drifting[:9]).reason.startswith("not checked")   # thirds of 3
    falses = sum(inference.trend(lognormal(seed, 15)).flagged for seed in range(100))
    assert falses <= 10, falses


def test_noise_floor():
    assert inference.noise_floor([100, 101, 99], [103, 102, 104]) == pytest.approx(0.03)
    assert inference.below_noise_floor(0.02, 0.03)
    assert not inference.below_noise_floor(0.04, 0.03)
    assert not inference.below_noise_floor(0.01, None)
    rows, _, _ = comparison.compare_sets(one_set(lognormal(1, 9)), one_set(lognormal(2, 9, scale=1.04)),
                                         noise_floor=0.05)
    assert rows[0].verdict == "~" and rows[0].below_noise
    assert "within the noise floor of 5.0%" in rows[0].notes


def test_trend_within_runs_not_across_them():
    # Two fresh processes at different levels (run-to-run variance), each steady: the
    # thirds of the pooled sample compare one process with the other, so trend() alone
    # flags it; within each run there is nothing to flag.
    a, b = lognormal(5, 15, spread=0.01), lognormal(6, 15, spread=0.01, scale=1.1)
    runs = [0] * 15 + [1] * 15
    assert inference.trend(a + b).flagged
    t = inference.trend_in_runs(a + b, runs)
    assert not t.flagged and t.reason == "no trend in 2 of 2 runs"
    # A run that drifts is found and named.
    drifting = [v * (1 + 0.01 * i) for i, v in enumerate(b)]
    t = inference.trend_in_runs(a + drifting, runs)
    assert t.flagged and t.reason.startswith("run 1: last third +")
    # One run: the plain check. Runs too short for the test at alpha / runs: said so.
    assert inference.trend_in_runs(drifting, [7] * 15).flagged
    short = inference.trend_in_runs(a[:12] + b[:12], [0] * 12 + [1] * 12)
    assert not short.flagged and short.reason == "not checked: 2 runs of at most 12 samples"
    with pytest.raises(ValueError):
        inference.trend_in_runs(a + b, runs[:-1])
    # Steady runs: the false-positive rate stays near alpha although three runs are tested.
    falses = sum(inference.trend_in_runs(lognormal(s, 15) + lognormal(s + 500, 15) +
                                         lognormal(s + 1000, 15), [0] * 15 + [1] * 15 + [2] * 15).flagged
                 for s in range(100))
    assert falses <= 10, falses
    assert inference.trend_min_samples(0.05) == 12 and inference.trend_min_samples(0.05 / 3) == 15
