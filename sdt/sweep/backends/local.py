"""The local backend: a pool of persistent worker processes (``python -m sdt.sweep.worker``),
one per device slot, each executing the runs sent to it one at a time (torch imported once per
worker, not once per run).

- Tasks and answers travel on pipes of their own; a run's stdin is ``/dev/null``.
- Each worker leads its own process group: Ctrl-C reaches only the manager, and stopping a
  worker kills the group, so processes a run started die with it.
- A worker that dies is reported (how it died, the tail of its stderr) and replaced on its slot
  when asked; three that die before they are ready stop the sweep (they cannot start at all).
"""

from __future__ import annotations

import json
import os
import selectors
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

from sdt.runner import RunTask
from sdt.sweep.backends import Backend, Done, Lost
from sdt.sweep.devices import Slot
from sdt.sweep.store import Store

STARTUP_FAILURES_ALLOWED = 3


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

    def alive(self) -> bool:
        return self.proc.poll() is None

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


def default_log_dir(store: Store) -> Path:
    """Worker stderr logs: beside a SQLite store, else in the temp folder."""
    if store.url.startswith("sqlite:///") and len(store.url) > len("sqlite:///"):
        return Path(store.url[len("sqlite:///"):]).parent / "workers"
    return Path(tempfile.gettempdir()) / "sdt-workers"


class LocalPool(Backend):
    """Worker processes on this machine, one per slot (see the module docstring)."""

    def __init__(self, store: Store, slots: list[Slot], *, code_version: str = "",
                 log_dir: Path | None = None):
        self.store = store
        self.slots = slots
        self.code_version = code_version
        self.log_dir = log_dir or default_log_dir(store)
        self.workers: list[_Worker] = []
        self._selector: selectors.BaseSelector | None = None
        self._exiting: list[_Worker] = []  # told to exit, not yet reaped (see close)
        self._startup_failures = 0
        self.spawned = 0  # processes started, replacements included

    @property
    def started(self) -> bool:
        return self._selector is not None

    def start(self, runs: int) -> None:
        if self._selector is not None:
            return
        self._selector = selectors.DefaultSelector()
        for slot in self.slots[:max(1, runs)]:
            self._spawn(slot)

    def _spawn(self, slot: Slot) -> _Worker:
        self.spawned += 1
        worker = _Worker(slot, self.store, self.code_version, self.log_dir)
        self.workers.append(worker)
        self._selector.register(worker.fd, selectors.EVENT_READ, worker)
        return worker

    def lanes(self) -> list[_Worker]:
        return list(self.workers)

    def send(self, lane: _Worker, task: RunTask) -> bool:
        try:
            lane.send(task)
        except (BrokenPipeError, OSError):  # the worker is gone; its end of file reports it
            return False
        lane.queue.append(task.run_id)
        return True

    def wait(self, timeout: float) -> list:
        events = []
        for key, _ in self._selector.select(timeout=max(0.0, timeout)):
            worker = key.data
            messages, closed = worker.read()
            for message in messages:
                if "ready" in message:
                    worker.ready = True
                    self._startup_failures = 0
                elif "done" in message:
                    if message["done"] in worker.queue:
                        worker.queue.remove(message["done"])
                    events.append(Done(message["done"], message.get("state")))
            if closed:
                events.append(self._lost(worker))
        return events

    def _lost(self, worker: _Worker) -> Lost:
        self._selector.unregister(worker.fd)
        why = worker.death()
        tail = worker.stderr_tail()
        worker.stop()
        self.workers.remove(worker)
        if not worker.ready:
            self._startup_failures += 1
            if self._startup_failures >= STARTUP_FAILURES_ALLOWED:
                raise RuntimeError(f"workers cannot start: {why}\n{tail}")
        return Lost(worker, worker.current, list(worker.queue[1:]), f"{why}", tail)

    def replace(self, lane: _Worker) -> None:
        self._spawn(lane.slot)

    def shutdown(self) -> list[str]:
        """Stop busy workers now and tell idle ones to exit (:meth:`close` waits for those, so
        their exit overlaps with the caller's summary); returns the runs the busy ones held."""
        held = []
        for worker in self.workers:
            if worker.queue and worker.proc.poll() is None:
                worker.stop()
                held += worker.queue
            else:
                worker.close_input()
                self._exiting.append(worker)
        self.workers.clear()
        if self._selector is not None:
            self._selector.close()
        self._selector = None
        return held

    def close(self, grace_s: float = 2.0) -> None:
        import time

        deadline = time.time() + grace_s
        for worker in self._exiting:
            worker.stop(grace_s=max(0.0, deadline - time.time()))
        self._exiting.clear()
