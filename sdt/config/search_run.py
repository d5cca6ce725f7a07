"""A search run's config: which trained model decodes, on which data, with which method and
reward (the ``search`` experiment kind's schema).

```yaml
seed: 0                                  # the search's randomness (queries stay fixed)
experiment: {name: forecast-tiny}
train: ../cpu/forecast_tiny.yaml         # the training config whose checkpoint decodes
train_overrides: {training.num_epochs: 2}
dataset: {source: sunspots}              # evaluation data; merged over the training data set
search: {method: sadt, num_rollouts: 20, expansion_k: 3}
reward: {gamma: 1.0, spectral: {distance: w1}}
evaluation: {split: test, num_queries: 16}
```

``train`` is a path, relative to the file that writes it (relative to the working directory
when it comes from ``--set``), read and validated when the search config is loaded and
embedded as a whole :class:`TrainConfig`: the run id hashes the training config's content, not
its path, and the resolved ``config.yaml`` of a run stands alone. ``train_overrides`` (dotted
keys, or nested mappings of single keys) are applied to it and then dropped, for the same
reason. An error in the training config names the training file and its key.

``dataset`` defaults to the training config's data set; given with the same (or no) ``name``
it is merged over it, so ``dataset: {source: co2}`` swaps only the series. ``reward.kind``
follows the data set when left out (``user`` when ``reward.fn`` is given).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, ValidationInfo, model_validator

from sdt.config._base import StrictModel
from sdt.config.load import apply_overrides, deep_merge, read_config_dict, validate
from sdt.config.reward import RewardSection
from sdt.config.schema import (
    Dataset,
    DeviceSection,
    ExperimentSection,
    TrackingSection,
    TrainConfig,
)
from sdt.config.search import GreedySearch, SearchSection
from sdt.errors import ConfigError

_REWARD_FOR_DATASET = {"forecast": "forecast", "tsqa": "tsqa", "har": "tsqa", "jsonl": "tsqa"}
_DATASETS_FOR_REWARD = {"forecast": ("forecast",), "tsqa": ("tsqa", "har", "jsonl")}


class SearchEvaluation(StrictModel):
    split: Literal["train", "val", "test"] = "test"
    num_queries: Annotated[int, Field(gt=0)] | None = None  # None: the whole split
    data_seed: int | None = None  # None: the training config's seed (its held-out split)
    save_predictions: bool = True  # predictions.jsonl + psd.npz in the run directory
    perplexity: bool = True  # one teacher-forced forward per query over what is returned


class RewardSectionModel(StrictModel):
    """The ``reward`` section alone (to validate it, e.g. in tests and tools)."""

    reward: RewardSection


class SearchRunConfig(StrictModel):
    seed: int = 0
    experiment: ExperimentSection = ExperimentSection(name="search")
    train: TrainConfig
    dataset: Dataset
    search: SearchSection = GreedySearch()  # the OpenTSLM baseline
    reward: RewardSection
    device: DeviceSection = DeviceSection()
    evaluation: SearchEvaluation = SearchEvaluation()
    tracking: TrackingSection = TrackingSection()
    output_dir: str = "runs"

    @model_validator(mode="before")
    @classmethod
    def _resolve(cls, data, info: ValidationInfo):
        if not isinstance(data, dict):
            return data
        data = dict(data)
        context = info.context or {}
        file = context.get("file", "<config>")
        overrides = data.pop("train_overrides", None) or {}
        if not isinstance(overrides, dict):
            raise ConfigError(file, "train_overrides", "a mapping of dotted keys to values",
                              got=overrides)
        overrides = _dotted(overrides)
        train = data.get("train")
        if isinstance(train, (str, Path)):
            data["train"] = _load_train(train, overrides, file, context.get("sources") or {})
        elif isinstance(train, dict) and overrides:
            data["train"] = apply_overrides(train, overrides, source=f"{file}: train_overrides")
        train = data.get("train")
        if isinstance(train, dict):
            data["dataset"] = _eval_dataset(data.get("dataset"), train.get("dataset"))
        reward = data.get("reward")
        if reward is None or (isinstance(reward, dict) and "kind" not in reward):
            reward = dict(reward or {})
            dataset = data.get("dataset")
            name = dataset.get("name") if isinstance(dataset, dict) else None
            kind = "user" if "fn" in reward else _REWARD_FOR_DATASET.get(str(name).lower())
            if kind is not None:
                reward["kind"] = kind
            data["reward"] = reward
        return data

    @model_validator(mode="after")
    def _reward_fits_data(self):
        allowed = _DATASETS_FOR_REWARD.get(self.reward.kind)
        if allowed is not None and self.dataset.name not in allowed:
            raise ValueError(f"reward.kind {self.reward.kind!r} scores {' or '.join(allowed)} "
                             f"data, but dataset.name is {self.dataset.name!r}")
        return self


def _load_train(path, overrides: dict, file: str, sources: dict) -> dict:
    """Read, override and validate the training config named by ``train`` (errors name the
    training file and key); returned as plain data so the outer model validates it once."""
    where = sources.get("train", file)
    base = Path(where).parent if Path(where).is_file() else Path.cwd()
    target = Path(path) if Path(path).is_absolute() else base / path
    if not target.is_file():
        raise ConfigError(where, "train", "an existing training config (YAML)", got=str(path),
                          hint=f"looked for {target}")
    data, tsources = read_config_dict(target)
    data = apply_overrides(data, overrides, tsources, source=f"{file}: train_overrides")
    return validate(data, TrainConfig, str(target), tsources).model_dump(mode="json")


def _dotted(overrides: dict, prefix: str = "") -> dict:
    """``{training: {num_epochs: 2}}`` -> ``{"training.num_epochs": 2}``: nested or dotted,
    an override sets single keys and never replaces a whole section."""
    out = {}
    for key, value in overrides.items():
        if isinstance(value, dict) and value:
            out.update(_dotted(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def _eval_dataset(given, train_dataset):
    if not isinstance(train_dataset, dict):
        return given
    if given is None:
        return dict(train_dataset)
    if isinstance(given, dict):
        name = str(given.get("name", train_dataset.get("name"))).lower()
        if name == str(train_dataset.get("name", "")).lower():
            return deep_merge(train_dataset, given)
    return given
