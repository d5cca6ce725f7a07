"""Power spectra and distances between them, on one common frequency grid.

Every series is sampled once per step (fs = 1), so every spectrum lives on [0, 0.5]
cycles per step whatever the series' length; spectra of different lengths are compared by
interpolating the coarser one onto the finer one's grid (never a shape error).

Odd cases, decided once here:
- fewer than 2 values: the spectrum is zero power on the grid {0, 0.5};
- a spectrum with zero total power (a constant series: the mean is removed before the PSD)
  counts, as a distribution over frequency, as all its mass at frequency 0, which is where a
  constant series' power is before the mean is removed. Spectral collapse (a flat forecast)
  therefore sits far from a periodic history in ``w1``;
- logarithms use a floor of ``1e-12`` times the larger spectrum's peak (plus 1e-30), so a
  zero bin gives a large but finite ``l1_log``;
- missing values (SEARCH.md "Metrics": NaN in, NaN out, never inf, never dropped silently): a
  series with any non-finite value has NaN power at every frequency of the grid its length
  gives (its spectrum is unknown: removing the gap would join the values either side of it
  and make up a spectrum of a series that never was), and every distance, ``power`` and
  ``power_ratio`` of a NaN spectrum or series is NaN. So a search run keeps going and the
  NaN is counted by :func:`sdt.metrics.aggregate`.
"""

from __future__ import annotations

from typing import Literal

import math

import numpy as np

NAN = float("nan")

PSDMethod = Literal["welch", "periodogram"]
Distance = Literal["l1_log", "w1", "kl"]


def psd(x, method: PSDMethod = "welch", nperseg: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``(freqs, power)`` of a 1-D series: Welch (Hann window, ``nperseg`` defaulting to
    ``min(len(x), 256)``) or the plain periodogram; density scaling, mean removed. A series
    holding a NaN or ±inf gets NaN power on the grid a finite series of its length would get.

    >>> psd([1.0, float("nan"), 3.0, 4.0])[1].tolist()
    [nan, nan, nan]
    """
    from scipy import signal  # here, not at import: sweep expansion imports this package

    if method not in ("welch", "periodogram"):
        raise ValueError(f"unknown PSD method {method!r}; expected welch or periodogram")
    x = np.asarray(x, dtype=np.float64).reshape(-1)
    if not np.isfinite(x).all():
        freqs = _grid(x.size, method, nperseg)
        return freqs, np.full(freqs.size, NAN)
    if x.size < 2:
        return np.array([0.0, 0.5]), np.zeros(2)
    if method == "welch":
        seg = min(x.size, nperseg or 256)
        return signal.welch(x, fs=1.0, nperseg=seg)
    return signal.periodogram(x, fs=1.0)


def _grid(n: int, method: PSDMethod, nperseg: int | None) -> np.ndarray:
    """The frequencies :func:`psd` gives a finite series of ``n`` values."""
    if n < 2:
        return np.array([0.0, 0.5])
    return np.fft.rfftfreq(min(n, nperseg or 256) if method == "welch" else n, d=1.0)


def _missing(*spectra) -> bool:
    return not all(np.isfinite(np.asarray(s, dtype=np.float64)).all() for s in spectra)


def common_grid(fx, sx, fc, sc) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Both spectra on the finer of the two grids (the coarser one linearly interpolated).
    Returns ``(freqs, sx, sc)``."""
    fx, sx, fc, sc = (np.asarray(a, dtype=np.float64) for a in (fx, sx, fc, sc))
    if fx.size >= fc.size:
        return fx, sx, np.interp(fx, fc, sc)
    return fc, np.interp(fc, fx, sx), sc


def normalise(freqs, power) -> np.ndarray:
    """Power as a probability distribution over the grid points (zero power: all at f=0;
    any non-finite power: NaN everywhere)."""
    power = np.asarray(power, dtype=np.float64)
    if _missing(power):
        return np.full(power.shape, NAN)
    power = np.clip(power, 0.0, None)
    peak = float(np.max(power, initial=0.0))
    if peak > 0:  # scaled by the peak first, so a sum of huge powers cannot overflow
        power = power / peak
        return power / power.sum()
    mass = np.zeros_like(power)
    mass[int(np.argmin(np.asarray(freqs)))] = 1.0
    return mass


def l1_log(freqs, sx, sc) -> float:
    """∫ |log S_x − log S_c| df (trapezoid rule), the S-ADT spectral distance (NaN if either
    spectrum holds a non-finite value)."""
    if _missing(sx, sc):
        return NAN
    floor = 1e-12 * max(float(np.max(sx, initial=0.0)), float(np.max(sc, initial=0.0))) + 1e-30
    diff = np.abs(np.log(np.maximum(sx, floor)) - np.log(np.maximum(sc, floor)))
    return float(np.trapezoid(diff, freqs))


def w1(freqs, sx, sc) -> float:
    """1-Wasserstein distance between the power-normalised spectra as distributions over
    frequency: Σ |F_x − F_c| Δf over the grid (two deltas at f1 and f2 give |f1 − f2|).
    NaN if either spectrum holds a non-finite value."""
    if _missing(sx, sc):
        return NAN
    freqs = np.asarray(freqs, dtype=np.float64)
    cdf_gap = np.cumsum(normalise(freqs, sx) - normalise(freqs, sc))[:-1]
    return float(np.sum(np.abs(cdf_gap) * np.diff(freqs)))


def kl(freqs, sx, sc, eps: float = 1e-10) -> float:
    """KL(P_x || P_c) of the power-normalised spectra, each smoothed by ``eps`` per bin and
    renormalised (so a bin with no reference power costs a lot but stays finite). NaN if
    either spectrum holds a non-finite value."""
    if _missing(sx, sc):
        return NAN
    p = normalise(freqs, sx) + eps
    q = normalise(freqs, sc) + eps
    p, q = p / p.sum(), q / q.sum()
    return float(np.sum(p * np.log(p / q)))


DISTANCE_FNS = {"l1_log": l1_log, "w1": w1, "kl": kl}
DISTANCES = tuple(DISTANCE_FNS)


def spectral_distance(x, reference, distance: Distance = "l1_log", method: PSDMethod = "welch",
                      nperseg: int | None = None) -> float:
    """D(PSD(x), PSD(reference)) on a common grid; any two lengths work. NaN when either
    series holds a non-finite value.

    >>> round(spectral_distance(np.sin(np.arange(64)), np.sin(np.arange(64)), "w1"), 6)
    0.0
    """
    if distance not in DISTANCE_FNS:
        raise ValueError(f"unknown spectral distance {distance!r}; expected one of {DISTANCES}")
    freqs, sx, sc = common_grid(*psd(x, method, nperseg), *psd(reference, method, nperseg))
    return DISTANCE_FNS[distance](freqs, sx, sc)


def spec_w1(forecast, history, method: PSDMethod = "welch", nperseg: int | None = None) -> float:
    """The paper's Spec-W1: W1 between the normalised spectra of forecast and history."""
    return spectral_distance(forecast, history, "w1", method, nperseg)


def power(x) -> float:
    """Mean power about the mean (the variance; the integral of the mean-removed PSD). NaN
    for an empty series or one with a non-finite value (or whose variance overflows)."""
    x = np.asarray(x, dtype=np.float64).reshape(-1)
    if x.size == 0 or _missing(x):
        return NAN
    with np.errstate(over="ignore", invalid="ignore"):
        value = float(np.var(x))
    return value if math.isfinite(value) else NAN


def power_ratio(forecasts, truth) -> float:
    """Mean forecast power over the ensemble / power of the true future. Below 1 is spectral
    collapse. ``forecasts`` is one series or an ensemble (rows); NaN if the truth is flat,
    there are no forecasts, or a forecast or the truth holds a non-finite value."""
    rows = np.atleast_2d(np.asarray(forecasts, dtype=np.float64))
    ref = power(truth)
    if rows.shape[0] == 0 or rows.shape[1] == 0 or not ref > 0:
        return NAN
    with np.errstate(over="ignore", invalid="ignore"):
        value = float(np.mean([power(r) for r in rows]) / ref)
    return value if math.isfinite(value) else NAN
