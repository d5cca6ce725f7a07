"""The local scheduler: a pool of persistent worker processes, one per device slot, fed with
runs in plan order, which the workers claim in the store.

The manager never executes a run itself and never decides a run's state from memory: it
sends runs to its workers (one executing, at most one waiting behind it), renews the leases
of the runs they hold, and learns outcomes from the store. A worker claims a run (an atomic
update in the store, under its manager's owner) in the same transaction that records the
outcome of its previous one, and answers only once that is written. So

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

import json
import os
import selectors
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from sdt.errors import UserError
from sdt.runner import RunTask
from sdt.sweep.devices import Slot
from sdt.sweep.store import STATES, TERMINAL, Store

STARTUP_FAILURES_ALLOWED = 3


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


class _Worker:
    """One worker process bound to a slot, with its line-buffered answer channel."""

    def __init__(self, slot: Slot, store: Store, code_version: str, log_dir: Path):
        self.slot = slot
        self.queue: list[str] = []  # runs sent, in order; the first is executing
        self.ready = False
        self._buffer = b""
        log_dir.mkdir(parents=True, exist_ok=True)
        device = slot.device.replace(":", "")
        self.log_path = log_dir / f"{store.host}-{os.getpid()}-{device}-{slot.number}.log"
        self._log = open(self.log_path, "ab")
        env = {**os.environ, **slot.env}
        # Tasks and answers travel on pipes of their own: the run's stdio is not the protocol.
        task_read, task_write = os.pipe()
        answer_read, answer_write = os.pipe()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "sdt.sweep.worker", "--store", store.url,
             "--owner", store.owner, "--manager-pid", str(os.getpid()),
             "--device", slot.device, "--local-device", slot.local_device,
             "--code-version", code_version, "--tasks-fd", str(task_read),
             "--answers-fd", str(answer_write)],
            stdin=subprocess.DEVNULL, stdout=self._log, stderr=self._log, env=env,
            pass_fds=(task_read, answer_write),
            # Its own process group: Ctrl-C reaches the manager, which stops its workers, and
            # stopping one kills the whole group, processes its runs started included.
            start_new_session=True,
        )
        os.close(task_read)
        os.close(answer_write)
        self.tasks = os.fdopen(task_write, "wb")
        self.answers = os.fdopen(answer_read, "rb", buffering=0)
        os.set_blocking(answer_read, False)

    @property
    def current(self) -> str | None:
        return self.queue[0] if self.queue else None

    @property
    def fd(self) -> int:
        return self.answers.fileno()

    def send(self, task: RunTask) -> None:
        self.tasks.write((json.dumps(task.to_message()) + "\n").encode())
        self.tasks.flush()

    def read(self) -> tuple[list[dict], bool]:
        """Messages available now, and whether the channel closed (the worker died)."""
        closed = False
        while True:
            try:
                chunk = os.read(self.fd, 65536)
            except BlockingIOError:
                break
            if not chunk:
                closed = True
                break
            self._buffer += chunk
        *lines, self._buffer = self._buffer.split(b"\n")
        return [json.loads(line) for line in lines if line.strip()], closed

    def death(self) -> str:
        """How the process ended, for the run it took with it."""
        code = self.proc.wait()
        if code < 0:
            try:
                how = f"killed by signal {signal.Signals(-code).name}"
            except ValueError:
                how = f"killed by signal {-code}"
        else:
            how = f"exited with code {code}"
        return f"worker process {self.proc.pid} on {self.slot.device} {how}"

    def stderr_tail(self, lines: int = 30) -> str:
        try:
            text = self.log_path.read_bytes()[-20000:].decode(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def close_input(self) -> None:
        try:
            self.tasks.close()
        except OSError:
            pass

    def kill(self) -> None:
        """SIGKILL the worker's process group: the worker and whatever its run started."""
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass

    def stop(self, grace_s: float = 0.0) -> None:
        """End the process: an idle worker exits when its task channel closes; otherwise its
        process group is killed. Processes a run left behind die with the group either way."""
        self.close_input()
        try:
            self.proc.wait(timeout=grace_s)
        except subprocess.TimeoutExpired:
            pass
        self.kill()
        self.proc.wait()
        try:
            self.answers.close()
        except OSError:
            pass
        self._log.close()
        if self.proc.returncode == 0 and self.log_path.stat().st_size == 0:
            self.log_path.unlink()  # nothing to tell: keep runs/workers/ for the ones that do


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


def default_log_dir(store: Store) -> Path:
    """Worker stderr logs: beside a SQLite store, else in the temp folder."""
    if store.url.startswith("sqlite:///") and len(store.url) > len("sqlite:///"):
        return Path(store.url[len("sqlite:///"):]).parent / "workers"
    return Path(tempfile.gettempdir()) / "sdt-workers"


class Scheduler:
    """Run the tasks of ``sources`` on ``slots`` with ``store`` as the only source of truth.

    A source (:mod:`sdt.sweep.sources`) hands over runs when they are ready and hears their
    outcomes; several sources interleave on the same slots (one run of each in turn).
    ``on_update(run_id, state)`` is called whenever a run reaches a final state (here or in
    another manager), for progress bars.
    """

    def __init__(self, store: Store, slots: list[Slot], *, sweep: str | None = None,
                 retries: int = 0, code_version: str = "",
                 log_dir: Path | None = None, poll_s: float = 0.5,
                 on_update: Callable[[str, str], None] | None = None):
        self.store = store
        self.slots = slots
        self.sweep = sweep
        self.retries = retries
        self.code_version = code_version
        self.log_dir = log_dir or default_log_dir(store)
        self.poll_s = poll_s
        self.on_update = on_update or (lambda run_id, state: None)
        self.workers: list[_Worker] = []
        self.executed = 0  # runs this manager's workers took to an outcome
        self._startup_failures = 0
        self._selector: selectors.BaseSelector | None = None
        self._exiting: list[_Worker] = []  # told to exit, not yet reaped (see close)
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
            if self._selector is not None:
                self._shutdown(self._selector)
            return self._result()
        self.store.reclaim_orphans()
        self.start(max(1, len(self.todo)))
        sel = self._selector
        try:
            next_refresh = time.time() + self.poll_s
            while self.todo or not self._exhausted():
                for worker in self.workers:
                    # One run queued behind the executing one hides the dispatch round trip;
                    # only while there are more runs left than workers (no idle tail).
                    # Sent before the worker is ready: it finds the run when its imports end.
                    while (len(worker.queue) < 2 and worker.proc.poll() is None
                           and (not worker.queue or self._spare())
                           and self._dispatch(worker)):
                        pass
                busy = any(w.current for w in self.workers)
                # Only answers and the store refresh need the manager (each worker keeps the
                # leases of its runs): sleep until the first of them.
                wake = next_refresh - time.time() if busy else min(0.05, self.poll_s)
                for key, _ in sel.select(timeout=max(0.0, wake)):
                    self._receive(key.data, sel)
                now = time.time()
                if now >= next_refresh or not busy:
                    self._sync()
                    next_refresh = now + self.poll_s
                self._pull()
        finally:
            self._shutdown(sel)
        return self._result()

    # ------------------------------------------------------------------ pieces

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

    def start(self, runs: int | None = None) -> None:
        """Start the workers (at most one per run left), so they import while the caller
        still registers the plan; ``run`` starts them itself when this was not called."""
        if self._selector is not None:
            return
        self._selector = selectors.DefaultSelector()
        for slot in self.slots[:runs]:
            self._spawn(slot, self._selector)

    def _spawn(self, slot: Slot, sel) -> _Worker:
        worker = _Worker(slot, self.store, self.code_version, self.log_dir)
        self.workers.append(worker)
        sel.register(worker.fd, selectors.EVENT_READ, worker)
        return worker

    def _refresh(self, run_ids) -> dict[str, str]:
        return self.store.states(run_ids, now=time.time())

    def _sent(self) -> set[str]:
        return {rid for w in self.workers for rid in w.queue}

    def _sync(self) -> None:
        """Catch up with what other managers did (and leases that expired)."""
        watched = set(self.todo) | {d for rid in self.todo for d in self.by_id[rid].deps.values()}
        sent = self._sent()
        for run_id, state in check_states(self._refresh(watched)).items():
            if run_id in sent and state not in TERMINAL:
                continue  # a worker has it (or is about to claim it): not dispatchable
            if state != self.states.get(run_id):
                self._set(run_id, state)
        if not any(w.current for w in self.workers):
            for run_id in self.store.reclaim_orphans():
                self.states[run_id] = "pending"

    def _spare(self) -> bool:
        waiting = sum(1 for rid in self.todo if self.states.get(rid) in ("pending", "expired"))
        return waiting > len(self.workers)

    def _dispatch(self, worker: _Worker) -> bool:
        """Send ``worker`` the first runnable run, taking the sources in turn; False when
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
        try:
            worker.send(task.run_task(self.sweep, self.retries, dep_dirs))
        except (BrokenPipeError, OSError):  # the worker is gone; its EOF replaces it
            return False
        self.states[run_id] = "running"
        worker.queue.append(run_id)
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

    def _receive(self, worker: _Worker, sel) -> None:
        messages, closed = worker.read()
        for message in messages:
            if "ready" in message:
                worker.ready = True
                self._startup_failures = 0
            elif "done" in message:
                run_id, state = message["done"], message.get("state")
                if run_id in worker.queue:
                    worker.queue.remove(run_id)
                if state is None:  # claim lost: whatever the store says now
                    state = self._refresh([run_id]).get(run_id, "pending")
                else:
                    self.executed += 1
                self._set(run_id, state)
        if closed:
            self._replace(worker, sel)

    def _replace(self, worker: _Worker, sel) -> None:
        sel.unregister(worker.fd)
        why = worker.death()
        tail = worker.stderr_tail()
        worker.stop()
        self.workers.remove(worker)
        for run_id in worker.queue[1:]:  # sent but never started: simply not run yet
            self.store.release(run_id)  # (it may have claimed it just before dying)
            self.states[run_id] = "pending"
        if worker.current is not None:
            # Failed only if the worker had claimed and begun it; else it is still pending.
            run_id = worker.current
            state = self.store.finish(run_id, "failed", error=f"{why} while running this run",
                                      traceback=tail or None, retries=self.retries)
            self.executed += state is not None
            self._set(run_id, state or self._refresh([run_id]).get(run_id, "pending"))
        if not worker.ready:
            self._startup_failures += 1
            if self._startup_failures >= STARTUP_FAILURES_ALLOWED:
                raise RuntimeError(f"workers cannot start: {why}\n{tail}")
        if self.todo or not self._exhausted():
            self._spawn(worker.slot, sel)

    def _shutdown(self, sel) -> None:
        """Stop busy workers now (their runs go back to pending) and tell idle ones to exit;
        :meth:`close` waits for those, so their exit overlaps with the caller's summary."""
        for worker in self.workers:
            if worker.queue and worker.proc.poll() is None:
                worker.stop()
                for run_id in worker.queue:  # interrupted, not failed: run it next time
                    self.store.release(run_id)
            else:
                worker.close_input()
                self._exiting.append(worker)
        self.workers.clear()
        sel.close()
        self._selector = None

    def close(self, grace_s: float = 2.0) -> None:
        """Wait for the idle workers to exit (killing any that take longer than ``grace_s``)."""
        deadline = time.time() + grace_s
        for worker in self._exiting:
            worker.stop(grace_s=max(0.0, deadline - time.time()))
        self._exiting.clear()
