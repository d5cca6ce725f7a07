"""Projectors from the encoder's width into the LM's hidden size, by name."""

from __future__ import annotations

from torch import nn


def _linear(dim: int, hidden: int) -> nn.Module:
    return nn.Linear(dim, hidden)


def _mlp(dim: int, hidden: int) -> nn.Module:
    return nn.Sequential(nn.LayerNorm(dim), nn.Linear(dim, hidden), nn.GELU(),
                         nn.Linear(hidden, hidden))


PROJECTORS = {"linear": _linear, "mlp": _mlp}


def build_projector(name: str, dim: int, hidden: int) -> nn.Module:
    return PROJECTORS[name](dim, hidden)
