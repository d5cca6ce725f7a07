"""Trainer overhead: the trainer's samples/s over a bare forward-backward-step loop on the
same model, the same batches and the same thread count, measured in one process.

    python bench/train_throughput.py [experiments/cpu/tiny.yaml] [--samples 256] [--repeats 2]

The trainer's rate is its ``train/epoch_samples_per_s`` (the whole epoch loop: data order,
micro-batching, clipping, schedule, logging, progress bar; not validation). The bare loop is
``loss = model(batch); loss.backward(); clip; optimizer.step(); scheduler.step()``. Both run
``--repeats`` times, alternating, and the best of each counts (other processes share the CPU).
Last line: ``train_throughput_ratio: X``.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import torch

from sdt.config import load_config
from sdt.config.schema import TrainConfig
from sdt.context import RunContext
from sdt.data import build_dataset
from sdt.train.experiment import epoch_order, initial_model, run, seed_everything
from sdt.train.optim import build_optimizer, build_scheduler


def bare_rate(config, train) -> float:
    seed_everything(config.seed)
    model = initial_model(config, train)
    tr = config.training
    optimizer = build_optimizer(model, tr)
    steps = -(-len(train) // tr.batch_size)
    scheduler = build_scheduler(optimizer, tr, steps)
    params = [p for g in optimizer.param_groups for p in g["params"]]
    order = epoch_order(len(train), config.seed, 1)
    model.train()
    t0 = time.perf_counter()
    for i in range(steps):
        batch = [train[j] for j in order[i * tr.batch_size:(i + 1) * tr.batch_size]]
        loss = model(batch)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, tr.grad_clip_norm or float("inf"))
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        scheduler.step()
    return len(train) / (time.perf_counter() - t0)


def trainer_rate(config, workdir: Path, index: int) -> float:
    ctx = RunContext(run_id=f"bench{index}", run_dir=workdir / f"bench{index}", progress=True)
    run(config, ctx)
    rows = [json.loads(x) for x in ctx.history_path.read_text().splitlines()]
    return next(r["train/epoch_samples_per_s"] for r in rows if "train/epoch_samples_per_s" in r)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("config", nargs="?", default="experiments/cpu/tiny.yaml")
    ap.add_argument("--samples", type=int, default=256)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        config = load_config(Path(args.config), [
            f"dataset.num_samples_train={args.samples}", "dataset.num_samples_val=1",
            "dataset.num_samples_test=1", "training.num_epochs=1", "training.grad_accumulation=1",
            "evaluation.metrics=[loss]", "evaluation.save_predictions=false",
            "tracking.wandb.mode=disabled", f"output_dir={tmp}"], TrainConfig)
        train = build_dataset(config.dataset, "train", config.seed)
        bare, trainer = [], []
        for i in range(args.repeats):
            bare.append(bare_rate(config, train))
            trainer.append(trainer_rate(config, Path(tmp), i))
            print(f"repeat {i}: bare {bare[-1]:.1f} samples/s, trainer {trainer[-1]:.1f} "
                  f"samples/s", flush=True)
    print(f"threads {args.threads}, batch {config.training.batch_size}, "
          f"{args.samples} samples; best bare {max(bare):.1f}, best trainer {max(trainer):.1f}")
    print(f"train_throughput_ratio: {max(trainer) / max(bare):.3f}")


if __name__ == "__main__":
    main()
