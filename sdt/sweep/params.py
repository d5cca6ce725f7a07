"""The values a study gives one key: fixed lists (grid, vary, zip) and distributions (random,
optuna), in sdt's syntax and in the syntax W&B users write.

Fixed values (``ValueList``)::

    search.method: [mcts, dts]            # a list
    search.method: {values: [mcts, dts]}  # W&B
    search.method: {value: mcts}          # W&B, one value

Distributions (``Distribution``), normalised to one of ``float``, ``int``, ``categorical``,
``normal`` and ``constant``::

    {uniform: [0.1, 1.0]}   {log_uniform: [1e-5, 1e-2]}   {int: [2, 8]}   {choice: [a, b]}
    {float: [0.1, 10.0], log: true, step: 0.1}            {categorical: [a, b]}   [a, b]
    {normal: [0.0, 1.0]}    {value: 3}                    {values: [a, b]}
    {distribution: uniform | q_uniform | log_uniform_values | q_log_uniform_values |
                   log_uniform (bounds are exponents, as in W&B) | int_uniform | categorical |
                   constant | normal, min:, max:, q:, mu:, sigma:, values:, value:}
    {min: 1, max: 8}        # W&B infers int_uniform from integer bounds, uniform otherwise

``sample(dist, rng)`` draws one value with a ``random.Random``; ``int`` bounds are inclusive.
"""

from __future__ import annotations

import math
import random
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, model_validator

from sdt.config import StrictModel

FIXED_SYNTAX = "a non-empty list of values, {values: [...]} or {value: x}"
DIST_SYNTAX = ("a distribution: {uniform: [lo, hi]}, {log_uniform: [lo, hi]}, {int: [lo, hi]}, "
               "{float: [lo, hi], log: bool}, {choice: [...]}, {normal: [mu, sigma]}, a list, "
               "{values: [...]}, {value: x} or {distribution: NAME, min: lo, max: hi}")
WANDB_DISTRIBUTIONS = ("constant", "categorical", "int_uniform", "uniform", "q_uniform",
                       "log_uniform", "log_uniform_values", "q_log_uniform_values", "normal")


def _fixed_values(raw: Any) -> list:
    if isinstance(raw, list):
        if not raw:
            raise ValueError(f"{FIXED_SYNTAX} (the list is empty)")
        return raw
    if isinstance(raw, dict):
        keys = set(raw) - {"distribution"}
        dist = raw.get("distribution")
        if keys == {"values"} and dist in (None, "categorical"):
            return _fixed_values(raw["values"])
        if keys == {"value"} and dist in (None, "constant"):
            return [raw["value"]]
        if dist is not None or keys & {"min", "max", "uniform", "log_uniform", "int", "float"}:
            raise ValueError(f"{FIXED_SYNTAX} (distributions belong in a `random` or `optuna` "
                             "study)")
    raise ValueError(FIXED_SYNTAX)


ValueList = Annotated[list, BeforeValidator(_fixed_values)]


class Distribution(StrictModel):
    """A normalised distribution; build it from any accepted syntax with ``model_validate``."""

    type: Literal["float", "int", "categorical", "normal", "constant"]
    low: float | None = None
    high: float | None = None
    log: bool = False
    step: float | None = None
    values: list | None = None
    mu: float | None = None
    sigma: float | None = None

    @model_validator(mode="before")
    @classmethod
    def _parse(cls, raw):
        return _normalise(raw)

    @model_validator(mode="after")
    def _check(self):
        if self.type in ("float", "int"):
            if self.low is None or self.high is None:
                raise ValueError("both bounds of the range")
            if self.low > self.high:
                raise ValueError(f"low <= high (got {self.low} > {self.high})")
            if self.log and self.low <= 0:
                raise ValueError(f"a positive lower bound for a log scale (got {self.low})")
            if self.step is not None and self.step <= 0:
                raise ValueError(f"a positive step (got {self.step})")
        if self.type == "categorical" and not self.values:
            raise ValueError("a non-empty list of values")
        if self.type == "normal" and (self.mu is None or self.sigma is None or self.sigma <= 0):
            raise ValueError("normal with mu and sigma > 0")
        return self


def _pair(raw: Any, name: str) -> tuple[float, float]:
    if (isinstance(raw, (list, tuple)) and len(raw) == 2
            and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in raw)):
        return raw[0], raw[1]
    raise ValueError(f"{name}: [low, high] with two numbers (got {raw!r})")


def _normalise(raw: Any) -> dict:
    if isinstance(raw, Distribution):
        return raw.model_dump()
    if isinstance(raw, list):
        return {"type": "categorical", "values": raw}
    if not isinstance(raw, dict):
        raise ValueError(DIST_SYNTAX)
    if "type" in raw:  # already normalised (a dump of a Distribution)
        return raw
    if "distribution" in raw or ("min" in raw and "max" in raw):
        return _normalise_wandb(raw)
    extra = {k: raw[k] for k in ("log", "step") if k in raw}
    for name, kind, log in (("uniform", "float", False), ("float", "float", False),
                            ("log_uniform", "float", True), ("int", "int", False)):
        if name in raw:
            rest = set(raw) - {name, "log", "step"}
            if rest:
                raise ValueError(f"{name} with only log/step beside it (got {sorted(rest)})")
            low, high = _pair(raw[name], name)
            return {"type": kind, "low": low, "high": high, "log": extra.get("log", log),
                    **({"step": extra["step"]} if "step" in extra else {})}
    for name in ("choice", "categorical", "values"):
        if name in raw and set(raw) == {name}:
            if not isinstance(raw[name], list):
                raise ValueError(f"{name}: a list of values")
            return {"type": "categorical", "values": raw[name]}
    if set(raw) == {"value"}:
        return {"type": "constant", "values": [raw["value"]]}
    if set(raw) == {"normal"}:
        mu, sigma = _pair(raw["normal"], "normal")
        return {"type": "normal", "mu": mu, "sigma": sigma}
    raise ValueError(f"{DIST_SYNTAX} (got {raw!r})")


def _normalise_wandb(raw: dict) -> dict:
    allowed = {"distribution", "min", "max", "q", "mu", "sigma", "values", "value"}
    if set(raw) - allowed:
        raise ValueError(f"W&B parameter keys {sorted(allowed)} (got {sorted(set(raw) - allowed)})")
    name = raw.get("distribution")
    if name is None:  # W&B infers it from the bounds
        ints = all(isinstance(raw[k], int) and not isinstance(raw[k], bool) for k in ("min", "max"))
        name = "int_uniform" if ints else "uniform"
    if name not in WANDB_DISTRIBUTIONS:
        raise ValueError(f"distribution one of {list(WANDB_DISTRIBUTIONS)} (got {name!r})")
    if name == "constant":
        if "value" not in raw:
            raise ValueError("constant with value")
        return {"type": "constant", "values": [raw["value"]]}
    if name == "categorical":
        if not isinstance(raw.get("values"), list):
            raise ValueError("categorical with a list of values")
        return {"type": "categorical", "values": raw["values"]}
    if name == "normal":
        return {"type": "normal", "mu": raw.get("mu", 0.0), "sigma": raw.get("sigma", 1.0)}
    if "min" not in raw or "max" not in raw:
        raise ValueError(f"{name} with min and max")
    low, high = _pair([raw["min"], raw["max"]], name)
    if name == "log_uniform":  # W&B: the bounds are natural-log exponents
        low, high = math.exp(low), math.exp(high)
    out = {"type": "int" if name == "int_uniform" else "float", "low": low, "high": high,
           "log": "log_uniform" in name}
    if name.startswith("q_"):
        out["step"] = raw.get("q", 1.0)
    return out


def sample(dist: Distribution, rng: random.Random) -> Any:
    """One draw from ``dist``."""
    if dist.type in ("categorical", "constant"):
        return dist.values[rng.randrange(len(dist.values))]
    if dist.type == "normal":
        return rng.gauss(dist.mu, dist.sigma)
    low, high = dist.low, dist.high
    if dist.type == "int":
        if dist.log:
            value = round(math.exp(rng.uniform(math.log(low), math.log(high))))
        else:
            value = rng.randint(math.ceil(low), math.floor(high))
        if dist.step:
            value = low + round((value - low) / dist.step) * dist.step
        return int(min(max(value, low), high))
    value = math.exp(rng.uniform(math.log(low), math.log(high))) if dist.log \
        else rng.uniform(low, high)
    if dist.step:
        value = min(max(low + round((value - low) / dist.step) * dist.step, low), high)
    return value


def is_discrete(dist: Distribution) -> bool:
    return dist.type in ("categorical", "constant")
