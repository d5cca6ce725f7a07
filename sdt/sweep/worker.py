"""A persistent worker process: executes the runs its manager sends, one at a time, on the
one device slot it is pinned to, and records each outcome in the store itself (so a result is
safe the moment the run ends, whatever happens to the manager).

Protocol: JSON lines. The manager writes tasks to the worker's stdin (possibly before the
worker is ready, and one more while a run executes); the worker answers on its original stdout
(``{"ready": pid}`` once, then ``{"done": run_id, "state": ...}`` per task, ``"state": null``
when the run's claim was lost). The worker claims each run under its manager's owner in the
same store transaction that records the outcome of its previous run, so a run costs one
transaction, and the manager hears of an outcome only once it is written.
Anything a run prints goes to stderr, which the manager keeps in a log file. Heavy libraries
(torch, transformers) are imported by the first run that needs them and stay imported.

The worker dies with its manager: on Linux the kernel kills it (``PR_SET_PDEATHSIG``); a
watchdog thread covers other systems.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import select
import signal
import sys
import threading
import time
import traceback
from collections import deque
from pathlib import Path


def _die_with_parent(manager_pid: int) -> None:
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
        except (OSError, AttributeError):
            pass
    if os.getppid() != manager_pid:  # the manager died before prctl took effect
        os._exit(3)

    def watch():
        while True:
            time.sleep(0.5)
            if os.getppid() != manager_pid:
                os._exit(3)

    threading.Thread(target=watch, daemon=True, name="sdt-parent-watch").start()


class _Kinds:
    """Kind name -> (schema, run function), loaded once per worker."""

    def __init__(self):
        self._cache: dict[str, tuple] = {}

    def get(self, name: str):
        if name not in self._cache:
            from sdt.sweep.registry import get_kind

            kind = get_kind(name)
            self._cache[name] = (kind.load_schema(), kind.load_run())
        return self._cache[name]


def make_run_tracker(task: dict, config):
    """The W&B run of one sdt run (None when tracking is disabled for it)."""
    tracking = task.get("tracking")
    if not tracking or tracking.get("mode") == "disabled":
        return None
    from sdt.tracking import Tracker

    experiment = getattr(config, "experiment", None)
    name = getattr(experiment, "name", None) or task["kind"]
    return Tracker(mode=tracking.get("mode", "auto"), project=tracking.get("project"),
                   entity=tracking.get("entity"), name=f"{name}-{task['run_id']}",
                   group=task.get("sweep"), job_type=task["kind"], tags=task.get("studies"),
                   config=task["config"], dir=task["run_dir"], run_id=task["run_id"],
                   resume=True)


class _Inbox:
    """The tasks the manager wrote to stdin (JSON lines), readable without blocking, so a
    worker can tell whether its next run is already waiting."""

    def __init__(self, fd: int):
        self.fd = fd
        self.closed = False
        self._buffer = b""
        self._lines: deque[bytes] = deque()

    def get(self, wait: bool) -> dict | None:
        """The next task; None when there is none yet (``wait=False``) or stdin closed."""
        while not self._lines and not self.closed:
            if not wait and not select.select([self.fd], [], [], 0)[0]:
                return None
            chunk = os.read(self.fd, 65536)
            if not chunk:
                self.closed = True
                break
            *lines, self._buffer = (self._buffer + chunk).split(b"\n")
            self._lines.extend(line for line in lines if line.strip())
        return json.loads(self._lines.popleft()) if self._lines else None


def perform(task: dict, kinds: _Kinds, local_device: str):
    """Execute one run the worker has claimed and begun; returns its :class:`Outcome`."""
    from sdt.context import RunContext
    from sdt.runner import Outcome, execute

    try:
        schema, run_fn = kinds.get(task.get("kind_ref") or task["kind"])
        config = schema.model_validate(task["config"])
        tracker = make_run_tracker(task, config)
        ctx = RunContext(run_id=task["run_id"], run_dir=Path(task["run_dir"]),
                         kind=task["kind"], device=local_device, tracker=tracker,
                         progress=False,
                         deps={k: Path(v) for k, v in (task.get("deps") or {}).items()})
        return execute(run_fn, config, ctx)
    except Exception as exc:  # the run could not even be set up (import error in a kind...)
        return Outcome("failed", error=f"{type(exc).__name__}: {exc}",
                       traceback=traceback.format_exc())


def serve(inbox: _Inbox, channel, store, kinds: _Kinds, device: str, local_device: str,
          code_version: str | None) -> None:
    """Run tasks until stdin closes. The outcome of a run and the claim of the next one (when
    it is already waiting) are one store transaction; the manager hears of an outcome only
    after it is in the store."""
    done = None  # (task, outcome) executed and not yet recorded
    while True:
        task = inbox.get(wait=done is None)
        if done is None and task is None:
            return  # stdin closed and nothing left to record
        finished = None
        if done is not None:
            outcome = done[1]
            finished = dict(run_id=done[0]["run_id"], state=outcome.state,
                            metrics=outcome.metrics, error=outcome.error,
                            traceback=outcome.traceback, duration_s=outcome.duration_s,
                            step=outcome.step, retries=int(done[0].get("retries", 0)))
        state, started = store.finish_and_start(
            finished, task and task["run_id"], pid=os.getpid(), device=device,
            code_version=code_version)
        if done is not None:
            outcome = done[1]
            channel.write(json.dumps({"done": done[0]["run_id"], "state": state,
                                      "outcome": outcome.state, "error": outcome.error,
                                      "duration_s": outcome.duration_s}, default=str) + "\n")
            done = None
        if task is None:
            continue
        if not started:
            channel.write(json.dumps({"done": task["run_id"], "state": None,
                                      "error": "claim lost before the run started"}) + "\n")
            continue
        done = (task, perform(task, kinds, local_device))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sdt.sweep.worker")
    parser.add_argument("--store", required=True)
    parser.add_argument("--owner", required=True)
    parser.add_argument("--manager-pid", type=int, required=True)
    parser.add_argument("--device", required=True)
    parser.add_argument("--local-device", required=True)
    parser.add_argument("--code-version", default=None)
    args = parser.parse_args(argv)
    _die_with_parent(args.manager_pid)

    # The protocol keeps the real stdout; whatever runs print goes to stderr.
    channel = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr

    from sdt.sweep.store import Store

    store = Store(args.store, owner=args.owner)
    kinds = _Kinds()
    channel.write(json.dumps({"ready": os.getpid()}) + "\n")
    serve(_Inbox(sys.stdin.fileno()), channel, store, kinds, args.device, args.local_device,
          args.code_version)
    return 0


if __name__ == "__main__":
    sys.exit(main())
