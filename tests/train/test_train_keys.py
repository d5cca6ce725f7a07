"""Every training key changes something observable (table-driven)."""

import json

import pytest
import torch
from trainkit import make_ctx, small_config

from sdt.errors import UserError
from sdt.model import build_model
from sdt.train.device import autocast_dtype, resolve_device
from sdt.train.experiment import TrainState, improves, run
from sdt.train.optim import build_optimizer, build_scheduler


def _model(tmp_path, **sections):
    cfg = small_config(tmp_path, **sections)
    return cfg, build_model(cfg)


def _groups(tmp_path, **training):
    cfg, model = _model(tmp_path, training=training)
    return {g["name"]: g for g in build_optimizer(model, cfg.training).param_groups}


def _lrs(tmp_path, steps, **training):
    cfg, model = _model(tmp_path, training=training)
    opt = build_optimizer(model, cfg.training)
    sched = build_scheduler(opt, cfg.training, steps)
    out = []
    for _ in range(steps):
        out.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return out


def _rows(run_dir):
    return [json.loads(x) for x in (run_dir / "metrics.jsonl").read_text().splitlines()]


@pytest.mark.parametrize("key,value,group", [
    ("lr_encoder", 3e-4, "encoder"), ("lr_projector", 4e-4, "projector"),
    ("lr_base", 5e-4, "lm")])
def test_learning_rate_per_group(tmp_path, key, value, group):
    groups = _groups(tmp_path, **{key: value})
    assert groups[group]["lr"] == value and groups[f"{group}_no_decay"]["lr"] == value
    assert all(g["lr"] != value for n, g in groups.items() if not n.startswith(group))


def test_weight_decay_skips_norms_and_biases(tmp_path):
    groups = _groups(tmp_path, weight_decay=0.07)
    for name, g in groups.items():
        assert g["weight_decay"] == (0.0 if name.endswith("_no_decay") else 0.07)
        assert all((p.ndim < 2) == name.endswith("_no_decay") for p in g["params"])


def test_schedule_and_warmup(tmp_path):
    base = dict(lr_encoder=1.0, lr_projector=1.0, lr_base=1.0)
    assert _lrs(tmp_path, 4, lr_schedule="constant", warmup_fraction=0.0, **base) == [1.0] * 4
    assert _lrs(tmp_path, 4, lr_schedule="linear", warmup_fraction=0.0, **base) == \
        [1.0, 0.75, 0.5, 0.25]
    assert _lrs(tmp_path, 4, lr_schedule="constant", warmup_fraction=0.5, **base) == \
        [1 / 3, 2 / 3, 1.0, 1.0]


@pytest.mark.parametrize("section,key,value,check", [
    ("training", "patch_size", 8, lambda m: m.encoder.patch_size == 8),
    ("model", "gradient_checkpointing", True, 
     lambda m: any(getattr(x, "gradient_checkpointing", False) for x in m.lm.modules())),
    ("model", "freeze_lm", True,
     lambda m: not any(p.requires_grad for p in m.lm.parameters())),
    ("model", "lora", {"enabled": True},
     lambda m: {n for n, p in m.lm.named_parameters() if p.requires_grad}
     and all("lora_" in n for n, p in m.lm.named_parameters() if p.requires_grad)),
    ("model", "projector", "linear", lambda m: isinstance(m.projector, torch.nn.Linear)),
    ("model", "ignore_series", True, lambda m: m.ignore_series),
    ("model", "encoder", {"series_features": False}, lambda m: m.encoder.globals is None),
])
def test_model_keys(tmp_path, section, key, value, check):
    _, model = _model(tmp_path, **{section: {key: value}})
    assert check(model)
    _, default = _model(tmp_path)
    assert not check(default)


def test_accuracy_ties_go_to_the_lower_validation_loss():
    state = TrainState()
    assert improves(state, 0.5, 0.9, "max")
    state.best, state.best_loss = 0.5, 0.9
    assert improves(state, 0.75, 2.0, "max")          # higher accuracy wins whatever the loss
    assert not improves(state, 0.25, 0.1, "max")      # lower accuracy loses whatever the loss
    assert improves(state, 0.5, 0.8, "max")           # tie, lower loss
    assert not improves(state, 0.5, 0.9, "max")       # tie, same loss: not an improvement
    assert not improves(state, 0.5, None, "max")      # no loss measured: ties keep the first
    state.best, state.best_loss = 0.3, None           # monitoring the loss itself (min)
    assert improves(state, 0.2, None, "min") and not improves(state, 0.3, None, "min")


def test_device_and_precision():
    assert resolve_device("cpu").type == "cpu"
    if not torch.cuda.is_available():
        with pytest.raises(RuntimeError, match="cuda"):
            resolve_device("cuda")
    assert autocast_dtype("no", torch.device("cpu")) is None
    assert autocast_dtype("bf16", torch.device("cpu")) == torch.bfloat16


def test_stage_is_explicit_and_checked(tmp_path):
    with pytest.raises(UserError, match="jsonl"):
        run(small_config(tmp_path, training={"stage": "stage2_captioning"}),
            make_ctx(tmp_path))


# Keys observed through short runs: (overrides, check(metrics, rows, run_dir))
RUNS = {
    "batch_size": ({"training": {"batch_size": 8}}, lambda m, r, d: m["steps"] == 4),
    "grad_accumulation": ({"training": {"grad_accumulation": 2}},
                          lambda m, r, d: m["steps"] == 4),
    "num_epochs": ({"training": {"num_epochs": 1}}, lambda m, r, d: m["epochs"] == 1),
    "max_steps": ({"training": {"max_steps": 3}},
                  lambda m, r, d: m["steps"] == 3 and m["epochs"] == 1),
    "eval_every": ({"training": {"num_epochs": 3, "eval_every": 2}},
                   lambda m, r, d: [x["epoch"] for x in r if "val/loss" in x] == [2, 3]),
    "save_every": ({"training": {"num_epochs": 3, "save_every": 2}},
                   lambda m, r, d: [x["checkpoint/last"] for x in r if "checkpoint/last" in x]
                   == [2, 3]),
    "early_stopping_patience": (
        {"training": {"num_epochs": 5, "early_stopping_patience": 1, "lr_encoder": 1e-12,
                      "lr_projector": 1e-12, "lr_base": 1e-12},
         "evaluation": {"metrics": ["loss"]}},
        lambda m, r, d: m["epochs"] < 5),
    "grad_clip_norm": ({"training": {"grad_clip_norm": 1e-6, "num_epochs": 1}},
                       lambda m, r, d: None),  # compared below
    "num_samples_train": ({"dataset": {"num_samples_train": 8}},
                          lambda m, r, d: r[0]["data/train"] == 8 and m["steps"] == 4),
    "metrics": ({"evaluation": {"metrics": ["loss"]}},
                lambda m, r, d: "test_loss" in m and "test_accuracy" not in m),
    "save_predictions": ({"evaluation": {"save_predictions": False}},
                         lambda m, r, d: not (d / "predictions.jsonl").exists()),
    "max_new_tokens": ({"evaluation": {"max_new_tokens": 1}},
                       lambda m, r, d: all(len(json.loads(x)["prediction"]) <= 1 for x in
                                           (d / "predictions.jsonl").read_text().splitlines())),
    "mixed_precision": ({"training": {"mixed_precision": "bf16", "num_epochs": 1}},
                        lambda m, r, d: None),  # compared below
}


@pytest.fixture(scope="module")
def baseline(tmp_path_factory):
    torch.set_num_threads(1)
    tmp = tmp_path_factory.mktemp("base")
    out = run(small_config(tmp, training={"num_epochs": 1}), make_ctx(tmp, "base"))
    return out, tmp / "base"


@pytest.mark.parametrize("name", sorted(RUNS))
def test_run_keys(tmp_path, name, baseline):
    overrides, check = RUNS[name]
    cfg = small_config(tmp_path, **overrides)
    ctx = make_ctx(tmp_path, name)
    metrics = run(cfg, ctx)
    rows = _rows(ctx.run_dir)
    if name in ("grad_clip_norm", "mixed_precision"):  # same run as the baseline otherwise
        assert metrics["test_loss"] != baseline[0]["test_loss"]
    else:
        assert check(metrics, rows, ctx.run_dir), (name, metrics)
