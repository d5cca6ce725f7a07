"""Run-level metrics from per-sample rows."""

from __future__ import annotations

import math
from typing import Iterable


def aggregate(rows: Iterable[dict]) -> dict[str, float]:
    """Mean of every numeric key over the rows, ignoring NaN (a sample where a metric is
    undefined, e.g. CRPS of an unparseable forecast, does not count; ``valid_rate`` says how
    many did). A key that is NaN in every row stays NaN. Booleans count as 0/1.

    >>> aggregate([{"reward": 1.0, "crps": float("nan")}, {"reward": 0.0, "crps": 0.5}])
    {'crps': 0.5, 'reward': 0.5}
    """
    sums: dict[str, float] = {}
    counts: dict[str, int] = {}
    seen: set[str] = set()
    for row in rows:
        for key, value in row.items():
            if isinstance(value, bool):
                value = float(value)
            if not isinstance(value, (int, float)):
                continue
            seen.add(key)
            if math.isnan(value):
                continue
            sums[key] = sums.get(key, 0.0) + float(value)
            counts[key] = counts.get(key, 0) + 1
    return {k: (sums[k] / counts[k] if counts.get(k) else float("nan")) for k in sorted(seen)}
