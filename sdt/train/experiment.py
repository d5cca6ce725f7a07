"""The training run, top to bottom: config -> data -> model -> optimizer -> loop -> eval ->
checkpoint. ``run(config, ctx)`` is the run function of ``sdt-sweep train`` and of sweeps.

One optimizer step consumes a *step group* of ``batch_size * grad_accumulation`` samples,
split into micro-batches of ``batch_size``. Out of memory halves the micro-batch and doubles
the accumulation, so the step group (and with it the data order and the schedule) stays the
same. Checkpoints are written at epoch ends; ``ctx.resume`` continues from ``last.pt``.
"""

from __future__ import annotations

import logging
import math
import random
import time
from dataclasses import asdict, dataclass

import numpy as np
import torch

from sdt.context import NanLoss, OutOfMemory, RunContext
from sdt.data import build_dataset
from sdt.errors import UserError
from sdt.io import append_jsonl, atomic_write_text
from sdt.model.build import build_from_hparams, hparams_from_config, load_trained
from sdt.model.lm import merge_lora
from sdt.train import checkpoint as ckpt_lib
from sdt.train import device as device_lib
from sdt.train import distributed
from sdt.train.evaluate import answer_budget, evaluate, objective, scoring_for
from sdt.train.optim import build_optimizer, build_scheduler

log = logging.getLogger(__name__)

NAN_ADVICE = ("numerical instability. The seed guide's advice: use the conservative config "
              "(experiments/mps/conservative.yaml) - lower learning rates (lr_encoder 1e-4, "
              "lr_projector 5e-5), training.grad_clip_norm 0.5, training.batch_size 2")
MULTI_SERIES_STAGES = ("stage2_captioning", "stage3_cot", "stage4_sleep_cot", "stage5_ecg_cot")


@dataclass
class TrainState:
    """What the loop carries between epochs (saved in every checkpoint)."""

    epoch: int = 0  # epochs completed
    step: int = 0  # optimizer steps taken
    best: float | None = None
    best_epoch: int = 0
    best_loss: float | None = None  # val loss at the best epoch: breaks accuracy ties
    bad_evals: int = 0  # evaluations since the last improvement
    batch_size: int = 1  # current micro-batch (halved on out-of-memory)
    grad_accumulation: int = 1
    stopped_early: bool = False


def improves(state: TrainState, value: float, loss: float | None, mode: str) -> bool:
    """Whether a validation score ``value`` (``mode`` max or min) beats the best so far. An
    equal score with a lower validation ``loss`` also counts: with 8 validation samples,
    accuracy ties are common and the first of them is rarely the best model."""
    if state.best is None or (value > state.best if mode == "max" else value < state.best):
        return True
    return (value == state.best and loss is not None and state.best_loss is not None
            and loss < state.best_loss)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def epoch_order(n: int, seed: int, epoch: int) -> list[int]:
    """The sample order of an epoch: a permutation from its own generator, so a resumed run
    (or any rank) sees exactly the order an uninterrupted run sees."""
    g = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
    return torch.randperm(n, generator=g).tolist()


def check_stage(config) -> None:
    """The stage decides the data's format: stage 1 is multiple choice (TSQA or a jsonl of
    MCQ samples); the later stages read local jsonl files."""
    stage, name = config.training.stage, config.dataset.name
    if stage == "stage1_mcq" and name not in ("tsqa", "jsonl"):
        raise UserError(f"training.stage stage1_mcq trains on TSQA multiple choice "
                        f"(dataset.name tsqa, or jsonl), got dataset.name {name!r}")
    if stage in MULTI_SERIES_STAGES and name != "jsonl":
        raise UserError(f"training.stage {stage} reads local files: set dataset.name: jsonl "
                        f"with train_path/val_path/test_path (got dataset.name {name!r})")


def initial_model(config, train_samples):
    """A fresh model, or (``training.init_from``) the previous stage's model: its tokenizer,
    encoder, projector and LM, with its LoRA adapters merged into the LM (kept, not dropped)
    before this stage's own LoRA (if any) goes on top."""
    hparams = hparams_from_config(config)
    source = config.training.init_from
    if not source:
        texts = [f"{s.pre_prompt} {' '.join(s.series_text)} {s.post_prompt} {s.answer}"
                 for s in train_samples]
        return build_from_hparams(hparams, texts)
    try:
        prev = load_trained(source, which="best")
    except FileNotFoundError as exc:
        raise UserError(f"training.init_from: {exc}") from None
    for key in ("llm_id", "tiny", "encoder", "projector", "patch_size"):
        if prev.hparams[key] != hparams[key]:
            raise UserError(f"training.init_from {source}: model {key} differs "
                            f"({prev.hparams[key]!r} there, {hparams[key]!r} here)")
    hparams["tokenizer_json"] = prev.hparams.get("tokenizer_json")
    model = build_from_hparams(hparams, base_lm=merge_lora(prev.lm), tokenizer=prev.tokenizer)
    model.encoder.load_state_dict(prev.encoder.state_dict())
    model.projector.load_state_dict(prev.projector.state_dict())
    return model


def check_lengths(model, *splits) -> None:
    longest = max((len(x) for split in splits for s in split for x in s.series), default=0)
    if model.encoder.num_patches(longest) > model.encoder.max_patches:
        raise UserError(
            f"model.encoder.max_patches: a series of {longest} values makes "
            f"{model.encoder.num_patches(longest)} patches of training.patch_size "
            f"{model.encoder.patch_size}; raise model.encoder.max_patches or the patch size")


def run(config, ctx: RunContext) -> dict:
    t_start = time.time()
    tr, ev = config.training, config.evaluation

    # -- setup: device, processes, seeds, precision ------------------------------------------
    device = device_lib.resolve_device(config.device.type, config.device.index)
    dist = distributed.setup(device.type)
    if dist.enabled and device.type == "cuda":
        device = torch.device("cuda", dist.local_rank)
    ctx.device = str(device)
    seed_everything(config.seed)
    amp_dtype = device_lib.autocast_dtype(tr.mixed_precision, device)

    def amp():
        return device_lib.autocast(device, amp_dtype)

    # -- data ------------------------------------------------------------------------------
    check_stage(config)
    train = build_dataset(config.dataset, "train", config.seed)
    val = build_dataset(config.dataset, "val", config.seed)
    test = build_dataset(config.dataset, "test", config.seed)
    if not train:
        raise UserError("dataset: the training split is empty")
    scoring = scoring_for(tr.stage, config.dataset.name)
    metric, mode = objective(scoring, ev.metrics)
    ctx.log({"data/train": len(train), "data/val": len(val), "data/test": len(test)}, step=0)

    # -- model -----------------------------------------------------------------------------
    model = initial_model(config, train).to(device)
    check_lengths(model, train, val, test)
    ddp_model = distributed.wrap(model, dist, device)
    max_new = ev.max_new_tokens or answer_budget(model, train + val + test)
    eval_batch = ev.batch_size or tr.batch_size

    # -- optimizer and schedule --------------------------------------------------------------
    group = tr.batch_size * tr.grad_accumulation  # samples per optimizer step, all ranks
    # Under DDP every rank must take part in every step: a last, partial group is dropped.
    steps_per_epoch = len(train) // group if dist.enabled else math.ceil(len(train) / group)
    if steps_per_epoch == 0:
        raise UserError(f"training.batch_size x grad_accumulation ({group}) exceeds the "
                        f"{len(train)} training samples")
    total_steps = steps_per_epoch * tr.num_epochs
    if tr.max_steps is not None:
        total_steps = min(total_steps, tr.max_steps)
    optimizer = build_optimizer(model, tr)
    scheduler = build_scheduler(optimizer, tr, total_steps)
    scaler = torch.amp.GradScaler(device.type, enabled=amp_dtype == torch.float16)
    params = [p for g in optimizer.param_groups for p in g["params"]]

    # -- state: fresh or resumed -----------------------------------------------------------
    state = TrainState(batch_size=tr.batch_size, grad_accumulation=tr.grad_accumulation)
    ckpt_dir = ctx.run_dir / "checkpoints"
    if ctx.resume and (ckpt_dir / "last.pt").is_file():
        saved = ckpt_lib.load(ckpt_dir / "last.pt")
        model.load_state_dict(saved["model"])
        optimizer.load_state_dict(saved["optimizer"])
        scheduler.load_state_dict(saved["scheduler"])
        scaler.load_state_dict(saved["scaler"])
        state = TrainState(**saved["state"])
        ckpt_lib.set_rng_state(saved["rng"])
        log.info("resumed from %s at epoch %d, step %d", ckpt_dir / "last.pt", state.epoch,
                 state.step)

    def checkpoint(name: str) -> None:
        if dist.main:
            ckpt_lib.save(ckpt_dir / f"{name}.pt", {
                "model": model.state_dict(), "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(), "scaler": scaler.state_dict(),
                "state": asdict(state), "rng": ckpt_lib.rng_state(),
                "config": config.model_dump(mode="json"), "hparams": model.hparams})
            ctx.log({f"checkpoint/{name}": state.epoch}, step=state.step)

    def train_step(samples: list) -> tuple[float, float]:
        """One optimizer step over a step group (this rank's share): (loss, grad norm)."""
        while True:
            try:
                return _accumulate(samples)
            except torch.OutOfMemoryError:
                optimizer.zero_grad(set_to_none=True)
                if device.type == "cuda":
                    torch.cuda.empty_cache()
                if state.batch_size == 1:
                    raise OutOfMemory(f"out of memory at step {state.step + 1} even with "
                                      f"batch size 1", step=state.step + 1) from None
                state.batch_size //= 2
                state.grad_accumulation *= 2
                log.warning("out of memory: batch size %d, gradient accumulation %d",
                            state.batch_size, state.grad_accumulation)
                ctx.log({"oom/batch_size": state.batch_size,
                         "oom/grad_accumulation": state.grad_accumulation}, step=state.step)

    def _accumulate(samples: list) -> tuple[float, float]:
        ddp_model.train()
        micro = [samples[i:i + state.batch_size]
                 for i in range(0, len(samples), state.batch_size)]
        total = 0.0
        for batch in micro:
            with amp():
                loss = ddp_model(batch)  # through the DDP wrapper: gradients synchronise
            if not torch.isfinite(loss):
                raise NanLoss(f"loss is {float(loss)} at step {state.step + 1}: {NAN_ADVICE}",
                              step=state.step + 1)
            scaler.scale(loss * len(batch) / len(samples)).backward()
            total += float(loss.detach()) * len(batch) / len(samples)
        scaler.unscale_(optimizer)
        norm = torch.nn.utils.clip_grad_norm_(params, tr.grad_clip_norm or float("inf"))
        if not torch.isfinite(norm):
            raise NanLoss(f"gradient norm is {float(norm)} at step {state.step + 1}: "
                          f"{NAN_ADVICE}", step=state.step + 1)
        scaler.step(optimizer)
        scaler.update()
        optimizer.zero_grad(set_to_none=True)
        scheduler.step()
        state.step += 1
        return total, float(norm)

    def validate(epoch: int) -> dict:
        result, _ = evaluate(model, val, metrics=ev.metrics, batch_size=eval_batch,
                             max_new_tokens=max_new, amp=amp, scoring=scoring)
        value = result.get(metric)
        if value is None:
            return result
        loss = result.get("loss") if metric != "loss" else None
        improved = improves(state, value, loss, mode)
        if improved:
            state.best, state.best_epoch, state.bad_evals = value, epoch, 0
            state.best_loss = loss
        else:
            state.bad_evals += 1
        ctx.report(epoch, value)  # may raise Pruned
        return {**result, "improved": improved}

    # -- the loop --------------------------------------------------------------------------
    from tqdm import tqdm

    while state.epoch < tr.num_epochs and state.step < total_steps and not state.stopped_early:
        epoch = state.epoch + 1
        order = epoch_order(len(train), config.seed, epoch)
        losses, seen, t_epoch = [], 0, time.time()
        bar = tqdm(range(steps_per_epoch), desc=f"epoch {epoch}/{tr.num_epochs}",
                   disable=not (ctx.progress and dist.main), leave=False)
        for i in bar:
            if state.step >= total_steps:
                break
            step_group = [train[j] for j in order[i * group:(i + 1) * group]]
            mine = step_group[dist.rank::dist.world]
            lrs = {f"lr/{g['name']}": g["lr"] for g in optimizer.param_groups
                   if not g["name"].endswith("_no_decay")}  # the rates this step uses
            t0 = time.time()
            loss, grad_norm = train_step(mine)
            dt = time.time() - t0
            losses.append(loss)
            seen += len(step_group)
            if dist.main:
                ctx.log({"train/loss": loss, "train/grad_norm": grad_norm,
                         "train/samples_per_s": len(step_group) / max(dt, 1e-9),
                         "epoch": epoch, **lrs}, step=state.step)
            bar.set_postfix(loss=f"{loss:.4f}")
        bar.close()
        state.epoch = epoch
        row = {"epoch": epoch, "train/epoch_loss": distributed.all_reduce_mean(
            float(np.mean(losses)) if losses else float("nan"), dist),
            "train/epoch_samples_per_s": seen / max(time.time() - t_epoch, 1e-9)}
        last_epoch = state.epoch >= tr.num_epochs or state.step >= total_steps
        if val and (epoch % tr.eval_every == 0 or last_epoch):
            result = validate(epoch)
            row.update({f"val/{k}": v for k, v in result.items() if k != "improved"})
            if result.get("improved"):
                checkpoint("best")
            if tr.early_stopping_patience and state.bad_evals >= tr.early_stopping_patience:
                state.stopped_early = True
                log.info("early stopping at epoch %d (best %s %.4f at epoch %d)", epoch,
                         metric, state.best, state.best_epoch)
        if epoch % tr.save_every == 0 or last_epoch or state.stopped_early:
            checkpoint("last")
        if dist.main:
            ctx.log(row, step=state.step)
            log.info("epoch %d: %s", epoch, {k: round(v, 4) for k, v in row.items()})

    # -- test with the best weights ----------------------------------------------------------
    if dist.main and not (ckpt_dir / "best.pt").is_file():
        checkpoint("best")  # no validation split: the last weights are the best we know
    if (ckpt_dir / "best.pt").is_file():
        model.load_state_dict(ckpt_lib.load(ckpt_dir / "best.pt")["model"])
    metrics: dict[str, float] = {}
    if test:
        result, rows = evaluate(model, test, metrics=ev.metrics, batch_size=eval_batch,
                                max_new_tokens=max_new, amp=amp, scoring=scoring)
        metrics.update({f"test_{k}": v for k, v in result.items()})
        if ev.save_predictions and rows and dist.main:
            path = ctx.run_dir / "predictions.jsonl"
            atomic_write_text(path, "")
            for r in rows:
                append_jsonl(path, r)
    metrics.update({
        f"best_val_{metric}": state.best if state.best is not None else float("nan"),
        "best_epoch": state.best_epoch, "epochs": state.epoch, "steps": state.step,
        "train_time_s": round(time.time() - t_start, 3),
        "final_batch_size": state.batch_size,
        "final_grad_accumulation": state.grad_accumulation,
    })
    if dist.main:
        ctx.log({f"final/{k}": v for k, v in metrics.items()}, step=state.step)
    distributed.teardown(dist)
    return metrics
