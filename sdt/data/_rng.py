"""Seeded random streams for the data sets: one independent stream per (data set, seed, split,
index), so a split never depends on the other splits' sizes and splits never share draws."""

from __future__ import annotations

import numpy as np

SPLIT_CODE = {"train": 0, "val": 1, "test": 2}


def stream(tag: int, seed: int, *keys: str | int) -> np.random.Generator:
    """The generator of ``(tag, seed, *keys)``; a split name among ``keys`` stands for its code.

    ``tag`` separates the data sets' streams for the same seed; any int seed (negative too)
    is accepted.

    >>> float(stream(1, -3, "val", 7).random()) == float(stream(1, -3, "val", 7).random())
    True
    """
    return np.random.default_rng(
        [tag, seed % 2**63, *(SPLIT_CODE[k] if isinstance(k, str) else int(k) for k in keys)])
