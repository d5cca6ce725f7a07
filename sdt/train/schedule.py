"""Learning-rate schedules: a multiplier of the base rate per optimizer step (pure maths)."""

from __future__ import annotations

import math


def warmup_steps(total_steps: int, warmup_fraction: float) -> int:
    return int(round(warmup_fraction * total_steps))


def lr_factor(step: int, total_steps: int, warmup: int, kind: str) -> float:
    """Multiplier for the rate used at optimizer step ``step`` (0-based).

    Linear warmup from ``1/(warmup+1)`` to 1 over ``warmup`` steps (never 0: the first step
    must move the weights), then ``constant`` (1), ``linear`` (down to 0 at ``total_steps``)
    or ``cosine`` (half cosine down to 0 at ``total_steps``).
    """
    if step < warmup:
        return (step + 1) / (warmup + 1)
    if kind == "constant":
        return 1.0
    progress = min(1.0, (step - warmup) / max(1, total_steps - warmup))
    if kind == "linear":
        return 1.0 - progress
    if kind == "cosine":
        return 0.5 * (1.0 + math.cos(math.pi * progress))
    raise ValueError(f"unknown lr_schedule {kind!r} (linear, cosine, constant)")
