"""Optuna studies that run: trials as sdt runs with real worker processes, the study in the
store's own SQLite database (opened back with ``optuna.load_study``), pruning through
``ctx.report``, dedupe by config hash, budgets, and a study that resumes after SIGKILL."""

from __future__ import annotations

import itertools
import re
import signal
import time

import optuna
from optuna.trial import TrialState

from sdt.cli import main
from sdt.sweep.store import Store
from sweep_files import env, executions, sdt_sweep, sleep_sweep, start_sdt_sweep


def optuna_study(**block) -> dict:
    return {"optuna": {"objectives": {"value": "maximize"}, "seed": 0,
                       "params": {"sleep.tag": {"float": [0.0, 1.0]}}, **block}}


def load(folder, name="s/tuning"):
    return optuna.load_study(study_name=name, storage=f"sqlite:///{folder / 'sdt.db'}")


def test_multi_objective_study_runs_trials_as_runs_and_opens_with_load_study(folder, capsys):
    path = sleep_sweep(folder, seconds=0.02, studies={"tuning": optuna_study(
        n_trials=6, sampler="nsga2", objectives={"value": "maximize", "slept_s": "minimize"},
        params={"sleep.tag": {"int": [0, 1000]}, "sleep.seconds": {"float": [0.01, 0.05]}})})
    rc = main([str(a) for a in ("run", path, "--no-progress")])
    out = capsys.readouterr().out
    assert rc == 0, out
    study = load(folder)
    assert [d.name for d in study.directions] == ["MAXIMIZE", "MINIMIZE"]
    trials = study.get_trials()
    assert len(trials) == 6 and {t.state for t in trials} == {TrialState.COMPLETE}
    store = Store(str(folder / "sdt.db"))
    for trial in trials:  # each trial is a run whose metrics are the trial's values
        [run_id] = trial.user_attrs["sdt_runs"]
        run = store.get(run_id)
        assert run["state"] == "completed" and run["config"]["sleep"]["tag"] == \
            trial.params["sleep.tag"]
        assert trial.values == [run["metrics"]["value"], run["metrics"]["slept_s"]]
    assert "Pareto front (value maximize, slept_s minimize)" in out
    front = {int(m) for m in re.findall(r"^│\s+(\d+) │", out, re.M)}
    assert front == {t.number for t in study.best_trials}
    import sdt

    df = sdt.results.load("s", str(folder / "sdt.db"))
    assert sorted(df["trial"]) == [f"tuning:{t.number}" for t in trials]
    assert set(df["studies"]) == {"tuning"}


def test_a_trial_whose_config_completed_reuses_the_stored_result(folder):
    path = sleep_sweep(folder, studies={
        "fixed": {"grid": {"sleep.tag": [1, 2]}},
        "tuning": optuna_study(n_trials=4, sampler="grid",
                               params={"sleep.tag": [1, 2, 3, 4]})})
    assert sdt_sweep(["run", path, "--no-progress"], folder).returncode == 0
    counts = executions(folder)
    assert len(counts) == 4 and set(counts.values()) == {1}  # 1 and 2 ran once, for both
    trials = load(folder).get_trials()
    assert sorted(t.params["sleep.tag"] for t in trials) == [1, 2, 3, 4]
    assert {t.state for t in trials} == {TrialState.COMPLETE}
    tagged = {r["config"]["sleep"]["tag"]: r["studies"]
              for r in Store(str(folder / "sdt.db")).sweep_runs("s")}
    assert tagged == {1: ["fixed", "tuning"], 2: ["fixed", "tuning"], 3: ["tuning"],
                      4: ["tuning"]}
    again = sdt_sweep(["run", path, "--no-progress"], folder)  # the budget is spent
    assert again.returncode == 0 and executions(folder) == counts
    assert len(load(folder).get_trials()) == 4


def test_median_pruner_records_pruned_runs(folder):
    path = sleep_sweep(folder, seconds=0.0, studies={"tuning": optuna_study(
        n_trials=14, sampler="random", pruner="median", n_parallel=1,
        pruner_options={"n_startup_trials": 3})})
    assert sdt_sweep(["run", path, "--no-progress"], folder).returncode == 0
    trials = load(folder).get_trials()
    runs = {r["run_id"]: r for r in Store(str(folder / "sdt.db")).sweep_runs("s")}
    pruned = [t for t in trials if t.state == TrialState.PRUNED]
    assert len(trials) == 14 and pruned
    for trial in trials:
        run = runs[trial.user_attrs["sdt_runs"][0]]
        assert run["state"] == {"PRUNED": "pruned", "COMPLETE": "completed"}[trial.state.name]
        assert trial.intermediate_values == {1: run["metrics"].get("value", trial.value)} \
            or run["state"] == "pruned"
    for trial in pruned:  # pruned below the median of the trials before it
        run = runs[trial.user_attrs["sdt_runs"][0]]
        assert run["step"] == 1 and "pruned at step 1" in run["error"]


def test_timeout_ends_the_study_and_bad_objectives_are_refused(folder, capsys):
    path = sleep_sweep(folder, seconds=0.2, studies={"tuning": optuna_study(
        n_trials=1000, timeout=1.0)})
    t0 = time.time()
    assert sdt_sweep(["run", path, "--no-progress"], folder).returncode == 0
    assert time.time() - t0 < 30
    trials = load(folder).get_trials()
    assert 2 <= len(trials) < 40 and {t.state for t in trials} == {TrialState.COMPLETE}
    bad = sleep_sweep(folder, name="b", studies={"tuning": optuna_study(
        n_trials=2, objectives={"reward": "maximize"})})
    rc = main(["run", str(bad)])
    err = capsys.readouterr().err
    assert rc == 2 and "studies.tuning.optuna.objectives: expected metrics the sleep kind" \
        in err and "'reward'" in err


def test_sigkill_mid_study_then_restart_completes_n_trials_none_lost_none_twice(folder):
    n_trials = 12
    path = sleep_sweep(folder, seconds=0.3, studies={"tuning": optuna_study(
        n_trials=n_trials, sampler="tpe")})
    manager = start_sdt_sweep(["run", path, "--no-progress"], folder)
    db = folder / "sdt.db"
    deadline = time.time() + 60
    while not db.exists() or sum(
            s == "completed" for s in Store(str(db)).states().values()) < 4:
        assert time.time() < deadline and manager.poll() is None, manager.communicate()
        time.sleep(0.02)
    manager.send_signal(signal.SIGKILL)
    manager.communicate()
    store = Store(str(db))
    done_at_kill = {rid for rid, s in store.states().items() if s == "completed"}
    left_running = [t for t in load(folder).get_trials() if t.state == TrialState.RUNNING]
    assert left_running  # the kill left trials in flight

    again = sdt_sweep(["run", path, "--no-progress"], folder)
    assert again.returncode == 0, again.stdout + again.stderr
    everything = load(folder).get_trials()
    # a trial whose manager was killed inside ask() never ran: failed, marked, not counted
    trials = [t for t in everything if not t.user_attrs.get("sdt_never_ran")]
    assert all(t.state == TrialState.FAIL for t in everything if t not in trials)
    assert len(trials) == n_trials and {t.state for t in trials} == {TrialState.COMPLETE}
    run_of = {t.number: t.user_attrs["sdt_runs"][0] for t in trials}
    assert len(set(run_of.values())) == n_trials  # one run per trial, no trial told twice
    counts = executions(folder)
    assert all(counts[rid] == 1 for rid in done_at_kill)
    assert all(1 <= counts[rid] <= 2 for rid in run_of.values())
    assert sum(n == 2 for n in counts.values()) <= 2  # at most the runs in flight, per slot
    for trial in trials:
        assert trial.value == store.get(run_of[trial.number])["metrics"]["value"]
    rows = store.trials("s")
    assert sorted(n for per in rows.values() for n in per["tuning"]) == sorted(run_of)


def test_a_study_and_the_fixed_plan_take_turns_on_the_slots(folder):
    path = sleep_sweep(folder, slots=1, seconds=0.01, studies={
        "fixed": {"grid": {"sleep.tag": list(range(100, 106))}},
        "tuning": optuna_study(n_trials=6, n_parallel=2)})
    assert sdt_sweep(["run", path, "--no-progress"], folder).returncode == 0
    runs = sorted(Store(str(folder / "sdt.db")).sweep_runs("s"), key=lambda r: r["started"])
    order = [r["studies"][0] for r in runs]
    assert sorted(order) == ["fixed"] * 6 + ["tuning"] * 6
    assert set(order[:4]) == {"fixed", "tuning"}  # interleaved, not one source after the other
    assert max(len(list(g)) for _, g in itertools.groupby(order)) <= 3


def test_the_manager_of_a_study_never_imports_torch(folder):
    import subprocess
    import sys

    path = sleep_sweep(folder, seconds=0.0, studies={"tuning": optuna_study(n_trials=3)})
    code = ("import sys; from sdt.cli import main; rc = main(['run', sys.argv[1], "
            "'--no-progress']); print(rc, 'torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True,
                         text=True, cwd=folder, env=env(folder),
                         timeout=120)
    assert out.stdout.strip().splitlines()[-1] == "0 False", out.stdout + out.stderr


def test_two_managers_share_one_study(folder):
    n_trials = 10
    path = sleep_sweep(folder, seconds=0.1, studies={"tuning": optuna_study(n_trials=n_trials)})
    other = start_sdt_sweep(["worker", path, "--no-progress"], folder)
    mine = sdt_sweep(["run", path, "--no-progress"], folder)
    theirs = other.communicate(timeout=120)
    assert mine.returncode == 0 and other.returncode == 0, (mine.stderr, theirs)
    trials = load(folder).get_trials()
    # each manager counts the study before it asks: together they may add one more
    assert n_trials <= len(trials) <= n_trials + 1
    assert {t.state for t in trials} == {TrialState.COMPLETE}
    store = Store(str(folder / "sdt.db"))
    for trial in trials:
        [run_id] = trial.user_attrs["sdt_runs"]
        assert trial.value == store.get(run_id)["metrics"]["value"]
    assert set(executions(folder).values()) == {1}  # no run executed by both


def test_study_mistakes_are_refused_before_anything_runs(folder, capsys):
    cases = {
        "studies.tuning.optuna.params.sleep.nope: unknown key":
            optuna_study(n_trials=2, params={"sleep.nope": {"float": [0, 1]}}),
        "studies.tuning.optuna.sampler_options: expected options of the tpe sampler":
            optuna_study(n_trials=2, sampler_options={"n_startup": 3}),
        "studies.tuning.optuna.pruner_options: expected options of the percentile pruner":
            optuna_study(n_trials=2, pruner="percentile", pruner_options={"n_startup_trials": 1}),
    }
    for i, (message, study) in enumerate(cases.items()):
        path = sleep_sweep(folder, name=f"bad{i}", studies={"tuning": study})
        rc = main(["run", str(path), "--dry-run"])
        err = capsys.readouterr().err
        assert rc == 2 and message in err, err
        assert err.count("\n") == 1 and "Traceback" not in err
    assert not (folder / "sdt.db").exists() and not executions(folder)
