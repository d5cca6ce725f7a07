"""A persistent worker process: executes the runs its manager sends, one at a time, on the
one device slot it is pinned to, and records each outcome in the store itself (so a result is
safe the moment the run ends, whatever happens to the manager).

Protocol: JSON lines. The manager writes tasks to the worker's stdin; the worker answers on
its original stdout (``{"ready": pid}`` once, then ``{"done": run_id, ...}`` per task).
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
import signal
import sys
import threading
import time
import traceback
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


def run_task(task: dict, store, kinds: _Kinds, device: str, local_device: str,
             code_version: str | None) -> dict:
    """Execute one claimed run and record its outcome. Returns the message for the manager."""
    from sdt.context import RunContext
    from sdt.runner import execute

    run_id = task["run_id"]
    if not store.start_execution(run_id, pid=os.getpid(), device=device,
                                 code_version=code_version):
        return {"done": run_id, "state": None, "error": "claim lost before the run started"}
    try:
        schema, run_fn = kinds.get(task.get("kind_ref") or task["kind"])
        config = schema.model_validate(task["config"])
        tracker = make_run_tracker(task, config)
        ctx = RunContext(run_id=run_id, run_dir=Path(task["run_dir"]), kind=task["kind"],
                         device=local_device, tracker=tracker, progress=False,
                         deps={k: Path(v) for k, v in (task.get("deps") or {}).items()})
        outcome = execute(run_fn, config, ctx)
    except Exception as exc:  # the run could not even be set up (import error in a kind...)
        from sdt.runner import Outcome

        outcome = Outcome("failed", error=f"{type(exc).__name__}: {exc}",
                          traceback=traceback.format_exc())
    state = store.finish(run_id, outcome.state, metrics=outcome.metrics, error=outcome.error,
                         traceback=outcome.traceback, duration_s=outcome.duration_s,
                         step=outcome.step, retries=int(task.get("retries", 0)))
    return {"done": run_id, "state": state, "outcome": outcome.state, "error": outcome.error,
            "duration_s": outcome.duration_s}


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
    for line in sys.stdin:
        if not line.strip():
            continue
        task = json.loads(line)
        reply = run_task(task, store, kinds, args.device, args.local_device, args.code_version)
        channel.write(json.dumps(reply, default=str) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
