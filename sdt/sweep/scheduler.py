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

from sdt.sweep.devices import Slot
from sdt.sweep.store import TERMINAL, Store

STARTUP_FAILURES_ALLOWED = 3


@dataclass
class Task:
    """What a worker needs to execute one run (JSON-serialisable)."""

    run_id: str
    kind: str
    config: dict
    run_dir: str
    studies: list[str] = field(default_factory=list)
    deps: dict[str, str] = field(default_factory=dict)  # dependency name -> its run_id
    tracking: dict | None = None  # W&B mode/project/entity for this run; None: disabled
    kind_ref: str | None = None  # how a worker finds the kind ("pkg.mod:KIND"); default: kind

    def message(self, sweep: str | None, retries: int, dep_dirs: dict[str, str]) -> dict:
        return {"run_id": self.run_id, "kind": self.kind, "kind_ref": self.kind_ref or self.kind,
                "config": self.config,
                "run_dir": self.run_dir, "studies": self.studies, "deps": dep_dirs,
                "sweep": sweep, "tracking": self.tracking, "retries": retries}


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
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "sdt.sweep.worker", "--store", store.url,
             "--owner", store.owner, "--manager-pid", str(os.getpid()),
             "--device", slot.device, "--local-device", slot.local_device,
             "--code-version", code_version],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._log, env=env,
            start_new_session=True,  # Ctrl-C reaches the manager, which stops its workers
        )
        os.set_blocking(self.proc.stdout.fileno(), False)

    @property
    def current(self) -> str | None:
        return self.queue[0] if self.queue else None

    @property
    def fd(self) -> int:
        return self.proc.stdout.fileno()

    def send(self, message: dict) -> None:
        self.proc.stdin.write((json.dumps(message) + "\n").encode())
        self.proc.stdin.flush()

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
            self.proc.stdin.close()
        except OSError:
            pass

    def stop(self, grace_s: float = 0.0) -> None:
        """End the process: an idle worker exits when its stdin closes; otherwise kill it."""
        self.close_input()
        try:
            self.proc.wait(timeout=grace_s)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.proc.wait()
        for stream in (self.proc.stdin, self.proc.stdout):
            try:
                stream.close()
            except OSError:
                pass
        self._log.close()
        if self.proc.returncode == 0 and self.log_path.stat().st_size == 0:
            self.log_path.unlink()  # nothing to tell: keep runs/workers/ for the ones that do


def default_log_dir(store: Store) -> Path:
    """Worker stderr logs: beside a SQLite store, else in the temp folder."""
    if store.url.startswith("sqlite:///") and len(store.url) > len("sqlite:///"):
        return Path(store.url[len("sqlite:///"):]).parent / "workers"
    return Path(tempfile.gettempdir()) / "sdt-workers"


class Scheduler:
    """Run ``tasks`` (in order) on ``slots`` with ``store`` as the only source of truth.

    ``on_update(run_id, state)`` is called whenever a run of the plan reaches a final state
    (here or in another manager), for progress bars.
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
        self._deps_of: dict[str, tuple[str, ...]] = {}
        self._selector: selectors.BaseSelector | None = None
        self._exiting: list[_Worker] = []  # told to exit, not yet reaped (see close)

    # ------------------------------------------------------------------ main loop

    def run(self, tasks: list[Task]) -> dict[str, str]:
        """Execute every task that is not final; return run_id -> final state."""
        by_id = {t.run_id: t for t in tasks}
        self._deps_of = {t.run_id: tuple(t.deps.values()) for t in tasks}
        states = self._refresh(set(by_id) | {d for t in tasks for d in t.deps.values()})
        todo = [t.run_id for t in tasks if states.get(t.run_id) not in TERMINAL]
        if not todo:
            if self._selector is not None:
                self._shutdown(self._selector)
            return {rid: states[rid] for rid in by_id}
        self.store.reclaim_orphans()
        self.start(len(todo))
        sel = self._selector
        try:
            next_beat = time.time() + self.store.lease_s / 4
            next_refresh = time.time() + self.poll_s
            while todo:
                for worker in self.workers:
                    # One run queued behind the executing one hides the dispatch round trip;
                    # only while there are more runs left than workers (no idle tail).
                    # Sent before the worker is ready: it finds the run when its imports end.
                    while (len(worker.queue) < 2 and worker.proc.poll() is None
                           and (not worker.queue or self._spare(todo, states))
                           and self._dispatch(worker, todo, by_id, states)):
                        pass
                busy = any(w.current for w in self.workers)
                # Only answers, heartbeats and the store refresh need the manager: sleep
                # until the first of them.
                wake = min(next_beat, next_refresh) - time.time()
                for key, _ in sel.select(timeout=max(0.0, wake)):
                    self._receive(key.data, states, sel, todo)
                now = time.time()
                if now >= next_beat:
                    self.store.heartbeat()
                    next_beat = now + self.store.lease_s / 4
                if now >= next_refresh or not busy:
                    self._sync(todo, states)
                    next_refresh = now + self.poll_s
                todo[:] = [rid for rid in todo if states.get(rid) not in TERMINAL]
        finally:
            self._shutdown(sel)
        return {rid: states.get(rid, "pending") for rid in by_id}

    # ------------------------------------------------------------------ pieces

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

    def _sync(self, todo: list[str], states: dict[str, str]) -> None:
        """Catch up with what other managers did (and leases that expired)."""
        watched = set(todo) | {d for rid in todo for d in self._deps_of.get(rid, ())}
        sent = {rid for w in self.workers for rid in w.queue}
        for run_id, state in self._refresh(watched).items():
            if run_id in sent and state not in TERMINAL:
                continue  # a worker has it (or is about to claim it): not dispatchable
            if state != states.get(run_id):
                states[run_id] = state
                if state in TERMINAL:
                    self.on_update(run_id, state)
        if not any(w.current for w in self.workers):
            for run_id in self.store.reclaim_orphans():
                states[run_id] = "pending"

    def _spare(self, todo: list[str], states: dict[str, str]) -> bool:
        waiting = sum(1 for rid in todo if states.get(rid) in ("pending", "expired"))
        return waiting > len(self.workers)

    def _dispatch(self, worker: _Worker, todo: list[str], by_id: dict[str, Task],
                  states: dict[str, str]) -> bool:
        """Claim the first runnable run of ``todo`` and send it to ``worker``; False when
        there is none."""
        for run_id in todo:
            if states.get(run_id) not in ("pending", "expired"):
                continue
            task = by_id[run_id]
            blocked = self._blocked(task, states)
            if blocked == "wait":
                continue
            if blocked:  # a dependency ended badly: this run cannot run at all
                if not self.store.claim(run_id):
                    states[run_id] = self._refresh([run_id]).get(run_id, "running")
                    continue
                self.store.finish(run_id, "failed", error=blocked)
                states[run_id] = "failed"
                self.on_update(run_id, "failed")
                continue
            dep_dirs = {name: self.store.get(dep)["run_dir"] for name, dep in task.deps.items()}
            try:
                worker.send(task.message(self.sweep, self.retries, dep_dirs))
            except (BrokenPipeError, OSError):  # the worker is gone; its EOF replaces it
                return False
            states[run_id] = "running"
            worker.queue.append(run_id)
            return True
        return False

    def _blocked(self, task: Task, states: dict[str, str]) -> str | None:
        """None when every dependency completed, "wait" while one is not final, else why
        the run can never start."""
        for name, dep in task.deps.items():
            state = states.get(dep)
            if state == "completed":
                continue
            if state in TERMINAL:
                return f"dependency {name!r} (run {dep}) ended {state}"
            if state is None:
                return f"dependency {name!r} (run {dep}) is not in the store"
            return "wait"
        return None

    def _receive(self, worker: _Worker, states: dict[str, str], sel, todo: list[str]) -> None:
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
                known = states.get(run_id)
                states[run_id] = state
                if state in TERMINAL and known not in TERMINAL:
                    self.on_update(run_id, state)
        if closed:
            self._replace(worker, states, sel, todo)

    def _replace(self, worker: _Worker, states: dict[str, str], sel, todo: list[str]) -> None:
        sel.unregister(worker.fd)
        why = worker.death()
        tail = worker.stderr_tail()
        worker.stop()
        self.workers.remove(worker)
        for run_id in worker.queue[1:]:  # sent but never started: simply not run yet
            self.store.release(run_id)  # (it may have claimed it just before dying)
            states[run_id] = "pending"
        if worker.current is not None:
            # Failed only if the worker had claimed and begun it; else it is still pending.
            run_id = worker.current
            state = self.store.finish(run_id, "failed", error=f"{why} while running this run",
                                      traceback=tail or None, retries=self.retries)
            self.executed += state is not None
            states[run_id] = state or self._refresh([run_id]).get(run_id, "pending")
            if states[run_id] in TERMINAL:
                self.on_update(run_id, states[run_id])
        if not worker.ready:
            self._startup_failures += 1
            if self._startup_failures >= STARTUP_FAILURES_ALLOWED:
                raise RuntimeError(f"workers cannot start: {why}\n{tail}")
        if any(states.get(rid) not in TERMINAL for rid in todo):
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
