"""Inference for timings: bootstrap intervals of medians and of ratios of medians, the
Mann-Whitney U test (scipy), a trend check within a sample and a noise-floor comparison.

Timings are skewed and often bimodal, so nothing here assumes a normal distribution:
- Intervals are percentile bootstraps (B resamples, 95 % by default) with a FIXED seed, so
  the same data always gives the same interval (a CI log can be diffed).
- Samples may carry a run index (the fresh process, or round, they were taken in). Samples
  of one run share that process's luck (its stack addresses, its CPU frequency), so they
  are not independent: with run indices the bootstrap resamples whole runs (a cluster
  bootstrap), and two sides measured in the same rounds of one invocation (the harness
  interleaves variants per round) are resampled together (paired), so drift that hit both
  sides in a round cancels in their ratio. Run k of one invocation and run k of another
  share nothing: those sides are resampled by run, each on its own. Without run indices the
  samples themselves are resampled, each side on its own (unpaired).
- The two-sample test is scipy's Mann-Whitney U (two-sided; exact without ties for small
  samples, asymptotic otherwise). With n1 = n2 = 3 its smallest attainable p is 0.1, so
  `smallest_p` tells a caller when the test cannot reject at all.
"""

import math
from dataclasses import dataclass, replace

import numpy as np

SEED = 20261206          # fixed: an interval is a function of the data alone
RESAMPLES = 2000
LEVEL = 0.95


@dataclass
class Interval:
    estimate: float
    low: float
    high: float
    level: float
    method: str          # "bootstrap" | "paired-runs" | "runs" | "degenerate"

    def excludes(self, value):
        return not (self.low <= value <= self.high)


def _rng(seed):
    return np.random.default_rng(SEED if seed is None else seed)


def _quantiles(values, level):
    tail = (1.0 - level) / 2.0
    lo, hi = np.quantile(values, [tail, 1.0 - tail])
    return float(lo), float(hi)


def _as_array(samples, what):
    a = np.asarray(list(samples), dtype=float)
    if a.size == 0:
        raise ValueError(f"{what}: no samples")
    if not np.all(np.isfinite(a)):
        raise ValueError(f"{what}: samples must be finite")
    return a


def _groups(samples, runs):
    """{run: array of samples}, or None without (usable) run indices."""
    if runs is None:
        return None
    runs = list(runs)
    if len(runs) != len(samples):
        raise ValueError(f"{len(runs)} run indices for {len(samples)} samples")
    out = {}
    for s, r in zip(samples, runs):
        out.setdefault(r, []).append(s)
    return {r: np.asarray(v, dtype=float) for r, v in out.items()}


def _cluster_matrix(groups, order):
    """Runs as rows of a matrix padded with NaN (runs may hold unequal sample counts)."""
    width = max(len(groups[r]) for r in order)
    m = np.full((len(order), width), np.nan)
    for i, r in enumerate(order):
        m[i, :len(groups[r])] = groups[r]
    return m


def _resampled_medians(a, groups, idx_samples, idx_runs):
    """Medians of the resamples: by run (idx_runs, B x R indices into the run order) when
    groups are given, else by sample (idx_samples, B x n)."""
    if groups is None:
        return np.median(a[idx_samples], axis=1)
    order = sorted(groups, key=str)
    m = _cluster_matrix(groups, order)
    picked = m[idx_runs].reshape(idx_runs.shape[0], -1)
    return np.nanmedian(picked, axis=1)


def median_ci(samples, runs=None, level=LEVEL, resamples=RESAMPLES, seed=None):
    """The median with its percentile-bootstrap interval; with run indices whole runs are
    resampled. One sample (or all equal) gives a degenerate interval [m, m]."""
    a = _as_array(samples, "median_ci")
    est = float(np.median(a))
    groups = _groups(a, runs)
    if a.size == 1 or np.all(a == a[0]):
        return Interval(est, est, est, level, "degenerate")
    rng = _rng(seed)
    if groups is not None and len(groups) > 1:
        idx = rng.integers(0, len(groups), (resamples, len(groups)))
        meds = _resampled_medians(a, groups, None, idx)
        method = "runs"
    else:
        idx = rng.integers(0, a.size, (resamples, a.size))
        meds = _resampled_medians(a, None, idx, None)
        method = "bootstrap"
    lo, hi = _quantiles(meds, level)
    return Interval(est, lo, hi, level, method)


def can_pair(runs_a, runs_b):
    """Two sides can be resampled together when both carry run indices over the same runs."""
    return (runs_a is not None and runs_b is not None
            and set(runs_a) == set(runs_b) and len(set(runs_a)) > 1)


def ratio_ci(base, new, runs_base=None, runs_new=None, paired=False, level=LEVEL,
             resamples=RESAMPLES, seed=None):
    """median(new) / median(base) with a percentile-bootstrap interval.

    Paired (`paired`: the caller knows run k of both sides is the same round, and both
    carry the same run indices): one draw of runs serves both sides. Otherwise each side is
    resampled on its own: by run when it carries run indices, else by sample."""
    a = _as_array(base, "ratio_ci base")
    b = _as_array(new, "ratio_ci new")
    mb, mn = float(np.median(a)), float(np.median(b))
    if mb <= 0 or mn <= 0:
        raise ValueError("a ratio of medians needs positive medians")
    est = mn / mb
    if (a.size == 1 or np.all(a == a[0])) and (b.size == 1 or np.all(b == b[0])):
        return Interval(est, est, est, level, "degenerate")
    rng = _rng(seed)
    ga, gb = _groups(a, runs_base), _groups(b, runs_new)
    if paired and can_pair(runs_base, runs_new):
        idx = rng.integers(0, len(ga), (resamples, len(ga)))
        ma = _resampled_medians(a, ga, None, idx)
        mnew = _resampled_medians(b, gb, None, idx)
        method = "paired-runs"
    else:
        def side(x, g):
            if g is not None and len(g) > 1:
                return _resampled_medians(x, g, None, rng.integers(0, len(g), (resamples, len(g))))
            return _resampled_medians(x, None, rng.integers(0, x.size, (resamples, x.size)), None)
        ma, mnew = side(a, ga), side(b, gb)
        method = "runs" if (ga is not None and len(ga) > 1) or (gb is not None and len(gb) > 1) \
            else "bootstrap"
    with np.errstate(divide="ignore", invalid="ignore"):
        ratios = mnew / ma
    ratios = ratios[np.isfinite(ratios)]
    lo, hi = _quantiles(ratios, level)
    return Interval(est, lo, hi, level, method)


def mann_whitney(x, y):
    """Two-sided Mann-Whitney U of x against y (scipy). Returns (U of x, p). All values
    equal on both sides: no evidence of a difference, p = 1."""
    # Imported here: scipy.stats takes about a second to import on a loaded 2-core machine,
    # and the variant tables of the CI stage never test anything.
    from scipy import stats as sps
    x, y = _as_array(x, "mann_whitney x"), _as_array(y, "mann_whitney y")
    if np.all(x == x[0]) and np.all(y == x[0]):
        return float(x.size * y.size / 2.0), 1.0
    r = sps.mannwhitneyu(x, y, alternative="two-sided", method="auto")
    return float(r.statistic), float(r.pvalue)


def smallest_p(n1, n2):
    """The smallest two-sided p the Mann-Whitney U test can give for these sample sizes
    (every value of one side below every value of the other, no ties)."""
    if n1 <= 0 or n2 <= 0:
        return 1.0
    return min(1.0, 2.0 / math.comb(n1 + n2, n1))


@dataclass
class Trend:
    flagged: bool
    first: float         # median of the first third
    last: float          # median of the last third
    change: float        # last / first - 1
    p: object            # Mann-Whitney p of the thirds, or None when too short
    reason: str


def trend_min_samples(alpha=0.05):
    """The fewest samples whose thirds the test can find apart at `alpha` (12 at 0.05)."""
    return 3 * next((k for k in range(2, 64) if smallest_p(k, k) < alpha), 64)


def trend(samples, alpha=0.05, min_change=0.02):
    """Does the sample drift (warm-up not finished, frequency ramping, a neighbour starting)?
    Compares the first third with the last third (samples in the order taken): flagged when
    the Mann-Whitney test of the thirds rejects at `alpha` and their medians differ by more
    than `min_change`. Needs thirds of at least 4 (12 samples): with thirds of 3 the test's
    smallest p is 0.1, and a rule without the test (say, "the thirds do not overlap") fires
    on 10 % of steady samples, too often for a flag printed on every row."""
    s = list(samples)
    k = len(s) // 3
    if k < 2 or smallest_p(k, k) >= alpha:
        return Trend(False, math.nan, math.nan, math.nan, None,
                     f"not checked: {len(s)} samples (needs {trend_min_samples(alpha)})")
    first, last = np.asarray(s[:k], float), np.asarray(s[-k:], float)
    mf, ml = float(np.median(first)), float(np.median(last))
    change = (ml / mf - 1.0) if mf != 0 else math.inf
    _, p = mann_whitney(first, last)
    flagged = bool(abs(change) > min_change and p < alpha)
    reason = (f"last third {change * 100:+.1f}% against the first (p={p:.2g})" if flagged
              else "no trend")
    return Trend(flagged, mf, ml, change, p, reason)


def trend_in_runs(samples, runs=None, alpha=0.05, min_change=0.02):
    """trend() within each run when the samples come from several runs (fresh processes),
    `runs` giving each sample's run: thirds pooled across runs would compare one process
    with another, not early samples with late ones. Each run is tested at alpha / runs
    (Bonferroni), so a steady measurement of many runs is flagged no more often than one of
    a single run. Returns the flagged run's Trend with the smallest p, its reason naming
    the run; unflagged, a Trend saying how many runs could be checked."""
    if not runs or len(set(runs)) < 2:
        return trend(samples, alpha, min_change)
    if len(runs) != len(samples):
        raise ValueError(f"trend_in_runs: {len(runs)} run indices for {len(samples)} samples")
    by_run = {}
    for r, s in zip(runs, samples):
        by_run.setdefault(r, []).append(s)
    checked = [(r, trend(v, alpha / len(by_run), min_change))
               for r, v in sorted(by_run.items(), key=lambda kv: str(kv[0]))]
    flagged = [(r, t) for r, t in checked if t.flagged]
    if flagged:
        r, t = min(flagged, key=lambda rt: rt[1].p)
        return replace(t, reason=f"run {r}: {t.reason}")
    tested = [t for _, t in checked if t.p is not None]
    if not tested:
        longest = max(len(v) for v in by_run.values())
        return Trend(False, math.nan, math.nan, math.nan, None,
                     f"not checked: {len(by_run)} runs of at most {longest} samples")
    return Trend(False, math.nan, math.nan, math.nan, min(t.p for t in tested),
                 f"no trend in {len(tested)} of {len(by_run)} runs")


def below_noise_floor(change, floor):
    """True when a relative change (new/base - 1) is no larger than the noise floor (the
    relative drift of a fixed reference workload measured at the start and end of a run;
    None or 0 means unknown). Such a change is reported as within the noise, whatever the
    test says: the machine moved that much on its own."""
    if floor is None or floor <= 0 or change is None or not math.isfinite(change):
        return False
    return abs(change) <= floor


def noise_floor(before, after):
    """Relative drift of a reference workload measured before and after a run:
    |median(after) / median(before) - 1|."""
    b = float(np.median(_as_array(before, "noise_floor before")))
    a = float(np.median(_as_array(after, "noise_floor after")))
    if b <= 0:
        raise ValueError("noise_floor: the reference's median must be positive")
    return abs(a / b - 1.0)
