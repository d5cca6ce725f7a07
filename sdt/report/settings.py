"""The report's settings: the sweep file's ``report:`` section checked against the runs in the
store, with the defaults filled in.

Defaults (no ``report:`` section, or a key left out): the method key is ``search.method``
when the runs differ in it; the baseline is ``greedy`` (the OpenTSLM decoding) when it ran,
else the first method in plan order; the candidates are every other method; the reference of
the claim row is ``dts`` when it ran; the metrics are those of :data:`DEFAULT_METRICS` that
the runs recorded (``test_*`` and ``train_time_s`` for training sweeps). Without a method key
every configuration of the sweep is a method of its own.
"""

from __future__ import annotations

import difflib
import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from sdt.errors import ConfigError
from sdt.report.data import SweepData, _hashable, config_columns, is_number, short, show

METHOD_KEY = "search.method"
DEFAULT_BASELINE = "greedy"
DEFAULT_REFERENCE = "dts"
DEFAULT_METRICS = ("crps", "spec_w1", "reward", "power_ratio", "nfe", "time_s", "accuracy")
LOWER_IS_BETTER = ("crps", "spec_w1", "nfe", "time_s", "mse", "mae", "loss", "perplexity",
                   "tokens", "nodes", "duration_s")
HIGHER_IS_BETTER = ("reward", "accuracy", "valid_rate", "diversity", "f1")
CLOSEST_TO_ONE = ("power_ratio",)


def direction(metric: str) -> str | None:
    """``max``, ``min``, ``one`` (best near 1) or None (no best marked) for a metric name,
    judged by its last word (``test_loss`` is a loss)."""
    tail = metric.rsplit("/", 1)[-1]
    for names, way in ((CLOSEST_TO_ONE, "one"), (LOWER_IS_BETTER, "min"),
                       (HIGHER_IS_BETTER, "max")):
        if tail in names or any(tail.endswith("_" + n) for n in names):
            return way
    if tail.endswith("_s") or tail.endswith("time"):
        return "min"
    return None


@dataclass
class Selector:
    """Runs whose config has every ``where`` value; ``origin`` locates it in the sweep file."""

    where: dict
    origin: str

    @property
    def label(self) -> str:
        """``sadt`` for a method, ``lr_encoder=0.001`` for any other configuration."""
        if list(self.where) == [METHOD_KEY]:
            return show(self.where[METHOD_KEY])
        keys = list(self.where)
        return ", ".join(f"{short(k, keys)}={show(v)}" for k, v in self.where.items()) \
            or "all runs"

    def matches(self, frame: pd.DataFrame) -> pd.Series:
        mask = pd.Series(True, index=frame.index)
        for key, value in self.where.items():
            mask &= frame[key].map(lambda v, want=value: same(v, want))
        return mask


def same(a, b) -> bool:
    if is_number(a) and is_number(b):
        return bool(math.isclose(float(a), float(b), rel_tol=1e-9, abs_tol=1e-12))
    return _hashable(a) == _hashable(b)


@dataclass
class Settings:
    baseline: Selector
    candidates: list[Selector]
    metrics: list[str]
    reference: Selector | None
    budget: str | None
    test: str = "wilcoxon"
    alpha: float = 0.05
    source: str = "defaults (no report: section)"


def _known_metrics(data: SweepData) -> list[str]:
    names = set(data.metric_names)
    names |= {c for c in data.queries.columns if c not in ("run_id", "seed", "query", "arm")}
    return sorted(names)


def _check_keys(sel: Selector, columns: list[str], file: str, kind: str) -> None:
    for key in sel.where:
        if key not in columns:
            close = difflib.get_close_matches(key, columns, n=1)
            hint = f"; did you mean {close[0]!r}" if close else ""
            raise ConfigError(file, sel.origin, None,
                              hint=f"{key!r} is not a config key of the sweep's {kind} runs"
                                   f"{hint}")


def _check_values(sel: Selector, primary: pd.DataFrame, file: str) -> None:
    if not sel.matches(primary).any():
        shown = {k: sorted({str(_hashable(v)) for v in primary[k]})[:8] for k in sel.where}
        raise ConfigError(file, sel.origin, None,
                          hint=f"no run of the sweep has {sel.where} (values in the sweep: "
                               f"{shown})")


def resolve(data: SweepData, section=None, file: str | None = None) -> Settings:
    """Settings for ``data`` from a :class:`sdt.sweep.spec.Report` (or None)."""
    primary = data.primary
    columns = config_columns(primary, data.metric_names)
    where = file or f"sweep {data.name}"
    given = section is not None and bool(section.model_fields_set)
    method_key = METHOD_KEY if METHOD_KEY in data.arm_keys else None
    arms = primary.drop_duplicates("arm")

    def values_of(key):
        return list(dict.fromkeys(_hashable(v) for v in arms[key]))

    if section is not None and section.baseline:
        baseline = Selector(dict(section.baseline), "report.baseline")
    elif method_key:
        methods = values_of(method_key)
        first = DEFAULT_BASELINE if DEFAULT_BASELINE in methods else methods[0]
        baseline = Selector({method_key: first}, "report.baseline")
    elif data.arm_keys:
        first = arms.iloc[0]
        baseline = Selector({k: first[k] for k in data.arm_keys}, "report.baseline")
    else:
        baseline = Selector({}, "report.baseline")

    if section is not None and section.candidates:
        candidates = [Selector(dict(c), f"report.candidates[{i}]")
                      for i, c in enumerate(section.candidates)]
    elif method_key:
        candidates = [Selector({method_key: m}, f"report.candidates (default: {m})")
                      for m in values_of(method_key) if not same(m, baseline.where.get(method_key))]
    else:
        rest = arms[~baseline.matches(arms)]
        candidates = [Selector({k: r[k] for k in data.arm_keys}, "report.candidates (default)")
                      for _, r in rest.iterrows()]

    reference = None
    if section is not None and section.reference:
        reference = Selector(dict(section.reference), "report.reference")
    elif method_key and DEFAULT_REFERENCE in values_of(method_key):
        reference = Selector({method_key: DEFAULT_REFERENCE}, "report.reference")

    for sel in [baseline, *candidates] + ([reference] if reference else []):
        _check_keys(sel, columns, where, data.primary_kind)
        _check_values(sel, primary, where)

    budget = section.budget if section is not None else "search.num_rollouts"
    if budget not in columns:
        if section is not None and "budget" in section.model_fields_set:
            raise ConfigError(where, "report.budget", None,
                              hint=f"{budget!r} is not a config key of the sweep's "
                                   f"{data.primary_kind} runs")
        budget = None

    known = _known_metrics(data)
    if section is not None and section.metrics:
        metrics = list(section.metrics)
        if len(data.completed):
            for i, m in enumerate(metrics):
                if m not in known:
                    close = difflib.get_close_matches(m, known, n=1)
                    hint = f"; did you mean {close[0]!r}" if close else ""
                    raise ConfigError(where, f"report.metrics[{i}]", None,
                                      hint=f"no run recorded a metric {m!r}{hint}")
    else:
        metrics = [m for m in DEFAULT_METRICS if m in known]
        if not metrics:
            metrics = [m for m in known if m.startswith("test_")] + \
                      [m for m in ("train_time_s",) if m in known]
        if not metrics:
            metrics = [m for m in known if _numeric_metric(data, m)][:6]
    return Settings(baseline=baseline, candidates=candidates, metrics=metrics,
                    reference=reference, budget=budget,
                    test=section.test if section is not None else "wilcoxon",
                    alpha=section.alpha if section is not None else 0.05,
                    source=f"the report: section of {file}" if given and file
                    else "defaults (no report: section)")


def _numeric_metric(data: SweepData, metric: str) -> bool:
    if metric not in data.runs:
        return False
    values = data.runs[metric].dropna()
    return len(values) > 0 and all(is_number(v) for v in values) and not \
        np.all(pd.isna(values))
