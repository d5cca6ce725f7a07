"""Errors of a forecast ensemble against the truth: CRPS, and MSE/MAE of the median.

An ensemble is an ``(m, H)`` array: ``m`` members (the method's returned continuations),
``H`` horizon steps. One member is allowed (greedy), where CRPS equals MAE / mean|y|.

Missing values (SEARCH.md "Metrics"): NaN in, NaN out, never inf. A truth or an ensemble that
holds any non-finite value (NaN, or ±inf, which is no measurement either) gives NaN: no metric
here is computed on the finite part only, so a gap in the truth can never make a forecast look
better or worse. A value that overflows, and a scaled CRPS whose scale mean|y| is zero while
the error is not, are NaN too (undefined), never inf. :func:`sdt.metrics.aggregate` counts
the NaN rows of each metric.
"""

from __future__ import annotations

import math

import numpy as np

NAN = float("nan")


def _ensemble(forecasts, truth) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(truth, dtype=np.float64).reshape(-1)
    x = np.atleast_2d(np.asarray(forecasts, dtype=np.float64))
    if x.shape[1] != y.size:
        raise ValueError(f"ensemble members have {x.shape[1]} steps but the truth has {y.size}")
    return x, y


def _undefined(x: np.ndarray, y: np.ndarray) -> bool:
    """No members, no steps, or a non-finite value in either: the metric is NaN."""
    return x.shape[0] == 0 or y.size == 0 or not (np.isfinite(x).all() and np.isfinite(y).all())


def _finite(value: float) -> float:
    value = float(value)
    return value if math.isfinite(value) else NAN


def crps(forecasts, truth) -> float:
    """Scaled ensemble CRPS: per step mean_j|X_j − y| − ½ mean_jk|X_j − X_k| (all pairs j, k,
    the plain ensemble estimator), averaged over the horizon, divided by mean|y|.
    NaN for an empty ensemble, for any non-finite value in the ensemble or the truth, and
    when the truth is all zeros and the error is not (0 when both are).

    >>> crps([[1.0, 2.0]], [2.0, 2.0])   # one member: MAE / mean|y| = 0.5 / 2
    0.25
    >>> crps([[1.0, 2.0]], [2.0, float("nan")])
    nan
    """
    x, y = _ensemble(forecasts, truth)
    if _undefined(x, y):
        return NAN
    with np.errstate(over="ignore", invalid="ignore"):
        spread = np.abs(x - y[None, :]).mean(axis=0)
        # Sorted members give the pairwise mean in O(m log m):
        # Σ_jk |X_j−X_k| = 2 Σ_i (2i−m+1) X_(i).
        m = x.shape[0]
        xs = np.sort(x, axis=0)
        weights = (2.0 * np.arange(m) - m + 1.0)[:, None]
        pair = 2.0 * (weights * xs).sum(axis=0) / (m * m)
        score = float(np.mean(spread - 0.5 * pair))
        return _finite(_scaled(score, y))


def _scaled(value: float, y: np.ndarray) -> float:
    scale = float(np.mean(np.abs(y)))
    if scale > 0:
        return value / scale
    return 0.0 if value == 0 else NAN


def median_forecast(forecasts) -> np.ndarray:
    """Step-wise median of the ensemble (the point forecast MSE and MAE score); NaN at a step
    where a member is NaN."""
    return np.median(np.atleast_2d(np.asarray(forecasts, dtype=np.float64)), axis=0)


def mse(forecasts, truth) -> float:
    """Mean squared error of the ensemble median (NaN as for :func:`crps`)."""
    x, y = _ensemble(forecasts, truth)
    if _undefined(x, y):
        return NAN
    with np.errstate(over="ignore", invalid="ignore"):
        return _finite(np.mean((median_forecast(x) - y) ** 2))


def mae(forecasts, truth) -> float:
    """Mean absolute error of the ensemble median (NaN as for :func:`crps`)."""
    x, y = _ensemble(forecasts, truth)
    if _undefined(x, y):
        return NAN
    with np.errstate(over="ignore", invalid="ignore"):
        return _finite(np.mean(np.abs(median_forecast(x) - y)))
