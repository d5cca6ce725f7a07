"""A sweep from file to store: load and expand it, record its runs, schedule what is not done,
and leave a sweep-level W&B run with the results table.

Used by ``sdt-sweep run`` and ``sdt-sweep worker`` (the same thing without ``--rerun`` or
``--retry-failed``: it joins whatever the store says is left), and by ``bench/scheduler.py``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

from sdt.sweep.expand import Plan, expand
from sdt.sweep.spec import SweepSpec, load_sweep
from sdt.sweep.devices import Slot, make_slots
from sdt.sweep.scheduler import Scheduler, Task
from sdt.sweep.store import TERMINAL, Store, resolve_url

log = logging.getLogger(__name__)


def _explicit_wandb(config) -> dict:
    """The W&B keys a run's own config sets (not the schema's defaults)."""
    tracking = getattr(config, "tracking", None)
    wandb = getattr(tracking, "wandb", None)
    if wandb is None or "wandb" not in getattr(tracking, "model_fields_set", ()):
        return {}
    return {k: getattr(wandb, k) for k in wandb.model_fields_set}


def run_tracking(sweep_wandb: dict, config) -> dict | None:
    """W&B settings of one run: the sweep's ``tracking.wandb``, then whatever the run's config
    sets itself. None when tracking resolves to ``disabled``."""
    from sdt.tracking import resolve_mode

    merged = {"mode": "auto", "project": "specdifftree", "entity": None,
              **{k: v for k, v in sweep_wandb.items() if v is not None},
              **_explicit_wandb(config)}
    if resolve_mode(merged["mode"]) == "disabled":
        return None
    return merged


@dataclass
class Session:
    """One sweep file, expanded, with its store and device pool."""

    path: Path
    spec: SweepSpec
    plan: Plan
    store: Store
    tasks: list[Task]
    retries: int = 0
    wandb: dict = field(default_factory=dict)  # the sweep's tracking.wandb

    @property
    def name(self) -> str:
        return self.spec.name

    def slots(self) -> list[Slot]:
        resources = self.spec.resources
        return make_slots(resources.devices, resources.slots.model_dump(), str(self.path))

    def run_ids(self) -> list[str]:
        return [t.run_id for t in self.tasks]

    def sources(self, slots: int) -> list:
        """Where the scheduler's runs come from: the expanded plan, then one source per
        Optuna study (``slots``: how many runs execute at once, for ``n_parallel``)."""
        from sdt.sweep.sources import StaticSource

        sources = [StaticSource(self.tasks)]
        if self.plan.adaptive:
            from sdt.sweep.optuna_study import OptunaSource

            sources += [OptunaSource(self, name, slots) for name in self.plan.adaptive]
        return sources


def run_timeout(spec: SweepSpec, studies: list[str]) -> float | None:
    """Seconds a run may take: the largest ``timeout`` of its studies, else
    ``resources.timeout``; None for no limit."""
    own = [spec.studies[s].timeout for s in studies
           if s in spec.studies and spec.studies[s].timeout is not None]
    return max(own) if own else spec.resources.timeout


def planned_task(spec: SweepSpec, run, sweep_wandb: dict, refs: dict[str, str],
                 trial: dict | None = None) -> Task:
    """The scheduler's :class:`Task` of one planned run."""
    from sdt.single import run_dir_for

    run_dir = run_dir_for(run.config, run.kind)[1].resolve()
    return Task(run_id=run.run_id, kind=run.kind, config=run.resolved, run_dir=str(run_dir),
                studies=list(run.studies), deps=dict(run.deps or {}),
                tracking=run_tracking(sweep_wandb, run.config),
                kind_ref=refs.get(run.kind, run.kind),
                timeout_s=run_timeout(spec, run.studies), trial=trial)


def open_session(path: str | Path, overrides: list[str] | None = None,
                 store_url: str | None = None, force: bool = False) -> Session:
    """Load, validate and expand a sweep file and open its store (nothing is written yet)."""
    from sdt.sweep.registry import get_kind

    path = Path(path)
    spec = load_sweep(path, list(overrides or []))
    plan = expand(spec, force=force)
    sweep_wandb = spec.tracking.wandb.model_dump()
    # A user kind named by dotted path is found by that path in the workers, not by its name.
    refs = {get_kind(spec.experiment, str(path)).name: spec.experiment} if spec.experiment else {}
    tasks = [planned_task(spec, run, sweep_wandb, refs) for run in plan.runs]
    if plan.adaptive:
        from sdt.sweep.optuna_study import check_study

        for name in plan.adaptive:
            check_study(spec, name)
    store = Store(resolve_url(store_url, spec.store))
    return Session(path=path, spec=spec, plan=plan, store=store, tasks=tasks,
                   retries=spec.retries, wandb=sweep_wandb)


def register(session: Session) -> None:
    """Record the plan's runs in the store (existing records keep their state) and make them
    exactly the sweep's membership, with every study tag."""
    by_id = {r.run_id: r for r in session.plan.runs}
    session.store.register(
        session.name,
        [(t.run_id, t.kind, t.config, t.studies, by_id[t.run_id].seed,
          dict(by_id[t.run_id].overrides or {})) for t in session.tasks],
        run_dirs={t.run_id: t.run_dir for t in session.tasks})


def prepare_states(session: Session, *, rerun: bool = False,
                   retry_failed: bool = False) -> None:
    """Apply ``--rerun`` (every final run back to pending) or ``--retry-failed`` (failed
    ones)."""
    if rerun:
        session.store.reset(session.run_ids(), TERMINAL)
    elif retry_failed:
        session.store.reset(session.run_ids(), ["failed"])


def execute(session: Session, *, code_version: str, on_update=None,
            slots: list[Slot] | None = None, rerun: bool = False,
            retry_failed: bool = False) -> Scheduler:
    """Record the plan, apply ``--rerun``/``--retry-failed`` and schedule every run that is
    not final and every trial the Optuna studies still have to run; returns the scheduler
    (``executed`` counts the runs its workers took to an outcome, ``sources`` holds the
    studies; call its ``close()`` when done). Workers start first, so they import while the
    plan is recorded."""
    slots = slots or session.slots()
    scheduler = Scheduler(session.store, slots, sweep=session.name,
                          retries=session.retries, code_version=code_version,
                          backend=session.spec.resources.backend, on_update=on_update)
    known = session.store.states(session.run_ids())
    redo = TERMINAL if rerun else {"failed"} if retry_failed else set()
    left = sum(1 for t in session.tasks if known.get(t.run_id) not in TERMINAL - redo)
    if left or session.plan.adaptive:
        scheduler.start(max(left, len(slots) if session.plan.adaptive else 0))
    register(session)
    prepare_states(session, rerun=rerun, retry_failed=retry_failed)
    scheduler.run(session.sources(len(slots)))  # studies open here, after the plan is in
    return scheduler


def log_results_table(session: Session) -> str | None:
    """A sweep-level W&B run (group = the sweep, job type ``sweep``) holding the results
    table and the state counts. Returns its run folder, or None when tracking is disabled or
    W&B is unavailable; never raises."""
    from sdt.tracking import Tracker, resolve_mode

    mode = resolve_mode((session.wandb or {}).get("mode") or "auto")
    if mode == "disabled":
        return None
    try:
        import wandb

        from sdt.sweep.results import load

        df = load(session.name, session.store)
        table_df = df.copy()
        for column in table_df.columns:
            if table_df[column].dtype == object or "datetime" in str(table_df[column].dtype) \
                    or str(table_df[column].dtype) in ("str", "string"):
                table_df[column] = table_df[column].map(lambda v: None if v is None else str(v))
        root = Path(session.tasks[0].run_dir).parent.parent if session.tasks else Path("runs")
        studies = sorted({s for t in session.tasks for s in t.studies})
        tracker = Tracker(mode=mode, project=session.wandb.get("project") or "specdifftree",
                          entity=session.wandb.get("entity"), name=f"{session.name}-results",
                          group=session.name, job_type="sweep", tags=studies,
                          config={"sweep": session.name, "file": str(session.path),
                                  "runs": len(session.tasks)},
                          dir=root / "sweeps" / session.name)
        if tracker.run is None:
            return None
        tracker.run.log({"results": wandb.Table(dataframe=table_df)})
        tracker.summary({f"runs_{state}": int(n)
                         for state, n in df["state"].value_counts().items()})
        folder = str(tracker.run_dir)
        tracker.finish()
        return folder
    except Exception as exc:  # tracking never breaks a sweep
        log.warning("W&B results table not written: %s", exc)
        return None
