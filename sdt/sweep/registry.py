"""Experiment kinds by name: the seam between sweeps and what they run.

A :class:`Kind` says how to validate a run's config (``schema``), how to run it (``run``, with
the contract ``run(config, ctx: RunContext) -> dict[str, float]``), which other runs it needs
first (``dependencies``), which metrics it reports and which one a study optimises by default.
Schema, run and dependency functions are given as ``"module:attr"`` strings and imported only
when needed, so expanding a sweep never imports torch.

Built-in kinds::

    train   sdt.config.schema:TrainConfig        -> sdt.train.experiment:run
    search  sdt.config.search_run:SearchRunConfig -> sdt.search.experiment:run
            (dependencies: sdt.search.experiment:dependencies, the training run it decodes with)
    sleep   sdt.sweep.kinds.sleep:SleepConfig    -> sdt.sweep.kinds.sleep:run  (tests, benchmarks)

A user kind is named by a dotted path to a ``Kind`` object, ``experiment: mypkg.kinds:MY_KIND``,
or registered in-process with :func:`register_kind`.

>>> kind = get_kind("sleep")
>>> kind.load_schema().__name__
'SleepConfig'

The dependencies function has the signature
``dependencies(config) -> dict[str, tuple[str, BaseModel]]``: dependency name -> (kind name,
validated config of the run it needs). The planner turns each into its own run (deduplicated by
config hash) and hands its run directory to the dependent run as ``ctx.deps[name]``.
"""

from __future__ import annotations

import difflib
import importlib
from dataclasses import dataclass
from typing import Callable

from pydantic import BaseModel

from sdt.errors import ConfigError, UserError


def resolve(ref, what: str):
    """Import ``"package.module:attr"`` (or return ``ref`` if it is already an object)."""
    if not isinstance(ref, str):
        return ref
    module_name, sep, attr = ref.partition(":")
    if not sep or not module_name or not attr:
        raise UserError(f"{what}: expected 'package.module:attr', got {ref!r}")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise UserError(f"{what}: cannot import {module_name!r} for {ref!r} ({exc})") from None
    obj = module
    for part in attr.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise UserError(f"{what}: {module_name!r} has no attribute {attr!r}") from None
    return obj


@dataclass(frozen=True)
class Kind:
    """One experiment kind.

    ``cost``, when given, is ``cost(config) -> float`` seconds (an estimate the scheduler may use
    to run cheap runs first); ``None`` means unknown.

    ``coupled`` tells expansion which top-level config keys the schema validates together
    (a ``mode="before"`` validator that reads one section to fill another): groups of keys
    that are re-validated from the raw base together when a sweep point touches any of them.
    ``()`` says every section validates on its own, so a point re-validates only the sections
    it touches (fast); ``None`` (the default, safe for any schema) re-validates the whole
    config for every point.
    """

    name: str
    schema: type[BaseModel] | str
    run: Callable | str
    dependencies: Callable | str | None = None
    metrics: tuple[str, ...] = ()
    objective: str | None = None
    cost: Callable | str | None = None
    coupled: tuple[tuple[str, ...], ...] | None = None

    def load_schema(self) -> type[BaseModel]:
        schema = resolve(self.schema, f"experiment kind {self.name!r} schema")
        if not (isinstance(schema, type) and issubclass(schema, BaseModel)):
            raise UserError(f"experiment kind {self.name!r}: schema {self.schema!r} is not a "
                            "pydantic model class")
        return schema

    def load_run(self) -> Callable:
        fn = resolve(self.run, f"experiment kind {self.name!r} run function")
        if not callable(fn):
            raise UserError(f"experiment kind {self.name!r}: run {self.run!r} is not callable")
        return fn

    def load_dependencies(self) -> Callable | None:
        if self.dependencies is None:
            return None
        return resolve(self.dependencies, f"experiment kind {self.name!r} dependencies")

    def load_cost(self) -> Callable | None:
        if self.cost is None:
            return None
        return resolve(self.cost, f"experiment kind {self.name!r} cost")


_KINDS: dict[str, Kind] = {}


def register_kind(kind: Kind) -> Kind:
    """Make ``kind`` available by its name (a later registration of the same name wins)."""
    if not isinstance(kind, Kind):
        raise TypeError(f"register_kind expects a Kind, got {type(kind).__name__}")
    _KINDS[kind.name] = kind
    return kind


def known_kinds() -> list[str]:
    return sorted(_KINDS)


def get_kind(name: str, file: str = "<sweep>") -> Kind:
    """The kind called ``name``, or a user kind at ``"package.module:OBJECT"``.

    An unknown name is a :class:`ConfigError` on the key ``experiment`` of ``file`` that lists
    the known kinds.
    """
    if not isinstance(name, str) or not name:
        raise ConfigError(file, "experiment", f"one of {known_kinds()} or 'package.module:KIND'",
                          got=name)
    if name in _KINDS:
        return _KINDS[name]
    if ":" in name:
        try:
            obj = resolve(name, "experiment")
        except UserError as exc:
            raise ConfigError(file, "experiment", "an importable 'package.module:KIND' object",
                              got=name, hint=str(exc)) from None
        if not isinstance(obj, Kind):
            raise ConfigError(file, "experiment", "a sdt.sweep.registry.Kind object", got=name,
                              hint=f"found {type(obj).__name__}")
        return obj
    close = difflib.get_close_matches(name, known_kinds(), n=1)
    hint = f"did you mean '{close[0]}'?" if close else "or a user kind 'package.module:KIND'"
    raise ConfigError(file, "experiment", f"one of {known_kinds()}", got=name, hint=hint)


register_kind(Kind(
    name="train",
    schema="sdt.config.schema:TrainConfig",
    run="sdt.train.experiment:run",
    metrics=("test_accuracy", "test_loss", "best_epoch", "epochs", "steps", "train_time_s"),
    objective="test_accuracy",
    coupled=(),
))
register_kind(Kind(
    name="search",
    schema="sdt.config.search_run:SearchRunConfig",
    run="sdt.search.experiment:run",
    dependencies="sdt.search.experiment:dependencies",
    metrics=("reward", "accuracy", "crps", "mse", "mae", "spec_w1", "power_ratio", "diversity",
             "perplexity", "nfe", "tokens", "nodes", "max_depth", "mean_branching", "time_s",
             "valid_rate"),
    objective="reward",
    # the training config fills the evaluation data set, which picks the reward
    coupled=(("train", "train_overrides", "dataset", "reward"),),
))
register_kind(Kind(
    name="sleep",
    schema="sdt.sweep.kinds.sleep:SleepConfig",
    run="sdt.sweep.kinds.sleep:run",
    metrics=("slept_s", "value"),
    objective="value",
    cost="sdt.sweep.kinds.sleep:cost",
    coupled=(),
))
