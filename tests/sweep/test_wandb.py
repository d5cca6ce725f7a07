"""W&B: each run's config, history and summary reach its offline W&B run (read back with
wandb's own reader through ``sdt.tracking.read_offline_run``); the sweep-level run holds the
results table; a missing or broken wandb never breaks a sweep."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

from sdt.sweep.store import Store
from sdt.tracking import read_offline_run
from sweep_files import env, sdt_sweep, sleep_sweep


@pytest.fixture
def wandb_env(tmp_path):
    e = env(tmp_path)
    e.pop("WANDB_MODE")
    for var in ("WANDB_DIR", "WANDB_CACHE_DIR", "WANDB_CONFIG_DIR", "WANDB_DATA_DIR"):
        e[var] = str(tmp_path / "wandb-home")
    e["WANDB_SILENT"] = "true"
    return e


def test_each_run_reaches_wandb_offline_with_config_history_summary(tmp_path, wandb_env):
    path = sleep_sweep(tmp_path, "wb", slots=1,
                       tracking={"wandb": {"mode": "offline", "project": "sdt-test"}},
                       studies={"a": {"grid": {"sleep.tag": ["p", "q"]}},
                                "b": {"runs": [{"sleep.tag": "q"},
                                               {"sleep.tag": "f", "sleep.fail": True}]}})
    done = sdt_sweep(["run", path, "--no-progress"], tmp_path, env=wandb_env, timeout=240)
    assert done.returncode == 1, done.stdout + done.stderr  # the failing run
    runs = {r["config"]["sleep"]["tag"]: r for r in Store(str(tmp_path / "sdt.db"))
            .sweep_runs("wb")}
    assert {t: r["state"] for t, r in runs.items()} == {"p": "completed", "q": "completed",
                                                         "f": "failed"}
    for tag, stored in runs.items():
        wb = read_offline_run(Path(stored["run_dir"]) / "wandb")
        run = wb["run"]
        assert (run["run_id"], run["project"], run["run_group"], run["job_type"]) == (
            stored["run_id"], "sdt-test", "wb", "sleep")
        assert sorted(run["tags"]) == sorted(stored["studies"])
        assert wb["config"]["sleep"] == stored["config"]["sleep"]  # the resolved config
        assert wb["config"]["seed"] == 0
        history = [{k: v for k, v in row.items() if not k.startswith("_")}
                   for row in wb["history"]]
        if tag == "f":
            assert wb["summary"]["state"] == "failed" and len(history) == 2
            continue
        assert history == [{"progress": 0.5},
                           {"progress": 1, "value": stored["metrics"]["value"]}]
        assert [row["_step"] for row in wb["history"]] == [0, 1]
        assert wb["summary"]["state"] == "completed"
        assert wb["summary"]["value"] == stored["metrics"]["value"]
        assert wb["summary"]["slept_s"] == stored["metrics"]["slept_s"]

    folder = Path(re.search(r"W&B results table: (\S+)", done.stdout).group(1))
    summary = read_offline_run(folder)["summary"]
    assert summary["results._type"] == "table-file" and summary["results.nrows"] == 3
    assert summary["runs_completed"] == 2 and summary["runs_failed"] == 1
    table = json.loads((folder / "files" / summary["results.path"]).read_text())
    ids = [row[table["columns"].index("run_id")] for row in table["data"]]
    assert sorted(ids) == sorted(r["run_id"] for r in runs.values())


def test_a_broken_wandb_never_breaks_a_sweep(tmp_path, wandb_env):
    broken = tmp_path / "broken"
    (broken / "wandb").mkdir(parents=True)
    (broken / "wandb" / "__init__.py").write_text("raise ImportError('wandb is broken here')\n")
    wandb_env["PYTHONPATH"] = os.pathsep.join([str(broken), wandb_env["PYTHONPATH"]])
    path = sleep_sweep(tmp_path, "nowb", tags=range(3), mode="offline")
    done = sdt_sweep(["run", path, "--no-progress"], tmp_path, env=wandb_env)
    assert done.returncode == 0, done.stdout + done.stderr
    states = Store(str(tmp_path / "sdt.db")).states()
    assert list(states.values()) == ["completed"] * 3
    assert "W&B results table" not in done.stdout


def test_a_runs_own_wandb_settings_beat_the_sweeps(monkeypatch):
    from sdt.sweep.kinds.sleep import SleepConfig
    from sdt.sweep.manager import run_tracking

    monkeypatch.delenv("WANDB_MODE", raising=False)
    sweep = {"project": "sweep-proj", "entity": "lab", "mode": "offline"}
    plain = SleepConfig.model_validate({})
    own = SleepConfig.model_validate({"tracking": {"wandb": {"project": "mine"}}})
    off = SleepConfig.model_validate({"tracking": {"wandb": {"mode": "disabled"}}})
    assert run_tracking(sweep, plain) == sweep
    assert run_tracking(sweep, own) == {**sweep, "project": "mine"}
    assert run_tracking(sweep, off) is None
    assert run_tracking({"mode": "disabled"}, plain) is None
    monkeypatch.setenv("WANDB_MODE", "disabled")  # auto follows the environment
    assert run_tracking({"mode": "auto"}, plain) is None
