"""inference.py and the comparison's verdicts on SYNTHETIC samples with a known shift (fixed
seeds): a real shift is found, no shift is rarely called a difference, intervals behave."""

import random

import numpy as np
import pytest

from switchyard_analysis import comparison, inference
from switchyard_analysis.results import Entry, Metric, ResultSet

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
    unpaired = inference.ratio_ci(base, new, runs, runs, paired=False)   # two invocations
    assert paired.method == "paired-runs" and unpaired.method == "runs"
    # Round ids over the same rounds pair by default (one invocation's variants).
    assert inference.ratio_ci(base, new, runs, runs).method == "paired-runs"
    # Without round ids on one side there is nothing to pair by.
    assert inference.ratio_ci(base, new, None, runs).method == "runs"
    assert inference.ratio_ci(base, new).method == "bootstrap"
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


def test_noise_floor_from_a_schema_2_object():
    # 40 start and 40 end samples, 1..40 and 1.02 * (1..40): median 20.5 * 1.01 of all,
    # drift +2 %, and a floor of (p95 - p5) / 2 / median of all 80.
    start = [float(i) for i in range(1, 41)]
    end = [1.02 * v for v in start]
    obj = {"workload": "ref", "metric": "ns_per_op", "unit": "ns",
           "rounds": [{"round": 0, "start": start[:20], "end": end[:20]},
                      {"round": 1, "start": start[20:], "end": end[20:]}],
           "drift": 0.5, "floor": 0.5}     # stated numbers; the samples decide
    nf = inference.noise_floor(obj)
    allv = np.array(start + end)
    p5, p95 = np.quantile(allv, [0.05, 0.95])
    assert nf.drift == pytest.approx(0.02)
    assert nf.floor == pytest.approx((p95 - p5) / 2 / np.median(allv))
    assert nf.samples == 80 and nf.workload == "ref" and nf.margin == nf.floor
    # Numbers alone are taken at their word; the margin is the larger of floor and |drift|.
    nf = inference.noise_floor({"workload": "ref", "rounds": [], "floor": 0.01, "drift": -0.03})
    assert (nf.floor, nf.drift, nf.margin, nf.samples) == (0.01, -0.03, 0.03, 0)
    assert inference.noise_floor(None) is None
    assert nf.describe().startswith("noise floor 1.0% (reference workload ref, the file's stated")
    assert "differences within 3.0% are within the noise" in nf.describe()
    assert inference.within_noise(0.975, nf.margin) and not inference.within_noise(1.04, nf.margin)
    assert inference.combined_margin(None, nf) == 0.03 and inference.combined_margin() is None
    for bad in ([1, 2], {"rounds": [{"start": [1.0]}]}, {"rounds": [], "floor": "x", "drift": 0},
                {"rounds": [{"start": [1.0, float("nan")], "end": [1.0]}]}):
        with pytest.raises(ValueError):
            inference.noise_floor(bad)
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


def test_median_interval_covers_the_true_median():
    # Log-normal samples of median exactly 100: the 95 % interval of 25 samples holds 100
    # in at least 88 of 100 seeds (the percentile interval of a median is near nominal at
    # this n), and a 20 % shift moves it off 100 every time.
    cover = sum(not inference.median_ci(lognormal(s, 25, spread=0.1)).excludes(100.0)
                for s in range(100))
    assert cover >= 88, cover
    assert all(inference.median_ci(lognormal(s, 25, spread=0.1, scale=1.2)).excludes(100.0)
               for s in range(10))


def _speedups(rng, rounds, ours, go, n=5):
    """Four sides measured in each round: ours and Go with 1 and 2 carriers; every side of
    a round scaled by that round's drift."""
    sides, runs = [[], [], [], []], []
    for r, level in enumerate(rounds):
        for _ in range(n):
            runs.append(r)
            for k, t in enumerate((ours[0], ours[1], go[0], go[1])):
                sides[k].append(t * level * rng.lognormvariate(0, 0.01))
    return sides, runs


def test_ratio_of_ratios_paired_by_round():
    # Ours speeds up 1.8x from 1 to 2 carriers, Go 1.5x: ours scales 1.2x better. Rounds
    # drift +-20 %, alike for every side of a round.
    rng = random.Random(5)
    (a1, a2, b1, b2), runs = _speedups(rng, (0.8, 1.0, 1.2, 0.9), (180.0, 100.0), (150.0, 100.0))
    rr = inference.ratio_of_ratios(a1, a2, b1, b2, runs=(runs,) * 4)
    assert rr.method == "paired-runs"
    assert rr.estimate == pytest.approx(1.2, rel=0.01)
    assert 1.15 < rr.low < 1.2 < rr.high < 1.25
    loose = inference.ratio_of_ratios(a1, a2, b1, b2, runs=(runs,) * 4, paired=False)
    assert loose.method == "runs" and loose.excludes(1.2) is False
    assert loose.high - loose.low > 4 * (rr.high - rr.low)
    plain = inference.ratio_of_ratios(a1, a2, b1, b2)
    assert plain.method == "bootstrap" and plain.estimate == pytest.approx(1.2, rel=0.02)
    # Equal speedups: the interval holds 1. Eight rounds: bootstrapped over rounds, the
    # interval knows only the spread of the per-round ratios, which three rounds understate.
    (a1, a2, b1, b2), runs = _speedups(rng, (0.8, 1.0, 1.2, 0.9, 1.1, 1.0, 0.85, 1.15),
                                       (150.0, 100.0), (150.0, 100.0))
    assert not inference.ratio_of_ratios(a1, a2, b1, b2, runs=(runs,) * 4).excludes(1.0)
    with pytest.raises(ValueError):
        inference.ratio_of_ratios(a1, a2, b1, b2, runs=(runs,) * 3)
    with pytest.raises(ValueError):
        inference.ratio_of_ratios(a1, a2, b1, [0.0] * len(b2))


def test_ratio_with_resampled_zero_medians_stays_ordered():
    # A counter that is mostly 0: some resamples have median 0 on either side. x / 0 is an
    # infinite replicate and 0 / 0 an equal one, so the bounds are numbers, never NaN.
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        r = inference.ratio_ci([0, 0, 0, 1, 1, 2, 3], [0, 0, 1, 1, 1, 2, 5])
    assert r.estimate == 1.0 and r.low == 0.0 and r.high == float("inf")


def rounds_side(seed, scale=1.0, rounds=3, n=5, between=0.03, within=0.01):
    """Samples of `rounds` fresh processes, each at its own level (run-to-run spread
    `between`), and their round ids."""
    rng = random.Random(seed)
    samples, runs = [], []
    for r in range(rounds):
        level = rng.lognormvariate(0, between)
        for _ in range(n):
            samples.append(100 * scale * level * rng.lognormvariate(0, within))
            runs.append(r)
    return samples, runs


def claims(base, new, paired=False):
    """compare's rule: a difference is claimed when the test rejects and the interval of
    the ratio excludes 1."""
    (a, ra), (b, rb) = base, new
    t = inference.two_sample_test(a, b, ra, rb, paired=paired)
    return t.p < ALPHA and inference.ratio_ci(a, b, ra, rb, paired=paired).excludes(1.0), t


def test_rounds_are_the_unit_of_the_test():
    # Two invocations of 3 rounds x 5 samples, 3 % between rounds, no shift: a rank test of
    # the 15 samples (each round's 5 move together) claims a difference in 12 of 100 seeds;
    # the t-test of round medians stays within alpha + 5 points.
    calls = 0
    for seed in range(100):
        claimed, t = claims(rounds_side(seed), rounds_side(5000 + seed))
        assert t.method == "Welch t, rounds" and (t.n_base, t.n_new) == (3, 3)
        calls += claimed
    assert calls <= (ALPHA + 0.05) * 100, calls
    # A 20 % shift is still found every time.
    assert all(claims(rounds_side(s), rounds_side(5000 + s, scale=1.2))[0] for s in range(20))
    # One invocation, rounds paired: the paired t-test; without rounds, Mann-Whitney.
    a, ra = rounds_side(1)
    b = [v * 1.1 for v in a]
    claimed, t = claims((a, ra), (b, ra), paired=None)
    assert claimed and t.method == "paired t, rounds" and t.p == 0.0
    assert inference.two_sample_test(a, b).method == "MWU"
    # Paired by round, a round whose median is 0 has no ratio: compared unpaired instead.
    r = inference.ratio_ci([0, 0, 1, 2, 3, 4], [0, 0, 2, 2, 4, 4], [0, 0, 1, 1, 2, 2],
                           [0, 0, 1, 1, 2, 2])
    assert r.method == "runs" and r.estimate == pytest.approx(2 / 1.5)
