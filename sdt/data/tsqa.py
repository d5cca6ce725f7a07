"""Synthetic time-series multiple choice (TSQA): four tasks x three options ``(a)(b)(c)``.

Every series mixes the component a task asks about with distractors (another trend, a season,
noise, a random scale and offset), so no task is answerable from one global statistic (mean,
std, length). Labels are balanced exactly per task, so the prompt text alone gives 1/3.

Option order (``dataset.option_order``):

- ``fixed`` (default): each task always shows its options in the same order (``(a) increasing
  (b) decreasing (c) flat``), so a letter names a label. The prompt of a task is one constant
  text and the three gold letters are equally frequent under it: text alone still gives 1/3.
- ``shuffled``: the order is drawn per sample and the gold letter is balanced independently of
  the label, so a model must also match the label word to its letter. A randomly initialised
  tiny LM does not learn that matching in a few thousand steps; it needs a pretrained LM or
  much longer training.

The tasks, each decidable from the series by a simple scale-invariant feature:

- ``trend``: total change over the window (least-squares line) is ``+3..6``, ``-3..6`` or
  ``|.| <= 0.3`` units, against noise 0.2-0.6 and a season of amplitude up to 1 with at least
  2.5 cycles (whose linear-fit bias stays below one unit).
- ``volatility``: noise std ramps up or down by a factor 8-12 over the window (the first and
  last thirds differ by >= 4x) or stays constant; a slow season and a trend distract.
- ``season``: the period of the cycle is short (5-8 steps), medium (11-17) or long (24-36),
  independent of the length; a trend and noise distract.
- ``outlier``: one spike of 6-10 noise stds (sign random) in the first, middle or last third;
  the trend changes by 1.5-3 spike heights, so the raw extreme is mostly at an end, not at
  the spike.

Sample ``i`` of a split is drawn from its own generator seeded by ``(seed, split, i)``, so a
split does not depend on the other splits' sizes and a smaller split is a prefix of a larger
one. Task, label and gold letter cycle so that all three are balanced exactly (up to the
remainder): sample ``i`` has task ``tasks[i % T]``; fixed order gives it label
``(i // T) % 3``, shuffled order the (label, letter) combination ``(i // T) % 9`` with the two
remaining options ordered by a coin flip.
"""

from __future__ import annotations

import numpy as np

from sdt.data._rng import SPLIT_CODE, stream
from sdt.data.sample import Sample

LETTERS = ("a", "b", "c")
OPTION_ORDERS = ("fixed", "shuffled")

# task -> (question, option texts in label order)
TASKS: dict[str, tuple[str, tuple[str, str, str]]] = {
    "trend": ("Question: what is the trend of the series?", ("increasing", "decreasing", "flat")),
    "volatility": ("Question: how does the noise level change?",
                   ("increases", "decreases", "constant")),
    "season": ("Question: how long is the period of the cycle?", ("short", "medium", "long")),
    "outlier": ("Question: where is the spike?", ("start", "middle", "end")),
}
SERIES_TEXT = "The series"
SEASON_PERIODS = ((5.0, 8.0), (11.0, 17.0), (24.0, 36.0))
_TAG = 0x75A


def _season(rng, t_steps: np.ndarray, period: float, amplitude: float) -> np.ndarray:
    return amplitude * np.sin(2 * np.pi * t_steps / period + rng.uniform(0, 2 * np.pi))


def _trend(rng, n, label):
    u = np.linspace(0.0, 1.0, n)
    change = (rng.uniform(3, 6), -rng.uniform(3, 6), rng.uniform(-0.3, 0.3))[label]
    sigma = rng.uniform(0.2, 0.6)
    cycles = rng.uniform(2.5, 10)
    return (change * u + _season(rng, np.arange(n), n / cycles, rng.uniform(0, 1))
            + sigma * rng.standard_normal(n))


def _volatility(rng, n, label):
    u = np.linspace(0.0, 1.0, n)
    sigma = rng.uniform(0.3, 1.0)
    ratio = rng.uniform(8, 12)
    exponent = (u - 0.5, 0.5 - u, np.zeros(n))[label]
    cycles = rng.uniform(1, 3)
    return (sigma * ratio**exponent * rng.standard_normal(n)
            + rng.uniform(-2, 2) * sigma * u
            + _season(rng, np.arange(n), n / cycles, rng.uniform(0, 1) * sigma))


def _period_season(rng, n, label):
    u = np.linspace(0.0, 1.0, n)
    period = rng.uniform(*SEASON_PERIODS[label])
    return (_season(rng, np.arange(n), period, 1.0) + rng.uniform(-2, 2) * u
            + rng.uniform(0.1, 0.35) * rng.standard_normal(n))


def _outlier(rng, n, label):
    u = np.linspace(0.0, 1.0, n)
    sigma = rng.uniform(0.2, 0.6)
    height = rng.uniform(6, 10) * sigma
    change = rng.choice((-1.0, 1.0)) * rng.uniform(1.5, 3) * height
    x = (sigma * rng.standard_normal(n) + change * u
         + _season(rng, np.arange(n), n / rng.uniform(1, 4), rng.uniform(0, 1) * sigma))
    margin = max(2, n // 30)
    lo, hi = label * n // 3 + margin, (label + 1) * n // 3 - margin
    x[rng.integers(lo, hi)] += height * rng.choice((-1.0, 1.0))
    return x


_GENERATORS = {"trend": _trend, "volatility": _volatility, "season": _period_season,
               "outlier": _outlier}


def shuffled_order(label: int, letter: int, rng: np.random.Generator) -> list[int]:
    """Option indices in letter order with ``label`` at ``letter``; the other two options are
    ordered by a coin flip."""
    others = [k for k in range(3) if k != label]
    if rng.random() < 0.5:
        others.reverse()
    return others[:letter] + [label] + others[letter:]


def make_sample(task: str, label: int, order: list[int], length: int,
                rng: np.random.Generator) -> Sample:
    """One question about a series of class ``label``; ``order[j]`` is the option shown at
    letter ``j`` (``[0, 1, 2]``: the fixed order).

    The series is ``offset + scale * components`` with ``scale`` log-uniform in [0.1, 1000]
    and ``offset`` uniform in ``scale * [-10, 10]``.
    """
    question, options = TASKS[task]
    letter = order.index(label)
    scale = 10 ** rng.uniform(-1, 3)
    series = rng.uniform(-10, 10) * scale + scale * _GENERATORS[task](rng, length, label)
    shown = " ".join(f"({LETTERS[j]}) {options[k]}" for j, k in enumerate(order))
    return Sample(
        pre_prompt=question,
        series=[series],
        series_text=[SERIES_TEXT],
        post_prompt=f"Options: {shown}. Answer:",
        answer=f" ({LETTERS[letter]})",
        meta={"task": task, "gold": LETTERS[letter], "label": options[label],
              "options": [options[k] for k in order]},
    )


def generate(n: int, split: str, seed: int, tasks=tuple(TASKS), min_length: int = 64,
             max_length: int = 512, option_order: str = "fixed") -> list[Sample]:
    """``n`` samples of ``split``; deterministic in ``(seed, split)``, prefix-stable in ``n``.
    ``option_order`` is ``fixed`` or ``shuffled`` (see the module docstring)."""
    if option_order not in OPTION_ORDERS:
        raise ValueError(f"option_order must be one of {OPTION_ORDERS}, got {option_order!r}")
    if split not in SPLIT_CODE:
        raise ValueError(f"split must be one of {sorted(SPLIT_CODE)}, got {split!r}")
    unknown = [t for t in tasks if t not in TASKS]
    if unknown or not tasks:
        raise ValueError(f"tasks must be a non-empty subset of {list(TASKS)}, got {list(tasks)}")
    out = []
    for i in range(n):
        rng = stream(_TAG, seed, split, i)
        length = int(rng.integers(min_length, max_length + 1))
        if option_order == "fixed":
            label, order = (i // len(tasks)) % 3, [0, 1, 2]
        else:
            combo = (i // len(tasks)) % 9
            label, order = combo % 3, shuffled_order(combo % 3, combo // 3, rng)
        out.append(make_sample(tasks[i % len(tasks)], label, order, length, rng))
    return out


def build(cfg, split: str, seed: int) -> list[Sample]:
    """The registry entry: a :class:`sdt.config.schema.TSQADataset` split."""
    n = getattr(cfg, f"num_samples_{split}")
    return generate(n, split, seed, tuple(cfg.tasks), cfg.min_length, cfg.max_length,
                    cfg.option_order)
