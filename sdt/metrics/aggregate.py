"""Run-level metrics from per-sample rows."""

from __future__ import annotations

import math
from numbers import Real
from typing import Iterable

NAN_COUNT = "nan_count"  # the suffix of the count keys: "<metric>/nan_count"


def aggregate(rows: Iterable[dict]) -> dict[str, float]:
    """Per numeric key: the mean over the rows where it is finite, and ``<key>/nan_count``,
    the number of rows where it is missing (SEARCH.md "Metrics": NaN in, NaN out, counted and
    reported, never inf).

    A missing value is a NaN (a sample where the metric is undefined, e.g. CRPS of an
    unparseable forecast or against a truth with a gap) or ±inf (no metric of
    :mod:`sdt.metrics` gives inf; one that reaches a row, e.g. from a user reward, is no
    measurement either, so it is counted with the NaNs instead of turning the mean into inf).
    A key that is missing in every row has mean NaN. A row without the key does not count
    either way. Booleans count as 0/1; numpy scalars are numbers; other values are skipped.

    >>> aggregate([{"reward": 1.0, "crps": float("nan")}, {"reward": 0.0, "crps": 0.5}])
    {'crps': 0.5, 'crps/nan_count': 1.0, 'reward': 0.5, 'reward/nan_count': 0.0}
    """
    finite: dict[str, list[float]] = {}
    missing: dict[str, int] = {}
    for row in rows:
        for key, value in row.items():
            if isinstance(value, bool):
                value = float(value)
            if not isinstance(value, Real):
                continue
            value = float(value)
            missing.setdefault(key, 0)
            if math.isfinite(value):
                finite.setdefault(key, []).append(value)
            else:
                missing[key] += 1
    out: dict[str, float] = {}
    for key in sorted(missing):
        out[key] = _mean(finite.get(key, []))
        out[f"{key}/{NAN_COUNT}"] = float(missing[key])
    return out


def _mean(values: list[float]) -> float:
    """Mean of finite values, finite itself (a sum that overflows is summed pre-divided)."""
    if not values:
        return math.nan
    n = len(values)
    mean = sum(values) / n
    return mean if math.isfinite(mean) else sum(v / n for v in values)
