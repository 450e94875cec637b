"""Inference for timings: bootstrap intervals of medians, of ratios of medians, of ratios
of ratios, of differences of medians and of geometric means of ratios, the Mann-Whitney U
test, a trend check within a sample, and the noise floor. Every interval the report, its
findings, its figures and compare.py print comes from here.

Everything takes plain sequences: samples, and optionally each sample's round (the fresh
process it was measured in; schema 2's `runs` array of a metric). Nothing here reads files.

Timings are skewed and often bimodal, so nothing assumes a normal distribution:
- Intervals are scipy.stats.bootstrap's PERCENTILE intervals (95 % by default, RESAMPLES
  resamples) with a FIXED seed, so the same data always gives the same interval and a CI
  log can be diffed. Percentile rather than BCa: BCa's acceleration comes from the
  jackknife, which is not consistent for the median (deleting one sample moves the median
  by a jump or not at all), and on the small, tied samples here it returns NaN or wild
  bounds; the percentile interval of a median is what benchstat and R's boot report.
- Samples of one round share that process's luck (its stack addresses, its CPU frequency),
  so they are not independent. With round ids (two rounds or more) a side is resampled by
  whole rounds (a cluster bootstrap), never sample by sample.
- A ratio of two sides measured in the same rounds of one invocation (the harness measures
  every variant once per round, so drift in round r hits both) is PAIRED: the statistic is
  the geometric mean over rounds of the per-round ratio of medians, bootstrapped over
  rounds, so drift shared within a round cancels. Round r of one invocation and round r of
  another share nothing: such sides must be compared unpaired (`paired=False`), each
  resampled on its own (by round when it has rounds, else by sample). A bootstrap over
  rounds knows only the spread of the per-round values: with 3 rounds its interval is
  optimistic (about [second smallest, second largest] of three means); 5 rounds or more
  make it worth quoting.
- Differences of medians (`difference_ci`) and geometric means of ratios over several
  pairs (`geomean_ratio_ci`) keep the pooled medians in their estimate and pair by COMMON
  round draws instead: sides of one invocation (`Sample.invocation`) over the same
  rounds are resampled with the same rounds, so a side against itself gives exactly 0 or 1
  and drift shared within a round cancels. Without rounds (version 1) every side is
  resampled sample by sample, on its own. These two draw their resamples from one seeded
  numpy generator per side (the findings' seeds from before rounds existed) rather than
  through scipy.stats.bootstrap, so the intervals published from version 1 data do not move.
- The two-sided test (`two_sample_test`) is scipy's Mann-Whitney U of the samples (exact
  without ties for small samples, asymptotic otherwise) when a side has no rounds. With
  n1 = n2 = 3 its smallest attainable p is 0.1, so `smallest_p` tells a caller when the
  test cannot reject at all. When both sides have two or more rounds, the samples are not
  independent and a rank test of them calls run-to-run variance a difference (12 % false
  positives at 3 rounds of 5 with a 3 % spread between rounds, against 1 % this way):
  the test is then Welch's t-test of the log round medians (a paired t-test of them when
  the sides are paired), whose unit is the round.
"""

import math
import warnings
from dataclasses import dataclass, replace

import numpy as np

SEED = 20261206          # fixed: an interval is a function of the data alone
RESAMPLES = 2000         # enough for a 95 % percentile interval; a compare of every row stays fast
LEVEL = 0.95


@dataclass
class Interval:
    estimate: float
    low: float
    high: float
    level: float
    method: str          # "bootstrap" | "runs" | "paired-runs" | "degenerate"

    def excludes(self, value):
        return not (self.low <= value <= self.high)


def _scipy_stats():
    # Imported on first use: scipy.stats takes about a second to import on a loaded 2-core
    # machine, and the variant tables of the CI stage never need it.
    from scipy import stats
    return stats


def _as_array(samples, what):
    a = np.asarray(list(samples), dtype=float)
    if a.size == 0:
        raise ValueError(f"{what}: no samples")
    if not np.all(np.isfinite(a)):
        raise ValueError(f"{what}: samples must be finite")
    return a


def _groups(samples, runs, what):
    """{round: array of samples} in round order, or None without round ids."""
    if runs is None:
        return None
    runs = list(runs)
    if len(runs) != len(samples):
        raise ValueError(f"{what}: {len(runs)} round ids for {len(samples)} samples")
    out = {}
    for s, r in zip(samples, runs):
        out.setdefault(r, []).append(s)
    return {r: np.asarray(out[r], dtype=float) for r in sorted(out, key=str)}


class _Side:
    """One side of a comparison as scipy.stats.bootstrap sees it: `data` is what gets
    resampled (the samples, or the round numbers 0..R-1 when resampling by round) and
    `medians(resampled, axis=-1)` turns resamples into medians of the pooled samples."""

    def __init__(self, samples, runs, what):
        self.samples = _as_array(samples, what)
        groups = _groups(self.samples, runs, what)
        self.by_round = groups is not None and len(groups) > 1
        if self.by_round:
            # Rounds as rows, padded with NaN: rounds may hold unequal sample counts.
            width = max(len(v) for v in groups.values())
            self.matrix = np.full((len(groups), width), np.nan)
            for i, v in enumerate(groups.values()):
                self.matrix[i, :len(v)] = v
            self.data = np.arange(len(groups))
        else:
            # One sample cannot be resampled by scipy; two copies resample to itself.
            self.data = self.samples if self.samples.size > 1 else np.repeat(self.samples, 2)
        self.median = float(np.median(self.samples))
        self.constant = bool(np.all(self.samples == self.samples[0]))

    def medians(self, x, axis=-1):
        if not self.by_round:
            return np.median(x, axis=axis)
        picked = self.matrix[np.moveaxis(x, axis, -1)]        # (..., rounds, width)
        return np.nanmedian(picked.reshape(picked.shape[:-2] + (-1,)), axis=-1)


def _bootstrap(data, statistic, level, resamples, seed):
    """scipy.stats.bootstrap's percentile interval of a vectorised statistic; independent
    resampling of each array in `data`."""
    with np.errstate(all="ignore"):     # infinite replicates: see below
        r = _scipy_stats().bootstrap(
            tuple(data), statistic, n_resamples=resamples, vectorized=True, paired=False,
            confidence_level=level, method="percentile",
            random_state=np.random.default_rng(SEED if seed is None else seed))
    lo, hi = float(r.confidence_interval.low), float(r.confidence_interval.high)
    if math.isnan(lo) or math.isnan(hi):
        # A tail of infinite replicates (a ratio whose resampled denominator is 0): the
        # interpolating percentile gives inf - inf; the nearest order statistic keeps the
        # bound infinite, which is what the data says.
        tail = (1.0 - level) / 2.0
        lo, hi = (float(v) for v in np.quantile(r.bootstrap_distribution, [tail, 1.0 - tail],
                                                 method="nearest"))
    return lo, hi


def median_ci(samples, runs=None, level=LEVEL, resamples=RESAMPLES, seed=None):
    """The median of `samples` with its percentile-bootstrap interval. With `runs` (each
    sample's round, two rounds or more) whole rounds are resampled. One sample, or all
    equal, gives the degenerate interval [m, m]."""
    side = _Side(samples, runs, "median_ci")
    if side.constant:
        return Interval(side.median, side.median, side.median, level, "degenerate")
    lo, hi = _bootstrap((side.data,), lambda x, axis=-1: side.medians(x, axis),
                        level, resamples, seed)
    return Interval(side.median, lo, hi, level, "runs" if side.by_round else "bootstrap")


def can_pair(*runs):
    """Sides can be paired when each carries round ids and all cover the same two or more
    rounds."""
    if any(r is None for r in runs):
        return False
    sets = [set(r) for r in runs]
    return all(s == sets[0] for s in sets) and len(sets[0]) > 1


def _ratio(num, den):
    """num / den of resampled medians. A resample may draw a median of 0 where the data's
    is positive (a counter that is mostly 0): x / 0 counts as infinitely large and 0 / 0 as
    equal, so every replicate stays ordered for the percentile interval."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1.0),
                        np.where(num > 0, np.inf, 1.0))


def _positive_median(side, what):
    if side.median <= 0:
        raise ValueError(f"{what}: a ratio of medians needs positive medians")
    return side.median


def _round_logs(sides, signs):
    """Per round: sum of sign * log(median of that side in the round); None when a round's
    median is not positive (a mostly-zero counter), which has no log."""
    rounds = list(sides[0][1])
    out = np.zeros(len(rounds))
    for (samples, groups), sign in zip(sides, signs):
        meds = np.array([np.median(groups[r]) for r in rounds])
        if np.any(meds <= 0):
            return None
        out += sign * np.log(meds)
    return out


def _paired(groups_list, signs, level, resamples, seed):
    """Geometric mean over rounds of the per-round product of median ratios, with a
    bootstrap over rounds; None when a round's median is not positive (the caller then
    compares unpaired)."""
    logs = _round_logs(groups_list, signs)
    if logs is None:
        return None
    est = float(np.exp(logs.mean()))
    if np.all(logs == logs[0]):
        return Interval(est, est, est, level, "paired-runs")
    lo, hi = _bootstrap((logs,), lambda x, axis=-1: np.mean(x, axis=axis), level, resamples, seed)
    return Interval(est, math.exp(lo), math.exp(hi), level, "paired-runs")


def _pairing(paired, runs):
    """Pair when not told otherwise (False) and the rounds allow it."""
    return paired is not False and can_pair(*runs)


def ratio_ci(base, new, runs_base=None, runs_new=None, paired=None, level=LEVEL,
             resamples=RESAMPLES, seed=None):
    """median(new) / median(base) with a percentile-bootstrap interval.

    `runs_base`, `runs_new`: each sample's round, or None. `paired`: None pairs whenever
    both sides carry round ids over the same two or more rounds; pass False when the sides
    come from different invocations (their round numbers name different processes); True
    asks for pairing and falls back to unpaired when the rounds do not allow it. Paired,
    the estimate is the geometric mean over rounds of median(new in r) / median(base in r)
    and rounds are resampled (method "paired-runs"; a round whose median is 0 has no ratio,
    and the sides are then compared unpaired); unpaired, the estimate is the ratio of
    the pooled medians and each side is resampled on its own ("runs" when a side is
    resampled by round, else "bootstrap")."""
    sa, sb = _Side(base, runs_base, "ratio_ci base"), _Side(new, runs_new, "ratio_ci new")
    mb, mn = _positive_median(sa, "ratio_ci"), _positive_median(sb, "ratio_ci")
    if _pairing(paired, (runs_base, runs_new)):
        ga = _groups(sa.samples, runs_base, "ratio_ci base")
        gb = _groups(sb.samples, runs_new, "ratio_ci new")
        ci = _paired([(sb.samples, gb), (sa.samples, ga)], (1, -1), level, resamples, seed)
        if ci is not None:
            return ci
    est = mn / mb
    if sa.constant and sb.constant:
        return Interval(est, est, est, level, "degenerate")
    lo, hi = _bootstrap((sa.data, sb.data),
                        lambda a, b, axis=-1: _ratio(sb.medians(b, axis), sa.medians(a, axis)),
                        level, resamples, seed)
    method = "runs" if sa.by_round or sb.by_round else "bootstrap"
    return Interval(est, lo, hi, level, method)


def ratio_of_ratios(a_num, a_den, b_num, b_den, runs=None, paired=None, level=LEVEL,
                    resamples=RESAMPLES, seed=None):
    """(median(a_num) / median(a_den)) / (median(b_num) / median(b_den)) with a
    percentile-bootstrap interval: how a speedup of one system compares with another's, e.g.
    (t_ours(1 carrier) / t_ours(2)) / (t_go(1) / t_go(2)) > 1 when ours scales better.

    `runs`: None, or a 4-tuple of round-id sequences parallel to the four samples (an
    element may be None). `paired` as in ratio_ci: with the same two or more rounds on all
    four sides (one invocation) the per-round ratio of ratios is formed and its geometric
    mean bootstrapped over rounds ("paired-runs"); otherwise the four sides are resampled
    independently (by round where a side has rounds) and the estimate is the ratio of
    ratios of pooled medians."""
    runs = tuple(runs) if runs is not None else (None,) * 4
    if len(runs) != 4:
        raise ValueError("ratio_of_ratios: runs must give four round-id sequences (or None)")
    names = ("a_num", "a_den", "b_num", "b_den")
    sides = [_Side(s, r, f"ratio_of_ratios {n}") for s, r, n in zip((a_num, a_den, b_num, b_den),
                                                                      runs, names)]
    meds = [_positive_median(s, "ratio_of_ratios") for s in sides]
    if _pairing(paired, runs):
        groups = [(s.samples, _groups(s.samples, r, "ratio_of_ratios")) for s, r in zip(sides, runs)]
        ci = _paired(groups, (1, -1, -1, 1), level, resamples, seed)
        if ci is not None:
            return ci
    est = (meds[0] / meds[1]) / (meds[2] / meds[3])
    if all(s.constant for s in sides):
        return Interval(est, est, est, level, "degenerate")

    def stat(w, x, y, z, axis=-1):
        m = [s.medians(v, axis) for s, v in zip(sides, (w, x, y, z))]
        return _ratio(_ratio(m[0], m[1]), _ratio(m[2], m[3]))
    lo, hi = _bootstrap([s.data for s in sides], stat, level, resamples, seed)
    return Interval(est, lo, hi, level, "runs" if any(s.by_round for s in sides) else "bootstrap")


@dataclass(frozen=True)
class Sample:
    """One side of a difference or of a geometric mean of ratios: its samples, each
    sample's round (or None: a version 1 file, no rounds) and the invocation it was
    measured in (anything hashable, e.g. the tuple of files it came from; None: none known).
    Sides of one invocation over the same two or more rounds are resampled by COMMON round
    draws: round r of each was measured at the same time, so drift shared within a round
    cancels (the pairing of ratio_ci, kept with pooled medians). Sides of different
    invocations share no rounds, whatever their round numbers: each is resampled on its own."""
    values: tuple
    runs: object = None
    invocation: object = None


def _plan(samples, what):
    """(_Side per Sample, blocks): each block is (what it resamples: samples, or round
    numbers, [side indices]);
    one block per side, except that sides with the same invocation and the same two or more
    rounds share one block of round numbers (every side's round matrix has its rows in the
    same sorted round order, so row i is the same round for all of them)."""
    sides, blocks, shared = [], [], {}
    for i, s in enumerate(samples):
        if not isinstance(s, Sample):
            raise ValueError(f"{what}: expected inference.Sample, got {type(s).__name__}")
        side = _Side(s.values, s.runs, what)
        sides.append(side)
        if side.by_round and s.invocation is not None:
            key = (s.invocation, tuple(sorted(set(s.runs), key=str)))
            if key in shared:
                blocks[shared[key]][1].append(i)
                continue
            shared[key] = len(blocks)
        blocks.append((side.data, [i]))
    return sides, blocks


def _plan_bootstrap(sides, blocks, combine, level, resamples, seed):
    """The percentile interval of combine([resampled median of each side]), each block
    resampled on its own: block j draws its indices from numpy's default_rng(seed + j + its
    size). Not scipy.stats.bootstrap, whose one generator serves every sample: these seeds
    are the ones the findings' intervals always drew with, so version 1 data (no rounds, one
    block per side) keeps the intervals published from it to the last digit."""
    meds = [None] * len(sides)
    for j, (data, members) in enumerate(blocks):
        idx = np.random.default_rng(seed + j + data.size).integers(
            0, data.size, size=(resamples, data.size))
        for i in members:
            meds[i] = sides[i].medians(data[idx], axis=-1)
    with np.errstate(all="ignore"):
        reps = np.asarray(combine(meds), dtype=float)
    tail = (1.0 - level) / 2.0
    lo, hi = np.quantile(reps, [tail, 1.0 - tail])
    if math.isnan(lo) or math.isnan(hi):
        # Infinite replicates (a resampled median of 0): as in _bootstrap.
        lo, hi = np.quantile(reps, [tail, 1.0 - tail], method="nearest")
    return float(lo), float(hi)


def _method(sides, blocks):
    if any(len(members) > 1 for _, members in blocks):
        return "paired-runs"
    return "runs" if any(s.by_round for s in sides) else "bootstrap"


def difference_ci(terms, level=LEVEL, resamples=RESAMPLES, seed=3):
    """sum(sign * median(side)) over `terms`, [(sign, Sample)] with sign +1 or -1, with a
    percentile-bootstrap interval: median(a) - median(b) is [(1, a), (-1, b)]; the switch
    waterfall's "rest of ucontext" is ucontext - asm - sigprocmask.

    The estimate is the difference of the pooled medians. Each side is resampled by whole
    rounds when it has two or more, by sample otherwise (a version 1 file: the sample
    bootstrap); sides of one invocation over the same rounds share their round draws (see
    Sample). Every side constant: the degenerate interval. Method as in Interval. `seed`:
    see _plan_bootstrap (3: the seed this interval was first published with)."""
    if not terms:
        raise ValueError("difference_ci: no terms")
    signs = [float(sign) for sign, _ in terms]
    if any(sign not in (1.0, -1.0) for sign in signs):
        raise ValueError("difference_ci: each term's sign must be +1 or -1")
    sides, blocks = _plan([s for _, s in terms], "difference_ci")
    est = float(sum(sign * side.median for sign, side in zip(signs, sides)))
    if all(side.constant for side in sides):
        return Interval(est, est, est, level, "degenerate")
    lo, hi = _plan_bootstrap(sides, blocks,
                             lambda meds: sum(sign * m for sign, m in zip(signs, meds)),
                             level, resamples, seed)
    return Interval(est, lo, hi, level, _method(sides, blocks))


def geomean_ratio_ci(pairs, level=LEVEL, resamples=RESAMPLES, seed=1):
    """The geometric mean over `pairs`, [(numerator Sample, denominator Sample)], of
    median(numerator) / median(denominator), with a percentile-bootstrap interval: the
    heat map's cost ratio of a variant over several parameter sets, the effect of a
    dimension over every pair of variants that differ only in it.

    The estimate uses the pooled medians. Each replicate resamples every side (by whole
    rounds when it has two or more, else by sample) and takes the geometric mean of the
    resampled ratios; sides of one invocation over the same rounds share their round draws
    (see Sample), so a ratio of a side to itself is exactly 1 and drift shared within a
    round cancels. Medians must be positive; a resampled median of 0 counts as in ratio_ci
    (x / 0 infinitely large, 0 / 0 equal). `seed`: see _plan_bootstrap (1: the seed this
    interval was first published with)."""
    if not pairs:
        raise ValueError("geomean_ratio_ci: no pairs")
    flat = [s for pair in pairs for s in pair]
    if len(flat) != 2 * len(pairs):
        raise ValueError("geomean_ratio_ci: each pair must be (numerator, denominator)")
    sides, blocks = _plan(flat, "geomean_ratio_ci")
    for side in sides:
        _positive_median(side, "geomean_ratio_ci")
    k = len(pairs)
    est = math.exp(sum(math.log(sides[2 * i].median / sides[2 * i + 1].median)
                       for i in range(k)) / k)
    if all(side.constant for side in sides):
        return Interval(est, est, est, level, "degenerate")

    def combine(meds):
        with np.errstate(divide="ignore"):
            logs = sum(np.log(_ratio(meds[2 * i], meds[2 * i + 1])) for i in range(k))
        return np.exp(logs / k)
    lo, hi = _plan_bootstrap(sides, blocks, combine, level, resamples, seed)
    return Interval(est, lo, hi, level, _method(sides, blocks))


def mann_whitney(x, y):
    """Two-sided Mann-Whitney U of x against y (scipy). Returns (U of x, p). All values
    equal on both sides: no evidence of a difference, p = 1."""
    sps = _scipy_stats()
    x, y = _as_array(x, "mann_whitney x"), _as_array(y, "mann_whitney y")
    if np.all(x == x[0]) and np.all(y == x[0]):
        return float(x.size * y.size / 2.0), 1.0
    r = sps.mannwhitneyu(x, y, alternative="two-sided", method="auto")
    return float(r.statistic), float(r.pvalue)


@dataclass
class TestResult:
    p: float
    method: str          # "MWU" (samples) | "Welch t, rounds" | "paired t, rounds"
    n_base: int          # units tested: samples, or rounds
    n_new: int


def _t_p(res, diffs_zero):
    """A t-test's p, defined when every unit agrees exactly (zero variance): 1 when the
    sides are equal, 0 when they differ."""
    p = float(res.pvalue)
    if math.isnan(p):
        return 1.0 if diffs_zero else 0.0
    return p


def two_sample_test(base, new, runs_base=None, runs_new=None, paired=None):
    """Is new different from base? Two-sided; returns a TestResult.

    Both sides with two or more rounds: a t-test of the log per-round medians, the round
    being the independent unit (Welch's; paired over the common rounds when `paired` is
    not False and both cover the same rounds, as in ratio_ci). Otherwise, or when a round
    median is not positive: Mann-Whitney U of the samples."""
    a, b = _as_array(base, "two_sample_test base"), _as_array(new, "two_sample_test new")
    ga = _groups(a, runs_base, "two_sample_test base")
    gb = _groups(b, runs_new, "two_sample_test new")
    if ga is not None and gb is not None and len(ga) > 1 and len(gb) > 1:
        ma = {r: float(np.median(v)) for r, v in ga.items()}
        mb = {r: float(np.median(v)) for r, v in gb.items()}
        if min(ma.values()) > 0 and min(mb.values()) > 0:
            sps = _scipy_stats()
            # scipy warns when a t-test's variance is 0; _t_p defines that case.
            with np.errstate(all="ignore"), warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                if _pairing(paired, (runs_base, runs_new)):
                    rounds = list(ma)
                    la = np.log([ma[r] for r in rounds])
                    lb = np.log([mb[r] for r in rounds])
                    p = _t_p(sps.ttest_rel(lb, la), bool(np.all(lb == la)))
                    return TestResult(p, "paired t, rounds", len(rounds), len(rounds))
                la, lb = np.log(list(ma.values())), np.log(list(mb.values()))
                p = _t_p(sps.ttest_ind(lb, la, equal_var=False),
                         bool(la.mean() == lb.mean()))
                return TestResult(p, "Welch t, rounds", len(la), len(lb))
    _, p = mann_whitney(a, b)
    return TestResult(p, "MWU", a.size, b.size)


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
    by_run = _groups(list(samples), runs, "trend_in_runs")
    checked = [(r, trend(v, alpha / len(by_run), min_change)) for r, v in by_run.items()]
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


# ---- noise floor ----------------------------------------------------------------------

@dataclass
class NoiseFloor:
    floor: float         # relative half-width of the reference workload: (p95 - p5) / 2 / median
    drift: float         # median of the end samples / median of the start samples - 1
    workload: str
    samples: int         # reference samples behind the numbers (0: the file's stated values)

    @property
    def margin(self):
        """The relative difference below which two results are within the noise: the floor,
        or the drift when the machine moved more than that between a round's start and end."""
        return max(self.floor, abs(self.drift))

    def describe(self):
        """One line for a report's method section."""
        n = f"{self.samples} samples" if self.samples else "the file's stated values"
        return (f"noise floor {self.floor * 100:.1f}% (reference workload {self.workload}, "
                f"{n}), drift {self.drift * 100:+.1f}% from the start to the end of the rounds; "
                f"differences within {self.margin * 100:.1f}% are within the noise")


def _floor_and_drift(starts, ends):
    allv = np.concatenate([starts, ends])
    med = float(np.median(allv))
    if med <= 0 or float(np.median(starts)) <= 0:
        raise ValueError("noise_floor: the reference workload's median must be positive")
    p5, p95 = np.quantile(allv, [0.05, 0.95])
    return float((p95 - p5) / 2.0 / med), float(np.median(ends) / np.median(starts) - 1.0)


def noise_floor(obj):
    """A results file's top-level `noise_floor` (schema 2) as a NoiseFloor, or None when
    the file has none (null, or a v1 file). The floor and drift are computed from the
    rounds' start and end samples as the schema defines them; a file that gives only the
    numbers (no samples) is taken at its word. Malformed: ValueError saying what is wrong."""
    if obj is None:
        return None
    if not isinstance(obj, dict):
        raise ValueError(f"noise_floor: expected an object or null, got {type(obj).__name__}")
    workload = str(obj.get("workload", "?"))
    rounds = obj.get("rounds") or []
    if not isinstance(rounds, list):
        raise ValueError("noise_floor: `rounds` must be a list")
    starts, ends = [], []
    for i, r in enumerate(rounds):
        if not isinstance(r, dict) or not isinstance(r.get("start"), list) \
                or not isinstance(r.get("end"), list):
            raise ValueError(f"noise_floor: rounds[{i}] needs `start` and `end` sample lists")
        starts += r["start"]
        ends += r["end"]
    if starts and ends:
        s, e = _as_array(starts, "noise_floor start"), _as_array(ends, "noise_floor end")
        floor, drift = _floor_and_drift(s, e)
        return NoiseFloor(floor, drift, workload, s.size + e.size)
    floor, drift = obj.get("floor"), obj.get("drift")
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
               for v in (floor, drift)) or floor < 0:
        raise ValueError("noise_floor: no start/end samples and no numeric `floor` and `drift`")
    return NoiseFloor(float(floor), float(drift), workload, 0)


def combined_margin(*floors):
    """The widest margin of several NoiseFloors (None entries skipped), or None: comparing
    two files, a difference is only real if it clears the noise of both."""
    ms = [f.margin for f in floors if f is not None]
    return max(ms) if ms else None


def within_noise(ratio, margin):
    """below_noise_floor for a ratio (new / base, or a ratio of ratios): |ratio - 1| no
    larger than the margin."""
    return ratio is not None and below_noise_floor(ratio - 1.0, margin)


def below_noise_floor(change, margin):
    """True when a relative change (new/base - 1) is no larger than the noise margin (a
    NoiseFloor's margin, or a fraction given by hand; None or 0 means unknown). Such a
    change is reported as within the noise, whatever the test says: the machine moved that
    much on its own."""
    if margin is None or margin <= 0 or change is None or not math.isfinite(change):
        return False
    return abs(change) <= margin
