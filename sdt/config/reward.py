"""The ``reward`` section of a search config (SEARCH.md "Rewards"), a tagged union by ``kind``.

- ``forecast``: r = w_band·band + w_level·level + w_oracle·oracle − gamma·D(PSD(forecast),
  PSD(history)); unparseable or short text gets ``invalid`` instead.
- ``tsqa``: r = w_verifier·verifier + w_oracle·oracle; no option found gets ``invalid``.
- ``user``: ``fn: package.module:function`` called as ``fn(texts, sample, **params)``;
  ``sample`` is what a deployed reward could see (prompt, series, history, scale, horizon,
  options, task: :func:`sdt.search.rewards.base.deployed_view`), never the truth, unless
  ``oracle: true`` marks the reward as an upper bound (then it gets the whole sample, truth
  included, and the run's ``uses_oracle`` is 1). A non-finite value scores ``invalid``.

``kind`` may be left out: it follows the data set (forecast -> ``forecast``; tsqa, har, jsonl
-> ``tsqa``), or is ``user`` when ``fn`` is given (see :class:`sdt.config.search_run`).
"""

from __future__ import annotations

import importlib
import re
from typing import Annotated, Any, Literal, Union

from pydantic import Field, field_validator, model_validator

from sdt.config._base import StrictModel

_DOTTED = re.compile(r"^[A-Za-z_][\w]*(\.[A-Za-z_][\w]*)*:[A-Za-z_][\w]*(\.[A-Za-z_][\w]*)*$")


def load_callable(path: str):
    """``"package.module:attr.sub"`` -> the object. Raises ValueError with what went wrong."""
    module_name, _, attr = path.partition(":")
    try:
        obj = importlib.import_module(module_name)
    except Exception as exc:  # user code: a syntax error is as much a config error
        raise ValueError(f"an importable package.module:function; cannot import "
                         f"{module_name!r} ({exc})") from None
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise ValueError(f"a function in {module_name!r}; it has no {attr!r}")
        obj = getattr(obj, part)
    if not callable(obj):
        raise ValueError(f"a callable; {path} is a {type(obj).__name__}")
    return obj


class SpectralSection(StrictModel):
    """D(PSD(forecast), PSD(history)) on one common frequency grid (sdt.metrics.spectral)."""

    distance: Literal["l1_log", "w1", "kl"] = "l1_log"
    psd: Literal["welch", "periodogram"] = "welch"
    nperseg: Annotated[int, Field(ge=2)] | None = None  # None: min(length, 256)


class BandSection(StrictModel):
    """The band a forecast should stay in: ``low``/``high`` in the series' units, or else the
    history's ``quantiles``."""

    quantiles: tuple[Annotated[float, Field(ge=0, le=1)], Annotated[float, Field(ge=0, le=1)]] \
        = (0.05, 0.95)
    low: float | None = None
    high: float | None = None

    @model_validator(mode="after")
    def _order(self):
        if self.quantiles[0] >= self.quantiles[1]:
            raise ValueError(f"quantiles [lower, upper] with lower < upper (got {list(self.quantiles)})")
        if (self.low is None) != (self.high is None):
            raise ValueError("both band.low and band.high, or neither (then quantiles are used)")
        if self.low is not None and self.low >= self.high:
            raise ValueError(f"low < high (got {self.low} >= {self.high})")
        return self


class LevelSection(StrictModel):
    """Target of the forecast's mean: the history's mean, its last value, or a number."""

    target: Literal["history_mean", "last"] | float = "history_mean"


class ForecastWeights(StrictModel):
    band: float = 0.0
    level: float = 0.0
    oracle: float = 0.0  # uses the true future: for upper bounds only


class TSQAWeights(StrictModel):
    verifier: float = 1.0
    oracle: float = 0.0  # uses the gold option: for upper bounds only


class ForecastReward(StrictModel):
    kind: Literal["forecast"] = "forecast"
    invalid: float = -10.0
    gamma: Annotated[float, Field(ge=0)] = 1.0
    spectral: SpectralSection = SpectralSection()
    weights: ForecastWeights = ForecastWeights()
    band: BandSection = BandSection()
    level: LevelSection = LevelSection()


class TSQAReward(StrictModel):
    kind: Literal["tsqa"] = "tsqa"
    invalid: float = -1.0
    weights: TSQAWeights = TSQAWeights()


class UserReward(StrictModel):
    kind: Literal["user"] = "user"
    fn: str
    params: dict[str, Any] = {}
    oracle: bool = False  # True: fn sees the truth (future, gold, answer): for upper bounds only
    invalid: float = -10.0  # r of a text fn scores NaN or ±inf (the raw value is the user term)

    @field_validator("fn")
    @classmethod
    def _dotted(cls, v: str) -> str:
        if not _DOTTED.match(v):
            raise ValueError(f"package.module:function (got {v!r})")
        load_callable(v)  # fail at load time, naming the file and key, not mid-sweep
        return v


RewardSection = Annotated[Union[ForecastReward, TSQAReward, UserReward],
                          Field(discriminator="kind")]


def uses_oracle(reward) -> bool:
    """Whether the reward looks at the truth (its results are upper bounds, not methods): a
    built-in reward with a non-zero ``weights.oracle``, or a user reward marked ``oracle``."""
    if getattr(reward, "oracle", False) is True:
        return True
    weights = getattr(reward, "weights", None)
    return bool(weights is not None and getattr(weights, "oracle", 0.0) != 0.0)
