"""Metrics, one definition each (see SEARCH.md "Metrics"): pure numpy/scipy functions.

- spectra: :func:`psd`, :func:`spectral_distance` (``l1_log``, ``w1``, ``kl`` on a common
  grid), :func:`spec_w1`, :func:`power_ratio`;
- forecast ensembles: :func:`crps`, :func:`mse`, :func:`mae` (of the median);
- generated tokens: :func:`distinct_n` (diversity), :func:`perplexity`;
- one query: :func:`forecast_metrics`, :func:`choice_metrics`;
- :func:`aggregate` turns per-sample rows into run-level means.
"""

from sdt.metrics.aggregate import aggregate
from sdt.metrics.per_sample import choice_metrics, forecast_metrics
from sdt.metrics.probabilistic import crps, mae, median_forecast, mse
from sdt.metrics.spectral import (
    DISTANCE_FNS,
    DISTANCES,
    common_grid,
    kl,
    l1_log,
    normalise,
    power,
    power_ratio,
    psd,
    spec_w1,
    spectral_distance,
    w1,
)
from sdt.metrics.text import distinct_n, perplexity

__all__ = [
    "DISTANCE_FNS", "DISTANCES", "aggregate", "choice_metrics", "common_grid", "crps",
    "distinct_n", "forecast_metrics", "kl", "l1_log", "mae",
    "median_forecast", "mse", "normalise", "perplexity", "power", "power_ratio", "psd",
    "spec_w1", "spectral_distance", "w1",
]
