"""Optuna studies as a source of runs: ask a trial, turn its parameters into a config, run it
as an sdt run (deduplicated by config hash like every run), tell the study its outcome.

The study is ``<sweep>/<study>`` in the store's own database (Optuna's RDB storage on the same
SQLAlchemy URL), so ``optuna.load_study(study_name="sweep/study", storage=URL)`` and
optuna-dashboard open it where the results are::

    >>> study = optuna.load_study(study_name="sadt-optuna/tuning",
    ...                           storage="sqlite:///runs/sdt.db")  # doctest: +SKIP
    >>> [t.values for t in study.best_trials]                       # doctest: +SKIP

How the odd cases go:

- A trial whose config an earlier run already completed (the grid sampler, a duplicate
  suggestion, the same point in a fixed study) takes that run's stored result: no new run.
- With ``seeds``, a trial is one run per seed and its values are the means over the seeds.
- Pruning: the worker that executes a trial's run reports ``ctx.report(step, value)`` to the
  trial and asks the study's pruner (:func:`trial_reporter`); the run ends ``pruned``, the
  trial ``PRUNED``. Multi-objective studies never prune (Optuna cannot).
- A seeded sampler on a resumed study is seeded with ``seed`` plus the number of trials the
  study holds, so it does not suggest its first points again.
- Interrupted studies resume: trials left ``RUNNING`` by a manager that died are taken over
  (their run is found by config hash: told from the store if it completed meanwhile, else run
  again under the same trial), so a study ends with exactly ``n_trials`` trials, none lost and
  none counted twice. This differs from Optuna's RetryFailedTrialCallback (fail the trial,
  enqueue a copy) on purpose: the copy would count against ``n_trials`` twice. A trial whose
  manager died inside ``ask``, before its parameters were set, never ran: it is failed,
  marked ``sdt_never_ran`` and not counted.
- Several managers (``sdt-sweep worker``) share one study the same way; each counts the
  study's trials before it asks, so two asking at the same moment can each add one beyond
  ``n_trials`` (as with Optuna's own MaxTrialsCallback).
- A run that fails (or ends ``nan``/``oom``) makes its trial ``FAIL``, with the run's error as
  the trial's ``error`` user attribute.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, field

import optuna
from optuna.distributions import (CategoricalDistribution, FloatDistribution,
                                  IntDistribution)
from optuna.trial import TrialState

from sdt.errors import ConfigError
from sdt.sweep.sources import Source

log = logging.getLogger(__name__)
optuna.logging.set_verbosity(optuna.logging.WARNING)

FAILED_STATES = ("failed", "nan", "oom")
NEVER_RAN = "sdt_never_ran"  # user attribute of a trial whose manager died inside ``ask``
ASK_GRACE_S = 5.0  # an ask takes milliseconds: a trial this old without its params is orphaned


# ----------------------------------------------------------------------------- registries


def _tpe(seed, **kw):
    # constant_liar: trials in flight count as pessimistic guesses, so parallel trials spread
    return optuna.samplers.TPESampler(seed=seed, **{"constant_liar": True, **kw})


def _grid(seed, params, **kw):
    space = {key: list(dist.values) for key, dist in params.items()}
    return optuna.samplers.GridSampler(space, seed=seed, **kw)


def _gp(seed, **kw):
    import importlib.util

    if importlib.util.find_spec("torch") is None:  # GPSampler computes with torch
        raise ValueError("the gp sampler needs torch installed")
    return optuna.samplers.GPSampler(seed=seed, **kw)


def _cmaes(seed, **kw):
    import importlib.util

    if importlib.util.find_spec("cmaes") is None:
        raise ValueError("the cmaes sampler needs the cmaes package (pip install cmaes)")
    return optuna.samplers.CmaEsSampler(seed=seed, **kw)


SAMPLERS = {
    "tpe": _tpe,
    "random": lambda seed, **kw: optuna.samplers.RandomSampler(seed=seed, **kw),
    "grid": _grid,
    "nsga2": lambda seed, **kw: optuna.samplers.NSGAIISampler(seed=seed, **kw),
    "cmaes": _cmaes,
    "gp": _gp,
    "qmc": lambda seed, **kw: optuna.samplers.QMCSampler(seed=seed, **kw),
}
PRUNERS = {
    "none": optuna.pruners.NopPruner,
    "median": optuna.pruners.MedianPruner,
    "percentile": optuna.pruners.PercentilePruner,
    "hyperband": optuna.pruners.HyperbandPruner,
    "successive_halving": optuna.pruners.SuccessiveHalvingPruner,
    "wilcoxon": optuna.pruners.WilcoxonPruner,
}


def make_sampler(block, offset: int = 0, file: str = "<sweep>", where: str = "optuna"):
    """The block's sampler (``sampler`` + ``sampler_options``), seeded with ``seed + offset``
    (no seed: unseeded)."""
    extra = {"params": block.params} if block.sampler == "grid" else {}
    seed = None if block.seed is None else block.seed + offset
    try:
        return SAMPLERS[block.sampler](seed, **extra, **block.sampler_options)
    except (TypeError, ValueError) as exc:
        raise ConfigError(file, f"{where}.sampler_options", f"options of the {block.sampler} "
                          "sampler", got=block.sampler_options, hint=str(exc)) from None


def make_pruner(name: str, options: dict, file: str = "<sweep>", where: str = "optuna"):
    try:
        return PRUNERS[name](**options)
    except (TypeError, ValueError) as exc:
        raise ConfigError(file, f"{where}.pruner_options", f"options of the {name} pruner",
                          got=options, hint=str(exc)) from None


def distribution(dist):
    """An sdt :class:`~sdt.sweep.params.Distribution` as Optuna's."""
    if dist.type == "float":
        return FloatDistribution(dist.low, dist.high, log=dist.log, step=dist.step)
    if dist.type == "int":
        return IntDistribution(int(dist.low), int(dist.high), log=dist.log,
                               step=int(dist.step or 1))
    return CategoricalDistribution(list(dist.values))


def study_name(sweep: str, study: str) -> str:
    return f"{sweep}/{study}"


def storage(url: str):
    """Optuna's RDB storage on the store's URL; on SQLite its connections get the store's
    settings (:func:`sdt.sweep.store.sqlite_pragmas`), so the two writers share one file
    without waiting on each other's disk syncs."""
    import sqlalchemy as sa

    sqlite = url.startswith("sqlite")
    kwargs = {"connect_args": {"timeout": 60}} if sqlite else {}
    for attempt in range(5):  # two managers creating Optuna's tables at once: one wins
        try:
            rdb = optuna.storages.RDBStorage(url, engine_kwargs=kwargs)
            break
        except (sa.exc.IntegrityError, sa.exc.OperationalError):
            if attempt == 4:
                raise
            time.sleep(0.2 * (attempt + 1))
    if sqlite:
        from sdt.sweep.store import sqlite_pragmas

        sqlite_pragmas(rdb.engine, wal=url not in ("sqlite://", "sqlite:///:memory:"))
        rdb.engine.dispose()  # connections opened while creating the tables: opened again
    return rdb


def check_study(spec, name: str) -> None:
    """What the spec's types cannot tell about an Optuna study, checked before anything runs:
    its objectives are metrics the kind reports, its sampler and pruner accept their
    options, and it does not prune trials that are several runs (seeds)."""
    from sdt.sweep.registry import get_kind

    block, where = spec.studies[name].optuna, f"studies.{name}.optuna"
    kind = get_kind(spec.experiment, spec.file)
    declared = set(kind.metrics)
    missing = [m for m in block.objectives if declared and m not in declared]
    if missing:
        raise ConfigError(spec.file, f"{where}.objectives", f"metrics the {kind.name} kind "
                          f"reports ({', '.join(sorted(declared))})", got=missing)
    if spec.seeds and len(spec.seeds) > 1 and block.pruner != "none":
        raise ConfigError(spec.file, f"{where}.pruner", "none when the sweep lists several "
                          "seeds (a trial is one run per seed: whose steps would the pruner "
                          "compare?)", got=block.pruner)
    make_sampler(block, 0, spec.file, where)
    make_pruner(block.pruner, block.pruner_options, spec.file, where)
    from sdt.sweep.expand import _Resolver

    # A key that does not exist for the resolved config is an error now, not at trial 0.
    corner = {key: dist.low if dist.low is not None else dist.values[0]
              for key, dist in block.params.items()}
    corner = {k: int(v) if block.params[k].type == "int" else v for k, v in corner.items()}
    trial_point(spec, name, _Resolver(spec, kind), corner)


def trial_point(spec, name: str, resolver, params: dict):
    """The point a trial's ``params`` make (baseline first) resolved to ``(point, config,
    dump, touched)`` by the expansion's resolver."""
    from sdt.sweep.expand import BASELINE, _Point

    origin = {**dict.fromkeys(spec.baseline, BASELINE),
              **dict.fromkeys(params, f"studies.{name}.optuna.params")}
    return resolver.resolve(_Point({**spec.baseline, **params}, origin), name)


# ----------------------------------------------------------------------------- the source


@dataclass
class _Trial:
    trial_id: int  # the storage's id (the number counts within the study)
    runs: list[str]  # one run id per seed
    states: dict[str, str] = field(default_factory=dict)  # run id -> final state heard


class OptunaSource(Source):
    """The trials of one Optuna study as runs; see the module docstring."""

    def __init__(self, session, name: str, slots: int):
        from sdt.sweep.expand import _Resolver
        from sdt.sweep.registry import get_kind

        spec = session.spec
        self.session, self.name = session, name
        self.block = block = spec.studies[name].optuna
        self.where = f"studies.{name}.optuna"
        self.kind = get_kind(spec.experiment, spec.file)
        self.resolver = _Resolver(spec, self.kind)
        self.distributions = {k: distribution(d) for k, d in block.params.items()}
        self.objectives = list(block.objectives)
        pruner = make_pruner(block.pruner, block.pruner_options, spec.file, self.where)
        self.url = session.store.url
        self.study = optuna.create_study(
            study_name=study_name(spec.name, name), storage=storage(self.url),
            sampler=make_sampler(block, 0, spec.file, self.where), pruner=pruner,
            directions=list(block.objectives.values()), load_if_exists=True)
        # A seeded sampler restarted on a resumed study would suggest its first points again:
        # its seed moves on by the trials the study already holds (still reproducible).
        held = self._count()
        if held:
            self.study.sampler = make_sampler(block, held, spec.file, self.where)
        if [d.name.lower() for d in self.study.directions] != list(block.objectives.values()):
            raise ConfigError(spec.file, f"{self.where}.objectives", "the directions the "
                              f"stored study {self.study.study_name!r} was created with",
                              got=block.objectives, hint="a study keeps its objectives; "
                              "rename the study to start a new one")
        self.n_parallel = block.n_parallel or 2 * slots
        self.started = time.time()
        self.by_number: dict[int, _Trial] = {}
        self.waiting_on: dict[str, list[int]] = {}  # run id -> trial numbers it serves
        self.ready: list = []  # tasks made, not yet taken
        self.asked = 0
        self.told = 0
        self._spent = False
        self._watched: dict[int, int] = {}  # trial id -> number: running, runs not recorded
        self._adopt()

    # -------------------------------------------------------------- Source

    def take(self, states: dict[str, str]) -> list:
        if self._watched:
            self._check_watched()
        while len(self.by_number) < self.n_parallel and self._budget_left():
            self._ask()
        tasks, self.ready = self.ready, []
        return tasks

    def heard(self, run_id: str, state: str) -> None:
        for number in self.waiting_on.pop(run_id, []):
            entry = self.by_number.get(number)
            if entry is None:
                continue
            entry.states[run_id] = state
            if len(entry.states) == len(entry.runs):
                self._tell(number, entry)

    def exhausted(self) -> bool:
        return (not self.by_number and not self.ready and not self._watched
                and not self._budget_left())

    # -------------------------------------------------------------- trials

    def _budget_left(self) -> bool:
        """Whether to ask another trial; once spent, spent for good (trials only add up, time
        only passes), so the study is not queried again."""
        if self._spent:
            return False
        self._spent = (
            (self.block.timeout is not None and time.time() - self.started > self.block.timeout)
            or (self.block.sampler == "grid" and self.study.sampler.is_exhausted(self.study))
            or self._count() >= self.block.n_trials)
        return not self._spent

    def _count(self) -> int:
        """Trials the study holds (every manager's) but those that never ran: what
        ``n_trials`` counts."""
        return sum(not t.user_attrs.get(NEVER_RAN) for t in self.study.get_trials(deepcopy=False))

    def _ask(self) -> None:
        trial = self.study.ask(self.distributions)
        self.asked += 1
        self._follow(trial.number, trial._trial_id, trial.params)

    def _adopt(self) -> None:
        """Follow the trials the study holds as running (see the module docstring)."""
        for frozen in self.study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
            self._take_over(frozen)

    def _take_over(self, frozen) -> None:
        """A running trial this manager did not ask. With all its parameters set, its runs
        are known (by config hash): they are followed, told when they end whoever executes
        them, and executed here if no one holds them (two managers that follow one trial
        make the same runs, which their claims execute once). Without them, it is being
        asked by another manager right now, unless it is older than ``ASK_GRACE_S``: then
        that manager died in the middle of ``ask``; the trial never ran, and it is failed and
        marked ``sdt_never_ran`` (not counted in ``n_trials``). Until then it is watched."""
        self._watched.pop(frozen._trial_id, None)
        if set(frozen.params) == set(self.distributions):
            log.info("study %s: following trial %d left running", self.name, frozen.number)
            self._follow(frozen.number, frozen._trial_id, frozen.params)
            return
        age = time.time() - frozen.datetime_start.timestamp() if frozen.datetime_start else 0.0
        if age < ASK_GRACE_S:
            self._watched[frozen._trial_id] = frozen.number
            return
        self.study._storage.set_trial_user_attr(frozen._trial_id, NEVER_RAN, True)
        self.study.tell(frozen.number, state=TrialState.FAIL, skip_if_finished=True)
        self._spent = False  # it was counted: the budget has one trial more than it seemed

    def _check_watched(self) -> None:
        for trial_id in list(self._watched):
            frozen = self.study._storage.get_trial(trial_id)
            if frozen.state.is_finished():
                del self._watched[trial_id]
            else:
                self._take_over(frozen)

    def _follow(self, number: int, trial_id: int, params: dict) -> None:
        """Make the runs of a trial, record them, queue them, and wait for their outcomes."""
        from sdt.sweep.expand import PlannedRun, _dependencies
        from sdt.sweep.manager import planned_task

        spec, resolver = self.session.spec, self.resolver
        point, config, dump, touched = trial_point(spec, self.name, resolver, params)
        runs = []
        for seed in spec.seeds or [None]:
            c, d, t = (config, dump, touched) if seed is None else resolver.seeded(
                point, config, dump, touched, seed, self.name)
            runs.append(PlannedRun(run_id=resolver.run_id(d, t), kind=self.kind.name, config=c,
                                   resolved=d, overrides=dict(point.overrides),
                                   studies=[self.name], seed=getattr(c, "seed", None)))
        deps = _dependencies(runs, self.kind, spec.file)
        prune = self.block.pruner != "none"
        refs = {self.kind.name: spec.experiment}
        tasks = [planned_task(spec, r, self.session.wandb, refs) for r in deps] + [
            planned_task(spec, r, self.session.wandb, refs, trial={
                "storage": self.url, "study": self.study.study_name, "trial_id": trial_id,
                "number": number, "pruner": block_pruner(self.block) if prune else None})
            for r in runs]
        self.session.store.add_trial(
            spec.name, self.name, number,
            [(t.run_id, t.kind, t.config, t.studies, t.config.get("seed"), r.overrides)
             for t, r in zip(tasks, [*deps, *runs])],
            run_dirs={t.run_id: t.run_dir for t in tasks})
        self.study._storage.set_trial_user_attr(trial_id, "sdt_runs", [r.run_id for r in runs])
        self.by_number[number] = _Trial(trial_id, [r.run_id for r in runs])
        for r in runs:
            self.waiting_on.setdefault(r.run_id, []).append(number)
        self.ready.extend(tasks)

    def _tell(self, number: int, entry: _Trial) -> None:
        """Tell the study how the trial's runs ended (read from the store)."""
        del self.by_number[number]
        records = [self.session.store.get(rid) for rid in entry.runs]
        bad = [r for r in records if r["state"] in FAILED_STATES]
        values = [_mean([r["metrics"].get(m) for r in records]) for m in self.objectives]
        error = None
        if bad:
            state, error = TrialState.FAIL, f"run {bad[0]['run_id']}: {bad[0]['error']}"
        elif any(r["state"] == "pruned" for r in records):
            state = TrialState.PRUNED
        elif any(v is None for v in values):
            missing = [m for m, v in zip(self.objectives, values) if v is None]
            state, error = TrialState.FAIL, f"no finite value of {missing} in the runs' metrics"
        else:
            state = TrialState.COMPLETE
        try:
            if error:
                self.study._storage.set_trial_user_attr(entry.trial_id, "error", error)
            self.study.tell(number, values if state == TrialState.COMPLETE else None,
                            state=state, skip_if_finished=True)
        except (RuntimeError, ValueError) as exc:  # told meanwhile by a manager sharing it
            log.info("study %s: trial %d not told here (%s)", self.name, number, exc)
        self.told += 1

    # -------------------------------------------------------------- summary

    def pareto(self) -> list:
        """The study's best trials: the Pareto front (several objectives) or the best one."""
        complete = self.study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
        if not complete:
            return []
        return self.study.best_trials if len(self.objectives) > 1 else [self.study.best_trial]


def _mean(values: list) -> float | None:
    numbers = [float(v) for v in values if isinstance(v, (int, float))]
    if len(numbers) != len(values):
        return None
    mean = sum(numbers) / len(numbers)
    return mean if math.isfinite(mean) else None


def block_pruner(block) -> dict:
    return {"name": block.pruner, "options": dict(block.pruner_options)}


# ----------------------------------------------------------------------------- in the worker

_STUDIES: dict[tuple, optuna.Study] = {}


def trial_reporter(trial: dict):
    """``ctx.pruner`` for the run of an Optuna trial, in the process that executes it: report
    ``(step, value)`` to the trial and ask the study's pruner whether to stop."""
    pruner = trial["pruner"]
    key = (trial["storage"], trial["study"], pruner["name"],
           repr(sorted(pruner["options"].items())))
    study = _STUDIES.get(key)
    if study is None:
        study = _STUDIES[key] = optuna.load_study(
            study_name=trial["study"], storage=storage(trial["storage"]),
            pruner=PRUNERS[pruner["name"]](**pruner["options"]))
    handle = optuna.trial.Trial(study, trial["trial_id"])

    def report(step: int, value: float) -> bool:
        handle.report(value, step)
        return handle.should_prune()

    return report
