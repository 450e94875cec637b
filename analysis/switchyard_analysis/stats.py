"""Statistics for comparisons: the Mann-Whitney U test and the geometric mean.

No scipy on these machines, so the test is implemented here:
- exact null distribution of U when there are no ties and both samples are small
  (n1, n2 < 50, R's wilcox.test rule): counts of rank arrangements by dynamic programming;
- otherwise the normal approximation with the tie correction of the variance and a
  continuity correction of 0.5 (as R and scipy's 'asymptotic' method do).
The p-value is two-sided.
"""

import math
from functools import lru_cache

EXACT_LIMIT = 50


def _midranks(values):
    """Ranks 1..n of values, ties sharing the mean of their ranks. Returns (ranks, tie sizes)."""
    order = sorted(range(len(values)), key=lambda i: values[i])
    ranks = [0.0] * len(values)
    ties = []
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
            j += 1
        rank = (i + j) / 2.0 + 1.0
        for k in range(i, j + 1):
            ranks[order[k]] = rank
        if j > i:
            ties.append(j - i + 1)
        i = j + 1
    return ranks, ties


@lru_cache(maxsize=None)
def _u_counts(n1, n2):
    """counts[u] = number of arrangements of n1 x's among n1+n2 ranks with statistic U = u.
    Recurrence on whether the largest observation is an x (adds n2 to U) or a y."""
    if n1 == 0 or n2 == 0:
        return (1,)
    a = _u_counts(n1 - 1, n2)   # largest is x: every y is below it, U += n2
    b = _u_counts(n1, n2 - 1)   # largest is y: U unchanged
    out = [0] * (n1 * n2 + 1)
    for u, c in enumerate(a):
        out[u + n2] += c
    for u, c in enumerate(b):
        out[u] += c
    return tuple(out)


def exact_cdf(u, n1, n2):
    """P(U <= u) under the null, no ties."""
    counts = _u_counts(n1, n2)
    total = math.comb(n1 + n2, n1)
    u = math.floor(u + 1e-9)
    if u < 0:
        return 0.0
    return sum(counts[:min(u, n1 * n2) + 1]) / total


def _norm_sf(z):
    return 0.5 * math.erfc(z / math.sqrt(2.0))


def mann_whitney_u(x, y, method="auto"):
    """Two-sided Mann-Whitney U test of samples x and y. method: 'auto' (exact when there are
    no ties and both samples are small), 'exact' (no ties only) or 'normal'.
    Returns dict(u=U of x, p=p-value, method='exact'|'normal')."""
    n1, n2 = len(x), len(y)
    if n1 == 0 or n2 == 0:
        raise ValueError("Mann-Whitney U needs two non-empty samples")
    ranks, ties = _midranks(list(x) + list(y))
    r1 = sum(ranks[:n1])
    u1 = r1 - n1 * (n1 + 1) / 2.0
    mean = n1 * n2 / 2.0
    if method == "exact" and ties:
        raise ValueError("the exact distribution assumes no ties")
    if method == "exact" or (method == "auto" and not ties and n1 < EXACT_LIMIT and n2 < EXACT_LIMIT):
        # The distribution is symmetric about n1*n2/2; double the smaller tail.
        u_small = min(u1, n1 * n2 - u1)
        p = min(1.0, 2.0 * exact_cdf(u_small, n1, n2))
        return {"u": u1, "p": p, "method": "exact"}
    n = n1 + n2
    tie_term = sum(t ** 3 - t for t in ties) / (n * (n - 1))
    var = n1 * n2 / 12.0 * ((n + 1) - tie_term)
    if var <= 0:       # every observation equal: no evidence of a difference
        return {"u": u1, "p": 1.0, "method": "normal"}
    diff = abs(u1 - mean) - 0.5
    z = max(diff, 0.0) / math.sqrt(var)
    return {"u": u1, "p": min(1.0, 2.0 * _norm_sf(z)), "method": "normal"}


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
    """95 % percentile-bootstrap interval of the median, or None with fewer than
    BOOTSTRAP_MIN_N samples."""
    if len(samples) < BOOTSTRAP_MIN_N:
        return None
    return percentile_interval(bootstrap_medians(samples), level)


def ratio_ci(num, den, level=0.95):
    """median(num) / median(den) and its bootstrap interval (each sample resampled on its
    own). The interval is None when either side has fewer than BOOTSTRAP_MIN_N samples."""
    r = median(num) / median(den)
    if len(num) < BOOTSTRAP_MIN_N or len(den) < BOOTSTRAP_MIN_N:
        return r, None
    reps = bootstrap_medians(num, seed=1) / bootstrap_medians(den, seed=2)
    return r, percentile_interval(reps, level)


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
