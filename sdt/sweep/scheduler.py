"""The scheduler: runs from sources (:mod:`sdt.sweep.sources`) onto device slots through a
backend (:mod:`sdt.sweep.backends`: the local pool of worker processes), which the processes
claim in the store.

The manager never executes a run itself and never decides a run's state from memory: it
sends runs to the backend's lanes (one executing, at most one waiting behind it) and learns
outcomes from the store. A worker claims a run (an atomic update in the store, under its
manager's owner) in the same transaction that records the outcome of its previous one, keeps
its lease alive while it executes it, and answers only once the outcome is written. So

- two managers (or ``sdt-sweep worker`` on another machine) on one store never run one run
  twice: only one claim succeeds;
- killing the manager loses nothing that completed: its workers die with it, their claims
  are reclaimed (at once on this host, after the lease elsewhere), the rest runs on restart;
- a worker that dies (``os._exit``, a signal, a segfault in a kernel) costs only its run,
  which is recorded ``failed`` with the exit code and the tail of the worker's stderr; a new
  worker takes its slot.

A run waits until every run it depends on is ``completed`` (and gets their run directories as
``ctx.deps``); when a dependency ends in any other state the dependent is recorded ``failed``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from sdt.errors import UserError
from sdt.runner import RunTask
from sdt.sweep.backends import BACKENDS, Lost
from sdt.sweep.devices import Slot
from sdt.sweep.store import STATES, TERMINAL, Store


@dataclass
class Task:
    """One run of a plan, as the scheduler holds it (dependencies by run id)."""

    run_id: str
    kind: str
    config: dict
    run_dir: str
    studies: list[str] = field(default_factory=list)
    deps: dict[str, str] = field(default_factory=dict)  # dependency name -> its run_id
    tracking: dict | None = None  # W&B mode/project/entity for this run; None: disabled
    kind_ref: str | None = None  # how a worker finds the kind ("pkg.mod:KIND"); default: kind
    timeout_s: float | None = None  # per run: a longer run is ended and recorded failed
    trial: dict | None = None  # Optuna trial (storage, study, trial_id, pruner) to report to

    def run_task(self, sweep: str | None, retries: int, dep_dirs: dict[str, str]) -> RunTask:
        return RunTask(run_id=self.run_id, kind=self.kind, kind_ref=self.kind_ref or self.kind,
                       config=self.config, run_dir=self.run_dir, tags=list(self.studies),
                       deps=dep_dirs, sweep=sweep, tracking=self.tracking, retries=retries,
                       timeout_s=self.timeout_s, trial=self.trial)


def check_states(states: dict[str, str]) -> dict[str, str]:
    """``states``, unless the store holds a state this version does not know (written by a
    newer sdt, or by hand): scheduling around it would wait forever, so refuse clearly."""
    for run_id, state in states.items():
        if state not in STATES and state != "expired":
            raise UserError(f"run {run_id} is in state {state!r}, which this version of sdt "
                            f"does not know (known: {', '.join(STATES)}); a newer sdt may have "
                            "written it. Upgrade sdt, or set the run's state to pending or "
                            "failed in the store to go on.")
    return states


class Scheduler:
    """Run the tasks of ``sources`` on ``slots`` with ``store`` as the only source of truth.

    A source (:mod:`sdt.sweep.sources`) hands over runs when they are ready and hears their
    outcomes; several sources interleave on the same slots (one run of each in turn). The
    backend (``backend``, a name of :data:`sdt.sweep.backends.BACKENDS`) carries runs to
    processes. ``on_update(run_id, state)`` is called whenever a run reaches a final state
    (here or in another manager), for progress bars.
    """

    def __init__(self, store: Store, slots: list[Slot], *, sweep: str | None = None,
                 retries: int = 0, code_version: str = "",
                 log_dir: Path | None = None, poll_s: float = 0.5, backend: str = "local",
                 on_update: Callable[[str, str], None] | None = None):
        self.store = store
        self.sweep = sweep
        self.retries = retries
        self.poll_s = poll_s
        self.on_update = on_update or (lambda run_id, state: None)
        self.backend = BACKENDS[backend](store, slots, code_version=code_version,
                                         log_dir=log_dir)
        self.executed = 0  # runs this manager's processes took to an outcome
        self.sources: list = []
        self.by_id: dict[str, Task] = {}
        self.source_of: dict[str, list[int]] = {}  # run id -> the sources that gave it
        self.todo: list[str] = []  # runs not final yet, in the order they were handed over
        self.states: dict[str, str] = {}
        self._turn = 0  # the source whose run goes first at the next dispatch

    # ------------------------------------------------------------------ main loop

    def run(self, sources) -> dict[str, str]:
        """Execute every run the sources hand over until they have none left; return
        run_id -> final state. ``sources`` may be a list of :class:`Task` (one static
        source)."""
        from sdt.sweep.sources import Source, StaticSource

        if not all(isinstance(s, Source) for s in sources):
            sources = [StaticSource(list(sources))]
        self.sources = list(sources)
        self._pull()
        if not self.todo and self._exhausted():
            self._shutdown()
            return self._result()
        self.store.reclaim_orphans()
        self.start(len(self.todo))
        try:
            next_refresh = time.time() + self.poll_s
            while self.todo or not self._exhausted():
                for lane in self.backend.lanes():
                    # One run queued behind the executing one hides the dispatch round trip;
                    # only while there are more runs left than lanes (no idle tail). Sent
                    # before the process is ready: it finds the run when its imports end.
                    while (len(lane.queue) < 2 and lane.alive()
                           and (not lane.queue or self._spare()) and self._dispatch(lane)):
                        pass
                busy = any(lane.queue for lane in self.backend.lanes())
                # Only answers and the store refresh need the manager (each process keeps
                # the leases of its runs): sleep until the first of them.
                wake = next_refresh - time.time() if busy else min(0.05, self.poll_s)
                for event in self.backend.wait(wake):
                    if isinstance(event, Lost):
                        self._lost(event)
                    else:
                        self._done(event.run_id, event.state)
                now = time.time()
                if now >= next_refresh or not busy:
                    self._sync()
                    next_refresh = now + self.poll_s
                self._pull()
        finally:
            self._shutdown()
        return self._result()

    # ------------------------------------------------------------------ pieces

    def start(self, runs: int | None = None) -> None:
        """Start the backend's processes (at most one per run left), so they import while the
        caller still registers the plan; ``run`` starts them itself when this was not
        called."""
        self.backend.start(len(self.backend.slots) if runs is None else runs)

    def close(self, grace_s: float = 2.0) -> None:
        """Wait for idle processes to exit (killing any that take longer than ``grace_s``)."""
        self.backend.close(grace_s)

    def _shutdown(self) -> None:
        """Stop what still runs; interrupted runs go back to pending (not failed: they run
        next time)."""
        for run_id in self.backend.shutdown():
            self.store.release(run_id)

    def _result(self) -> dict[str, str]:
        return {rid: self.states.get(rid, "pending") for rid in self.by_id}

    def _exhausted(self) -> bool:
        return all(source.exhausted() for source in self.sources)

    def _pull(self) -> None:
        """Take the runs the sources have ready now; tell them of runs already final."""
        fresh: list[Task] = []
        for index, source in enumerate(self.sources):
            for task in source.take(self.states):
                givers = self.source_of.setdefault(task.run_id, [])
                if index not in givers:
                    givers.append(index)
                if task.run_id not in self.by_id:
                    self.by_id[task.run_id] = task
                    fresh.append(task)
                elif self.states.get(task.run_id) in TERMINAL:
                    source.heard(task.run_id, self.states[task.run_id])
        if not fresh:
            return
        ids = {t.run_id for t in fresh} | {d for t in fresh for d in t.deps.values()}
        self.states.update(check_states(self._refresh(ids - self._sent())))
        for task in fresh:
            state = self.states.get(task.run_id)
            if state in TERMINAL:
                for index in self.source_of[task.run_id]:
                    self.sources[index].heard(task.run_id, state)
            else:
                self.todo.append(task.run_id)

    def _final(self, run_id: str, state: str) -> None:
        """A run reached a final state: progress, its sources, the list of runs left."""
        self.on_update(run_id, state)
        for index in self.source_of.get(run_id, ()):
            self.sources[index].heard(run_id, state)
        if run_id in self.todo:
            self.todo.remove(run_id)

    def _set(self, run_id: str, state: str) -> None:
        known = self.states.get(run_id)
        self.states[run_id] = state
        if state in TERMINAL and known not in TERMINAL:
            self._final(run_id, state)

    def _refresh(self, run_ids) -> dict[str, str]:
        return self.store.states(run_ids, now=time.time())

    def _sent(self) -> set[str]:
        return {rid for lane in self.backend.lanes() for rid in lane.queue}

    def _sync(self) -> None:
        """Catch up with what other managers did (and leases that expired)."""
        watched = set(self.todo) | {d for rid in self.todo for d in self.by_id[rid].deps.values()}
        sent = self._sent()
        for run_id, state in check_states(self._refresh(watched)).items():
            if run_id in sent and state not in TERMINAL:
                continue  # a worker has it (or is about to claim it): not dispatchable
            if state != self.states.get(run_id):
                self._set(run_id, state)
        if not any(lane.queue for lane in self.backend.lanes()):
            for run_id in self.store.reclaim_orphans():
                self.states[run_id] = "pending"

    def _spare(self) -> bool:
        """Whether a lane may take a second run: while more runs wait than there are lanes,
        or while a source will hand over more (no lane then idles at the end for it)."""
        waiting = sum(1 for rid in self.todo if self.states.get(rid) in ("pending", "expired"))
        return waiting > len(self.backend.lanes()) or (waiting > 0 and not self._exhausted())

    def _dispatch(self, lane) -> bool:
        """Send ``lane`` the first runnable run, taking the sources in turn; False when
        there is none."""
        first: dict[int, str] = {}  # source index -> its first runnable run
        for run_id in list(self.todo):
            if self.states.get(run_id) not in ("pending", "expired"):
                continue
            task = self.by_id[run_id]
            blocked = self._blocked(task)
            if blocked == "wait":
                continue
            if blocked:  # a dependency ended badly: this run cannot run at all
                if not self.store.claim(run_id):
                    self.states[run_id] = self._refresh([run_id]).get(run_id, "running")
                    continue
                self._set(run_id, self.store.finish(run_id, "failed", error=blocked))
                continue
            for index in self.source_of[run_id]:
                first.setdefault(index, run_id)
            if self._turn in first or len(self.sources) == 1:
                break
        if not first:
            return False
        order = sorted(first, key=lambda i: (i - self._turn) % len(self.sources))
        run_id = first[order[0]]
        self._turn = (order[0] + 1) % len(self.sources)
        task = self.by_id[run_id]
        dep_dirs = {name: self.store.get(dep)["run_dir"] for name, dep in task.deps.items()}
        if not self.backend.send(lane, task.run_task(self.sweep, self.retries, dep_dirs)):
            return False
        self.states[run_id] = "running"
        return True

    def _blocked(self, task: Task) -> str | None:
        """None when every dependency completed, "wait" while one is not final, else why
        the run can never start."""
        for name, dep in task.deps.items():
            state = self.states.get(dep)
            if state == "completed":
                continue
            if state in TERMINAL:
                return f"dependency {name!r} (run {dep}) ended {state}"
            if state is None:
                return f"dependency {name!r} (run {dep}) is not in the store"
            return "wait"
        return None

    def _done(self, run_id: str, state: str | None) -> None:
        if state is None:  # claim lost: whatever the store says now
            state = self._refresh([run_id]).get(run_id, "pending")
        else:
            self.executed += 1
        self._set(run_id, state)

    def _lost(self, event: Lost) -> None:
        """A lane's process died: its queued runs were never started, the one it executed
        is ``failed`` (if it had begun it), and the lane is replaced while work is left."""
        for run_id in event.queued:
            self.store.release(run_id)  # (it may have claimed it just before dying)
            self.states[run_id] = "pending"
        if event.current is not None:
            run_id = event.current
            state = self.store.finish(run_id, "failed",
                                      error=f"{event.why} while running this run",
                                      traceback=event.tail or None, retries=self.retries)
            self.executed += state is not None
            self._set(run_id, state or self._refresh([run_id]).get(run_id, "pending"))
        if self.todo or not self._exhausted():
            self.backend.replace(event.lane)
