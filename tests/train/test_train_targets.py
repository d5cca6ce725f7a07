"""The issue's accuracy targets with the shipped tiny configs (slow: minutes each)."""

from pathlib import Path

import pytest
import torch

from sdt.config import load_config
from sdt.config.schema import TrainConfig
from sdt.context import RunContext
from sdt.train.experiment import run

EXPERIMENTS = Path(__file__).resolve().parents[2] / "experiments" / "cpu"
pytestmark = pytest.mark.slow


def train(tmp_path, name, *sets):
    torch.set_num_threads(2)
    cfg = load_config(EXPERIMENTS / name, [f"output_dir={tmp_path}",
                                           "tracking.wandb.mode=disabled", *sets], TrainConfig)
    ctx = RunContext(run_id=name, run_dir=tmp_path / name, progress=False)
    return run(cfg, ctx), ctx.run_dir


@pytest.fixture(scope="module")
def tsqa(tmp_path_factory):
    return train(tmp_path_factory.mktemp("tsqa"), "tiny.yaml")


def test_tsqa_tiny_reaches_the_issue_target(tsqa):
    """>= 0.95 overall and >= 0.90 on each task (measured 0.9875, 0.9725, 0.9925 for seeds
    0-2, every task >= 0.96)."""
    metrics, _ = tsqa
    print(f"tiny TSQA: wall time {metrics['train_time_s']:.0f} s, test accuracy "
          f"{metrics['test_accuracy']:.3f}")  # the issue asks for 5 minutes; not asserted
    for task in ("trend", "volatility", "season", "outlier"):
        assert metrics[f"test_accuracy_{task}"] >= 0.90, (task, metrics)
    assert metrics["test_accuracy"] >= 0.95, metrics


def test_text_only_stays_near_chance(tmp_path):
    metrics, _ = train(tmp_path, "tiny.yaml", "model.ignore_series=true")
    assert metrics["test_accuracy"] <= 0.40, metrics


def test_har_reaches_the_issue_target(tmp_path):
    """The shipped HAR config from scratch (measured 0.95-0.975 over seeds 0-3)."""
    metrics, _ = train(tmp_path, "har_tiny.yaml")
    print(f"HAR: test accuracy {metrics['test_accuracy']:.3f}")
    assert metrics["test_accuracy"] >= 0.90, metrics


def test_har_as_a_curriculum_stage_after_tsqa(tmp_path, tsqa):
    """``training.init_from`` the TSQA run: the weights carry over and HAR is learned."""
    metrics, _ = train(tmp_path, "har_tiny.yaml", f"training.init_from={tsqa[1]}")
    print(f"HAR from TSQA: test accuracy {metrics['test_accuracy']:.3f}")
    assert metrics["test_accuracy"] >= 0.75, metrics  # chance is 0.25; measured 0.925


def test_forecast_parses_and_beats_last_value(tmp_path):
    metrics, _ = train(tmp_path, "forecast_tiny.yaml")
    assert metrics["test_valid_rate"] >= 0.95, metrics
    # scale-free (per series, in history-std units) and in raw units, on the same test split
    assert metrics["test_mae_scaled"] < metrics["test_last_value_mae_scaled"], metrics
    assert metrics["test_mae"] < metrics["test_last_value_mae"], metrics
