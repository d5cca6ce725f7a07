"""Every config and sweep file shipped in the repository loads, validates and expands."""

from __future__ import annotations

from pathlib import Path

import pytest

from sdt.config import load_config, read_config_dict
from sdt.config.schema import TrainConfig

ROOT = Path(__file__).resolve().parents[2]
TRAIN = sorted(p for p in (ROOT / "experiments").rglob("*.yaml") if "search" not in p.parts)
SEARCH = sorted((ROOT / "experiments" / "search").glob("*.yaml"))
SWEEPS = sorted((ROOT / "sweeps").glob("*.yaml"))

# The seed guide's five device configs, at the seed's values.
SEED_VALUES = {
    "mps/quick_test.yaml": {"num_epochs": 2, "batch_size": 4},
    "mps/full_training.yaml": {"num_epochs": 30, "batch_size": 8},
    "mps/conservative.yaml": {"num_epochs": 30, "batch_size": 2, "lr_encoder": 1e-4,
                              "lr_projector": 5e-5, "grad_clip_norm": 0.5,
                              "warmup_fraction": 0.05},
    "cuda/standard.yaml": {"num_epochs": 30, "batch_size": 16},
    "cpu/standard.yaml": {"num_epochs": 30, "batch_size": 2},
}


def test_the_shipped_files_are_found():
    assert len(TRAIN) >= 10 and SEARCH and len(SWEEPS) >= 3


@pytest.mark.parametrize("path", TRAIN, ids=[str(p.relative_to(ROOT)) for p in TRAIN])
def test_training_config_validates(path):
    assert isinstance(load_config(path, schema=TrainConfig), TrainConfig)


@pytest.mark.parametrize("rel,values", SEED_VALUES.items())
def test_seed_device_configs_keep_the_seed_values(rel, values):
    cfg = load_config(ROOT / "experiments" / rel, schema=TrainConfig)
    for key, value in values.items():
        assert getattr(cfg.training, key) == pytest.approx(value), key
    assert cfg.model.llm_id == "meta-llama/Llama-3.2-1B"
    assert cfg.device.type == rel.split("/")[0]
    if rel == "cuda/standard.yaml":
        assert cfg.training.mixed_precision != "no"
    if rel == "cpu/standard.yaml":
        assert cfg.model.gradient_checkpointing


@pytest.mark.parametrize("path", SEARCH, ids=[p.name for p in SEARCH])
def test_search_config_validates(path):
    from sdt.config.search_run import SearchRunConfig

    cfg = load_config(path, schema=SearchRunConfig)
    assert cfg.search.method


@pytest.mark.parametrize("path", SWEEPS, ids=[p.name for p in SWEEPS])
def test_sweep_expands(path):
    from sdt.sweep.expand import expand
    from sdt.sweep.spec import load_sweep

    spec = load_sweep(path)
    plan = expand(spec)
    assert plan.runs or plan.adaptive
    assert len({r.run_id for r in plan.runs}) == len(plan.runs)
    if plan.adaptive:  # an Optuna study's sampler, pruner, objectives and keys are checked
        from sdt.sweep.optuna_study import check_study

        for name in plan.adaptive:
            check_study(spec, name)


def test_tiny_configs_do_not_need_a_hub():
    for path in TRAIN:
        data, _ = read_config_dict(path)
        if "tiny" in path.name:
            assert data.get("model", {}).get("llm_id", "tiny") == "tiny", path
