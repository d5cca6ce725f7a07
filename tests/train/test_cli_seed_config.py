"""The issue's second command: a seed device config run here with two overrides."""

import json
from pathlib import Path

from sdt.cli import main

EXPERIMENTS = Path(__file__).resolve().parents[2] / "experiments"


def test_seed_quick_test_runs_on_cpu_with_the_tiny_lm(tmp_path, capsys):
    """``sdt-sweep train experiments/mps/quick_test.yaml --set device.type=cpu --set
    model.llm_id=tiny``, shrunk to a few steps: the seed's keys (patch size 4, its learning
    rates) are honoured and the run directory holds what the issue lists."""
    rc = main(["train", str(EXPERIMENTS / "mps/quick_test.yaml"), "--json",
               "--set", "device.type=cpu", "--set", "model.llm_id=tiny",
               "--set", f"output_dir={tmp_path}", "--set", "tracking.wandb.mode=offline",
               "--set", "dataset.num_samples_train=8", "--set", "dataset.num_samples_val=4",
               "--set", "dataset.num_samples_test=4", "--set", "dataset.max_length=96",
               "--set", "model.tiny.hidden_size=32", "--set", "model.tiny.intermediate_size=64",
               "--set", "model.tiny.num_heads=2", "--set", "model.encoder.dim=16"])
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert rc == 0 and out["state"] == "completed", out
    run_dir = Path(out["run_dir"])
    assert out["metrics"]["steps"] == 4 and out["metrics"]["epochs"] == 2  # 8 / batch 4, x 2
    resolved = (run_dir / "config.yaml").read_text()
    assert "patch_size: 4" in resolved and "llm_id: tiny" in resolved
    for name in ("checkpoints/best.pt", "checkpoints/last.pt", "predictions.jsonl",
                 "metrics.jsonl", "run.log"):
        assert (run_dir / name).is_file(), name
    assert list((run_dir / "wandb").glob("offline-run-*")), "no offline W&B run"
