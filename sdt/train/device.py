"""Device choice and mixed precision."""

from __future__ import annotations

import contextlib
import logging
import os

log = logging.getLogger(__name__)

import torch

# The seed guide's MPS settings, set by the program: both are read when MPS is first used.
MPS_ENV = {"PYTORCH_ENABLE_MPS_FALLBACK": "1", "PYTORCH_MPS_HIGH_WATERMARK_RATIO": "0.0"}


def resolve_device(kind: str, index: int | None = None) -> torch.device:
    """``auto`` -> cuda, else mps, else cpu. An unavailable device is a clear error."""
    for key, value in MPS_ENV.items():
        os.environ.setdefault(key, value)
    if kind == "auto":
        kind = "cuda" if torch.cuda.is_available() else (
            "mps" if torch.backends.mps.is_available() else "cpu")
    if kind == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("device.type cuda, but no CUDA device is available (use cpu or auto)")
    if kind == "mps" and not torch.backends.mps.is_available():
        raise RuntimeError("device.type mps, but MPS is not available (use cpu or auto)")
    if kind == "cuda" and index is not None:
        return torch.device("cuda", index)
    return torch.device(kind)


def autocast_dtype(mode: str, device: torch.device):
    """The autocast dtype for ``training.mixed_precision`` on ``device`` (None: full fp32).
    ``auto``: bf16 where supported, else fp16 on CUDA; CPU autocast is bf16 only."""
    if mode == "no":
        return None
    if device.type == "cuda":
        if mode == "fp16" or (mode == "auto" and not torch.cuda.is_bf16_supported()):
            return torch.float16
        return torch.bfloat16
    if device.type == "mps":
        return torch.float16 if mode == "fp16" else torch.bfloat16
    if mode == "fp16":
        log.warning("fp16 autocast is not supported on CPU: using bf16")
    return torch.bfloat16


def autocast(device: torch.device, dtype):
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)
