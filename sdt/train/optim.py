"""AdamW with one parameter group per part (encoder, projector, LM), each with its own
learning rate; norms, biases and other 1-D parameters get no weight decay."""

from __future__ import annotations

import torch

GROUPS = ("encoder", "projector", "lm")


def param_groups(model, training) -> list[dict]:
    """Groups named ``<part>`` (decayed) and ``<part>_no_decay``; frozen parameters are left
    out, and so are empty groups."""
    rates = {"encoder": training.lr_encoder, "projector": training.lr_projector,
             "lm": training.lr_base}
    groups = []
    for part in GROUPS:
        decay, no_decay = [], []
        for p in getattr(model, part).parameters():
            if p.requires_grad:
                (decay if p.ndim >= 2 else no_decay).append(p)
        for name, params, wd in ((part, decay, training.weight_decay),
                                 (f"{part}_no_decay", no_decay, 0.0)):
            if params:
                groups.append({"name": name, "params": params, "lr": rates[part],
                               "weight_decay": wd})
    return groups


def build_optimizer(model, training) -> torch.optim.AdamW:
    return torch.optim.AdamW(param_groups(model, training), betas=(0.9, 0.999), eps=1e-8)


def build_scheduler(optimizer, training, total_steps: int):
    from sdt.train.schedule import lr_factor, warmup_steps

    warmup = warmup_steps(total_steps, training.warmup_fraction)
    return torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: lr_factor(step, total_steps, warmup, training.lr_schedule))
