"""Whole runs of the trainer on ~16 tiny samples: resume, NaN, out of memory, seeding,
init_from, predictions."""

import json

import pytest
import torch
from trainkit import make_ctx, small_config

from sdt.context import RunContext
from sdt.model import TSLM, load_trained
from sdt.runner import execute
from sdt.train import checkpoint as ckpt_lib
from sdt.train.experiment import run


class Interrupt(Exception):
    pass


class StopAfterEpoch1(RunContext):
    """A run killed right after epoch 1 ended (its checkpoint is on disk)."""

    def log(self, metrics, step=None):
        super().log(metrics, step)
        if metrics.get("epoch") == 1 and "train/epoch_loss" in metrics:
            raise Interrupt


def weights(run_dir, which="last"):
    return ckpt_lib.load(run_dir / "checkpoints" / f"{which}.pt")["model"]


def test_resume_is_bit_for_bit(tmp_path):
    cfg = small_config(tmp_path, training={"num_epochs": 2, "lr_schedule": "linear"},
                       model={"lora": {"enabled": False}})
    full = make_ctx(tmp_path, "full")
    run(cfg, full)
    cut = StopAfterEpoch1(run_id="cut", run_dir=tmp_path / "cut", progress=False)
    with pytest.raises(Interrupt):
        run(cfg, cut)
    assert ckpt_lib.load(tmp_path / "cut/checkpoints/last.pt")["state"]["epoch"] == 1
    out = run(cfg, make_ctx(tmp_path, "cut", resume=True))
    assert out["epochs"] == 2 and out["steps"] == 8
    a, b = weights(tmp_path / "full"), weights(tmp_path / "cut")
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_same_seed_same_weights_other_seed_differs(tmp_path):
    cfg = small_config(tmp_path, training={"num_epochs": 1, "max_steps": 2})
    run(cfg, make_ctx(tmp_path, "a"))
    run(cfg, make_ctx(tmp_path, "b"))
    run(cfg.model_copy(update={"seed": 1}), make_ctx(tmp_path, "c"))
    a, b, c = (weights(tmp_path / n) for n in "abc")
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not all(torch.equal(a[k], c[k]) for k in a if k in c and a[k].shape == c[k].shape)


def test_nan_loss_stops_within_a_step_with_advice(tmp_path):
    cfg = small_config(tmp_path, training={"lr_encoder": 1e3, "lr_projector": 1e3,
                                           "lr_base": 1e3, "grad_clip_norm": None})
    outcome = execute(run, cfg, make_ctx(tmp_path))
    assert outcome.state == "nan"
    assert outcome.step is not None and outcome.step <= 3
    assert f"step {outcome.step}" in outcome.error
    assert "grad_clip_norm 0.5" in outcome.error and "batch_size 2" in outcome.error


def test_out_of_memory_halves_batch_and_doubles_accumulation(tmp_path, monkeypatch):
    real, calls = TSLM.forward, []

    def flaky(self, samples):
        calls.append(len(samples))
        if len(calls) == 2:  # the second step's first micro-batch
            raise torch.OutOfMemoryError("simulated")
        return real(self, samples)

    monkeypatch.setattr(TSLM, "forward", flaky)
    cfg = small_config(tmp_path, training={"num_epochs": 1, "batch_size": 4})
    out = run(cfg, make_ctx(tmp_path))
    assert (out["final_batch_size"], out["final_grad_accumulation"]) == (2, 2)
    assert calls[:5] == [4, 4, 2, 2, 2] and out["steps"] == 4  # step 2 retried, halved
    rows = [json.loads(x) for x in (tmp_path / "run/metrics.jsonl").read_text().splitlines()]
    assert any(r.get("oom/batch_size") == 2 for r in rows)


def test_out_of_memory_at_batch_one_gives_state_oom(tmp_path, monkeypatch):
    def always(self, samples):
        raise torch.OutOfMemoryError("simulated")

    monkeypatch.setattr(TSLM, "forward", always)
    cfg = small_config(tmp_path, training={"batch_size": 2})
    outcome = execute(run, cfg, make_ctx(tmp_path))
    assert outcome.state == "oom" and outcome.step == 1


def test_init_from_keeps_lora_and_tokenizer(tmp_path):
    first = small_config(tmp_path, training={"num_epochs": 1, "stage": "stage1_mcq"},
                         model={"lora": {"enabled": True, "target_modules": ["q_proj"]}})
    run(first, make_ctx(tmp_path, "s1"))
    prev = load_trained(tmp_path / "s1")
    lora_b = [v for k, v in prev.lm.state_dict().items() if "lora_B" in k]
    assert lora_b and any(v.abs().sum() > 0 for v in lora_b)  # adapters trained
    merged = prev.lm.merge_and_unload().state_dict()
    second = small_config(tmp_path, training={"num_epochs": 1, "max_steps": 1,
                                              "init_from": str(tmp_path / "s1")})
    ctx = make_ctx(tmp_path, "s2")
    seen = {}
    real = TSLM.forward

    def spy(self, samples):
        seen.setdefault("lm", {k: v.clone() for k, v in self.lm.state_dict().items()})
        return real(self, samples)

    TSLM.forward = spy
    try:
        run(second, ctx)
    finally:
        TSLM.forward = real
    start = seen["lm"]
    assert all(torch.equal(start[k], merged[k]) for k in merged)  # LoRA merged, not dropped
    assert load_trained(tmp_path / "s2").hparams["tokenizer_json"] == \
        prev.hparams["tokenizer_json"]


def test_predictions_and_loaded_model_agree(tmp_path):
    cfg = small_config(tmp_path, training={"num_epochs": 1},
                       evaluation={"max_new_tokens": 6})
    out = run(cfg, make_ctx(tmp_path))
    rows = [json.loads(x) for x in (tmp_path / "run/predictions.jsonl").read_text().splitlines()]
    assert len(rows) == 4 and {"prediction", "gold", "correct", "task"} <= rows[0].keys()
    assert out["test_accuracy"] == sum(r["correct"] for r in rows) / 4
    from sdt.data import build_dataset

    model = load_trained(tmp_path / "run")
    test = build_dataset(cfg.dataset, "test", cfg.seed)
    assert model.generate(test, 6) == [r["prediction"] for r in rows]


def test_curriculum_stage2_reads_jsonl_and_starts_from_stage1(tmp_path):
    import numpy as np

    from sdt.data.sample import Sample

    rng = np.random.default_rng(0)
    path = tmp_path / "captions.jsonl"
    with open(path, "w") as fh:
        for i in range(12):
            s = Sample("Describe the series.", [rng.normal(size=40)], ["The series"],
                       "Caption:", "it rises" if i % 2 else "it falls")
            fh.write(json.dumps(s.to_json()) + "\n")
    run(small_config(tmp_path, training={"num_epochs": 1, "stage": "stage1_mcq"}),
        make_ctx(tmp_path, "stage1"))
    cfg = small_config(
        tmp_path, dataset={"name": "jsonl", "train_path": str(path), "test_path": str(path),
                           "num_samples_val": 1, "num_samples_test": 4},
        training={"num_epochs": 1, "stage": "stage2_captioning",
                  "init_from": str(tmp_path / "stage1")},
        evaluation={"metrics": ["loss"]})
    out = run(cfg, make_ctx(tmp_path, "stage2"))
    assert "test_loss" in out and "test_accuracy" not in out
    assert not (tmp_path / "stage2/predictions.jsonl").exists()  # loss only: no answers
