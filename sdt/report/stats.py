"""The statistics of a report, as pure functions over arrays (no files, no pandas).

Every estimate is a mean over *units* (a query under one seed, or a whole run where a metric
exists only per run) grouped into *strata* (the seeds). Confidence intervals come from
``scipy.stats.bootstrap`` with each seed's units resampled on their own (a stratified
bootstrap: the seeds are the design, the queries the sample); paired tests compare a candidate
with the baseline on the units they share (same seed, same query).

>>> low, high = mean_ci([np.array([1.0, 2.0, 3.0]), np.array([2.0, 3.0, 4.0])])[1:]
>>> bool(low < 2.5 < high)
True
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Sequence

import numpy as np

CONFIDENCE = 0.95
N_RESAMPLES = 1999  # Monte-Carlo error of the CI bounds well below their width
SEED = 0  # bootstrap random state: the same store gives the same report
MIN_SEEDS = 5  # fewer seeds than this behind a claim: the report warns


def _pooled_mean(*samples, axis=-1):
    total = sum(np.sum(s, axis=axis) for s in samples)
    count = sum(s.shape[axis] for s in samples)
    return total / count


def _strata(groups: Sequence[np.ndarray]) -> list[np.ndarray]:
    """Finite values per stratum; strata of one value are pooled (a bootstrap sample needs two
    values), and a last single value joins the largest stratum."""
    groups = [np.asarray(g, dtype=float) for g in groups]
    groups = [g[np.isfinite(g)] for g in groups]
    many = [g for g in groups if g.size >= 2]
    singles = np.concatenate([g for g in groups if g.size == 1] or [np.empty(0)])
    if singles.size >= 2:
        many.append(singles)
    elif singles.size == 1:
        if many:
            big = int(np.argmax([g.size for g in many]))
            many[big] = np.concatenate([many[big], singles])
        else:
            many.append(singles)
    return many


def mean_ci(groups: Sequence[np.ndarray], confidence: float = CONFIDENCE,
            n_resamples: int = N_RESAMPLES, seed: int = SEED,
            method: str = "BCa") -> tuple[float, float, float]:
    """Mean of the finite values of all groups and its bootstrap CI, resampling within each
    group (``BCa`` by default, ``percentile`` on request or where BCa is undefined). NaN values do not count; no value gives
    NaN everywhere; one value, or values all equal, give a CI of zero width at that value.

    >>> mean_ci([np.array([5.0, 5.0])])
    (5.0, 5.0, 5.0)
    """
    strata = _strata(groups)
    values = np.concatenate(strata) if strata else np.empty(0)
    if values.size == 0:
        return (math.nan, math.nan, math.nan)
    mean = float(values.mean())
    if values.size == 1 or np.all(values == values[0]):
        return (mean, mean, mean)
    for how in dict.fromkeys((method, "percentile")):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            res = _bootstrap(strata, confidence, n_resamples, seed, how)
        low, high = float(res.confidence_interval.low), float(res.confidence_interval.high)
        if math.isfinite(low) and math.isfinite(high):
            return (mean, min(low, mean), max(high, mean))
    return (mean, math.nan, math.nan)


def mean_cis(samples: Sequence[Sequence[np.ndarray]], confidence: float = CONFIDENCE,
             n_resamples: int = N_RESAMPLES, seed: int = SEED,
             method: str = "BCa") -> list[tuple[float, float, float]]:
    """:func:`mean_ci` of several samples (each a list of groups) in as few bootstrap calls
    as possible: samples whose strata have the same sizes go through scipy as one batch,
    which draws the same resamples a call per sample would, so the results are the same."""
    out: list = [None] * len(samples)
    strata = [_strata(groups) for groups in samples]
    batches: dict[tuple, list[int]] = {}
    for i, st in enumerate(strata):
        values = np.concatenate(st) if st else np.empty(0)
        if values.size < 2 or np.all(values == values[0]):
            out[i] = mean_ci(samples[i], confidence, n_resamples, seed, method)
        else:
            batches.setdefault(tuple(g.size for g in st), []).append(i)
    for sizes, idx in batches.items():
        if len(idx) == 1:
            out[idx[0]] = mean_ci(samples[idx[0]], confidence, n_resamples, seed, method)
            continue
        batch = [np.stack([strata[i][j] for i in idx]) for j in range(len(sizes))]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            res = _bootstrap(batch, confidence, n_resamples, seed, method)
        lows = np.atleast_1d(res.confidence_interval.low)
        highs = np.atleast_1d(res.confidence_interval.high)
        for k, i in enumerate(idx):
            mean = float(np.concatenate(strata[i]).mean())
            low, high = float(lows[k]), float(highs[k])
            out[i] = (mean, min(low, mean), max(high, mean)) \
                if math.isfinite(low) and math.isfinite(high) \
                else mean_ci(samples[i], confidence, n_resamples, seed, method)
    return out


def _bootstrap(strata, confidence, n_resamples, seed, method):
    from scipy.stats import bootstrap

    return bootstrap(tuple(strata), _pooled_mean, n_resamples=n_resamples,
                     confidence_level=confidence, method=method, vectorized=True, axis=-1,
                     random_state=np.random.default_rng(seed))


@dataclass(frozen=True)
class PairedTest:
    """A candidate against the baseline on ``n`` shared units: mean difference with its CI,
    the test's p-value and an effect size (matched-pairs rank-biserial correlation for
    Wilcoxon, Cohen's d_z for the paired t-test)."""

    n: int
    diff: float
    low: float
    high: float
    p: float
    effect: float
    test: str


def paired_test(diffs: Sequence[np.ndarray], test: str = "wilcoxon",
                seed: int = SEED, n_resamples: int = N_RESAMPLES,
                ci: tuple[float, float, float] | None = None) -> PairedTest:
    """Paired comparison from the differences (candidate - baseline) grouped by seed; ``ci``:
    their :func:`mean_ci` when already computed (see :func:`mean_cis`).

    Wilcoxon signed-rank drops zero differences (``zero_method='wilcox'``); all differences
    zero means no evidence of a difference (p = 1). Fewer than two pairs: p is NaN.
    """
    from scipy import stats

    strata = [np.asarray(d, dtype=float) for d in diffs]
    d = np.concatenate([s[np.isfinite(s)] for s in strata] or [np.empty(0)])
    mean, low, high = ci or mean_ci(strata, seed=seed, n_resamples=n_resamples)
    n = int(d.size)
    if n < 2:
        return PairedTest(n, mean, low, high, math.nan, math.nan, test)
    if np.all(d == 0):
        return PairedTest(n, 0.0, 0.0, 0.0, 1.0, 0.0, test)
    if test == "t":
        sd = float(d.std(ddof=1))
        if sd == 0:  # every pair differs by the same amount: no spread to test against
            return PairedTest(n, mean, low, high, 0.0, math.copysign(math.inf, mean), test)
        p = float(stats.ttest_1samp(d, 0.0).pvalue)
        return PairedTest(n, mean, low, high, p, float(d.mean()) / sd, test)
    if test != "wilcoxon":
        raise ValueError(f"unknown test {test!r} (wilcoxon or t)")
    p = float(stats.wilcoxon(d, zero_method="wilcox").pvalue)
    nz = d[d != 0]
    ranks = stats.rankdata(np.abs(nz))
    plus, minus = ranks[nz > 0].sum(), ranks[nz < 0].sum()
    return PairedTest(n, mean, low, high, p, float((plus - minus) / (plus + minus)), test)


def holm(pvalues: Sequence[float]) -> np.ndarray:
    """Holm-adjusted p-values (family-wise error control across every test given): the
    i-th smallest of m p-values times (m - i + 1), made monotone and capped at 1. NaN stays
    NaN and does not count as a test. (Numerically ``statsmodels``' ``multipletests(...,
    method="holm")``, which the tests check; written out here because importing statsmodels
    costs a report more than a second.)"""
    p = np.asarray(pvalues, dtype=float)
    out = np.full(p.shape, np.nan)
    ok = np.flatnonzero(np.isfinite(p))
    if ok.size:
        order = ok[np.argsort(p[ok], kind="stable")]
        scaled = p[order] * (ok.size - np.arange(ok.size))
        out[order] = np.minimum(np.maximum.accumulate(scaled), 1.0)
    return out


def crossing(budgets: np.ndarray, curve: np.ndarray, target: float,
             higher_is_better: bool = True) -> float:
    """The fractional index at which ``curve`` (means at increasing ``budgets``) first reaches
    ``target``, interpolated linearly between budget points; ``inf`` when it never does."""
    return float(crossings(np.asarray(curve, dtype=float)[None, :], np.array([target]),
                           higher_is_better)[0])


def crossings(curves: np.ndarray, targets: np.ndarray, higher_is_better: bool = True
              ) -> np.ndarray:
    """:func:`crossing` for many curves at once: ``curves`` (m, budgets), ``targets`` (m,)."""
    c = np.asarray(curves, dtype=float)
    t = np.asarray(targets, dtype=float)[:, None]
    reached = (c >= t if higher_is_better else c <= t) & np.isfinite(c)
    any_hit = reached.any(axis=1)
    i = reached.argmax(axis=1)
    rows = np.arange(len(c))
    prev = c[rows, np.maximum(i - 1, 0)]
    step = c[rows, i] - prev
    with np.errstate(divide="ignore", invalid="ignore"):
        frac = np.where((step == 0) | ~np.isfinite(step), 1.0, (t[:, 0] - prev) / step)
    out = np.where(i == 0, 0.0, i - 1 + np.clip(frac, 0.0, 1.0))
    return np.where(any_hit, out, np.inf)


def at_indices(xs: np.ndarray, positions: np.ndarray) -> np.ndarray:
    """:func:`at_index` for many rows: ``xs`` (m, budgets) or (budgets,), ``positions`` (m,);
    ``inf`` where the position is ``inf`` (never reached)."""
    positions = np.asarray(positions, dtype=float)
    xs = np.broadcast_to(np.asarray(xs, dtype=float), (len(positions), np.shape(xs)[-1]))
    out = np.full(len(positions), np.inf)
    for k in np.flatnonzero(np.isfinite(positions)):
        out[k] = at_index(xs[k], positions[k])
    return out


def at_index(xs: np.ndarray, position: float, log: bool = True) -> float:
    """``xs`` read at a fractional index (geometric interpolation for budgets and NFE,
    which grow multiplicatively); NaN for ``inf``."""
    if not math.isfinite(position):
        return math.nan
    xs = np.asarray(xs, dtype=float)
    i = min(int(math.floor(position)), len(xs) - 1)
    frac = position - i
    if frac == 0 or i + 1 >= len(xs):
        return float(xs[i])
    a, b = xs[i], xs[i + 1]
    if log and a > 0 and b > 0:
        return float(math.exp(math.log(a) + frac * (math.log(b) - math.log(a))))
    return float(a + frac * (b - a))


def stratified_indices(strata: np.ndarray, n_resamples: int, seed: int = SEED) -> np.ndarray:
    """Bootstrap resamples of unit indices, ``(n_resamples, n_units)``: each unit's stratum
    (seed) keeps its size, units drawn with replacement within it."""
    rng = np.random.default_rng(seed)
    strata = np.asarray(strata)
    out = np.empty((n_resamples, strata.size), dtype=np.int64)
    col = 0
    for value in np.unique(strata):
        members = np.flatnonzero(strata == value)
        out[:, col:col + members.size] = rng.choice(members, size=(n_resamples, members.size))
        col += members.size
    return out
