"""The local scheduler with real worker processes, a real SQLite store and the sleep kind."""

from __future__ import annotations

import os
import re
import time

import pytest

from sdt.errors import ConfigError
from sdt.sweep import manager
from sdt.sweep.devices import MPS_ENV, make_slots, slot_env
from sweep_files import (executions, execution_pids, sdt_sweep, sleep_sweep,
                         start_sdt_sweep)


def run_sweep(path, **kwargs):
    session = manager.open_session(path)
    scheduler = manager.execute(session, code_version="test", **kwargs)
    scheduler.close()
    by_tag = {}
    for run in session.store.sweep_runs(session.name):
        by_tag[run["config"]["sleep"]["tag"]] = run
    return session, scheduler, by_tag


# The crashing runs come first: both first workers die at once and their replacements must
# run everything else.
POINTS = [{"sleep.tag": 2, "sleep.crash": "exit"}, {"sleep.tag": 3, "sleep.crash": "signal"},
          {"sleep.tag": 0}, {"sleep.tag": 1, "sleep.fail": True},
          {"sleep.tag": 4}, {"sleep.tag": 5}, {"sleep.tag": 6}]


def test_failures_and_dead_workers_cost_only_their_run(folder):
    path = sleep_sweep(folder, studies={"mixed": {"runs": POINTS}})
    session, scheduler, runs = run_sweep(path)
    assert {tag: r["state"] for tag, r in runs.items()} == {
        0: "completed", 1: "failed", 2: "failed", 3: "failed", 4: "completed",
        5: "completed", 6: "completed"}
    assert runs[1]["error"].startswith("RuntimeError: sleep.fail is set")
    assert "raise RuntimeError" in runs[1]["traceback"]
    assert "exited with code 13 while running this run" in runs[2]["error"]
    assert "killed by signal SIGKILL while running this run" in runs[3]["error"]
    assert scheduler.executed == 7
    # Every run executed exactly once; the two dead workers were replaced.
    assert executions(folder) == {r["run_id"]: 1 for r in runs.values()}
    assert all(r["executions"] == 1 for r in runs.values())
    crashed = {int(r["pid"]) for r in (runs[2], runs[3])}
    assert len(crashed) == 2 and crashed <= execution_pids(folder)
    # The first crash always leaves runs to do, so its worker is replaced (which worker then
    # runs what depends on which one finished importing first on a loaded machine).
    assert scheduler.backend.spawned >= 3
    assert runs[0]["metrics"]["value"] > 0 and runs[0]["device"] == "cpu"
    assert (folder / "runs" / "sleep").is_dir()
    assert os.path.isfile(os.path.join(runs[0]["run_dir"], "outcome.json"))


def test_retries_run_a_failing_run_again(folder):
    points = [{"sleep.tag": 0}, {"sleep.tag": 1, "sleep.fail": True},
              {"sleep.tag": 2, "sleep.crash": "exit"}]
    path = sleep_sweep(folder, studies={"mixed": {"runs": points}}, retries=1)
    _, _, runs = run_sweep(path)
    assert [runs[t]["state"] for t in (0, 1, 2)] == ["completed", "failed", "failed"]
    assert [runs[t]["attempts"] for t in (0, 1, 2)] == [1, 2, 2]
    assert [executions(folder)[runs[t]["run_id"]] for t in (0, 1, 2)] == [1, 2, 2]


def test_dependencies_run_first_once_and_are_handed_over(folder):
    path = sleep_sweep(folder, experiment="sweep_files:NEEDS_BASE",
                       studies={"a": {"grid": {"sleep.tag": ["x", "y"]}},
                                "b": {"grid": {"sleep.tag": ["z", "fail-base"]}}})
    session = manager.open_session(path)
    assert [t.kind for t in session.tasks[:2]] == ["sleep", "sleep"]  # two bases first
    manager.execute(session, code_version="test").close()
    runs = {r["config"]["sleep"]["tag"]: r for r in session.store.sweep_runs(session.name)
            if r["kind"] == "needs-base"}
    bases = [r for r in session.store.sweep_runs(session.name) if r["kind"] == "sleep"]
    assert sorted(r["state"] for r in bases) == ["completed", "failed"]
    good = next(r for r in bases if r["state"] == "completed")
    for tag in ("x", "y", "z"):
        run = runs[tag]
        assert run["state"] == "completed", run["error"]
        assert run["started"] >= good["finished"]
        assert run["metrics"]["base_value"] == good["metrics"]["value"]
    assert executions(folder)[good["run_id"]] == 1  # shared by three runs, executed once
    assert runs["fail-base"]["state"] == "failed"
    assert runs["fail-base"]["error"].startswith("dependency 'base' (run ")
    assert runs["fail-base"]["error"].endswith(") ended failed")
    assert executions(folder)[runs["fail-base"]["run_id"]] == 0


def test_nan_oom_pruned_are_recorded_with_their_step(folder, capsys):
    from sdt.cli import main

    path = sleep_sweep(folder, experiment="sweep_files:OUTCOMES",
                       studies={"o": {"grid": {"sleep.tag": ["nan", "oom", "pruned", "ok"]}}})
    assert main(["run", str(path), "--no-progress"]) == 0  # nothing *failed*
    out = capsys.readouterr().out
    runs = {r["config"]["sleep"]["tag"]: r for r in manager.open_session(path).store
            .sweep_runs("s")}
    for tag in ("nan", "oom", "pruned"):
        assert (runs[tag]["state"], runs[tag]["step"], runs[tag]["metrics"]) == (
            tag, 3, {"loss_at_stop": 1.5})
        assert runs[tag]["error"] == f"{tag} at step 3"
    assert runs["ok"]["state"] == "completed"
    assert "runs that did not complete (2)" in out  # nan and oom; pruned is a normal end


def test_two_managers_on_one_store_execute_each_run_once(folder):
    path = sleep_sweep(folder, tags=range(16), seconds=0.1)
    first = start_sdt_sweep(["run", path, "--no-progress"], folder)
    second = start_sdt_sweep(["worker", path, "--no-progress"], folder)
    outs = [p.communicate(timeout=120) for p in (first, second)]
    assert first.returncode == 0 and second.returncode == 0, outs
    counts = executions(folder)
    assert len(counts) == 16 and set(counts.values()) == {1}, counts
    session = manager.open_session(path)
    assert set(session.store.states(session.run_ids()).values()) == {"completed"}
    per_manager = [int(re.search(r"(\d+) run\(s\) executed by this process", o[0]).group(1))
                   for o in outs]
    print("runs per manager:", per_manager)
    assert sum(per_manager) == 16


def test_rerunning_a_completed_sweep_executes_nothing(folder):
    path = sleep_sweep(folder, tags=range(54), seconds=0.0)
    first = sdt_sweep(["run", path, "--no-progress"], folder)
    assert first.returncode == 0, first.stderr
    assert sum(executions(folder).values()) == 54
    t0 = time.perf_counter()
    again = sdt_sweep(["run", path, "--no-progress"], folder)
    elapsed = time.perf_counter() - t0
    print(f"re-run of a completed 54-run sweep: {elapsed:.2f} s")
    assert again.returncode == 0, again.stderr
    assert sum(executions(folder).values()) == 54
    assert "0 run(s) executed by this process" in again.stdout
    assert elapsed < 3.0 * (2 if os.environ.get("CI") else 1)


def test_device_pool():
    cpu = make_slots(["cpu"], {"cpu": 3})
    assert [s.name for s in cpu] == ["cpu#0", "cpu#1", "cpu#2"]
    assert cpu[0].env["CUDA_VISIBLE_DEVICES"] == "" and cpu[0].local_device == "cpu"
    assert slot_env("cuda:3") == {"CUDA_VISIBLE_DEVICES": "3"}
    assert slot_env("mps") == MPS_ENV == {"PYTORCH_ENABLE_MPS_FALLBACK": "1",
                                          "PYTORCH_MPS_HIGH_WATERMARK_RATIO": "0.0"}
    assert [s.device for s in make_slots("auto")] in (["cpu"], ["mps"]) or \
        all(s.device.startswith("cuda:") for s in make_slots("auto"))
    with pytest.raises(ConfigError, match=r"sw.yaml: resources.devices: expected a GPU this "
                                          r"machine has"):
        make_slots(["cuda:99"], None, "sw.yaml")
    with pytest.raises(ConfigError, match="resources.devices"):
        make_slots(["tpu"], None, "sw.yaml")
