import numpy as np
import pytest
import torch

from sdt.config.schema import TrainConfig
from sdt.data.sample import Sample
from sdt.model import build_model

SMALL = {"tiny": {"hidden_size": 32, "num_layers": 2, "num_heads": 2, "intermediate_size": 64},
         "encoder": {"dim": 16, "num_layers": 1, "num_heads": 2, "max_patches": 64}}


def make_samples(n: int = 6, seed: int = 0) -> list[Sample]:
    """Hand-made samples of different lengths and series counts."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        k = 1 + i % 2
        series = [rng.normal(size=int(rng.integers(9, 40))) * (i + 1) + i for _ in range(k)]
        out.append(Sample(f"Sample {i}: look.", series, [f"Axis {j}" for j in range(k)],
                          "Options: (a) up (b) down. Answer:", " (a)" if i % 2 else " (b)",
                          {"gold": "a" if i % 2 else "b", "task": "toy"}))
    return out


@pytest.fixture
def samples():
    return make_samples()


@pytest.fixture
def model(samples):
    torch.manual_seed(0)
    cfg = TrainConfig.model_validate({"model": SMALL, "training": {"patch_size": 4}})
    m = build_model(cfg, [s.pre_prompt + s.post_prompt for s in samples])
    return m.eval()
