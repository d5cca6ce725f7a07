"""A persistent worker process: executes the runs its manager sends, one at a time, on the
one device slot it is pinned to, and records each outcome in the store itself (so a result is
safe the moment the run ends, whatever happens to the manager).

Protocol: JSON lines on two pipes of their own (``--tasks-fd``, ``--answers-fd``), never on
stdio. The manager writes tasks (:class:`sdt.runner.RunTask` messages, possibly before the
worker is ready, and one more while a run executes); the worker answers ``{"ready": pid}``
once, then ``{"done": run_id, "state": ...}`` per task (``"state": null`` when the run's
claim was lost). A run's stdin is ``/dev/null``, so ``input()`` or ``breakpoint()`` in a run
ends it with ``EOFError`` instead of reading the task channel.

The worker claims each run under its manager's owner in the same store transaction that
records the outcome of its previous run, so a run costs one transaction, and the manager hears
of an outcome only once it is written. Each run is executed by :func:`sdt.runner.perform`,
which keeps its lease alive from this process (a suspended manager cannot lose it). Anything a
run prints goes to stderr, which the manager keeps in a log file. Heavy libraries (torch,
transformers) are imported by the first run that needs them and stay imported.

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
from collections import deque

from sdt.runner import Kinds, RunTask, outcome_record, perform


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


def serve(inbox: _Inbox, channel, store, kinds: Kinds, device: str, local_device: str,
          code_version: str | None) -> None:
    """Run tasks until the task channel closes. The outcome of a run and the claim of the
    next one (when it is already waiting) are one store transaction; the manager hears of an
    outcome only after it is in the store."""
    done = None  # (task, outcome) executed and not yet recorded
    while True:
        message = inbox.get(wait=done is None)
        if done is None and message is None:
            return  # channel closed and nothing left to record
        task = RunTask.from_message(message) if message is not None else None
        state, started = store.finish_and_start(
            done and outcome_record(*done), task and task.run_id, pid=os.getpid(),
            device=device, code_version=code_version)
        if done is not None:
            outcome = done[1]
            channel.write(json.dumps({"done": done[0].run_id, "state": state,
                                      "outcome": outcome.state, "error": outcome.error,
                                      "duration_s": outcome.duration_s}, default=str) + "\n")
            done = None
        if task is None:
            continue
        if not started:
            channel.write(json.dumps({"done": task.run_id, "state": None,
                                      "error": "claim lost before the run started"}) + "\n")
            continue
        done = (task, perform(task, store, device=local_device, kinds=kinds))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sdt.sweep.worker")
    parser.add_argument("--store", required=True)
    parser.add_argument("--owner", required=True)
    parser.add_argument("--manager-pid", type=int, required=True)
    parser.add_argument("--device", required=True)
    parser.add_argument("--local-device", required=True)
    parser.add_argument("--code-version", default=None)
    parser.add_argument("--tasks-fd", type=int, required=True,
                        help="file descriptor the manager writes tasks to")
    parser.add_argument("--answers-fd", type=int, required=True,
                        help="file descriptor the worker answers on")
    args = parser.parse_args(argv)
    _die_with_parent(args.manager_pid)

    # The protocol has channels of its own; a run gets no stdin (input() and breakpoint()
    # see end of file instead of eating tasks) and prints to the worker's log (stderr).
    channel = os.fdopen(args.answers_fd, "w", buffering=1)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    os.dup2(2, 1)
    sys.stdout = sys.stderr

    from sdt.sweep.store import Store

    store = Store(args.store, owner=args.owner)
    channel.write(json.dumps({"ready": os.getpid()}) + "\n")
    serve(_Inbox(args.tasks_fd), channel, store, Kinds(), args.device, args.local_device,
          args.code_version)
    return 0


if __name__ == "__main__":
    sys.exit(main())
