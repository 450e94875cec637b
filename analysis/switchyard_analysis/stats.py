"""Small statistics for the figures and findings: the geometric mean, the median, and the
figures' whisker (inference.median_ci, so a figure and compare.py show the same interval).

Every interval, the two-sample test and the resampling by round and paired are in
inference.py.
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


# ---- the figures' whiskers -------------------------------------------------------------------

BOOTSTRAP_MIN_N = 3   # below this a resampled median says nothing: no interval is drawn


def median_ci(samples, runs=None, level=0.95):
    """95 % bootstrap interval of the median (inference.median_ci: scipy's percentile
    bootstrap, the comparison's interval; by whole rounds when `runs` gives each sample's
    round and there are two or more), or None with fewer than BOOTSTRAP_MIN_N samples."""
    from . import inference
    if len(samples) < BOOTSTRAP_MIN_N:
        return None
    ci = inference.median_ci(samples, runs, level=level)
    return ci.low, ci.high
