"""execute(): outcomes, files written, W&B offline run with config/history/summary."""

from __future__ import annotations

import json
import yaml

from sdt.config import TrainConfig
from sdt.context import NanLoss, RunContext
from sdt.runner import execute, read_outcome
from sdt.tracking import Tracker, read_offline_run, resolve_mode


def _ctx(tmp_path, **kw):
    return RunContext(run_id="abc", run_dir=tmp_path / "run", **kw)


def test_completed_run_writes_config_history_outcome(tmp_path):
    def run(cfg, ctx):
        ctx.log({"loss": 1.5}, step=0)
        ctx.log({"loss": 0.5}, step=1)
        return {"accuracy": 0.75}

    ctx = _ctx(tmp_path)
    out = execute(run, TrainConfig(), ctx)
    assert out.state == "completed" and out.metrics == {"accuracy": 0.75}
    assert yaml.safe_load((ctx.run_dir / "config.yaml").read_text()) == \
        TrainConfig().model_dump(mode="json")
    rows = [json.loads(line) for line in ctx.history_path.read_text().splitlines()]
    assert [r["loss"] for r in rows] == [1.5, 0.5] and [r["step"] for r in rows] == [0, 1]
    assert read_outcome(ctx.run_dir).state == "completed"


def test_exceptions_become_states(tmp_path):
    def boom(cfg, ctx):
        raise ValueError("bad thing")

    def nan(cfg, ctx):
        raise NanLoss("loss is nan", step=7)

    out = execute(boom, TrainConfig(), _ctx(tmp_path))
    assert out.state == "failed" and "ValueError: bad thing" in out.error
    assert "Traceback" in out.traceback
    out = execute(nan, TrainConfig(), _ctx(tmp_path))
    assert (out.state, out.step) == ("nan", 7)


def test_report_prunes_through_pruner(tmp_path):
    seen = []

    def pruner(step, value):
        seen.append((step, value))
        return value < 0.5

    def run(cfg, ctx):
        ctx.report(0, 0.9)
        ctx.report(1, 0.2)
        return {"never": 1.0}

    out = execute(run, TrainConfig(), _ctx(tmp_path, pruner=pruner))
    assert out.state == "pruned" and out.step == 1 and seen == [(0, 0.9), (1, 0.2)]


def test_wandb_offline_run_files(tmp_path, monkeypatch):
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    monkeypatch.delenv("WANDB_MODE", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))  # no ~/.netrc -> offline
    assert resolve_mode("auto") == "offline"
    tracker = Tracker(mode="auto", project="p", name="n", config={"training": {"lr": 0.1}},
                      dir=tmp_path / "wb", run_id="run123")
    assert tracker.mode == "offline" and tracker.run is not None
    wandb_dir = tracker.run_dir

    def run(cfg, ctx):
        ctx.log({"loss": 2.0}, step=0)
        return {"accuracy": 0.5}

    execute(run, TrainConfig(), _ctx(tmp_path, tracker=tracker))
    recorded = read_offline_run(wandb_dir)
    assert recorded["config"] == {"training": {"lr": 0.1}}
    assert [(h["_step"], h["loss"]) for h in recorded["history"]] == [(0, 2)]
    assert recorded["summary"]["accuracy"] == 0.5
    assert recorded["summary"]["state"] == "completed"
    assert recorded["exit_code"] == 0


def test_disabled_tracker_is_inert():
    tracker = Tracker(mode="disabled")
    tracker.log({"a": 1})
    tracker.summary({"a": 1})
    tracker.finish()
    assert tracker.run is None
