"""Human activity recognition on BasicMotions (real recordings from the installed aeon package).

Each recording (6 channels x 100 steps: accelerometer x/y/z then gyroscope x/y/z; 40 train and
40 test recordings, ten per activity) becomes a four-option question. ``option_order: fixed``
(default) always shows ``(a) standing (b) walking (c) running (d) badminton``; ``shuffled``
draws the order per sample (see :mod:`sdt.data.tsqa` for why a random tiny LM needs the fixed
one). val is a seeded, class-balanced subset of the package's train recordings and train the
rest; test is the package's test set. The configured sizes are upper bounds; when a split
is capped, a seeded class-balanced subset is kept. ``crops: N`` adds, to train only, N
seeded random windows of each train recording (``crop_min_fraction`` to all of its length);
32 recordings are few for a model that starts from nothing.
"""

from __future__ import annotations

import functools

import numpy as np

from sdt.data._rng import stream
from sdt.data.sample import Sample
from sdt.errors import UserError

ACTIVITIES = ("standing", "walking", "running", "badminton")
LETTERS = ("a", "b", "c", "d")
SENSORS = {"accelerometer": 0, "gyroscope": 3}  # first channel of each sensor
AXES = ("x", "y", "z")
QUESTION = "Question: which activity is this?"
_TAG = 0x4A7


@functools.lru_cache(maxsize=2)
def load_recordings(part: str) -> tuple[np.ndarray, np.ndarray]:
    """``(X[n, 6, 100], labels[n])`` of the package's ``part`` ("train" or "test")."""
    try:
        from aeon.datasets import load_basic_motions
    except ImportError as exc:
        raise UserError("the har data set needs aeon: pip install 'sdt[data]'") from exc
    x, y = load_basic_motions(split=part)
    x = np.asarray(x, dtype=np.float64)
    x.setflags(write=False)
    return x, np.asarray([str(v) for v in y])


def balanced_subset(labels: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` indices (sorted) taking the classes in turn, each class in a seeded order."""
    rank = np.empty(len(labels), dtype=np.int64)
    for label in np.unique(labels):
        where = np.flatnonzero(labels == label)
        rank[rng.permutation(where)] = np.arange(len(where))
    order = np.lexsort((labels, rank))
    return np.sort(order[:n])


def split_indices(split: str, n: int, n_val: int, seed: int) -> tuple[str, np.ndarray]:
    """Which package part and which of its recordings make up ``split`` (at most ``n``)."""
    part = "test" if split == "test" else "train"
    _, labels = load_recordings(part)
    rng = stream(_TAG, seed)
    if part == "train":
        val = balanced_subset(labels, n_val, rng)
        if split == "val":
            return part, val[:n]
        rest = np.setdiff1d(np.arange(len(labels)), val)
        keep = balanced_subset(labels[rest], min(n, len(rest)), rng)
        return part, rest[keep]
    return part, balanced_subset(labels, min(n, len(labels)), rng)


def make_sample(channels: np.ndarray, label: str, sensors, rng: np.random.Generator | None,
                **meta) -> Sample:
    """The question for one recording ``channels[6, steps]``; ``sensors`` picks the channels
    (three axes each). ``rng`` shuffles the options; None keeps :data:`ACTIVITIES` order."""
    series, captions = [], []
    for sensor in sensors:
        for k, axis in enumerate(AXES):
            series.append(channels[SENSORS[sensor] + k])
            captions.append(f"{sensor} {axis}-axis")
    perm = range(len(ACTIVITIES)) if rng is None else rng.permutation(len(ACTIVITIES))
    order = [ACTIVITIES[k] for k in perm]
    gold = LETTERS[order.index(label)]
    shown = " ".join(f"({letter}) {name}" for letter, name in zip(LETTERS, order))
    return Sample(pre_prompt=QUESTION, series=series, series_text=captions,
                  post_prompt=f"Options: {shown}. Answer:", answer=f" ({gold})",
                  meta={"task": "har", "gold": gold, "label": label, "options": order, **meta})


def build(cfg, split: str, seed: int) -> list[Sample]:
    """The registry entry: a :class:`sdt.config.schema.HARDataset` split."""
    part, idx = split_indices(split, getattr(cfg, f"num_samples_{split}"),
                              cfg.num_samples_val, seed)
    x, labels = load_recordings(part)
    shuffle = cfg.option_order == "shuffled"
    out = [make_sample(x[i], labels[i], cfg.sensors,
                       stream(_TAG, seed, split, int(i)) if shuffle else None,
                       recording=f"{part}/{int(i)}")
           for i in idx]
    if split == "train":
        for i in idx:
            for c in range(cfg.crops):
                rng = stream(_TAG ^ 0xC, seed, int(i), c)  # crops: their own stream
                steps = x.shape[-1]
                n = int(rng.integers(round(cfg.crop_min_fraction * steps), steps + 1))
                start = int(rng.integers(0, steps - n + 1))
                out.append(make_sample(x[i][:, start:start + n], labels[i], cfg.sensors,
                                       rng if shuffle else None, recording=f"{part}/{int(i)}",
                                       crop=[start, start + n]))
    return out
