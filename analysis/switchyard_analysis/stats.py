"""Small statistics for the figures and findings: the geometric mean, the median, and the
bootstrap intervals the figures' whiskers and the findings draw (a median's and a ratio's
come from inference.py, so a figure and compare.py show the same interval).

The two-sample test (scipy's Mann-Whitney U, or a t-test of round medians) and the
intervals by round and paired are in inference.py.
"""

import math


def geomean(values):
    values = [v for v in values if v is not None]
    if not values:
        return None
    if any(v <= 0 for v in values):
        raise ValueError("geometric mean needs positive values")
    return math.exp(sum(math.log(v) for v in values) / len(values))


def median(values):
    s = sorted(values)
    n = len(s)
    if n == 0:
        raise ValueError("median of nothing")
    return s[n // 2] if n % 2 else (s[n // 2 - 1] + s[n // 2]) / 2.0


# ---- bootstrap intervals (the figures' whiskers, the heat map's cells, the findings) --------

BOOTSTRAP_RESAMPLES = 2000
BOOTSTRAP_MIN_N = 3   # below this a resampled median says nothing: no interval is drawn


def bootstrap_medians(samples, resamples=BOOTSTRAP_RESAMPLES, seed=0):
    """Medians of `resamples` resamples (with replacement) of `samples`, as a numpy array.
    Seeded: the same samples always give the same interval, so figures and the report agree
    and tests can pin them."""
    import numpy as np
    x = np.asarray(samples, dtype=float)
    if x.size == 0:
        raise ValueError("bootstrap of nothing")
    rng = np.random.default_rng(seed + x.size)
    idx = rng.integers(0, x.size, size=(resamples, x.size))
    return np.median(x[idx], axis=1)


def percentile_interval(replicates, level=0.95):
    import numpy as np
    a = (1.0 - level) / 2.0
    lo, hi = np.quantile(np.asarray(replicates, dtype=float), [a, 1.0 - a])
    return float(lo), float(hi)


def median_ci(samples, level=0.95):
    """95 % bootstrap interval of the median (inference.median_ci: scipy's percentile
    bootstrap, the comparison's interval), or None with fewer than BOOTSTRAP_MIN_N samples."""
    from . import inference
    if len(samples) < BOOTSTRAP_MIN_N:
        return None
    ci = inference.median_ci(samples, level=level)
    return ci.low, ci.high


def ratio_ci(num, den, level=0.95):
    """median(num) / median(den) and its bootstrap interval (inference.ratio_ci, each side
    resampled on its own). The interval is None when either side has fewer than
    BOOTSTRAP_MIN_N samples or a median that is not positive."""
    from . import inference
    r = median(num) / median(den)
    if len(num) < BOOTSTRAP_MIN_N or len(den) < BOOTSTRAP_MIN_N or median(num) <= 0 or r <= 0:
        return r, None
    ci = inference.ratio_ci(den, num, paired=False, level=level)
    return r, (ci.low, ci.high)


def geomean_ratio_ci(pairs, level=0.95):
    """Geometric mean over pairs (num samples, den samples) of median ratios, with a bootstrap
    interval that resamples every sample on its own and takes the geometric mean per
    replicate. Returns (ratio, (lo, hi) or None, number of pairs)."""
    import numpy as np
    if not pairs:
        raise ValueError("no pairs")
    point = geomean([median(a) / median(b) for a, b in pairs])
    if any(len(a) < BOOTSTRAP_MIN_N or len(b) < BOOTSTRAP_MIN_N for a, b in pairs):
        return point, None, len(pairs)
    logs = np.zeros(BOOTSTRAP_RESAMPLES)
    for i, (a, b) in enumerate(pairs):
        logs += np.log(bootstrap_medians(a, seed=2 * i + 1) / bootstrap_medians(b, seed=2 * i + 2))
    reps = np.exp(logs / len(pairs))
    return point, percentile_interval(reps, level), len(pairs)
