"""Helpers shared by the search tests (a module of its own: ``conftest`` is not importable
under one name from two test folders)."""

import numpy as np
from pydantic import TypeAdapter

from sdt.config.search import SearchSection

LAM = 1.0


def count_ones(ys):
    """The toy reward: 1.5 per token 1 (pi* spread over several sequences for toy seed 1)."""
    return np.array([1.5 * sum(1 for t in y if t == 1) for y in ys], dtype=float)


def search_cfg(**kw):
    return TypeAdapter(SearchSection).validate_python(kw)
