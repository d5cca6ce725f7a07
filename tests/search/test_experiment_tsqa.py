"""TSQA through the search run: the verifier reward and the accuracy metric."""

import json

import pytest
import torch
import yaml

from searchkit import micro_train, search_cli

TRAIN = micro_train("tsqa_micro", {"name": "tsqa", "num_samples_train": 48,
                                    "num_samples_val": 8, "num_samples_test": 8,
                                    "min_length": 64, "max_length": 96},
                    max_patches=32, stage="stage1_mcq")


def test_tsqa_search_reports_accuracy_and_the_verifier(tmp_path, capsys):
    torch.set_num_threads(1)
    (tmp_path / "train.yaml").write_text(yaml.safe_dump({**TRAIN, "output_dir": str(tmp_path)}))
    (tmp_path / "s.yaml").write_text(yaml.safe_dump({
        "train": "train.yaml", "search": {"method": "best_of_n", "num_rollouts": 4,
                                          "max_new_tokens": 6},
        "reward": {"weights": {"verifier": 1.0}}, "evaluation": {"num_queries": 4},
        "tracking": {"wandb": {"mode": "disabled"}}, "output_dir": str(tmp_path)}))
    out = search_cli(capsys, tmp_path / "s.yaml", tmp_path / "db")
    m = out["metrics"]
    assert 0 <= m["accuracy"] <= 1 and 0 <= m["valid_rate"] <= 1
    preds = [json.loads(l) for l in open(f"{out['run_dir']}/predictions.jsonl")]
    for p in preds:
        r, v = p["rewards"][0], p["terms"]["verifier"][0]
        assert r == (-1.0 if not p["valid"][0] else v)
        assert p["metrics"]["accuracy"] == float(p["parsed"][0] == p["gold"])
    assert m["accuracy"] == pytest.approx(sum(p["metrics"]["accuracy"] for p in preds) / 4)
