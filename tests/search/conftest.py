import pytest
import torch

from sdt.search.toy import ToyPolicy

torch.set_num_threads(1)


@pytest.fixture
def toy():
    return ToyPolicy.random(vocab=3, horizon=3, seed=1)
