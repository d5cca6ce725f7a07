"""Expansion: a sweep spec becomes the list of runs to execute, each with its resolved config.

Semantics (``shared/design/SWEEPS.md``), per study:

- ``grid``: the cartesian product of its lists.
- ``vary``: one factor at a time around the sweep's ``baseline``: the baseline point once, then
  for each factor each value that differs from the baseline's, so a study has
  ``1 + sum(non-baseline values)`` points.
- ``zip``: equal-length lists taken together; ``runs``: an explicit list of override mappings;
  ``random``: ``n`` draws with ``random.Random(seed)``.
- Blocks in one study are crossed (``grid`` x ``zip`` x ``runs`` x ``vary`` x ``random``).
- ``optuna`` studies are adaptive: they are not expanded but listed in ``plan.adaptive`` for the
  scheduler.

A run's config is ``base`` <- ``set`` (and ``--set``) <- ``baseline`` <- the point <- its seed
(``seeds`` replicate every point; the seed is the config's top-level ``seed``). It is validated
against the kind's schema, so a key that does not exist for this point (including conditional
keys of tagged unions, e.g. ``dataset.horizon`` when ``dataset.name`` is ``tsqa``) is a
:class:`ConfigError` naming the sweep file, the study and the key. The run id is
``config_hash`` of the resolved config's JSON dump (the same id ``sdt.single.run_dir_for``
gives), so identical points in several studies are one run carrying every study tag.

``baseline`` is the sweep's centre point: it applies to every run of every study (so the
methods of one study and the centre points of the others are the same runs), and each of its
keys applies where the run's config has that key: ``search.lam`` sets the soft methods' lam
and is left out for ``mcts``, which has none (the run's ``overrides`` show what applied). A
baseline key that applies to no run at all is an error, like a misspelt key anywhere else.

Order: dependencies first (a search run's training run is its own ``PlannedRun``, shared by every
run that needs it), then the studies interleaved round-robin (seed by seed within a study) so
partial results cover every study.

More than ``limits.max_points`` (10^6) points are refused unless ``force=True``.

>>> plan = expand(load_sweep("sweeps/sleep_demo.yaml"))  # doctest: +SKIP
>>> len(plan.runs), plan.duplicates  # doctest: +SKIP
(12, 4)
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import random
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel

from sdt.config import canonical, config_hash
from sdt.config.load import read_config_dict, validate
from sdt.errors import ConfigError, UserError
from sdt.sweep.params import sample
from sdt.sweep.registry import Kind, get_kind
from sdt.sweep.spec import Study, SweepSpec, check_baseline


@dataclass
class PlannedRun:
    """One run to execute. ``resolved`` is ``config.model_dump(mode="json")`` (what was hashed).

    ``overrides`` are the point's own dotted overrides (the baseline keys that applied
    included, the seed excluded); ``deps`` maps a dependency name to the run id it needs; ``dependency`` is
    true for runs that exist because other runs need them.
    """

    run_id: str
    kind: str
    config: BaseModel
    resolved: dict
    overrides: dict[str, Any]
    studies: list[str]
    seed: int | None
    deps: dict[str, str] = field(default_factory=dict)
    cost: float | None = None
    dependency: bool = False


@dataclass
class Plan:
    """The runs of a sweep in execution order, and what expansion found on the way.

    ``points``: per study, points before deduplication (seeds included); ``counts``: per study,
    distinct runs carrying its tag; ``duplicates``: points that collapsed into another point's run
    (within or across studies); ``adaptive``: optuna studies, for the scheduler; ``already``:
    run id -> stored state, filled by the caller (``--dry-run`` shows it).
    """

    sweep: str
    kind: str
    runs: list[PlannedRun]
    points: dict[str, int]
    counts: dict[str, int]
    duplicates: int
    adaptive: dict[str, Study] = field(default_factory=dict)
    already: dict[str, str] = field(default_factory=dict)

    def by_id(self, run_id: str) -> PlannedRun:
        return next(r for r in self.runs if r.run_id == run_id)

    def pending(self) -> list[PlannedRun]:
        """Runs without a ``completed`` record in ``already``."""
        return [r for r in self.runs if self.already.get(r.run_id) != "completed"]


# ----------------------------------------------------------------------------- points


BASELINE = "baseline"


@dataclass
class _Point:
    overrides: dict[str, Any]  # dotted key -> value, in application order
    origin: dict[str, str]  # dotted key -> where in the sweep file it was set


def _block_points(study: Study, block: str, name: str, spec: SweepSpec) -> list[_Point]:
    where = f"studies.{name}.{block}"
    if block == "grid":
        keys = list(study.grid)
        return [_Point(dict(zip(keys, values)), dict.fromkeys(keys, where))
                for values in itertools.product(*study.grid.values())]
    if block == "zip":
        keys = list(study.zip)
        return [_Point(dict(zip(keys, values)), dict.fromkeys(keys, where))
                for values in zip(*study.zip.values())]
    if block == "runs":
        return [_Point(dict(point), dict.fromkeys(point, f"{where}.{i}"))
                for i, point in enumerate(study.runs)]
    if block == "vary":
        points = [_Point({}, {})]
        for key, values in study.vary.items():
            centre = canonical({"v": spec.baseline[key]})
            points += [_Point({key: v}, {key: where}) for v in values
                       if canonical({"v": v}) != centre]
        return points
    if block == "random":
        rng = random.Random(study.random.seed)
        keys = sorted(study.random.params)
        return [_Point({k: sample(study.random.params[k], rng) for k in keys},
                       dict.fromkeys(keys, f"{where}.params"))
                for _ in range(study.random.n)]
    raise AssertionError(block)


def _block_count(study: Study, block: str, spec: SweepSpec) -> int:
    if block == "grid":
        return math.prod(len(v) for v in study.grid.values())
    if block == "zip":
        return len(next(iter(study.zip.values())))
    if block == "runs":
        return len(study.runs)
    if block == "vary":
        return 1 + sum(sum(canonical({"v": v}) != canonical({"v": spec.baseline[k]})
                           for v in values) for k, values in study.vary.items())
    return study.random.n


def _blocks(study: Study) -> list[str]:
    return [b for b in ("grid", "zip", "runs", "vary", "random") if getattr(study, b) is not None]


def count_points(spec: SweepSpec) -> dict[str, int]:
    """Points per expanded study (seeds included), computed without building them."""
    seeds = len(spec.seeds) if spec.seeds else 1
    return {name: seeds * math.prod(_block_count(s, b, spec) for b in _blocks(s))
            for name, s in spec.studies.items() if s.kind != "optuna"}


def study_points(spec: SweepSpec, name: str) -> list[_Point]:
    """A study's points in order (without seeds): the product of its blocks."""
    study = spec.studies[name]
    blocks = [_block_points(study, b, name, spec) for b in _blocks(study)]
    prefix = _Point(dict(spec.baseline), dict.fromkeys(spec.baseline, BASELINE))
    points = []
    for combo in itertools.product(*blocks):
        overrides, origin = dict(prefix.overrides), dict(prefix.origin)
        for part in combo:
            overrides.update(part.overrides)
            origin.update(part.origin)
        points.append(_Point(overrides, origin))
    return points


# ----------------------------------------------------------------------------- configs


def _set_shared(data: dict, key: str, value: Any, file: str, where: str) -> None:
    """Set a dotted key in ``data``, copying only the mappings on its path (``data`` is a
    fresh top-level copy; everything else stays shared with the base, which nobody mutates)."""
    parts = key.split(".")
    node = data
    for i, part in enumerate(parts[:-1]):
        child = node.get(part)
        if child is None:
            child = {}
        elif isinstance(child, dict):
            child = dict(child)
        else:
            raise ConfigError(file, f"{where}.{key}", f"'{'.'.join(parts[:i + 1])}' to be a "
                              "section (mapping) to set a sub-key in", got=child)
        node[part] = child
        node = child
    node[parts[-1]] = value


def _origin_of(error_key: str | None, origin: dict[str, str]) -> str | None:
    """The override responsible for an error at ``error_key`` (same key, a parent or a child)."""
    if not error_key:
        return None
    for key in origin:
        if error_key == key or error_key.startswith(key + ".") or key.startswith(error_key + "."):
            return key
    return None


def _union_starts(schema: type[BaseModel], raw: dict) -> dict[str, dict]:
    """For each tagged-union section that ``raw`` leaves to its default: ``{tag: default tag}``,
    where dotted keys into it start, so ``dataset.horizon: 4`` on a base without ``dataset``
    means "the default data set, with horizon 4" rather than a data set without a name."""
    starts = {}
    for name, field in schema.model_fields.items():
        tag = field.discriminator
        if not isinstance(tag, str) or name in raw or field.is_required():
            continue
        default = field.get_default(call_default_factory=True)
        if hasattr(default, tag):
            starts[name] = {tag: getattr(default, tag)}
    return starts


class _Resolver:
    """Validates points against the kind's schema, once per distinct override set.

    Speed (10^4 points well under a second): the base config (base file <- ``set``) is
    validated once; a point re-validates only the top-level sections its overrides touch, built
    from the base file's raw values, and passes the others as the base's validated section
    objects (pydantic takes model instances as they are). The result equals validating the
    whole merged dict. Configs (and ``resolved`` dumps) of different runs therefore share
    untouched section objects: treat them as read-only (``model_copy(update=...)`` to change
    one). Run ids reuse the canonical text of untouched sections: exactly ``config_hash(dump)``.
    """

    def __init__(self, spec: SweepSpec, kind: Kind):
        self.spec, self.kind, self.file = spec, kind, spec.file
        self.schema = kind.load_schema()
        if spec.base is not None:
            raw, self.sources = read_config_dict(spec.base)
        else:
            raw, self.sources = {}, {}
        self.base_file = spec.base or spec.file
        self.base_origin = dict.fromkeys(spec.set, "set")
        raw = dict(raw)
        self.start = _union_starts(self.schema, raw)
        for key, value in spec.set.items():
            top = key.split(".", 1)[0]
            if top not in raw and top in self.start:
                raw[top] = dict(self.start[top])
            _set_shared(raw, key, value, self.file, "set")
        self.raw = raw
        try:
            base = validate(raw, self.schema, self.base_file, self.sources)
        except ConfigError as exc:
            raise self._locate(exc, self.base_origin, None) from None
        self.dump = dump = base.model_dump(mode="json")
        self.fields = list(self.schema.model_fields)
        self.sections = {name: getattr(base, name) for name in self.fields}
        self.texts = {name: canonical(dump[name]) for name in self.fields if name in dump}
        self.ordered = sorted(self.texts.items())
        self.keys = {name: json.dumps(name) + ":" for name in self.texts}
        self.cache: dict[str, tuple[_Point, BaseModel, dict, set[str]]] = {}
        self.baseline_used: set[str] = set()
        self.baseline_misses: dict[str, ConfigError] = {}
        self.has_seed = "seed" in self.schema.model_fields
        self.cost = kind.load_cost()

    def resolve(self, point: _Point, study: str) -> tuple[_Point, BaseModel, dict, set[str]]:
        """``point`` as it applies (baseline keys the config lacks left out), its validated
        config, the config's JSON dump and the top-level keys it touched."""
        # Not canonical(): a cache miss for 1 vs 1.0 costs little; run ids dedupe them anyway.
        key = repr(sorted(point.overrides.items()))
        hit = self.cache.get(key)
        if hit is None:
            hit = self.cache[key] = self._resolve(point, study)
        return hit

    def _resolve(self, point: _Point, study: str) -> tuple[_Point, BaseModel, dict, set[str]]:
        while True:
            try:
                config, dump, touched = self._validate(point, study)
            except ConfigError as exc:
                dropped = self._inapplicable(exc, point)
                if dropped is None:
                    raise
                self.baseline_misses.setdefault(dropped, exc)
                point = _Point({k: v for k, v in point.overrides.items() if k != dropped},
                               {k: v for k, v in point.origin.items() if k != dropped})
                continue
            self.baseline_used.update(k for k, o in point.origin.items() if o == BASELINE)
            return point, config, dump, touched

    def _inapplicable(self, exc: ConfigError, point: _Point) -> str | None:
        """The baseline key behind an unknown-key error, if that is what it is."""
        if exc.expected is not None or exc.key is None:
            return None
        prefix = f"{BASELINE}."
        if not exc.key.startswith(prefix):
            return None
        key = exc.key[len(prefix):]
        return key if point.origin.get(key) == BASELINE else None

    def _validate(self, point: _Point, study: str) -> tuple[BaseModel, dict, set[str]]:
        touched = self.touched({dotted.split(".", 1)[0] for dotted in point.overrides})
        data = {name: section for name, section in self.sections.items() if name not in touched}
        data.update({name: self.raw[name] if name in self.raw else self.start.get(name)
                     for name in touched if name in self.raw or name in self.start})
        origin = {**self.base_origin, **point.origin}
        for dotted, value in point.overrides.items():
            _set_shared(data, dotted, value, self.file, origin[dotted])
        try:
            config = validate(data, self.schema, self.base_file, self.sources)
        except ConfigError as exc:
            raise self._locate(exc, origin, study, point.overrides) from None
        fresh = config.model_dump(mode="json", include=touched & self.dump.keys())
        dump = {name: fresh[name] if name in fresh else self.dump[name] for name in self.dump}
        return config, dump, touched

    def touched(self, keys: set[str]) -> set[str]:
        """Top-level keys to re-validate from raw data when a point sets ``keys``."""
        groups = self.kind.coupled
        if groups is None:
            return keys | set(self.fields) | set(self.raw)
        for group in groups:
            if keys & set(group):
                keys = keys | set(group)
        return keys

    def seeded(self, point: _Point, config: BaseModel, dump: dict, touched: set[str],
               seed: int, study: str) -> tuple[BaseModel, dict, set[str]]:
        """``point`` with its ``seed``: a copy when the seed touches nothing else."""
        if self.kind.coupled is not None and not any("seed" in g for g in self.kind.coupled):
            return (config.model_copy(update={"seed": seed}), {**dump, "seed": seed},
                    touched | {"seed"})
        overrides = {**point.overrides, "seed": seed}
        return self.resolve(_Point(overrides, {**point.origin, "seed": "seeds"}), study)[1:]

    def check_baseline_used(self) -> None:
        """A baseline key that applied to no run is a mistake (a typo, a key of no variant)."""
        for key, exc in self.baseline_misses.items():
            if key not in self.baseline_used:
                raise ConfigError(exc.file, exc.key, None, hint=f"{exc.hint}; it applies to no "
                                  "run of this sweep")

    def run_id(self, dump: dict, touched: set[str]) -> str:
        """``config_hash(dump)``, reusing the canonical text of sections the point left alone."""
        if dump.keys() != self.texts.keys():
            return config_hash(dump)
        parts = [self.keys[name] + (canonical(dump[name]) if name in touched else text)
                 for name, text in self.ordered]
        return hashlib.sha256(("{" + ",".join(parts) + "}").encode()).hexdigest()[:12]

    def _locate(self, exc: ConfigError, origin: dict[str, str], study: str | None,
                overrides: dict[str, Any] | None = None) -> ConfigError:
        key = _origin_of(exc.key, origin)
        if key is None:
            if study is None:
                return exc  # the base config itself (its file and key)
            # Keys that are fine alone but not together with this study's point.
            point = ", ".join(f"{k}={v!r}" for k, v in (overrides or {}).items())
            return ConfigError(self.file, f"studies.{study}", None,
                               hint=f"the point {{{point}}} makes an invalid config: {exc}")
        hint = exc.hint
        if exc.expected is None:
            hint = f"{hint or 'unknown key'} (not a key of this {self.kind.name} config)"
        return ConfigError(self.file, f"{origin[key]}.{key}", exc.expected, exc.got, hint)


# ----------------------------------------------------------------------------- plan


def expand(spec: SweepSpec, force: bool = False) -> Plan:
    """The sweep's runs (see the module docstring)."""
    if spec.experiment is None:
        raise UserError(
            f"{spec.file}: this W&B sweep runs its own program "
            f"({spec.command.program or ' '.join(spec.command.command or [])!r}); the `command` "
            "experiment kind that launches it is not in this version. Add `experiment:` (train, "
            "search, sleep) and `base:` to run its parameters as an sdt study.")
    check_baseline(spec)
    kind = get_kind(spec.experiment, spec.file)
    points = count_points(spec)
    total = sum(points.values())
    if total > spec.limits.max_points and not force:
        detail = ", ".join(f"{k}: {v}" for k, v in points.items())
        raise ConfigError(spec.file, "studies", f"at most {spec.limits.max_points} points",
                          got=total, hint=f"{detail}; use --force to expand it anyway, or raise "
                          "limits.max_points")
    resolver = _Resolver(spec, kind)
    if spec.seeds is not None and not resolver.has_seed:
        raise ConfigError(spec.file, "seeds", f"a kind whose config has a top-level `seed` "
                          f"({kind.name} has none)")

    runs: dict[str, PlannedRun] = {}
    sequences: list[list[str]] = []
    for name, study in spec.studies.items():
        if study.kind == "optuna":
            continue
        sequences.append(_study_runs(spec, name, resolver, runs))

    resolver.check_baseline_used()
    order = _round_robin(sequences)
    study_runs = [runs[i] for i in order]
    deps = _dependencies(study_runs, kind, spec.file)
    all_runs = deps + study_runs
    for run in all_runs:
        run.studies.sort()
    counts = {name: 0 for name in points}
    for run in study_runs:
        for s in run.studies:
            counts[s] += 1
    return Plan(
        sweep=spec.name, kind=kind.name, runs=all_runs, points=points, counts=counts,
        duplicates=total - len(study_runs),
        adaptive={n: s for n, s in spec.studies.items() if s.kind == "optuna"},
    )


def _study_runs(spec: SweepSpec, name: str, resolver: _Resolver,
                runs: dict[str, PlannedRun]) -> list[str]:
    """Resolve a study's points (seed-major), adding new runs to ``runs``; its run ids."""
    seeds = spec.seeds or [None]
    resolved = []
    for point in study_points(spec, name):
        if spec.seeds is not None and "seed" in point.overrides:
            raise ConfigError(spec.file, f"{point.origin['seed']}.seed",
                              "no `seed` in a study when the sweep lists `seeds`")
        resolved.append(resolver.resolve(point, name))
    ids = []
    for seed in seeds:
        for point, config, dump, touched in resolved:
            if seed is not None:
                config, dump, touched = resolver.seeded(point, config, dump, touched, seed, name)
            run_id = resolver.run_id(dump, touched)
            ids.append(run_id)
            run = runs.get(run_id)
            if run is None:
                run = runs[run_id] = PlannedRun(
                    run_id=run_id, kind=resolver.kind.name, config=config, resolved=dump,
                    overrides=point.overrides, studies=[], seed=getattr(config, "seed", None),
                    cost=resolver.cost(config) if resolver.cost else None)
            if name not in run.studies:
                run.studies.append(name)
    return ids


def _round_robin(sequences: list[list[str]]) -> list[str]:
    order, placed = [], set()
    for column in itertools.zip_longest(*sequences):
        for run_id in column:
            if run_id is not None and run_id not in placed:
                placed.add(run_id)
                order.append(run_id)
    return order


def _dependencies(runs: list[PlannedRun], kind: Kind, file: str) -> list[PlannedRun]:
    """Runs that ``runs`` need, deduplicated by id, each before whatever needs it."""
    found: dict[str, PlannedRun] = {}
    order: list[str] = []

    def visit(run: PlannedRun, run_kind: Kind, stack: tuple[str, ...]) -> None:
        fn = run_kind.load_dependencies()
        if fn is None:
            return
        for dep_name, (dep_kind_name, dep_config) in fn(run.config).items():
            dep_kind = get_kind(dep_kind_name, file)
            dump = dep_config.model_dump(mode="json")
            dep_id = config_hash(dump)
            if dep_id in stack:
                raise UserError(f"{file}: dependency cycle through run {dep_id} ({dep_name})")
            run.deps[dep_name] = dep_id
            dep = found.get(dep_id)
            if dep is None:
                cost = dep_kind.load_cost()
                dep = found[dep_id] = PlannedRun(
                    run_id=dep_id, kind=dep_kind.name, config=dep_config, resolved=dump,
                    overrides={}, studies=[], seed=getattr(dep_config, "seed", None),
                    cost=cost(dep_config) if cost else None, dependency=True)
                visit(dep, dep_kind, (*stack, dep_id))
                order.append(dep_id)

    for run in runs:
        visit(run, kind, (run.run_id,))
    # A dependency serves the studies of everything that needs it, directly or not.
    for run in [*runs, *(found[i] for i in reversed(order))]:
        for dep_id in run.deps.values():
            dep = found[dep_id]
            dep.studies.extend(s for s in run.studies if s not in dep.studies)
    return [found[i] for i in order]


def plan_table(plan: Plan) -> list[dict[str, str]]:
    """Rows for ``--dry-run``: id, kind, studies, overrides, seed, deps, state."""
    rows = []
    for run in plan.runs:
        overrides = ", ".join(f"{k}={v}" for k, v in run.overrides.items())
        rows.append({
            "id": run.run_id,
            "kind": run.kind + (" (dependency)" if run.dependency else ""),
            "studies": ",".join(run.studies),
            "overrides": overrides,
            "seed": "" if run.seed is None else str(run.seed),
            "deps": ",".join(f"{k}={v}" for k, v in run.deps.items()),
            "state": plan.already.get(run.run_id, "new"),
        })
    return rows
