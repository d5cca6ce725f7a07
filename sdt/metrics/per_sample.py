"""The metrics of one query from what a method returned (pure; SEARCH.md "Metrics").

A method returns ``m`` continuations (``search.num_samples``; greedy gives one). Their parsed
values (forecasts, or chosen options) are scored here against the query:

- forecasting: ``valid_rate`` (share of returned continuations that parse), and over the valid
  ones, as an ensemble: ``crps``, ``mse``/``mae`` of the median, ``spec_w1`` (mean over members
  of W1 between member and history spectra, Welch), ``power_ratio`` (mean member power / true
  future power). With no valid member these are NaN (and ``valid_rate`` 0), so an unparseable
  method is never scored on a forecast it did not make; with no truth the truth-based ones
  are NaN. A truth with a gap (NaN) makes the truth-based ones NaN, a history with a gap
  makes ``spec_w1`` NaN (NaN in, NaN out; :func:`sdt.metrics.aggregate` counts them).
- multiple choice: ``accuracy`` (share of returned continuations whose first option is the
  gold one; none found = wrong) and ``valid_rate`` (share with an option).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from sdt.metrics.probabilistic import crps, mae, mse
from sdt.metrics.spectral import power_ratio, spec_w1

NAN = float("nan")


def forecast_metrics(forecasts: Sequence[np.ndarray | None], history, future=None) -> dict:
    members = [np.asarray(f, dtype=np.float64) for f in forecasts if f is not None]
    out = {"valid_rate": len(members) / len(forecasts) if len(forecasts) else NAN}
    if not members:
        return {**out, "crps": NAN, "mse": NAN, "mae": NAN, "spec_w1": NAN, "power_ratio": NAN}
    out["spec_w1"] = float(np.mean([spec_w1(m, history) for m in members]))
    if future is None:
        return {**out, "crps": NAN, "mse": NAN, "mae": NAN, "power_ratio": NAN}
    ens = np.stack(members)
    return {**out, "crps": crps(ens, future), "mse": mse(ens, future), "mae": mae(ens, future),
            "power_ratio": power_ratio(ens, future)}


def choice_metrics(chosen: Sequence[str | None], gold: str | None) -> dict:
    n = len(chosen)
    if n == 0:
        return {"accuracy": NAN, "valid_rate": NAN}
    accuracy = NAN if gold is None else sum(c == gold for c in chosen) / n
    return {"accuracy": accuracy, "valid_rate": sum(c is not None for c in chosen) / n}
