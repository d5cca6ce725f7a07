"""Forecasting samples: a history of ``history_length`` values -> the next ``horizon`` values,
written in the numeric text format of :mod:`sdt.data.numeric`.

Sources:

- ``synthetic``: every sample its own series (trend + one or two seasons + noise, random scale
  and offset), drawn from a generator seeded by ``(seed, split, index)``; splits are disjoint
  and prefix-stable like TSQA's. The seasons are what a forecaster can learn beyond the last
  value, so their periods (``PERIOD_MIN``..history/2) put at least two cycles of at least
  ``PERIOD_MIN`` steps in every history of 16 values or more, and the noise (``NOISE``,
  relative to seasons of amplitude 0.5..2) stays below them.
- ``sunspots`` (yearly, 309 values) and ``co2`` (weekly, 2284 values, gaps interpolated) from
  statsmodels; ``airline`` (monthly, 144 values) from aeon. All installed, no network.

A real series is cut in time: train windows (history and future) lie wholly in the first 70%,
val futures in the next 15%, test futures in the last 15% (their histories may reach back into
earlier parts, as a forecaster's would). So no val or test future lies inside any train window.
Windows have stride 1; when a part holds more than asked, a seeded subset is kept in time
order, so the split sizes are upper bounds (the real sizes are logged by ``build_dataset``).
"""

from __future__ import annotations

import functools

import numpy as np

from sdt.data import numeric
from sdt.data._rng import stream
from sdt.data.sample import Sample
from sdt.errors import UserError

SPLIT_BOUNDS = {"train": (0.0, 0.70), "val": (0.70, 0.85), "test": (0.85, 1.0)}
_TAG = 0xF0C
PERIOD_MIN = 8.0  # the shortest season: one full cycle in the default 8-step horizon
NOISE = (0.02, 0.2)  # std range of the synthetic noise (seasons have amplitude 0.5..2)


@functools.lru_cache(maxsize=None)
def load_series(source: str) -> np.ndarray:
    """The real series ``source`` as float64, without gaps (read-only: it is cached)."""
    if source == "sunspots":
        from statsmodels.datasets import sunspots

        values = sunspots.load_pandas().data["SUNACTIVITY"].to_numpy(np.float64)
    elif source == "co2":
        from statsmodels.datasets import co2

        values = co2.load_pandas().data["co2"].interpolate().bfill().to_numpy(np.float64)
    elif source == "airline":
        try:
            from aeon.datasets import load_airline
        except ImportError as exc:
            raise UserError("the airline series needs aeon: pip install 'sdt[data]'") from exc
        values = np.asarray(load_airline(), dtype=np.float64).reshape(-1)
    else:
        raise ValueError(f"unknown real forecasting source {source!r}")
    values.setflags(write=False)
    return values


def make_sample(history, future, source: str, **meta) -> Sample:
    """The sample asking for ``future`` given ``history``; the answer is its encoded text."""
    history = np.asarray(history, dtype=np.float64)
    future = np.asarray(future, dtype=np.float64)
    info = numeric.scale_info(history)
    return Sample(
        pre_prompt=f"Forecast the next {len(future)} values.",
        series=[history],
        series_text=["History"],
        post_prompt="Forecast:",
        answer=numeric.encode(future, info),
        meta={"history": history, "future": future, "scale": info, "source": source,
              "horizon": len(future), **meta},
    )


def synthetic_series(rng: np.random.Generator, length: int, max_period: float) -> np.ndarray:
    """Trend + one or two seasons (periods ``PERIOD_MIN``..``max_period``) + noise, random
    scale and offset."""
    t = np.arange(length, dtype=np.float64)
    x = rng.uniform(-2, 2) * t / length + rng.uniform(*NOISE) * rng.standard_normal(length)
    for _ in range(rng.integers(1, 3)):
        period = rng.uniform(PERIOD_MIN, max(max_period, PERIOD_MIN))
        x += rng.uniform(0.5, 2) * np.sin(2 * np.pi * t / period + rng.uniform(0, 2 * np.pi))
    scale = 10 ** rng.uniform(-1, 3)
    return rng.uniform(-10, 10) * scale + scale * x


def _synthetic(n: int, split: str, seed: int, history_length: int, horizon: int):
    out = []
    for i in range(n):
        rng = stream(_TAG, seed, split, i)
        x = synthetic_series(rng, history_length + horizon, history_length / 2)
        out.append(make_sample(x[:history_length], x[history_length:], "synthetic", index=i))
    return out


def window_starts(length: int, history_length: int, horizon: int, split: str) -> np.ndarray:
    """Start indices of the windows (history then future) of ``split`` in a series of
    ``length`` values (see the module docstring for the rule)."""
    lo, hi = (round(f * length) for f in SPLIT_BOUNDS[split])
    if split == "train":  # the whole window inside the part
        first, last = lo, hi - history_length - horizon
    else:  # the future inside the part
        first, last = max(lo - history_length, 0), hi - history_length - horizon
    return np.arange(first, last + 1)


def _real(n, split, seed, source, history_length, horizon):
    x = load_series(source)
    starts = window_starts(len(x), history_length, horizon, split)
    if len(starts) == 0:
        raise UserError(
            f"dataset.history_length={history_length} + horizon={horizon} is too long for the "
            f"{split} part of {source} ({len(x)} values; train uses the first 70%): "
            "shorten them")
    if len(starts) > n:
        rng = stream(_TAG, seed, split)
        starts = np.sort(rng.choice(starts, size=n, replace=False))
    w = history_length + horizon
    return [make_sample(x[s:s + history_length], x[s + history_length:s + w], source,
                        start=int(s)) for s in starts]


def build(cfg, split: str, seed: int) -> list[Sample]:
    """The registry entry: a :class:`sdt.config.schema.ForecastDataset` split."""
    n = getattr(cfg, f"num_samples_{split}")
    if cfg.source == "synthetic":
        return _synthetic(n, split, seed, cfg.history_length, cfg.horizon)
    return _real(n, split, seed, cfg.source, cfg.history_length, cfg.horizon)
