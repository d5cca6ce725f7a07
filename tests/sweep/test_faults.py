"""Worker-protocol faults from a fault probe, each against a real manager process, real
workers and a real SQLite store: a run reading stdin, a suspended manager, processes a run
started, a hung run, and a store state this version does not know."""

from __future__ import annotations

import os
import signal
import time

import psutil
import pytest

from sdt.sweep.store import Store, runs_table
from sweep_files import env, executions, sdt_sweep, sleep_sweep, start_sdt_sweep


def wait_for(predicate, timeout: float = 60, what: str = "condition"):
    deadline = time.time() + timeout
    while not predicate():
        assert time.time() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def test_a_run_reading_stdin_gets_end_of_file_not_the_task_channel(folder):
    path = sleep_sweep(folder, experiment="sweep_files:READS_STDIN", slots=1,
                       tags=["a", "b", "c"])
    out = sdt_sweep(["run", path, "--no-progress"], folder, timeout=90)
    assert out.returncode == 1, out.stdout + out.stderr  # the runs failed, the sweep ended
    runs = Store(str(folder / "sdt.db")).sweep_runs("s")
    assert [r["state"] for r in runs] == ["failed"] * 3
    assert all(r["error"].startswith("EOFError") for r in runs), [r["error"] for r in runs]


@pytest.mark.parametrize("lease_s,seconds", [
    pytest.param(1, 4.0, id="lease-1s"),
    # The default lease (30 s): the same fault without SDT_LEASE_S, as an older sdt meets it.
    pytest.param(None, 36.0, id="default-lease", marks=pytest.mark.slow),
])
def test_a_suspended_manager_keeps_its_run_and_a_second_one_does_not_rerun_it(
        folder, lease_s, seconds):
    path = sleep_sweep(folder, tags=["long"], seconds=seconds)
    lease = env(folder, **({"SDT_LEASE_S": str(lease_s)} if lease_s else {}))
    first = start_sdt_sweep(["run", path, "--no-progress"], folder, env=lease)
    store = Store(str(folder / "sdt.db"))
    try:
        wait_for(lambda: (folder / "sdt.db").exists() and any(
            r["started"] for r in store.sweep_runs("s")), what="the run to start")
        first.send_signal(signal.SIGSTOP)  # a laptop lid closing on the manager
        time.sleep(2.5)  # past a 1 s lease: only the worker can have kept it alive
        second = sdt_sweep(["run", path, "--no-progress"], folder, env=lease, timeout=90)
        assert second.returncode == 0, second.stdout + second.stderr
        [run] = store.sweep_runs("s")
        assert run["state"] == "completed" and run["executions"] == 1
        assert sum(executions(folder).values()) == 1
        assert "0 run(s) executed by this process" in second.stdout
    finally:
        first.send_signal(signal.SIGKILL)
        first.communicate()


@pytest.mark.parametrize("how", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_stopping_the_manager_kills_processes_its_runs_started(folder, how):
    path = sleep_sweep(folder, experiment="sweep_files:SPAWNS", tags=["a", "b"], seconds=60)
    manager = start_sdt_sweep(["run", path, "--no-progress"], folder)
    pid_files = [folder / "runs" / f"child-{tag}.pid" for tag in "ab"]
    wait_for(lambda: all(p.is_file() and p.read_text() for p in pid_files),
             what="both runs to start their child process")
    children = [int(p.read_text()) for p in pid_files]
    assert all(alive(pid) for pid in children)
    manager.send_signal(how)
    manager.communicate(timeout=30)
    wait_for(lambda: not any(alive(pid) for pid in children), timeout=10,
             what="the runs' child processes to die with their workers")
    states = Store(str(folder / "sdt.db")).states()
    assert set(states.values()) == {"pending"}  # interrupted, not failed: run next time


def test_a_hung_run_is_ended_by_its_timeout_and_recorded_failed(folder):
    path = sleep_sweep(folder, studies={"main": {"runs": [
        {"sleep.tag": "hung", "sleep.seconds": 300}, {"sleep.tag": "quick"}]}},
        resources={"devices": ["cpu"], "slots": {"cpu": 1}, "timeout": 1.5})
    t0 = time.time()
    out = sdt_sweep(["run", path, "--no-progress"], folder, timeout=90)
    assert out.returncode == 1, out.stdout + out.stderr
    assert time.time() - t0 < 60
    runs = {r["config"]["sleep"]["tag"]: r for r in Store(str(folder / "sdt.db")).sweep_runs("s")}
    assert runs["hung"]["state"] == "failed"
    assert "timed out after 1.5 s (timeout)" in runs["hung"]["error"]
    assert runs["quick"]["state"] == "completed"
    assert "timed out after 1.5 s" in out.stdout  # in the summary of runs that failed


def test_a_study_timeout_beats_the_sweep_timeout(folder):
    from sdt.sweep import manager

    path = sleep_sweep(folder, studies={"slow": {"timeout": 50, "grid": {"sleep.tag": [1]}},
                                        "fast": {"grid": {"sleep.tag": [2]}}},
                       resources={"devices": ["cpu"], "timeout": 5})
    session = manager.open_session(path)
    assert {t.config["sleep"]["tag"]: t.timeout_s for t in session.tasks} == {1: 50, 2: 5}


def test_a_state_this_version_does_not_know_is_refused_clearly(folder):
    path = sleep_sweep(folder, tags=[1, 2])
    assert sdt_sweep(["run", path, "--no-progress"], folder).returncode == 0
    store = Store(str(folder / "sdt.db"))
    with store.engine.begin() as conn:
        conn.execute(runs_table.update().values(state="pending"))
        conn.execute(runs_table.update().where(
            runs_table.c.run_id == store.sweep_runs("s")[0]["run_id"]).values(state="cancelled"))
    out = sdt_sweep(["run", path, "--no-progress"], folder, timeout=60)
    assert out.returncode == 2, out.stdout + out.stderr
    assert "in state 'cancelled', which this version of sdt does not know" in out.stderr
    assert "Traceback" not in out.stderr
    assert os.path.exists(folder / "sdt.db") and store.states()  # nothing deleted
