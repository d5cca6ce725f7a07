"""The forecasting reward (the S-ADT setting).

r = w_band·band + w_level·level + w_oracle·oracle − gamma·D, with D the spectral distance
between the forecast's and the history's PSD. Terms are oriented so that larger is better and
are computed in history-standardised units (values divided by the history's scale from
:func:`sdt.data.numeric.scale_info`), so weights mean the same for every series:

- ``spectral``: D itself (recorded positive; it enters r with −gamma);
- ``band``: −(fraction of forecast values outside [low, high]), from ``reward.band``;
- ``level``: −|mean(forecast) − target| / scale;
- ``oracle``: −mean((forecast − future)² ) / scale², the only term that sees the truth (NaN
  when the sample has no future; an error if its weight is not 0). The other terms are built
  from :func:`~sdt.search.rewards.base.deployed_view` of the query, which holds no truth.

The history must be gap-free (every value finite): its spectrum, quantiles and mean are
undefined otherwise, so a query whose history holds NaN is an error here rather than a reward
that is NaN (or, before, the spectrum of the series joined across the gap). The data sets
fill gaps when they load. A parsed forecast with a non-finite value (an overflow) is invalid.

Text that does not parse into ``horizon`` values (see :mod:`sdt.data.numeric`) scores
``reward.invalid`` and NaN terms.
"""

from __future__ import annotations

import numpy as np

from sdt.data import numeric
from sdt.errors import UserError
from sdt.metrics.spectral import DISTANCE_FNS, common_grid, psd
from sdt.search.rewards.base import QueryReward, Scored, deployed_view

TERMS = ("spectral", "band", "level", "oracle")


class ForecastReward(QueryReward):
    def __init__(self, cfg, sample, decode):
        super().__init__(decode)
        self.cfg = cfg
        view = deployed_view(sample)  # everything but the oracle term is built from this
        meta = view.meta
        self.history = np.asarray(meta.get("history", view.series[0]), dtype=np.float64)
        if not np.isfinite(self.history).all():
            bad = int(np.sum(~np.isfinite(self.history)))
            raise UserError(f"the forecast reward needs a history without gaps; this query's "
                            f"history holds {bad} non-finite value(s) of {self.history.size} "
                            "(fill them in the data)")
        self.info = meta.get("scale") or numeric.scale_info(self.history)
        self.horizon = int(meta.get("horizon") or 0)
        if self.horizon <= 0:
            raise UserError("the forecast reward needs the horizon in the sample's meta "
                            "('horizon' or 'future'); is this a forecasting data set?")
        future = sample.meta.get("future")  # the truth: the oracle term's only
        self.future = None if future is None else np.asarray(future, dtype=np.float64)
        if self.future is None and cfg.weights.oracle != 0:
            raise UserError("reward.weights.oracle needs the true future, which this sample "
                            "does not carry")
        self.history_psd = psd(self.history, cfg.spectral.psd, cfg.spectral.nperseg)
        band = cfg.band
        if band.low is not None:
            self.low, self.high = band.low, band.high
        else:
            self.low, self.high = np.quantile(self.history, band.quantiles)
        target = cfg.level.target
        self.target = (float(np.mean(self.history)) if target == "history_mean"
                       else float(self.history[-1]) if target == "last" else float(target))

    def terms_of(self, values: np.ndarray) -> dict[str, float]:
        """Every term of one parsed forecast (original units)."""
        scale = self.info["scale"]
        spec = self.cfg.spectral
        freqs, sx, sc = common_grid(*psd(values, spec.psd, spec.nperseg), *self.history_psd)
        outside = np.mean((values < self.low) | (values > self.high))
        oracle = (float("nan") if self.future is None
                  else -float(np.mean((values - self.future) ** 2)) / scale**2)
        return {"spectral": DISTANCE_FNS[spec.distance](freqs, sx, sc),
                "band": -float(outside),
                "level": -abs(float(np.mean(values)) - self.target) / scale,
                "oracle": oracle}

    def total_of(self, terms: dict[str, float]) -> float:
        w = self.cfg.weights
        total = -self.cfg.gamma * terms["spectral"]
        for name in ("band", "level", "oracle"):
            weight = getattr(w, name)
            if weight != 0:  # a NaN term with weight 0 must not poison r
                total += weight * terms[name]
        return total

    def score_texts(self, texts: list[str]) -> Scored:
        n = len(texts)
        terms = {name: np.full(n, np.nan) for name in TERMS}
        total = np.full(n, float(self.cfg.invalid))
        valid = np.zeros(n, dtype=bool)
        parsed: list = [None] * n
        for i, text in enumerate(texts):
            values, ok = numeric.decode(text, self.info, self.horizon)
            if not ok or not np.isfinite(values).all():
                continue
            one = self.terms_of(values)
            for name, value in one.items():
                terms[name][i] = value
            total[i] = self.total_of(one)
            valid[i] = True
            parsed[i] = values
        return Scored(total=total, terms=terms, valid=valid, parsed=parsed)
