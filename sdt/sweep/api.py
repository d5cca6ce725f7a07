"""Python entry points into the store for code outside a sweep.

``ensure_completed`` is how a standalone command gets a run it depends on (``sdt-sweep
search`` needs its trained model): the run is identified by its config hash, so a training
run that a sweep, another command or another machine already completed is reused, and one
that nobody has run is executed here once, under a claim, through the one run path
(:func:`sdt.runner.run_once`) like any sweep run.
"""

from __future__ import annotations

import time
from pathlib import Path

from sdt.errors import UserError
from sdt.sweep.store import TERMINAL, Store, code_version


def ensure_completed(kind_name: str, config, store_url: str | None = None, *,
                     device: str = "auto", poll_s: float = 1.0) -> Path:
    """The run directory of the ``completed`` run of ``config`` (a validated config of
    ``kind_name``), executing the run in this process first if no one has.

    - completed already (by a sweep, a command, another machine): returned at once;
    - running elsewhere: waits for it (and takes it over if its lease expires);
    - pending, or ended ``failed``/``nan``/``oom``/``pruned`` earlier: executed here once.

    ``store_url`` defaults to ``sdt.db`` in the config's ``output_dir`` (``runs/sdt.db``).
    Raises :class:`UserError` when the run does not complete, naming its error and log.
    """
    from sdt.runner import run_once
    from sdt.single import default_store, single_task
    from sdt.sweep.registry import get_kind

    task = single_task(config, kind_name)
    store = Store(default_store(config, store_url))
    try:
        register_single(store, task)
        retried = False
        while True:
            record = store.get(task.run_id)
            if record["state"] == "completed":
                return Path(record["run_dir"] or task.run_dir)
            if record["state"] in TERMINAL and not retried:
                store.reset([task.run_id], [record["state"]])
                retried = True
            store.reclaim_orphans()
            kind = get_kind(kind_name)
            state, outcome = run_once(task, store, device=device, code_version=code_version(),
                                      schema=kind.load_schema(), run_fn=kind.load_run())
            if outcome is not None:
                if state != "completed":
                    raise UserError(f"{kind_name} run {task.run_id} ended {outcome.state}: "
                                    f"{outcome.error} (log: {Path(task.run_dir) / 'run.log'})")
                return Path(task.run_dir)
            time.sleep(poll_s)
    finally:
        store.close()


def register_single(store: Store, task) -> None:
    """Record a run outside any sweep (kept ``pending`` until claimed; existing records keep
    their state)."""
    store.register(None, [(task.run_id, task.kind, task.config, [], task.config.get("seed"),
                           {})], run_dirs={task.run_id: task.run_dir})
