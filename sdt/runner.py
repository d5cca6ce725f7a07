"""The one run path: every run, whoever starts it, is executed by :func:`perform` and recorded
by :func:`outcome_record` (``sdt-sweep train``/``search``, ``ensure_completed``, the sweep
workers; later ``agent-run`` and Dask tasks).

A run reaches a process as a :class:`RunTask` (plain data: what to run, where, how to track
it, its timeout and its Optuna trial). The process that executes it

1. has claimed and begun it in the store (``Store.finish_and_start``: one transaction that
   may also record the run before it, which is how a worker spends one transaction per run);
2. calls :func:`perform`: run directory, tracker and :class:`RunContext`, a lease keeper that
   renews the run's lease from this very process (a suspended manager cannot lose it) and ends
   the process when the run's ``timeout`` passes, then the kind's ``run(config, ctx)`` through
   :func:`execute`;
3. records :func:`outcome_record` of the outcome in the store, in one transaction, only while
   it still holds the claim (a process that lost its claim never writes over the new holder).

:func:`run_once` is the three steps for a process that executes a single run.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import threading
import time
import traceback
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import yaml

from sdt.context import RunContext, RunOutcome
from sdt.io import atomic_write_json, atomic_write_text


@dataclass
class Outcome:
    state: str  # completed | failed | nan | oom | pruned
    metrics: dict = field(default_factory=dict)
    error: str | None = None
    traceback: str | None = None
    duration_s: float = 0.0
    step: int | None = None

    def to_dict(self) -> dict:
        return {"state": self.state, "metrics": self.metrics, "error": self.error,
                "traceback": self.traceback, "duration_s": self.duration_s, "step": self.step}


def write_resolved_config(run_dir: Path, config) -> None:
    # Not fsynced: the store, not this file, records what ran.
    data = config.model_dump(mode="json") if hasattr(config, "model_dump") else dict(config)
    # libyaml's dumper when present: the pure-Python one costs a sweep worker ~0.3 ms per run.
    dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
    atomic_write_text(Path(run_dir) / "config.yaml",
                      yaml.dump(data, Dumper=dumper, sort_keys=False), durable=False)


def _file_logger(run_dir: Path) -> logging.Handler:
    handler = logging.FileHandler(Path(run_dir) / "run.log")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.setLevel(logging.INFO)
    return handler


def execute(run_fn: Callable, config, ctx: RunContext) -> Outcome:
    """Run ``run_fn(config, ctx)`` and turn whatever happens into an :class:`Outcome`.

    Writes ``config.yaml`` before and ``outcome.json`` after; logs go to ``run.log``. The
    tracker (if any) gets the final metrics as its summary and is finished either way.
    """
    write_resolved_config(ctx.run_dir, config)
    root = logging.getLogger()
    handler = _file_logger(ctx.run_dir)
    root.addHandler(handler)
    if root.level > logging.INFO or root.level == logging.NOTSET:
        root.setLevel(logging.INFO)
    t0 = time.time()
    try:
        metrics = run_fn(config, ctx) or {}
        outcome = Outcome("completed", metrics=dict(metrics))
    except RunOutcome as exc:
        outcome = Outcome(exc.state, metrics=dict(exc.metrics), error=str(exc), step=exc.step)
    except KeyboardInterrupt:
        raise
    except Exception as exc:
        outcome = Outcome("failed", error=f"{type(exc).__name__}: {exc}",
                          traceback=traceback.format_exc())
    finally:
        root.removeHandler(handler)
        handler.close()
    outcome.duration_s = round(time.time() - t0, 4)
    if ctx.tracker is not None:
        ctx.tracker.summary({**outcome.metrics, "state": outcome.state,
                             "duration_s": outcome.duration_s})
        ctx.tracker.finish(exit_code=0 if outcome.state == "completed" else 1)
    # The store holds the outcome of record; this copy is for people reading the folder.
    atomic_write_json(ctx.run_dir / "outcome.json", outcome.to_dict(), durable=False)
    return outcome


def read_outcome(run_dir: str | Path) -> Outcome | None:
    path = Path(run_dir) / "outcome.json"
    if not path.is_file():
        return None
    return Outcome(**json.loads(path.read_text()))


# ----------------------------------------------------------------------------- the run path


@dataclass
class RunTask:
    """What a process needs to execute one run (JSON-serialisable: it crosses pipes).

    ``deps`` maps a dependency name to its run directory; ``tracking`` is the W&B mode,
    project and entity (None: disabled); ``timeout_s`` ends a run that takes longer (recorded
    ``failed``); ``trial`` is ``{"storage", "study", "trial_id", "pruner"}`` for a trial whose
    intermediate values feed an Optuna pruner."""

    run_id: str
    kind: str
    config: dict
    run_dir: str
    kind_ref: str | None = None  # how a process finds the kind ("pkg.mod:KIND"); default kind
    tags: list[str] = field(default_factory=list)
    deps: dict[str, str] = field(default_factory=dict)
    sweep: str | None = None
    tracking: dict | None = None
    retries: int = 0
    timeout_s: float | None = None
    trial: dict | None = None
    resume: bool = False

    def to_message(self) -> dict:
        return asdict(self)

    @classmethod
    def from_message(cls, message: dict) -> "RunTask":
        return cls(**message)


class Kinds:
    """Kind reference -> (schema, run function), imported once per process."""

    def __init__(self):
        self._cache: dict[str, tuple] = {}

    def get(self, ref: str) -> tuple:
        if ref not in self._cache:
            from sdt.sweep.registry import get_kind

            kind = get_kind(ref)
            self._cache[ref] = (kind.load_schema(), kind.load_run())
        return self._cache[ref]


def make_tracker(task: RunTask, config):
    """The W&B run of one sdt run (None when tracking is disabled for it)."""
    tracking = task.tracking
    if not tracking or tracking.get("mode") == "disabled":
        return None
    from sdt.tracking import Tracker

    experiment = getattr(config, "experiment", None)
    name = getattr(experiment, "name", None) or task.kind
    return Tracker(mode=tracking.get("mode", "auto"), project=tracking.get("project"),
                   entity=tracking.get("entity"), name=f"{name}-{task.run_id}",
                   group=task.sweep, job_type=task.kind, tags=task.tags, config=task.config,
                   dir=task.run_dir, run_id=task.run_id,
                   resume=task.resume or task.sweep is not None)


class LeaseKeeper(threading.Thread):
    """Renews the lease of one run from the process that executes it, and ends that process
    when the run's timeout passes (after recording it ``failed`` with the reason).

    A hung run cannot be interrupted from a thread, so the timeout kills the process: its
    whole process group when it leads one (a sweep worker: the run's own child processes die
    with it), else only itself. Whoever started the process sees it die and replaces it.
    """

    def __init__(self, store, task: RunTask, started: float):
        super().__init__(daemon=True, name=f"sdt-lease-{task.run_id}")
        self.store, self.task = store, task
        self.deadline = started + task.timeout_s if task.timeout_s else None
        self.lost = False
        self._halt = threading.Event()

    def run(self) -> None:
        period = self.store.lease_s / 4
        while True:
            wait = period if self.deadline is None else min(period, self.deadline - time.time())
            if self._halt.wait(max(0.0, wait)):
                return
            if self.deadline is not None and time.time() >= self.deadline:
                self._time_out()
            try:
                self.lost = not self.store.renew(self.task.run_id)
            except Exception:  # a missed beat only shortens the lease; the next one retries
                pass

    def _time_out(self) -> None:
        why = (f"timed out after {self.task.timeout_s:g} s (timeout) and was killed with its "
               "process group")
        try:
            self.store.finish(self.task.run_id, "failed", error=why,
                              retries=self.task.retries)
        finally:
            logging.getLogger(__name__).error("run %s %s", self.task.run_id, why)
            if os.getpgid(0) == os.getpid():
                os.killpg(os.getpid(), signal.SIGKILL)
            os.kill(os.getpid(), signal.SIGKILL)

    def stop(self) -> None:
        self._halt.set()
        self.join()


def perform(task: RunTask, store, *, device: str, kinds: Kinds | None = None,
            run_fn: Callable | None = None, schema=None, progress: bool = False) -> Outcome:
    """Execute ``task``, which this process has claimed and begun in ``store``; returns its
    :class:`Outcome` (not yet recorded: see :func:`outcome_record`).

    ``run_fn``/``schema`` give the kind directly (a command that already holds them); else
    ``kinds`` finds them by ``task.kind_ref``. Whatever goes wrong before the run function
    starts (an import error in a kind, a config that no longer validates) is a ``failed``
    outcome like an exception inside it.
    """
    keeper = LeaseKeeper(store, task, time.time())
    keeper.start()
    try:
        if run_fn is None:
            schema, run_fn = (kinds or Kinds()).get(task.kind_ref or task.kind)
        config = schema.model_validate(task.config)
        ctx = RunContext(run_id=task.run_id, run_dir=Path(task.run_dir), kind=task.kind,
                         device=device, tracker=make_tracker(task, config),
                         pruner=trial_pruner(task.trial), resume=task.resume,
                         progress=progress, deps={k: Path(v) for k, v in task.deps.items()})
        return execute(run_fn, config, ctx)
    except Exception as exc:
        return Outcome("failed", error=f"{type(exc).__name__}: {exc}",
                       traceback=traceback.format_exc())
    finally:
        keeper.stop()


def outcome_record(task: RunTask, outcome: Outcome) -> dict:
    """The keywords of ``Store.finish`` (and ``finished`` of ``Store.finish_and_start``)."""
    return dict(run_id=task.run_id, state=outcome.state, metrics=outcome.metrics,
                error=outcome.error, traceback=outcome.traceback,
                duration_s=outcome.duration_s, step=outcome.step, retries=task.retries)


def run_once(task: RunTask, store, *, device: str, code_version: str | None = None,
             **perform_kw) -> tuple[str | None, Outcome | None]:
    """Claim, begin, perform and record one run in this process. Returns the state written
    (None when the claim was lost meanwhile) and the outcome; ``(None, None)`` when the run
    could not be claimed (another process holds it, or it is already final)."""
    _, started = store.finish_and_start(None, task.run_id, pid=os.getpid(), device=device,
                                        code_version=code_version)
    if not started:
        return None, None
    try:
        outcome = perform(task, store, device=device, **perform_kw)
    except BaseException:
        store.release(task.run_id)  # interrupted before an outcome: someone may run it later
        raise
    state, _ = store.finish_and_start(outcome_record(task, outcome), None, pid=os.getpid(),
                                      device=device)
    return state, outcome


def trial_pruner(trial: dict | None) -> Callable[[int, float], bool] | None:
    """``ctx.pruner`` for an Optuna trial: report the value, ask the study's pruner."""
    if not trial or not trial.get("pruner"):
        return None
    from sdt.sweep.optuna_study import trial_reporter

    return trial_reporter(trial)
