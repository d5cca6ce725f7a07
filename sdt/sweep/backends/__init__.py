"""Backends: how a run reaches a process. The scheduler decides what runs where and when (device
slots, dependencies, sources); a backend only starts processes, carries
:class:`sdt.runner.RunTask` messages to them and reports what came back.

A backend has *lanes* (one per slot: a place runs execute one at a time). The scheduler sends
a lane a task when ``len(lane.queue) < 2`` (one executing, one waiting behind it); ``wait``
returns :class:`Done` when a run's outcome is in the store and :class:`Lost` when a lane's
process died (with the run it was executing, which the scheduler records ``failed``).

``BACKENDS`` maps the names a sweep's ``resources.backend`` accepts to their classes; Dask
comes in a later version (``resources.backend: dask`` is refused at load time until then).
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Done:
    run_id: str
    state: str | None  # what the process recorded; None when it lost the run's claim


@dataclass
class Lost:
    lane: object
    current: str | None  # the run it was executing (None: idle)
    queued: list[str] = field(default_factory=list)  # sent, never started
    why: str = ""
    tail: str = ""  # the end of its log, for the run's traceback


class Backend:
    """The contract (see the module docstring). ``lanes()`` have a ``queue`` (run ids sent,
    the first executing), a ``current`` run and ``alive()``; ``slots`` are the device slots."""

    started = False

    def start(self, runs: int) -> None:
        raise NotImplementedError

    def lanes(self) -> list:
        raise NotImplementedError

    def send(self, lane, task) -> bool:
        raise NotImplementedError

    def wait(self, timeout: float) -> list:
        raise NotImplementedError

    def replace(self, lane) -> None:
        raise NotImplementedError

    def shutdown(self) -> list[str]:
        raise NotImplementedError

    def close(self, grace_s: float = 2.0) -> None:
        pass


def local_pool(store, slots, **kw):
    from sdt.sweep.backends.local import LocalPool

    return LocalPool(store, slots, **kw)


BACKENDS = {"local": local_pool}
