"""The ``sleep`` experiment kind: a run that only waits, for tests and scheduler benchmarks.

Keys: ``sleep.seconds`` (how long), ``sleep.tag`` (any JSON value, to make runs distinct),
``sleep.fail`` (raise ``RuntimeError`` after sleeping) and ``sleep.crash`` (kill its own
process after sleeping: ``true``/``"exit"`` calls ``os._exit(CRASH_EXIT_CODE)``, ``"signal"``
sends itself SIGKILL). The metric ``value`` is a deterministic function of ``seed`` and ``tag``
in [0, 1), so reports and Optuna studies have something to compare.

Counting executions: when the environment variable ``SDT_EXECUTION_LOG`` names a file, every
execution that reaches the end of its sleep appends one line ``"<run_id> <pid>\\n"`` to it
(one ``O_APPEND`` write, so concurrent workers never interleave), before it returns, fails or
crashes. A run killed from outside while sleeping writes nothing: the file counts the runs that
did their work, which is what crash-safety tests compare against the store.
"""

from __future__ import annotations

import hashlib
import os
import signal
import time
from typing import Annotated, Any, Literal

from pydantic import Field

from sdt.config import StrictModel, canonical
from sdt.config.schema import ExperimentSection, TrackingSection

EXECUTION_LOG_ENV = "SDT_EXECUTION_LOG"
CRASH_EXIT_CODE = 13


class SleepSection(StrictModel):
    seconds: Annotated[float, Field(ge=0)] = 0.1
    tag: Any = None
    fail: bool = False
    crash: Literal["exit", "signal"] | bool = False


class SleepConfig(StrictModel):
    seed: int = 0
    experiment: ExperimentSection = ExperimentSection(name="sleep")
    sleep: SleepSection = SleepSection()
    tracking: TrackingSection = TrackingSection()
    output_dir: str = "runs"


def value_of(seed: int, tag: Any) -> float:
    """The run's ``value`` metric: a hash of (seed, tag) mapped to [0, 1)."""
    digest = hashlib.sha256(canonical({"seed": seed, "tag": tag}).encode()).hexdigest()
    return int(digest[:13], 16) / 16**13


def cost(config: SleepConfig) -> float:
    return config.sleep.seconds


def _record_execution(run_id: str) -> None:
    path = os.environ.get(EXECUTION_LOG_ENV)
    if not path:
        return
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, f"{run_id} {os.getpid()}\n".encode())
    finally:
        os.close(fd)


def run(config: SleepConfig, ctx) -> dict[str, float]:
    """Sleep ``sleep.seconds`` in two halves, logging a history row after each."""
    start = time.perf_counter()
    value = value_of(config.seed, config.sleep.tag)
    half = config.sleep.seconds / 2
    time.sleep(half)
    ctx.log({"progress": 0.5}, step=0)
    time.sleep(half)
    slept = time.perf_counter() - start
    ctx.log({"progress": 1.0, "value": value}, step=1)
    _record_execution(ctx.run_id)
    crash = config.sleep.crash
    if crash == "signal":
        os.kill(os.getpid(), signal.SIGKILL)
    if crash is True or crash == "exit":
        os._exit(CRASH_EXIT_CODE)
    if config.sleep.fail:
        raise RuntimeError(f"sleep.fail is set (run {ctx.run_id})")
    ctx.report(1, value)
    return {"slept_s": slept, "value": value}
