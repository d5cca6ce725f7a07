"""Helpers for the scheduler, CLI and crash tests: sleep sweeps on disk, the ``sdt-sweep``
command in a subprocess, execution counts, and a user kind with a dependency."""

from __future__ import annotations

import collections
import json
import os
import subprocess
import sys
from pathlib import Path

import yaml

from sdt.sweep.kinds.sleep import SleepConfig
from sdt.sweep.registry import Kind

HERE = Path(__file__).resolve().parent


def sleep_sweep(folder: Path, name: str = "s", *, tags=None, seconds: float = 0.05,
                slots: int = 2, studies: dict | None = None, mode: str = "disabled",
                **extra) -> Path:
    """A sweep of ``sleep`` runs whose runs write under ``folder/runs`` and whose store is
    ``folder/sdt.db``."""
    data = {
        "name": name,
        "experiment": "sleep",
        "set": {"sleep.seconds": seconds, "output_dir": str(folder / "runs")},
        "studies": studies or {"main": {"grid": {"sleep.tag": list(tags or range(4))}}},
        "resources": {"devices": ["cpu"], "slots": {"cpu": slots}},
        "tracking": {"wandb": {"mode": mode}},
        "store": str(folder / "sdt.db"),
        **extra,
    }
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def env(folder: Path, **more) -> dict:
    """Environment for a ``sdt-sweep`` subprocess: execution log, W&B off, tests importable."""
    out = {**os.environ, "SDT_EXECUTION_LOG": str(folder / "executions.log"),
           "WANDB_MODE": "disabled",
           "PYTHONPATH": os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")])}
    out.update(more)
    return out


def sdt_sweep(args: list[str], folder: Path, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "sdt.cli", *map(str, args)], cwd=folder,
                          env=kwargs.pop("env", None) or env(folder), capture_output=True,
                          text=True, timeout=kwargs.pop("timeout", 120), **kwargs)


def start_sdt_sweep(args: list[str], folder: Path, **kwargs) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "sdt.cli", *map(str, args)], cwd=folder,
                            env=kwargs.pop("env", None) or env(folder),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kwargs)


def executions(folder: Path) -> collections.Counter:
    """run_id -> how many executions reached the end of their sleep (``SDT_EXECUTION_LOG``)."""
    path = folder / "executions.log"
    if not path.is_file():
        return collections.Counter()
    return collections.Counter(line.split()[0] for line in path.read_text().splitlines()
                               if line.strip())


def execution_pids(folder: Path) -> set[int]:
    path = folder / "executions.log"
    if not path.is_file():
        return set()
    return {int(line.split()[1]) for line in path.read_text().splitlines() if line.strip()}


# ------------------------------------------------------------------ a kind with a dependency


def needs_base(config: SleepConfig) -> dict:
    """Every ``needs-base`` run depends on one shared sleep run tagged ``base``."""
    return {"base": ("sleep", SleepConfig.model_validate({
        "sleep": {"seconds": 0.05, "tag": "base", "fail": config.sleep.tag == "fail-base"},
        "output_dir": config.output_dir,
        "tracking": {"wandb": {"mode": "disabled"}}}))}


def run_with_base(config: SleepConfig, ctx) -> dict:
    """Fails unless the dependency's run directory holds its completed outcome."""
    outcome = json.loads((ctx.deps["base"] / "outcome.json").read_text())
    if outcome["state"] != "completed":
        raise RuntimeError(f"dependency not completed: {outcome}")
    from sdt.sweep.kinds.sleep import run

    metrics = run(config, ctx)
    return {**metrics, "base_value": outcome["metrics"]["value"]}


NEEDS_BASE = Kind(name="needs-base", schema=SleepConfig, run=run_with_base,
                  dependencies=needs_base, metrics=("value", "base_value"))


# ------------------------------------------------------------------ a kind with every outcome


def run_outcome(config: SleepConfig, ctx) -> dict:
    """``sleep.tag`` picks the outcome: nan, oom, pruned (each at step 3) or success."""
    from sdt.context import NanLoss, OutOfMemory, Pruned

    outcomes = {"nan": NanLoss, "oom": OutOfMemory, "pruned": Pruned}
    if config.sleep.tag in outcomes:
        raise outcomes[config.sleep.tag](f"{config.sleep.tag} at step 3", step=3,
                                         metrics={"loss_at_stop": 1.5})
    return {"value": 1.0}


OUTCOMES = Kind(name="outcomes", schema=SleepConfig, run=run_outcome, metrics=("value",))


# ------------------------------------------------------------------ kinds that misbehave


def run_reads_stdin(config: SleepConfig, ctx) -> dict:
    """A run that asks for input (a forgotten ``input()`` or ``breakpoint()``)."""
    return {"value": float(len(input("continue? ")))}


READS_STDIN = Kind(name="reads-stdin", schema=SleepConfig, run=run_reads_stdin,
                   metrics=("value",))


def run_spawns(config: SleepConfig, ctx) -> dict:
    """Starts a child process (``sleep``) that would outlive the run, writes its pid to
    ``<output_dir>/child-<tag>.pid``, then sleeps ``sleep.seconds``."""
    import time

    child = subprocess.Popen(["sleep", "300"])
    (Path(config.output_dir) / f"child-{config.sleep.tag}.pid").write_text(str(child.pid))
    time.sleep(config.sleep.seconds)
    return {"value": 1.0}


SPAWNS = Kind(name="spawns", schema=SleepConfig, run=run_spawns, metrics=("value",))
