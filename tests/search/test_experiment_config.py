"""The search run's config: the training config embedded by content, defaults, and errors
that name the file and the dotted key."""

import shutil

import pytest
import yaml

from sdt.config import config_hash, load_config, validate
from sdt.config.search_run import SearchRunConfig
from sdt.errors import ConfigError
from sdt.single import run_dir_for

TRAIN = {"seed": 3, "experiment": {"name": "fc"},
         "dataset": {"name": "forecast", "history_length": 32, "horizon": 4,
                     "num_samples_train": 50},
         "model": {"tiny": {"hidden_size": 32, "num_layers": 1, "num_heads": 2,
                            "intermediate_size": 64}},
         "training": {"num_epochs": 1}}


def write(path, data):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.fixture
def files(tmp_path):
    write(tmp_path / "train" / "fc.yaml", TRAIN)
    search = write(tmp_path / "search" / "s.yaml",
                   {"train": "../train/fc.yaml", "search": {"method": "dts", "num_rollouts": 5}})
    return tmp_path, search


def test_train_is_embedded_by_content_not_path(files, monkeypatch):
    root, search = files
    monkeypatch.chdir(root / "search")  # --set paths are relative to the working directory
    cfg = load_config(search, [], SearchRunConfig)
    assert cfg.train.dataset.horizon == 4 and cfg.train.seed == 3
    # the same content at another path gives the same run id; other content another id
    shutil.copy(root / "train" / "fc.yaml", root / "search" / "copy.yaml")
    other = load_config(search, ["train=copy.yaml"], SearchRunConfig)
    assert run_dir_for(other, "search")[0] == run_dir_for(cfg, "search")[0]
    changed = load_config(search, ["train_overrides={training.num_epochs: 2}"], SearchRunConfig)
    assert changed.train.training.num_epochs == 2
    nested = load_config(search, ["train_overrides={training: {num_epochs: 2}}"], SearchRunConfig)
    assert nested.train == changed.train  # one key set, the rest of the section kept
    assert run_dir_for(changed, "search")[0] != run_dir_for(cfg, "search")[0]
    # the dumped config stands alone and resolves to the same identity
    dumped = cfg.model_dump(mode="json")
    assert "train_overrides" not in dumped and isinstance(dumped["train"], dict)
    again = validate(dumped, SearchRunConfig)
    assert config_hash(again.model_dump(mode="json")) == config_hash(dumped)


def test_defaults_follow_the_training_config(files):
    _, search = files
    cfg = load_config(search, [], SearchRunConfig)
    assert cfg.dataset == cfg.train.dataset and cfg.reward.kind == "forecast"
    assert cfg.evaluation.split == "test"
    real = load_config(search, ["dataset.source=sunspots"], SearchRunConfig)
    assert real.dataset.source == "sunspots" and real.dataset.horizon == 4  # merged
    user = load_config(search, ["reward.fn=math:fsum"], SearchRunConfig)
    assert user.reward.kind == "user"
    tsqa = load_config(search, ["dataset={name: tsqa}"], SearchRunConfig)
    assert tsqa.reward.kind == "tsqa"


def test_inherited_train_path_is_relative_to_the_file_that_wrote_it(files, tmp_path):
    root, search = files
    child = write(root / "elsewhere" / "deep" / "child.yaml",
                  {"inherit": "../../search/s.yaml", "search": {"method": "best_of_n"}})
    cfg = load_config(child, [], SearchRunConfig)
    assert cfg.train.experiment.name == "fc"


@pytest.mark.parametrize("sets,key,text", [
    (["search.alpha=0.3"], "search.alpha", "unknown key"),                 # dts has no alpha
    (["search.num_rolouts=3"], "search.num_rolouts", "did you mean 'search.num_rollouts'"),
    (["search.method=beam"], "search.method", "one of"),
    (["reward.gamma=-1"], "reward.gamma", ">= 0"),
    (["reward.spectral.distance=l2"], "reward.spectral.distance", "l1_log"),
    (["reward.kind=tsqa"], None, "reward.kind 'tsqa' scores"),
    (["reward.verifier=1"], "reward.verifier", "unknown key"),
    (["reward.band.quantiles=[0.9, 0.1]"], "reward.band", "lower < upper"),
    (["evaluation.split=dev"], "evaluation.split", "one of"),
    (["evaluation.num_queries=0"], "evaluation.num_queries", "> 0"),
    (["train=missing.yaml"], "train", "an existing training config"),
    (["train_overrides={training.lr: 1}"], "training.lr", "unknown key"),
    (["reward.fn=not a path"], "reward.fn", "package.module:function"),
])
def test_malformed_search_configs_name_the_key(files, sets, key, text):
    _, search = files
    with pytest.raises(ConfigError) as err:
        load_config(search, sets, SearchRunConfig)
    if key is not None:
        assert err.value.key == key
    assert text in str(err.value)


def test_error_inside_the_training_config_names_the_training_file(files):
    root, search = files
    write(root / "train" / "fc.yaml", {**TRAIN, "training": {"num_epochs": 0}})
    with pytest.raises(ConfigError) as err:
        load_config(search, [], SearchRunConfig)
    assert err.value.key == "training.num_epochs" and err.value.file.endswith("fc.yaml")


def test_missing_train_is_named(tmp_path):
    path = write(tmp_path / "s.yaml", {"search": {"method": "greedy"}})
    with pytest.raises(ConfigError) as err:
        load_config(path, [], SearchRunConfig)
    assert err.value.key == "train" and str(path) in str(err.value)
