"""Data sets by name: ``build_dataset(dataset_cfg, split, seed) -> list[Sample]``.

Each data set is one module with ``build(cfg, split, seed)``; the registry maps the config's
``name`` to it and imports it only when asked (aeon and statsmodels load lazily). Splits are
disjoint and deterministic given ``(seed, split)``; their real sizes are logged (HAR and the
real forecast series may hold fewer samples than asked).
"""

from __future__ import annotations

import importlib
import logging

from sdt.data._rng import SPLIT_CODE
from sdt.data.sample import Sample

SPLITS = tuple(SPLIT_CODE)  # ("train", "val", "test")

# name -> module holding ``build(cfg, split, seed)``
BUILDERS: dict[str, str] = {
    "tsqa": "sdt.data.tsqa",
    "har": "sdt.data.har",
    "forecast": "sdt.data.forecast",
    "jsonl": "sdt.data.jsonl",
}

log = logging.getLogger(__name__)


def build_dataset(dataset_cfg, split: str, seed: int) -> list[Sample]:
    """The samples of one split of the data set ``dataset_cfg`` (a validated config section)."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    name = dataset_cfg.name
    if name not in BUILDERS:
        raise ValueError(f"unknown data set {name!r}; known: {sorted(BUILDERS)}")
    samples = importlib.import_module(BUILDERS[name]).build(dataset_cfg, split, seed)
    log.info("data set %s split %s: %d samples", name, split, len(samples))
    return samples


__all__ = ["BUILDERS", "SPLITS", "Sample", "build_dataset"]
