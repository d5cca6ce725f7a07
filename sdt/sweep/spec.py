"""The sweep file: what to run (``experiment`` kind, ``base`` config, ``set``, ``seeds``,
``baseline``, ``studies``) and how (``resources``, ``tracking``, ``store``, ``retries``,
``report``, ``limits``). See ``shared/design/SWEEPS.md`` for the format.

``load_sweep(path, overrides)`` reads and validates it; every problem is a
:class:`sdt.errors.ConfigError` naming the sweep file and the dotted key (with a "did you mean"
for misspelt keys). ``base`` is resolved relative to the sweep file. ``overrides`` are
``dotted.key=value`` items applied to every run after the file's ``set`` (``--set`` on the
command line).

Keys in ``set``, ``baseline`` and the studies are dotted config keys (``dataset.horizon: 4``
changes one key); a mapping value replaces the whole section it names (``dataset: {name:
forecast}`` switches the data set). ``baseline`` is the sweep's centre point (see
:mod:`sdt.sweep.expand` for how it applies).

A study is any combination of the blocks ``grid``, ``zip``, ``runs``, ``vary`` (crossed with
each other, see :mod:`sdt.sweep.expand`) and ``random``, or a single ``optuna`` block. It may
also be written the W&B way, ``{method: grid | random | bayes, parameters: {...}, run_cap: N,
metric: {name, goal}}``. ``study.kind`` is ``"grid"`` (fixed points, expanded up front),
``"random"`` (drawn up front with a fixed seed) or ``"optuna"`` (adaptive: the scheduler asks
Optuna for trials; :func:`sdt.sweep.expand.expand` leaves it in ``plan.adaptive``).

A whole W&B sweep file (``method``, ``parameters``, ``program``/``command``, ``metric``) loads as
one study named after the file. With sdt's ``experiment`` (and usually ``base``) in it, it runs
through that kind; without, ``spec.command`` keeps its program for the ``command`` kind.

>>> spec = load_sweep("sweeps/sleep_demo.yaml")  # doctest: +SKIP
>>> spec.studies["tags"].kind  # doctest: +SKIP
'grid'
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, PrivateAttr, field_validator, model_validator

from sdt.config import StrictModel, load_yaml, parse_set
from sdt.config.load import validate
from sdt.config.schema import TrackingSection
from sdt.errors import ConfigError
from sdt.sweep.backends import BACKENDS
from sdt.sweep.params import Distribution, ValueList, is_discrete

PosInt = Annotated[int, Field(gt=0)]
PosFloat = Annotated[float, Field(gt=0)]
DEVICE = re.compile(r"^(cpu|mps|cuda(:\d+)?)$")
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
MAX_POINTS = 1_000_000
WANDB_FILE_KEYS = ("method", "parameters", "metric", "run_cap", "early_terminate", "program",
                   "command", "project", "entity", "description")


class RandomBlock(StrictModel):
    """``n`` points drawn from ``params`` with a ``random.Random(seed)``."""

    n: PosInt
    seed: int = 0
    params: dict[str, Distribution]

    @field_validator("params")
    @classmethod
    def _non_empty(cls, v):
        if not v:
            raise ValueError("at least one parameter")
        return v


SAMPLERS = ("tpe", "random", "grid", "nsga2", "cmaes", "gp", "qmc")
PRUNERS = ("none", "median", "percentile", "hyperband", "successive_halving", "wilcoxon")
OPTUNA_CHOICE_TYPES = (type(None), bool, int, float, str)


class OptunaBlock(StrictModel):
    """An adaptive study run by Optuna: a study named ``<sweep>/<study>`` in the store's own
    database. ``n_trials`` counts every trial the study holds (so a resumed study stops at the
    same total) and ``timeout`` (seconds) ends asking for new trials in one invocation, as in
    ``study.optimize``; ``n_parallel`` trials are asked and not yet told at any moment
    (default: two per slot, one running and one waiting behind it)."""

    n_trials: PosInt
    timeout: PosFloat | None = None
    n_parallel: PosInt | None = None
    sampler: Literal[SAMPLERS] = "tpe"
    sampler_options: dict[str, Any] = {}
    pruner: Literal[PRUNERS] = "none"
    pruner_options: dict[str, Any] = {}
    objectives: dict[str, Literal["maximize", "minimize"]]
    seed: int | None = None
    params: dict[str, Distribution]

    @model_validator(mode="after")
    def _consistent(self):
        if not self.params:
            raise ValueError("at least one parameter in params")
        if not self.objectives:
            raise ValueError("at least one objective {metric: maximize|minimize}")
        if len(self.objectives) > 1 and self.pruner != "none":
            raise ValueError("pruner: none with several objectives (Optuna cannot prune "
                             "multi-objective studies)")
        if self.sampler == "grid":
            bad = sorted(k for k, d in self.params.items() if not is_discrete(d))
            if bad:
                raise ValueError(f"lists of values for the grid sampler (not ranges): {bad}")
        for key, dist in self.params.items():
            if dist.type == "normal":
                raise ValueError(f"params.{key}: Optuna has no normal distribution (use "
                                 "{float: [lo, hi]})")
            if dist.type == "float" and dist.log and dist.step is not None:
                raise ValueError(f"params.{key}: log or step, not both (Optuna allows one)")
            bad = [v for v in dist.values or [] if not isinstance(v, OPTUNA_CHOICE_TYPES)]
            if bad:
                raise ValueError(f"params.{key}: choices that are None, bool, int, float or "
                                 f"str for Optuna (got {bad[0]!r})")
        if self.pruner_options and self.pruner == "none":
            raise ValueError("pruner_options only with a pruner")
        return self


class Study(StrictModel):
    timeout: PosFloat | None = None  # seconds per run of this study (beats resources.timeout)
    grid: dict[str, ValueList] | None = None
    zip: dict[str, ValueList] | None = None
    runs: list[dict[str, Any]] | None = None
    vary: dict[str, ValueList] | None = None
    random: RandomBlock | None = None
    optuna: OptunaBlock | None = None

    @model_validator(mode="before")
    @classmethod
    def _wandb_style(cls, data):
        if isinstance(data, dict) and ("method" in data or "parameters" in data):
            return wandb_study(data)
        return data

    @field_validator("grid", "zip", "vary")
    @classmethod
    def _keys(cls, v):
        if v is not None and not v:
            raise ValueError("at least one key with a list of values")
        return v

    @field_validator("runs")
    @classmethod
    def _runs(cls, v):
        if v is not None and not v:
            raise ValueError("a non-empty list of override mappings")
        return v

    @model_validator(mode="after")
    def _blocks(self):
        present = [b for b in BLOCKS if getattr(self, b) is not None]
        if not present:
            raise ValueError(f"at least one of {list(BLOCKS)}")
        if self.optuna is not None and len(present) > 1:
            raise ValueError(f"optuna alone in its study (found {present})")
        if self.zip is not None:
            lengths = {k: len(v) for k, v in self.zip.items()}
            if len(set(lengths.values())) > 1:
                raise ValueError(f"zip lists of equal length (got {lengths})")
        seen: dict[str, str] = {}
        for block in present:
            for key in self.block_keys(block):
                if key in seen and seen[key] != block:
                    raise ValueError(f"each key in one block ({key!r} is in {seen[key]} and "
                                     f"{block})")
                seen[key] = block
        return self

    def block_keys(self, block: str) -> list[str]:
        value = getattr(self, block)
        if value is None:
            return []
        if block == "runs":
            return sorted({k for point in value for k in point})
        if block in ("random", "optuna"):
            return list(value.params)
        return list(value)

    @property
    def kind(self) -> Literal["grid", "random", "optuna"]:
        if self.optuna is not None:
            return "optuna"
        return "random" if self.random is not None else "grid"


BLOCKS = ("grid", "zip", "runs", "vary", "random", "optuna")


def wandb_study(data: dict) -> dict:
    """A W&B-style study (``method``, ``parameters``, ``run_cap``, ``metric``,
    ``early_terminate``) as sdt blocks."""
    data = dict(data)
    method = data.pop("method", None)
    params = data.pop("parameters", None)
    run_cap = data.pop("run_cap", None)
    metric = data.pop("metric", None)
    early = data.pop("early_terminate", None)
    if data:
        raise ValueError(f"only W&B keys beside method/parameters (got {sorted(data)})")
    if method not in ("grid", "random", "bayes"):
        raise ValueError(f"method: one of grid, random, bayes (got {method!r})")
    if not isinstance(params, dict) or not params:
        raise ValueError("parameters: a mapping of keys to {values|value|distribution}")
    params = _flatten_wandb(params)
    if early is not None and method != "bayes":
        raise ValueError("early_terminate only with method: bayes")
    if metric is not None and method != "bayes":
        raise ValueError("metric only with method: bayes (list what to report under "
                         "report.metrics)")
    if method == "grid":
        return {"grid": params}
    if run_cap is None:
        raise ValueError(f"run_cap (how many points method: {method} draws)")
    if method == "random":
        return {"random": {"n": run_cap, "params": params}}
    if not isinstance(metric, dict) or "name" not in metric:
        raise ValueError("metric: {name: ..., goal: maximize|minimize} for method: bayes")
    goal = metric.get("goal", "minimize")
    out = {"n_trials": run_cap, "sampler": "tpe", "params": params,
           "objectives": {metric["name"]: goal}}
    if early is not None:
        if not isinstance(early, dict) or early.get("type") != "hyperband":
            raise ValueError("early_terminate: {type: hyperband}")
        out["pruner"] = "hyperband"
    return {"optuna": out}


def _flatten_wandb(params: dict, prefix: str = "") -> dict:
    """W&B nests parameters (``{model: {parameters: {lr: ...}}}``); sdt keys are dotted."""
    out = {}
    for key, value in params.items():
        if isinstance(value, dict) and set(value) == {"parameters"} \
                and isinstance(value["parameters"], dict):
            out.update(_flatten_wandb(value["parameters"], f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


class Slots(StrictModel):
    cpu: PosInt = 1
    cuda: PosInt = 1
    mps: PosInt = 1


class Resources(StrictModel):
    devices: Literal["auto"] | list[str] = "auto"
    slots: Slots = Slots()
    backend: Literal["local", "dask"] = "local"
    address: str | None = None  # dask scheduler, e.g. tcp://host:8786; None: a local cluster
    timeout: PosFloat | None = None  # seconds per run: a longer run is ended, recorded failed

    @field_validator("devices")
    @classmethod
    def _devices(cls, v):
        if isinstance(v, list):
            if not v:
                raise ValueError("auto or a non-empty list of devices (cpu, cuda, cuda:N, mps)")
            bad = [d for d in v if not isinstance(d, str) or not DEVICE.match(d)]
            if bad:
                raise ValueError(f"devices among cpu, cuda, cuda:N, mps (got {bad[0]!r})")
            if len(set(v)) != len(v):
                raise ValueError(f"each device once (got {v})")
        return v

    @model_validator(mode="after")
    def _address(self):
        if self.address is not None and self.backend != "dask":
            raise ValueError("address only with backend: dask")
        return self

    @field_validator("backend")
    @classmethod
    def _backend(cls, v):
        if v not in BACKENDS:
            raise ValueError(f"a backend this sdt has ({', '.join(BACKENDS)}); {v!r} is not "
                             "in this version yet: use backend: local, and `sdt-sweep worker` "
                             "on each machine with one shared --store to spread a sweep")
        return v


class Report(StrictModel):
    """What ``sdt-sweep report`` compares (see :mod:`sdt.report`): the ``baseline`` method and
    the ``candidates`` (each a mapping of config keys to values that selects runs), the
    ``metrics`` (columns, in order), the ``reference`` whose reward at its largest ``budget``
    the claim row asks each candidate to match, the paired ``test`` and its ``alpha``.
    Empty means the report's defaults."""

    baseline: dict[str, Any] = {}
    candidates: list[dict[str, Any]] = []
    metrics: list[str] = []
    reference: dict[str, Any] = {}
    budget: str = "search.num_rollouts"
    test: Literal["wilcoxon", "t"] = "wilcoxon"
    alpha: Annotated[float, Field(gt=0, lt=1)] = 0.05


class Limits(StrictModel):
    max_points: PosInt = MAX_POINTS  # more points than this are refused without --force


class WandbCommand(StrictModel):
    """What a W&B sweep file runs itself (for the ``command`` kind)."""

    program: str | None = None
    command: list[str] | None = None


class SweepSpec(StrictModel):
    name: str
    description: str = ""
    experiment: str | None = None
    base: str | None = None  # resolved: absolute, or relative to the current folder
    set: dict[str, Any] = {}
    seeds: list[int] | None = None
    baseline: dict[str, Any] = {}
    studies: dict[str, Study]
    resources: Resources = Resources()
    tracking: TrackingSection = TrackingSection()
    store: str | None = None
    retries: Annotated[int, Field(ge=0)] = 0
    report: Report = Report()
    limits: Limits = Limits()
    command: WandbCommand | None = None

    _file: str = PrivateAttr(default="<sweep>")

    @field_validator("name")
    @classmethod
    def _name(cls, v):
        if not NAME.match(v):
            raise ValueError("a name of letters, digits, '.', '_' and '-' (it names a folder)")
        return v

    @field_validator("seeds")
    @classmethod
    def _seeds(cls, v):
        if v is not None:
            if not v:
                raise ValueError("a non-empty list of integer seeds")
            if len(set(v)) != len(v):
                raise ValueError(f"distinct seeds (got {v})")
        return v

    @field_validator("studies")
    @classmethod
    def _studies(cls, v):
        if not v:
            raise ValueError("at least one study")
        bad = [name for name in v if not NAME.match(name)]
        if bad:
            raise ValueError(f"study names of letters, digits, '.', '_' and '-' (got {bad[0]!r})")
        return v

    @property
    def file(self) -> str:
        return self._file


def _validate_at(data: Any, schema, file: str, prefix: str):
    """Validate ``data`` (found at ``prefix`` in the sweep file) and name the full key."""
    try:
        return validate(data, schema, file)
    except ConfigError as exc:
        key = ".".join(p for p in (prefix, exc.key) if p) or None
        hint = exc.hint
        if prefix and exc.expected is None and hint and "did you mean '" in hint:
            hint = hint.replace("did you mean '", f"did you mean '{prefix}.")
        raise ConfigError(file, key, exc.expected, exc.got, hint) from None


def _from_wandb_file(data: dict, path: Path) -> dict:
    """A W&B sweep file as a sweep with one study (named like the file)."""
    data = dict(data)
    wandb_keys = {k: data.pop(k) for k in WANDB_FILE_KEYS if k in data}
    study = {k: wandb_keys[k] for k in ("method", "parameters", "metric", "run_cap",
                                        "early_terminate") if k in wandb_keys}
    metric = study.get("metric")
    if study.get("method") != "bayes" and isinstance(metric, dict) and "name" in metric:
        # W&B shows this metric for grid and random sweeps; sdt shows it in the report.
        study.pop("metric")
        report = dict(data.get("report") or {})
        report.setdefault("metrics", [metric["name"]])
        data["report"] = report
    name = _safe(data.get("name") or path.stem)  # W&B sweep names may hold spaces
    data["name"] = name
    if "description" in wandb_keys:
        data["description"] = wandb_keys["description"]
    data["studies"] = {name: study}
    if "program" in wandb_keys or "command" in wandb_keys:
        data["command"] = {k: wandb_keys[k] for k in ("program", "command") if k in wandb_keys}
    if "project" in wandb_keys or "entity" in wandb_keys:
        wandb = dict((data.get("tracking") or {}).get("wandb") or {})
        wandb.update({k: wandb_keys[k] for k in ("project", "entity") if k in wandb_keys})
        data["tracking"] = {**(data.get("tracking") or {}), "wandb": wandb}
    return data


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in str(name)).lstrip("._-") \
        or "study"


def load_sweep(path: str | Path, overrides: list[str] | None = None) -> SweepSpec:
    """Read, check and return the sweep at ``path`` (see the module docstring)."""
    path = Path(path)
    file = str(path)
    data = load_yaml(path)
    if "parameters" in data and "studies" not in data:
        data = _from_wandb_file(data, path)
    data.setdefault("name", _safe(path.stem))
    studies = data.get("studies")
    if isinstance(studies, dict):
        for name, study in studies.items():
            _validate_at(study, Study, file, f"studies.{name}")
    spec = _validate_at(data, SweepSpec, file, "")
    spec._file = file

    if spec.experiment is None and spec.command is None:
        raise ConfigError(file, "experiment", "an experiment kind (train, search, sleep or "
                          "'package.module:KIND')")
    if spec.experiment is not None:
        from sdt.sweep.registry import get_kind

        get_kind(spec.experiment, file)
    if spec.base is not None:
        base = Path(spec.base).expanduser()
        base = base if base.is_absolute() else path.parent / base
        if not base.is_file():
            raise ConfigError(file, "base", "an existing experiment config file", got=spec.base,
                              hint=f"looked for {base} (base is relative to the sweep file)")
        spec.base = str(base)
    if overrides:
        extra = dict(parse_set(item, "--set") for item in overrides)
        spec.set = {**spec.set, **extra}
    check_baseline(spec)
    return spec


def check_baseline(spec: SweepSpec) -> None:
    """Every ``vary`` factor needs a value in ``baseline`` (the centre it moves away from)."""
    for name, study in spec.studies.items():
        for key in study.vary or {}:
            if key not in spec.baseline:
                raise ConfigError(spec.file, f"studies.{name}.vary.{key}",
                                  "a value for this factor under `baseline:` (the centre point "
                                  "of one-factor-at-a-time studies)")
