"""The seam between experiments (train, search, sleep, yours) and whoever runs them.

A run function has the signature ``run(config, ctx: RunContext) -> dict[str, float]``: it
reads its typed config, writes what it makes under ``ctx.run_dir``, logs history through
``ctx.log``, reports intermediate values through ``ctx.report`` (which may prune it) and
returns its final metrics. Outcomes other than success are exceptions with a ``state``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from sdt.io import append_jsonl


class RunOutcome(Exception):
    """A run ended in a recorded state other than ``completed`` or ``failed``."""

    state = "failed"

    def __init__(self, message: str, step: int | None = None, metrics: dict | None = None):
        super().__init__(message)
        self.step = step
        self.metrics = metrics or {}


class NanLoss(RunOutcome):
    state = "nan"


class OutOfMemory(RunOutcome):
    state = "oom"


class Pruned(RunOutcome):
    state = "pruned"


@dataclass
class RunContext:
    run_id: str
    run_dir: Path
    kind: str = "train"
    device: str = "cpu"
    deps: dict[str, Path] = field(default_factory=dict)  # dependency name -> its run dir
    tracker: object | None = None  # sdt.tracking.Tracker
    pruner: Callable[[int, float], bool] | None = None  # (step, value) -> prune?
    resume: bool = False
    progress: bool = True
    started: float = field(default_factory=time.time)

    def __post_init__(self):
        self.run_dir = Path(self.run_dir)
        self.run_dir.mkdir(parents=True, exist_ok=True)

    @property
    def history_path(self) -> Path:
        return self.run_dir / "metrics.jsonl"

    def log(self, metrics: dict, step: int | None = None) -> None:
        """Append one row to the run's history (``metrics.jsonl``) and to W&B."""
        row = {"step": step, "time_s": round(time.time() - self.started, 4), **metrics}
        append_jsonl(self.history_path, row)
        if self.tracker is not None:
            self.tracker.log(metrics, step=step)

    def report(self, step: int, value: float) -> None:
        """Intermediate objective value (validation metric per epoch, running reward per
        rollout batch). Raises :class:`Pruned` when the sweep's pruner says stop."""
        if self.pruner is not None and self.pruner(step, float(value)):
            raise Pruned(f"pruned at step {step} (value {value:.4g})", step=step)
