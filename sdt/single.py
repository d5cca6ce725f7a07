"""One run outside a sweep (``sdt-sweep train`` / ``sdt-sweep search``): recorded in the store
like every run (so a later sweep or search that needs it reuses it), executed here through
the one run path (:func:`sdt.runner.run_once`), with a summary and ``--json`` for scripts."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Callable

from sdt.config import config_hash
from sdt.errors import UserError
from sdt.runner import RunTask


def run_dir_for(config, kind: str) -> tuple[str, Path]:
    """``<output_dir>/<kind>/<experiment.name>-<hash>``: one directory per resolved config."""
    data = config.model_dump(mode="json")
    run_id = config_hash(data)
    name = getattr(getattr(config, "experiment", None), "name", kind)
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in name)
    return run_id, Path(getattr(config, "output_dir", "runs")) / kind / f"{safe}-{run_id}"


def default_store(config, store_url: str | None = None) -> str:
    """The store a run outside a sweep is recorded in: ``store_url``, else ``sdt.db`` in the
    config's ``output_dir`` (``runs/sdt.db`` for the default ``runs``, the sweeps' default)."""
    return store_url or str(Path(getattr(config, "output_dir", None) or "runs") / "sdt.db")


def single_task(config, kind: str, *, resume: bool = False,
                deps: dict[str, Path] | None = None) -> RunTask:
    """The :class:`RunTask` of a run outside a sweep: W&B settings and tags from its config."""
    run_id, run_dir = run_dir_for(config, kind)
    tracking = getattr(config, "tracking", None)
    wandb = getattr(tracking, "wandb", None)
    experiment = getattr(config, "experiment", None)
    return RunTask(
        run_id=run_id, kind=kind, config=config.model_dump(mode="json"),
        run_dir=str(run_dir.resolve()),
        tags=list(getattr(experiment, "tags", None) or []),
        deps={k: str(v) for k, v in (deps or {}).items()},
        tracking=None if wandb is None else {"mode": wandb.mode, "project": wandb.project,
                                             "entity": wandb.entity},
        resume=resume)


def run_single(run_fn: Callable, config, kind: str, *, resume: bool = False,
               as_json: bool = False, device: str | None = None,
               deps: dict[str, Path] | None = None, store_url: str | None = None) -> int:
    """Execute one run here (again, if the store has it final already) and record it in the
    store at ``store_url`` (default: :func:`default_store`). Exit code 0 when it completed."""
    from rich.console import Console
    from rich.table import Table

    from sdt.runner import run_once
    from sdt.sweep.api import register_single
    from sdt.sweep.store import TERMINAL, Store, code_version

    task = single_task(config, kind, resume=resume, deps=deps)
    console = Console(stderr=as_json)
    store = Store(default_store(config, store_url))
    try:
        register_single(store, task)
        store.reset([task.run_id], TERMINAL)  # an explicit command runs it again
        store.reclaim_orphans()
        console.print(f"[bold]{kind}[/] run [cyan]{task.run_id}[/] -> {task.run_dir} "
                      f"(store {store.url})")
        state, outcome = run_once(task, store, device=device or "auto",
                                  code_version=code_version(), run_fn=run_fn,
                                  schema=type(config),
                                  progress=sys.stderr.isatty() or not as_json)
        if outcome is None:
            record = store.get(task.run_id)
            raise UserError(f"{kind} run {task.run_id} is being executed by another process "
                            f"(host {record['host']}, pid {record['pid']}, state "
                            f"{record['state']}); wait for it or stop it first")
    finally:
        store.close()

    table = Table(title=f"{kind} {task.run_id}: {outcome.state}", show_header=True)
    table.add_column("metric")
    table.add_column("value", justify="right")
    for key, value in sorted(outcome.metrics.items()):
        if isinstance(value, (int, float)):
            table.add_row(key, f"{value:.4f}" if isinstance(value, float) else str(value))
    console.print(table)
    if outcome.error:
        console.print(f"[red]{outcome.state}[/]: {outcome.error}")
        if outcome.traceback and outcome.state == "failed":
            console.print(outcome.traceback, markup=False, highlight=False)
    if state is None:
        console.print("[yellow]the run's claim was lost while it executed; another process "
                      "records it[/]")
    console.print(f"run directory: {task.run_dir}")
    if as_json:
        print(json.dumps({"run_id": task.run_id, "run_dir": task.run_dir,
                          "state": outcome.state, "metrics": outcome.metrics,
                          "error": outcome.error}, default=float))
    return 0 if outcome.state == "completed" else 1
