"""Execute one run: directory, resolved config, log file, W&B run, outcome. Shared by the
standalone commands (``sdt-sweep train``/``search``) and the sweep workers."""

from __future__ import annotations

import json
import logging
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import yaml

from sdt.context import RunContext, RunOutcome
from sdt.io import atomic_write_json, atomic_write_text


@dataclass
class Outcome:
    state: str  # completed | failed | nan | oom | pruned
    metrics: dict = field(default_factory=dict)
    error: str | None = None
    traceback: str | None = None
    duration_s: float = 0.0
    step: int | None = None

    def to_dict(self) -> dict:
        return {"state": self.state, "metrics": self.metrics, "error": self.error,
                "traceback": self.traceback, "duration_s": self.duration_s, "step": self.step}


def write_resolved_config(run_dir: Path, config) -> None:
    # Not fsynced: the store, not this file, records what ran.
    data = config.model_dump(mode="json") if hasattr(config, "model_dump") else dict(config)
    # libyaml's dumper when present: the pure-Python one costs a sweep worker ~0.3 ms per run.
    dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
    atomic_write_text(Path(run_dir) / "config.yaml",
                      yaml.dump(data, Dumper=dumper, sort_keys=False), durable=False)


def _file_logger(run_dir: Path) -> logging.Handler:
    handler = logging.FileHandler(Path(run_dir) / "run.log")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.setLevel(logging.INFO)
    return handler


def execute(run_fn: Callable, config, ctx: RunContext) -> Outcome:
    """Run ``run_fn(config, ctx)`` and turn whatever happens into an :class:`Outcome`.

    Writes ``config.yaml`` before and ``outcome.json`` after; logs go to ``run.log``. The
    tracker (if any) gets the final metrics as its summary and is finished either way.
    """
    write_resolved_config(ctx.run_dir, config)
    root = logging.getLogger()
    handler = _file_logger(ctx.run_dir)
    root.addHandler(handler)
    if root.level > logging.INFO or root.level == logging.NOTSET:
        root.setLevel(logging.INFO)
    t0 = time.time()
    try:
        metrics = run_fn(config, ctx) or {}
        outcome = Outcome("completed", metrics=dict(metrics))
    except RunOutcome as exc:
        outcome = Outcome(exc.state, metrics=dict(exc.metrics), error=str(exc), step=exc.step)
    except KeyboardInterrupt:
        raise
    except Exception as exc:
        outcome = Outcome("failed", error=f"{type(exc).__name__}: {exc}",
                          traceback=traceback.format_exc())
    finally:
        root.removeHandler(handler)
        handler.close()
    outcome.duration_s = round(time.time() - t0, 4)
    if ctx.tracker is not None:
        ctx.tracker.summary({**outcome.metrics, "state": outcome.state,
                             "duration_s": outcome.duration_s})
        ctx.tracker.finish(exit_code=0 if outcome.state == "completed" else 1)
    # The store holds the outcome of record; this copy is for people reading the folder.
    atomic_write_json(ctx.run_dir / "outcome.json", outcome.to_dict(), durable=False)
    return outcome


def read_outcome(run_dir: str | Path) -> Outcome | None:
    path = Path(run_dir) / "outcome.json"
    if not path.is_file():
        return None
    return Outcome(**json.loads(path.read_text()))
