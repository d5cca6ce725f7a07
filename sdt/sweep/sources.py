"""Where the scheduler's runs come from. A source hands over runs when they are ready and
hears how they ended; it never knows how a run reaches a process.

- :class:`StaticSource`: the expanded plan of grid/vary/zip/runs/random studies, all at once.
- :class:`sdt.sweep.optuna_study.OptunaSource`: an Optuna study, a few trials at a time
  (ask -> config -> run; outcome -> tell).

Several sources feed one scheduler, which takes one run of each in turn, so an Optuna study
and the fixed studies of a sweep share the device slots.
"""

from __future__ import annotations


class Source:
    """The contract: ``take`` returns runs (:class:`sdt.sweep.scheduler.Task`) that are ready
    to be scheduled now (each once; dependencies may be among them), ``heard`` receives the
    final state of each run it gave (also of runs that were already final in the store), and
    ``exhausted`` says that no more runs will come."""

    name = "source"

    def take(self, states: dict[str, str]) -> list:
        return []

    def heard(self, run_id: str, state: str) -> None:
        pass

    def exhausted(self) -> bool:
        return True


class StaticSource(Source):
    """The runs of an expanded plan, handed over in plan order on the first ``take``."""

    name = "plan"

    def __init__(self, tasks: list):
        self._tasks = list(tasks)

    def take(self, states: dict[str, str]) -> list:
        tasks, self._tasks = self._tasks, []
        return tasks

    def exhausted(self) -> bool:
        return not self._tasks
