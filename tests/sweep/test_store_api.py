"""``ensure_completed``: a run a standalone command depends on is executed once, by hash."""

from __future__ import annotations

import pytest

from sdt.errors import UserError
from sdt.sweep import manager
from sdt.sweep.api import ensure_completed
from sdt.sweep.kinds.sleep import SleepConfig
from sdt.sweep.store import Store
from sweep_files import executions, sleep_sweep


def config(folder, **sleep):
    return SleepConfig.model_validate({"sleep": {"seconds": 0.0, **sleep},
                                       "output_dir": str(folder / "runs")})


def test_executes_once_then_reuses(folder):
    url = str(folder / "sdt.db")
    run_dir = ensure_completed("sleep", config(folder, tag="dep"), url)
    assert (run_dir / "outcome.json").is_file() and run_dir.parent == folder / "runs" / "sleep"
    assert ensure_completed("sleep", config(folder, tag="dep"), url) == run_dir
    assert sum(executions(folder).values()) == 1
    record = Store(url).get(run_dir.name.rsplit("-", 1)[1])
    assert (record["state"], record["executions"], record["run_dir"]) == (
        "completed", 1, str(run_dir))


def test_reuses_what_a_sweep_completed_and_fails_loudly(folder):
    path = sleep_sweep(folder, tags=["shared"], seconds=0.0)
    session = manager.open_session(path)
    manager.execute(session, code_version="test").close()
    assert sum(executions(folder).values()) == 1
    shared = config(folder, tag="shared")
    assert ensure_completed("sleep", shared, str(folder / "sdt.db")).name.endswith(
        session.tasks[0].run_id)  # same id as the sweep's run: not executed again
    assert sum(executions(folder).values()) == 1
    with pytest.raises(UserError, match=r"sleep run \w+ ended failed: RuntimeError"):
        ensure_completed("sleep", config(folder, tag="x", fail=True), str(folder / "sdt.db"))
