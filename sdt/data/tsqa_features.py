"""Hand-written, scale-invariant feature rules that answer the TSQA tasks from the series alone.

They prove the tasks decidable (the tests hold them to >= 0.97) and give the search's TSQA
verifier the features it checks an answer against. ``predict(task, series)`` returns the label
index in :data:`sdt.data.tsqa.TASKS` order (not the shuffled letter).
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

TREND_THRESHOLD = 2.2         # |total change| / residual std above which a trend is called
VOLATILITY_THRESHOLD = 1.8    # ratio of noise std, last vs first third
PERIOD_BOUNDS = (9.4, 20.2)   # geometric means between the period classes' ranges


def _mad_std(x: np.ndarray) -> float:
    return float(1.4826 * np.median(np.abs(x - np.median(x)))) + 1e-12


def trend_change(x: np.ndarray) -> float:
    """Total change of the least-squares line over the window, in residual stds."""
    x = np.asarray(x, dtype=np.float64)
    u = np.linspace(0.0, 1.0, len(x))
    slope, intercept = np.polyfit(u, x, 1)
    return float(slope / (np.std(x - slope * u - intercept) + 1e-12))


def volatility_ratio(x: np.ndarray) -> float:
    """Robust std of first differences in the last third over that in the first third
    (differences remove the trend and most of a slow season)."""
    d = np.diff(np.asarray(x, dtype=np.float64))
    third = len(d) // 3
    return _mad_std(d[-third:]) / _mad_std(d[:third])


def dominant_period(x: np.ndarray) -> float:
    """Period (in steps) of the largest peak of the zero-padded spectrum after a linear fit."""
    x = np.asarray(x, dtype=np.float64)
    u = np.arange(len(x))
    resid = x - np.polyval(np.polyfit(u, x, 1), u)
    n_fft = 8192
    power = np.abs(np.fft.rfft(resid, n_fft))
    power[0] = 0.0
    return n_fft / max(int(np.argmax(power)), 1)


def spike_position(x: np.ndarray) -> float:
    """Relative position (0..1) of the largest robust z-score of the residual from a
    7-point rolling median."""
    x = np.asarray(x, dtype=np.float64)
    padded = np.pad(x, 3, mode="edge")
    resid = x - np.median(sliding_window_view(padded, 7), axis=1)
    z = np.abs(resid - np.median(resid)) / _mad_std(resid)
    return float(np.argmax(z)) / max(len(x) - 1, 1)


def predict(task: str, series: np.ndarray) -> int:
    """Label index (0, 1, 2) that the feature rule of ``task`` gives for ``series``."""
    if task == "trend":
        c = trend_change(series)
        return 0 if c > TREND_THRESHOLD else 1 if c < -TREND_THRESHOLD else 2
    if task == "volatility":
        r = volatility_ratio(series)
        return 0 if r > VOLATILITY_THRESHOLD else 1 if r < 1 / VOLATILITY_THRESHOLD else 2
    if task == "season":
        p = dominant_period(series)
        return 0 if p < PERIOD_BOUNDS[0] else 1 if p < PERIOD_BOUNDS[1] else 2
    if task == "outlier":
        return min(int(spike_position(series) * 3), 2)
    raise ValueError(f"unknown TSQA task {task!r}")
