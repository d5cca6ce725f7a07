"""THE numeric text format of forecasts, shared by the trainer, the search rewards and metrics.

A value ``v`` is written relative to the history: ``(v - loc) / scale`` with ``loc`` the
history's last value and ``scale`` its standard deviation, so a forecast starts near zero and
reads the same whatever the series' units. Each scaled value is written with an explicit sign
and two decimals, clipped to ``[-99.99, 99.99]``, and every value is preceded by one space::

    >>> info = {"loc": 10.0, "scale": 2.0}
    >>> encode([10.24, 7.4, 14.1], info)
    ' +0.12 -1.30 +2.05'
    >>> decode(' +0.12 -1.30 +2.05 +9.99', info, horizon=3)
    (array([10.24,  7.4 , 14.1 ]), True)

The parser never raises: it reads the leading run of whitespace-separated numbers (signs and
decimals optional), stops at the first token that is not one, keeps the first ``horizon``
values (extra ones are ignored) and calls the text invalid when fewer than ``horizon`` values
come before the first non-number (``None``, garbage, short or empty text).
"""

from __future__ import annotations

import math
import re

import numpy as np

PRECISION = 2
LIMIT = 99.99  # scaled values are clipped here so every value has at most five digits
_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)")


def scale_info(history) -> dict:
    """``{"loc": last value, "scale": std}`` of the history (json-serialisable floats).

    A constant or one-value history has no spread: its scale is ``max(|loc|, 1) * 1e-3``
    (never zero). Non-finite values in the history are ignored.
    """
    h = np.asarray(history, dtype=np.float64).reshape(-1)
    h = h[np.isfinite(h)]
    if h.size == 0:
        return {"loc": 0.0, "scale": 1.0}
    loc = float(h[-1])
    scale = float(np.std(h))
    if not scale > 1e-12 * max(abs(loc), 1.0):
        scale = max(abs(loc), 1.0) * 1e-3
    return {"loc": loc, "scale": scale}


def encode(values, info: dict) -> str:
    """The text of ``values`` scaled by ``info``; exact within ``scale * 0.005`` for scaled
    values inside ``[-99.99, 99.99]`` (outside they are clipped)."""
    z = (np.asarray(values, dtype=np.float64).reshape(-1) - info["loc"]) / info["scale"]
    z = np.clip(np.nan_to_num(z, nan=0.0), -LIMIT, LIMIT)
    # "+0.00" rather than "-0.00": the sign of a rounded zero is noise
    return "".join(f" {v:+.{PRECISION}f}" if round(v, PRECISION) != 0 else " +0.00" for v in z)


def decode(text, info: dict, horizon: int) -> tuple[np.ndarray | None, bool]:
    """``(values in original units, True)``, or ``(None, False)`` if the text is invalid."""
    if not isinstance(text, str) or horizon <= 0:
        return None, False
    out = []
    for token in text.split():
        if len(out) == horizon or not _NUMBER.fullmatch(token):
            break
        v = float(token)
        if not math.isfinite(v):
            break
        out.append(v)
    if len(out) < horizon:
        return None, False
    return np.asarray(out) * info["scale"] + info["loc"], True
