import numpy as np
import pytest
import torch
from pydantic import TypeAdapter

from sdt.config.search import SearchSection
from sdt.search.toy import ToyPolicy

torch.set_num_threads(1)

LAM = 1.0


def count_ones(ys):
    """The toy reward: 1.5 per token 1 (pi* spread over several sequences for toy seed 1)."""
    return np.array([1.5 * sum(1 for t in y if t == 1) for y in ys], dtype=float)


def search_cfg(**kw):
    return TypeAdapter(SearchSection).validate_python(kw)


@pytest.fixture
def toy():
    return ToyPolicy.random(vocab=3, horizon=3, seed=1)
