"""Python entry points into the store for code outside a sweep.

``ensure_completed`` is how a standalone command gets a run it depends on (``sdt-sweep
search`` needs its trained model): the run is identified by its config hash, so a training
run that a sweep, another command or another machine already completed is reused, and one
that nobody has run is executed here once, under a claim, like any sweep run.
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

from sdt.errors import UserError
from sdt.sweep.store import TERMINAL, Store, code_version


class _Heartbeat(threading.Thread):
    """Renews the store leases of one owner while a run executes in this process."""

    def __init__(self, store: Store):
        super().__init__(daemon=True, name="sdt-heartbeat")
        self.store = store
        self._halt = threading.Event()

    def run(self) -> None:
        while not self._halt.wait(self.store.lease_s / 4):
            try:
                self.store.heartbeat()
            except Exception:  # a missed beat only shortens the lease; the next one retries
                pass

    def stop(self) -> None:
        self._halt.set()
        self.join()


def ensure_completed(kind_name: str, config, store_url: str | None = None, *,
                     device: str = "auto", poll_s: float = 1.0) -> Path:
    """The run directory of the ``completed`` run of ``config`` (a validated config of
    ``kind_name``), executing the run in this process first if no one has.

    - completed already (by a sweep, a command, another machine): returned at once;
    - running elsewhere: waits for it (and takes it over if its lease expires);
    - pending, or ended ``failed``/``nan``/``oom``/``pruned`` earlier: executed here once.

    Raises :class:`UserError` when the run does not complete, naming its error and log.
    """
    from sdt.single import run_dir_for

    run_id, run_dir = run_dir_for(config, kind_name)
    run_dir = run_dir.resolve()
    data = config.model_dump(mode="json")
    store = Store(store_url)
    try:
        store.register(None, [(run_id, kind_name, data, [], data.get("seed"), {})],
                       run_dirs={run_id: str(run_dir)})
        retried = False
        while True:
            record = store.get(run_id)
            if record["state"] == "completed":
                return Path(record["run_dir"] or run_dir)
            if record["state"] in TERMINAL and not retried:
                store.reset([run_id], [record["state"]])
                retried = True
            store.reclaim_orphans()
            if store.claim(run_id):
                return _execute_claimed(store, kind_name, config, run_id, run_dir, device)
            time.sleep(poll_s)
    finally:
        store.close()


def _execute_claimed(store: Store, kind_name: str, config, run_id: str, run_dir: Path,
                     device: str) -> Path:
    from sdt.context import RunContext
    from sdt.runner import execute
    from sdt.single import make_tracker
    from sdt.sweep.registry import get_kind

    beat = _Heartbeat(store)
    beat.start()
    try:
        store.start_execution(run_id, pid=os.getpid(), device=device,
                              code_version=code_version())
        run_fn = get_kind(kind_name).load_run()
        tracker = (make_tracker(config, kind_name, run_id, run_dir)
                   if hasattr(config, "tracking") else None)
        ctx = RunContext(run_id=run_id, run_dir=run_dir, kind=kind_name, device=device,
                         tracker=tracker)
        outcome = execute(run_fn, config, ctx)
    except BaseException:
        store.release(run_id)  # interrupted before an outcome: someone may run it later
        raise
    finally:
        beat.stop()
    state = store.finish(run_id, outcome.state, metrics=outcome.metrics, error=outcome.error,
                         traceback=outcome.traceback, duration_s=outcome.duration_s,
                         step=outcome.step)
    if state != "completed":
        raise UserError(f"{kind_name} run {run_id} ended {outcome.state}: {outcome.error} "
                        f"(log: {run_dir / 'run.log'})")
    return run_dir
