"""Config loading: inherit merges, --set overrides are typed, hashes are canonical."""

from __future__ import annotations

import pytest

from sdt.config import TrainConfig, apply_overrides, config_hash, load_config, parse_set
from sdt.config.load import deep_merge
from sdt.errors import ConfigError


def test_inherit_merges_sections_and_child_wins(tmp_path):
    (tmp_path / "base.yaml").write_text(
        "training: {num_epochs: 30, batch_size: 8, lr_encoder: 2.0e-4}\nexperiment: {name: base}\n")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "child.yaml").write_text(
        "inherit: ../base.yaml\ntraining: {batch_size: 2}\n")
    cfg = load_config(tmp_path / "sub" / "child.yaml", ["training.num_epochs=3"])
    assert (cfg.training.num_epochs, cfg.training.batch_size) == (3, 2)
    assert cfg.training.lr_encoder == pytest.approx(2e-4)
    assert cfg.experiment.name == "base"


@pytest.mark.parametrize("item,expected", [
    ("training.lr_encoder=1e-4", ("training.lr_encoder", 1e-4)),
    ("training.num_epochs=3", ("training.num_epochs", 3)),
    ("model.lora.enabled=true", ("model.lora.enabled", True)),
    ("experiment.tags=[a, b]", ("experiment.tags", ["a", "b"])),
    ("experiment.name=my run", ("experiment.name", "my run")),
    ("--training.batch_size=4", ("training.batch_size", 4)),
])
def test_parse_set_types_values(item, expected):
    assert parse_set(item) == expected


def test_overrides_do_not_mutate_input():
    base = {"training": {"batch_size": 8}}
    out = apply_overrides(base, {"training.batch_size": 2, "model.lora.r": 4})
    assert base == {"training": {"batch_size": 8}}
    assert out == {"training": {"batch_size": 2}, "model": {"lora": {"r": 4}}}


def test_deep_merge_lists_replace():
    assert deep_merge({"a": [1, 2], "b": {"c": 1}}, {"a": [3], "b": {"d": 2}}) == \
        {"a": [3], "b": {"c": 1, "d": 2}}


def test_hash_is_canonical():
    a = {"x": 1.0, "y": {"b": 2, "a": [1, 2.5]}}
    b = {"y": {"a": [1, 2.5], "b": 2.0}, "x": 1}
    assert config_hash(a) == config_hash(b)
    assert config_hash(a) != config_hash({**a, "x": 2})


def test_seed_uppercase_dataset_name_accepted():
    cfg = TrainConfig.model_validate({"dataset": {"name": "TSQA", "num_samples_train": 6300}})
    assert cfg.dataset.name == "tsqa"


def test_a_number_where_text_is_expected_is_that_text(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("experiment: {name: base}\n")
    cfg = load_config(path, ["experiment.name=3.14", "experiment.tags=[2026, ablation]"])
    assert cfg.experiment.name == "3.14" and cfg.experiment.tags == ["2026", "ablation"]
    with pytest.raises(ConfigError, match="training.num_epochs"):  # numbers stay numbers
        load_config(path, ["training.num_epochs=three"])
