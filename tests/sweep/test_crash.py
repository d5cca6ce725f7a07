"""Crash safety for real: ``sdt-sweep run`` killed with SIGKILL mid-sweep, then started again.

What must hold, precisely:

- every run ends ``completed``, and the second start exits 0;
- a run that was ``completed`` in the store when the manager died is never executed again,
  and its record (finish time, metrics) is unchanged;
- a run executes at most twice, and only if it was not ``completed`` at the kill (it was
  being executed, or had finished sleeping but its outcome was not yet written): at most one
  such run per worker slot;
- the manager's workers die with it (none survives to finish a run behind the store's back).
"""

from __future__ import annotations

import os
import signal
import time

import psutil
import pytest

from sdt.sweep.store import Store
from sweep_files import executions, execution_pids, sdt_sweep, sleep_sweep, start_sdt_sweep

RUNS, SLOTS = 10, 2


def alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


@pytest.mark.parametrize("kill_after", [
    pytest.param(1, marks=pytest.mark.slow, id="after-first"),
    pytest.param(5, id="after-half"),
    pytest.param(RUNS - 1, marks=pytest.mark.slow, id="before-last"),
])
def test_sigkill_then_restart_completes_every_run_exactly_once(tmp_path, kill_after):
    path = sleep_sweep(tmp_path, tags=range(RUNS), seconds=0.3, slots=SLOTS)
    manager = start_sdt_sweep(["run", path, "--no-progress"], tmp_path)
    db = tmp_path / "sdt.db"
    deadline = time.time() + 60
    while not db.exists():
        assert time.time() < deadline and manager.poll() is None, manager.communicate()
        time.sleep(0.02)
    store = Store(str(db))
    while sum(s == "completed" for s in store.states().values()) < kill_after:
        assert time.time() < deadline, "the sweep did not progress"
        assert manager.poll() is None, "the sweep ended before the kill point"
        time.sleep(0.01)
    manager.send_signal(signal.SIGKILL)
    manager.communicate()

    at_kill = {rid: store.get(rid) for rid in store.states()}
    done_at_kill = {rid: r for rid, r in at_kill.items() if r["state"] == "completed"}
    assert len(done_at_kill) >= kill_after and len(at_kill) == RUNS
    workers = {r["pid"] for r in at_kill.values() if r["pid"]} | execution_pids(tmp_path)
    deadline = time.time() + 10
    while any(alive(pid) for pid in workers):
        assert time.time() < deadline, f"workers outlived their manager: {workers}"
        time.sleep(0.05)
    counts_at_kill = executions(tmp_path)

    again = sdt_sweep(["run", path, "--no-progress"], tmp_path)
    assert again.returncode == 0, again.stdout + again.stderr
    final = {rid: store.get(rid) for rid in at_kill}
    counts = executions(tmp_path)
    assert {r["state"] for r in final.values()} == {"completed"}
    for rid, before in done_at_kill.items():
        assert counts[rid] == counts_at_kill[rid] == 1
        assert final[rid]["executions"] == 1
        assert (final[rid]["finished"], final[rid]["metrics"]) == (before["finished"],
                                                                   before["metrics"])
    twice = {rid for rid, n in counts.items() if n == 2}
    assert all(1 <= counts[rid] <= 2 for rid in at_kill), counts
    assert not twice & set(done_at_kill) and len(twice) <= SLOTS
    assert twice <= {rid for rid, r in at_kill.items() if r["state"] == "running"}
    print(f"killed after {len(done_at_kill)} completed; re-executed {len(twice)} "
          f"run(s) that had not completed; {os.path.basename(str(db))} intact")


@pytest.mark.slow
def test_sigterm_stops_workers_and_gives_claims_back(tmp_path):
    path = sleep_sweep(tmp_path, tags=range(RUNS), seconds=0.3, slots=SLOTS)
    manager = start_sdt_sweep(["run", path, "--no-progress"], tmp_path)
    db = tmp_path / "sdt.db"
    deadline = time.time() + 60
    while not db.exists() or sum(s == "completed" for s in Store(str(db)).states().values()) < 2:
        assert time.time() < deadline and manager.poll() is None
        time.sleep(0.02)
    manager.send_signal(signal.SIGTERM)
    manager.communicate(timeout=30)
    assert manager.returncode == 143
    states = Store(str(db)).states()
    assert "running" not in states.values() and "pending" in states.values()
    assert not any(alive(pid) for pid in execution_pids(tmp_path))
