"""One run outside a sweep (``sdt-sweep train`` / ``sdt-sweep search``): its own directory
named by the config's hash, a W&B run, a summary, and ``--json`` for scripts."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Callable

from sdt.config import config_hash
from sdt.context import RunContext
from sdt.runner import Outcome, execute


def run_dir_for(config, kind: str) -> tuple[str, Path]:
    """``<output_dir>/<kind>/<experiment.name>-<hash>``: one directory per resolved config."""
    data = config.model_dump(mode="json")
    run_id = config_hash(data)
    name = getattr(getattr(config, "experiment", None), "name", kind)
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in name)
    return run_id, Path(getattr(config, "output_dir", "runs")) / kind / f"{safe}-{run_id}"


def make_tracker(config, kind: str, run_id: str, run_dir: Path, *, group: str | None = None,
                 tags: list[str] | None = None, resume: bool = False):
    from sdt.tracking import Tracker

    wb = config.tracking.wandb
    experiment = getattr(config, "experiment", None)
    return Tracker(
        mode=wb.mode, project=wb.project, entity=wb.entity,
        name=f"{getattr(experiment, 'name', kind)}-{run_id}", group=group, job_type=kind,
        tags=list(tags or getattr(experiment, "tags", []) or []),
        config=config.model_dump(mode="json"), dir=run_dir, run_id=run_id, resume=resume,
    )


def run_single(run_fn: Callable, config, kind: str, *, resume: bool = False,
               as_json: bool = False, device: str | None = None,
               deps: dict[str, Path] | None = None) -> int:
    from rich.console import Console
    from rich.table import Table

    run_id, run_dir = run_dir_for(config, kind)
    console = Console(stderr=as_json)
    console.print(f"[bold]{kind}[/] run [cyan]{run_id}[/] -> {run_dir}")
    tracker = make_tracker(config, kind, run_id, run_dir, resume=resume)
    ctx = RunContext(run_id=run_id, run_dir=run_dir, kind=kind, device=device or "auto",
                     tracker=tracker, resume=resume, progress=sys.stderr.isatty() or not as_json,
                     deps=dict(deps or {}))
    outcome: Outcome = execute(run_fn, config, ctx)

    table = Table(title=f"{kind} {run_id}: {outcome.state}", show_header=True)
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
    console.print(f"run directory: {run_dir}")
    if as_json:
        print(json.dumps({"run_id": run_id, "run_dir": str(run_dir), "state": outcome.state,
                          "metrics": outcome.metrics, "error": outcome.error}, default=float))
    return 0 if outcome.state == "completed" else 1
