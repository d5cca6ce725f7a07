"""Checkpoints: everything needed to continue a run bit for bit, written atomically."""

from __future__ import annotations

import io
import random
from pathlib import Path

import numpy as np
import torch

from sdt.io import atomic_write_bytes


def rng_state() -> dict:
    return {"python": random.getstate(), "numpy": np.random.get_state(),
            "torch": torch.get_rng_state(),
            "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None}


def set_rng_state(state: dict) -> None:
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if state.get("cuda") is not None and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save(path: Path, state: dict) -> None:
    """``torch.save`` to a temporary file, then rename: a crash never leaves half a file."""
    buffer = io.BytesIO()
    torch.save(state, buffer)
    atomic_write_bytes(path, buffer.getvalue())


def load(path: Path) -> dict:
    return torch.load(path, map_location="cpu", weights_only=False)
