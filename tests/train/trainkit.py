"""Helpers shared by the trainer tests (a module of its own: ``conftest`` is not importable
under one name from two test folders)."""

from sdt.config.schema import TrainConfig
from sdt.context import RunContext

SMALL_MODEL = {
    "tiny": {"hidden_size": 32, "num_layers": 1, "num_heads": 2, "intermediate_size": 64},
    "encoder": {"dim": 16, "num_layers": 1, "num_heads": 2, "max_patches": 32},
}


def small_config(tmp_path, **sections) -> TrainConfig:
    """A run of a few steps on ~16 short TSQA samples; ``sections`` override (deep merge)."""
    data = {
        "seed": 0,
        "dataset": {"name": "tsqa", "num_samples_train": 16, "num_samples_val": 4,
                    "num_samples_test": 4, "min_length": 32, "max_length": 64},
        "model": SMALL_MODEL,
        "training": {"num_epochs": 2, "batch_size": 4, "lr_encoder": 1e-3,
                     "lr_projector": 1e-3, "lr_base": 1e-3, "early_stopping_patience": None},
        "device": {"type": "cpu"},
        "evaluation": {"metrics": ["accuracy", "loss"]},
        "tracking": {"wandb": {"mode": "disabled"}},
        "output_dir": str(tmp_path / "runs"),
    }
    for key, value in sections.items():
        merge = isinstance(value, dict) and value.get("name", data[key].get("name")) == \
            data[key].get("name") if isinstance(data[key], dict) else False
        data[key] = {**data[key], **value} if merge else value
    return TrainConfig.model_validate(data)


def make_ctx(tmp_path, name="run", **kw) -> RunContext:
    return RunContext(run_id=name, run_dir=tmp_path / name, progress=False, **kw)
