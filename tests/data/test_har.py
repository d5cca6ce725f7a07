"""BasicMotions as four-option questions: real data, disjoint balanced splits."""

from collections import Counter

import numpy as np
import pytest

from sdt.config import validate
from sdt.config.schema import HARDataset, TrainConfig
from sdt.data import build_dataset, har
from sdt.data.evaluate import first_option
from sdt.errors import ConfigError


@pytest.fixture(scope="module")
def splits():
    cfg = HARDataset()
    return {sp: build_dataset(cfg, sp, seed=0) for sp in ("train", "val", "test")}


def test_sizes_disjoint_and_balanced(splits):
    assert {sp: len(v) for sp, v in splits.items()} == {"train": 32, "val": 8, "test": 40}
    rec = {sp: {s.meta["recording"] for s in v} for sp, v in splits.items()}
    assert not rec["train"] & rec["val"]
    assert rec["train"] | rec["val"] == {f"train/{i}" for i in range(40)}
    assert Counter(s.meta["label"] for s in splits["val"]) == {a: 2 for a in har.ACTIVITIES}
    assert Counter(s.meta["label"] for s in splits["test"]) == {a: 10 for a in har.ACTIVITIES}


def test_samples_carry_the_recording_and_the_right_option(splits):
    x, labels = har.load_recordings("test")
    for s in splits["test"]:
        i = int(s.meta["recording"].split("/")[1])
        assert s.meta["label"] == labels[i]
        assert s.series_text == ["accelerometer x-axis", "accelerometer y-axis",
                                 "accelerometer z-axis"]
        np.testing.assert_allclose(np.stack(s.series), x[i, :3], rtol=1e-6)
        assert first_option(s.answer) == s.meta["gold"]
        assert f"({s.meta['gold']}) {s.meta['label']}" in s.post_prompt
        assert s.meta["options"] == list(har.ACTIVITIES)  # fixed order: letter names label
        assert s.meta["gold"] == har.LETTERS[har.ACTIVITIES.index(s.meta["label"])]
    assert Counter(s.meta["gold"] for s in splits["test"]) == {c: 10 for c in "abcd"}


def test_shuffled_option_order():
    test = build_dataset(HARDataset(option_order="shuffled"), "test", seed=0)
    for s in test:
        assert sorted(s.meta["options"]) == sorted(har.ACTIVITIES)
        assert f"({s.meta['gold']}) {s.meta['label']}" in s.post_prompt
    assert len({tuple(s.meta["options"]) for s in test}) > 10  # shuffled per sample
    assert len({s.meta["gold"] for s in test}) == 4


def test_caps_seed_and_gyroscope():
    cfg = HARDataset(num_samples_train=12, num_samples_test=8, sensors=["accelerometer",
                                                                       "gyroscope"])
    train = build_dataset(cfg, "train", seed=3)
    assert len(train) == 12 and len(train[0].series) == 6
    assert train[0].series_text[3] == "gyroscope x-axis"
    assert Counter(s.meta["label"] for s in build_dataset(cfg, "test", 3)) == \
        {a: 2 for a in har.ACTIVITIES}
    val = lambda seed: {s.meta["recording"] for s in build_dataset(cfg, "val", seed)}  # noqa: E731
    assert val(3) == val(3) and val(3) != val(4)


def test_config_rejects_a_val_split_over_half_the_train_recordings():
    with pytest.raises(ConfigError, match="dataset.num_samples_val"):
        validate({"dataset": {"name": "har", "num_samples_val": 30}}, TrainConfig, "x.yaml")
    with pytest.raises(ConfigError, match="dataset.sensors"):
        validate({"dataset": {"name": "har", "sensors": ["compass"]}}, TrainConfig, "x.yaml")


def test_crops_are_seeded_windows_of_train_recordings_only(splits):
    cfg = HARDataset(crops=3, crop_min_fraction=0.5, sensors=["accelerometer", "gyroscope"])
    train = build_dataset(cfg, "train", seed=0)
    assert len(train) == 32 * 4
    assert [s.meta["recording"] for s in train[:32]] == \
        [s.meta["recording"] for s in splits["train"]]  # whole recordings first, unchanged
    x, _ = har.load_recordings("train")
    lengths = set()
    for s in train[32:]:
        i = int(s.meta["recording"].split("/")[1])
        start, stop = s.meta["crop"]
        assert 0 <= start and stop <= 100 and stop - start >= 50
        np.testing.assert_allclose(np.stack(s.series), x[i, :, start:stop], rtol=1e-6)
        assert s.meta["label"] == har.load_recordings("train")[1][i]
        lengths.add(stop - start)
    assert len(lengths) > 10  # windows of many lengths
    # every recording gets exactly `crops` windows with its own label
    assert Counter(s.meta["recording"] for s in train[32:]) == \
        {s.meta["recording"]: 3 for s in splits["train"]}
    again = build_dataset(cfg, "train", seed=0)
    assert [s.meta.get("crop") for s in again] == [s.meta.get("crop") for s in train]
    assert [s.meta.get("crop") for s in build_dataset(cfg, "train", seed=1)][32:] != \
        [s.meta.get("crop") for s in train][32:]
    # val and test stay whole recordings
    assert len(build_dataset(cfg, "val", seed=0)) == 8
    assert all("crop" not in s.meta for s in build_dataset(cfg, "test", seed=0))
