"""Malformed experiment configs: exit code 2, one short message naming the file and key."""

from __future__ import annotations

import subprocess
import sys

import pytest

from sdt.cli import main

GOOD = """
experiment: {name: ok}
dataset: {name: tsqa, num_samples_train: 8}
training: {num_epochs: 1, batch_size: 2}
"""

# (case name, file text, words the message must contain)
CASES = [
    ("unknown_key", "trainig: {num_epochs: 1}\n", ["trainig", "did you mean 'training'"]),
    ("misspelled_nested", "training: {lr_encodr: 1.0e-4}\n",
     ["training.lr_encodr", "did you mean 'training.lr_encoder'"]),
    ("wrong_type", "training: {num_epochs: many}\n", ["training.num_epochs", "integer"]),
    ("negative_lr", "training: {lr_encoder: -1.0e-4}\n", ["training.lr_encoder", "> 0"]),
    ("batch_zero", "training: {batch_size: 0}\n", ["training.batch_size", "> 0"]),
    ("unknown_device", "device: {type: tpu}\n", ["device.type", "tpu", "cuda"]),
    ("unknown_stage", "training: {stage: stage9_magic}\n", ["training.stage", "stage1_mcq"]),
    ("missing_inherit", "inherit: nowhere.yaml\n", ["inherit", "nowhere.yaml"]),
    ("yaml_syntax", "training: {num_epochs: 1\n", ["valid YAML", "line"]),
    ("python_tag", "training: !!python/object/apply:os.system ['true']\n", ["valid YAML"]),
    ("empty_file", "", ["empty"]),
    ("not_a_mapping", "- a\n- b\n", ["mapping"]),
    ("section_not_mapping", "training: 3\n", ["training", "mapping"]),
    ("unknown_dataset", "dataset: {name: imagenet}\n", ["dataset.name", "tsqa"]),
    ("key_of_other_dataset", "dataset: {name: tsqa, horizon: 8}\n", ["dataset.horizon", "unknown key"]),
    ("warmup_out_of_range", "training: {warmup_fraction: 1.5}\n", ["training.warmup_fraction", "< 1"]),
    ("bad_schedule", "training: {lr_schedule: exponential}\n", ["training.lr_schedule", "cosine"]),
    ("bad_projector", "model: {projector: transformer}\n", ["model.projector", "mlp"]),
    ("bad_wandb_mode", "tracking: {wandb: {mode: sometimes}}\n", ["tracking.wandb.mode", "offline"]),
    ("lengths_reversed", "dataset: {name: tsqa, min_length: 300, max_length: 100}\n",
     ["dataset", "min_length <= max_length"]),
    ("lora_typo", "model: {lora: {enable: true}}\n", ["model.lora.enable", "model.lora.enabled"]),
    ("negative_patience", "training: {early_stopping_patience: -2}\n",
     ["training.early_stopping_patience"]),
    ("bool_for_int", "training: {grad_accumulation: [1, 2]}\n", ["training.grad_accumulation"]),
    ("forecast_bad_source", "dataset: {name: forecast, source: stocks}\n",
     ["dataset.source", "sunspots"]),
]


@pytest.mark.parametrize("name,text,words", CASES, ids=[c[0] for c in CASES])
def test_malformed_config_exits_2_with_located_message(tmp_path, capsys, name, text, words):
    path = tmp_path / f"{name}.yaml"
    path.write_text(text)
    rc = main(["train", str(path)])
    err = capsys.readouterr().err
    assert rc == 2, err
    assert str(path) in err
    assert "Traceback" not in err
    for word in words:
        assert word in err, (word, err)
    assert len(err.strip().splitlines()) == 1


def test_bad_override_names_set(tmp_path, capsys):
    path = tmp_path / "ok.yaml"
    path.write_text(GOOD)
    rc = main(["train", str(path), "--set", "training.batch_sise=4"])
    err = capsys.readouterr().err
    assert rc == 2
    assert "--set: training.batch_sise" in err and "training.batch_size" in err


def test_inherit_chain_and_cycle(tmp_path, capsys):
    (tmp_path / "a.yaml").write_text("inherit: b.yaml\n")
    (tmp_path / "b.yaml").write_text("inherit: a.yaml\n")
    assert main(["train", str(tmp_path / "a.yaml")]) == 2
    assert "inheritance cycle" in capsys.readouterr().err


def test_error_in_parent_names_parent_file(tmp_path, capsys):
    (tmp_path / "parent.yaml").write_text("training: {batch_size: -3}\n")
    (tmp_path / "child.yaml").write_text("inherit: parent.yaml\ntraining: {num_epochs: 2}\n")
    assert main(["train", str(tmp_path / "child.yaml")]) == 2
    err = capsys.readouterr().err
    assert "parent.yaml: training.batch_size" in err


def test_console_script_prints_no_traceback(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("training: {lr_encoder: -1}\n")
    proc = subprocess.run([sys.executable, "-m", "sdt.cli", "train", str(path)],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert "training.lr_encoder" in proc.stderr
