"""TSQA: deterministic, balanced, disjoint; decidable from the series, not from a shortcut."""

import logging
import re
from collections import Counter, defaultdict

import numpy as np
import pytest

from sdt.config.schema import TSQADataset
from sdt.data import build_dataset, tsqa
from sdt.data.evaluate import first_option
from sdt.data.tsqa_features import predict


def _labels(samples):
    return np.array([tsqa.TASKS[s.meta["task"]][1].index(s.meta["label"]) for s in samples])


@pytest.fixture(scope="module")
def per_task():
    """300 test samples per task."""
    samples = tsqa.generate(1200, "test", seed=11)
    return {t: [s for s in samples if s.meta["task"] == t] for t in tsqa.TASKS}


def test_deterministic_and_prefix_stable():
    a = tsqa.generate(40, "train", seed=3)
    b = tsqa.generate(60, "train", seed=3)
    for x, y in zip(a, b[:40]):
        assert x.to_json() == y.to_json()
    c = tsqa.generate(40, "train", seed=4)
    assert not np.array_equal(a[0].series[0], c[0].series[0])


def test_build_dataset_sizes_lengths_and_disjoint_splits(caplog):
    cfg = TSQADataset(num_samples_train=120, num_samples_val=30, num_samples_test=45,
                      min_length=70, max_length=90)
    with caplog.at_level(logging.INFO, logger="sdt.data"):
        splits = {sp: build_dataset(cfg, sp, seed=0) for sp in ("train", "val", "test")}
    assert {sp: len(v) for sp, v in splits.items()} == {"train": 120, "val": 30, "test": 45}
    assert "split val: 30 samples" in caplog.text
    keys = {sp: {s.series[0].tobytes() for s in v} for sp, v in splits.items()}
    assert len(keys["train"]) == 120
    assert not (keys["train"] & keys["val"] or keys["train"] & keys["test"]
                or keys["val"] & keys["test"])
    lengths = [len(s.series[0]) for v in splits.values() for s in v]
    assert min(lengths) >= 70 and max(lengths) <= 90 and len(set(lengths)) > 10
    # a split does not depend on the other splits' sizes
    bigger = cfg.model_copy(update={"num_samples_train": 500})
    assert [s.answer for s in build_dataset(bigger, "val", 0)] == [s.answer for s in splits["val"]]


def test_task_subset_and_format():
    samples = tsqa.generate(18, "val", seed=0, tasks=("season", "outlier"))
    assert Counter(s.meta["task"] for s in samples) == {"season": 9, "outlier": 9}
    for s in samples:
        assert s.series_text == [tsqa.SERIES_TEXT] and s.series[0].dtype == np.float32
        assert re.fullmatch(r" \([abc]\)", s.answer)
        assert first_option(s.answer) == s.meta["gold"]
        shown = re.findall(r"\(([abc])\) (\w+)", s.post_prompt)
        assert dict(shown)[s.meta["gold"]] == s.meta["label"]
        assert [w for _, w in shown] == s.meta["options"]
    with pytest.raises(ValueError, match="tasks"):
        tsqa.generate(3, "val", 0, tasks=("bogus",))


@pytest.mark.parametrize("order", tsqa.OPTION_ORDERS)
def test_gold_letters_and_labels_balanced_exactly(order):
    samples = tsqa.generate(720, "train", seed=1, option_order=order)
    for task in tsqa.TASKS:
        ss = [s for s in samples if s.meta["task"] == task]
        assert Counter(s.meta["gold"] for s in ss) == {"a": 60, "b": 60, "c": 60}
        assert Counter(s.meta["label"] for s in ss) == {o: 60 for o in tsqa.TASKS[task][1]}


def test_fixed_order_letter_names_the_label_shuffled_does_not():
    fixed = tsqa.generate(120, "val", seed=5)
    for s in fixed:
        assert s.meta["options"] == list(tsqa.TASKS[s.meta["task"]][1])
        assert "abc".index(s.meta["gold"]) == s.meta["options"].index(s.meta["label"])
    shuffled = tsqa.generate(120, "val", seed=5, option_order="shuffled")
    assert len({tuple(s.meta["options"]) for s in shuffled}) == 4 * 6
    # the length is drawn before the order, so both orders give the same lengths
    assert [len(s.series[0]) for s in fixed] == [len(s.series[0]) for s in shuffled]
    with pytest.raises(ValueError, match="option_order"):
        tsqa.generate(3, "val", 0, option_order="sorted")


@pytest.mark.parametrize("order, texts", [("fixed", 4), ("shuffled", 4 * 6)])
def test_text_alone_gives_chance(order, texts):
    """The best (prompt text -> letter) table learnt on train is at chance on test."""
    table = defaultdict(Counter)
    for s in tsqa.generate(1800, "train", seed=2, option_order=order):
        table[s.pre_prompt + s.post_prompt][s.meta["gold"]] += 1
    assert len(table) == texts  # fixed: one text per task; shuffled: all 6 option orders
    for counts in table.values():  # within one text, each letter is gold about a third
        assert min(counts.values()) / sum(counts.values()) > 0.2
    test = tsqa.generate(1200, "test", seed=2, option_order=order)
    hits = [table[s.pre_prompt + s.post_prompt].most_common(1)[0][0] == s.meta["gold"]
            for s in test]
    assert np.mean(hits) < 0.40


def test_feature_rules_solve_every_task(per_task):
    for task, samples in per_task.items():
        pred = np.array([predict(task, s.series[0]) for s in samples])
        acc = float(np.mean(pred == _labels(samples)))
        assert acc >= 0.97, (task, acc)


def _binned_accuracy(feature, labels, bins=8):
    """Accuracy of the best 'quantile bin -> majority label' rule fitted on the even samples,
    scored on the odd ones: near 1/3 when the feature carries no information."""
    edges = np.quantile(feature[::2], np.linspace(0, 1, bins + 1)[1:-1])
    b = np.searchsorted(edges, feature)
    fit = np.arange(len(feature)) % 2 == 0
    majority = np.array([np.bincount(labels[fit & (b == k)], minlength=3).argmax()
                         for k in range(bins)])
    return float(np.mean(majority[b[~fit]] == labels[~fit]))


SHORTCUTS = {
    "mean": np.mean,
    "std": np.std,
    "length": len,
    "first_minus_last": lambda x: x[0] - x[-1],
}


def test_single_global_statistics_are_near_chance(per_task):
    for task, samples in per_task.items():
        labels = _labels(samples)
        for name, stat in SHORTCUTS.items():
            if task == "trend" and name == "first_minus_last":
                continue  # that is what a trend is
            feature = np.array([stat(s.series[0].astype(np.float64)) for s in samples])
            assert _binned_accuracy(feature, labels) < 0.47, (task, name)
    # the spike is not simply the raw extreme: the trend's ends usually are
    outliers = per_task["outlier"]
    where = np.array([np.argmax(np.abs(x - np.median(x))) / len(x)
                      for x in (s.series[0] for s in outliers)])
    assert _binned_accuracy(where, _labels(outliers)) < 0.66
