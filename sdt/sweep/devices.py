"""The device pool: which devices a sweep uses and how many runs share each (slots).

``auto`` finds CUDA GPUs with ``nvidia-smi`` (so the manager never imports torch), else
Apple's MPS on an arm64 Mac, else the CPU. A slot pins its worker to one device: CUDA workers
see only their GPU (``CUDA_VISIBLE_DEVICES``), MPS workers get the seed guide's environment.
"""

from __future__ import annotations

import os
import platform
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field

from sdt.errors import ConfigError

DEFAULT_SLOTS = {"cpu": 1, "cuda": 1, "mps": 1}
MPS_ENV = {"PYTORCH_ENABLE_MPS_FALLBACK": "1", "PYTORCH_MPS_HIGH_WATERMARK_RATIO": "0.0"}
_DEVICE = re.compile(r"^(cpu|mps|cuda(:\d+)?)$")


@dataclass(frozen=True)
class Slot:
    """One place a run can execute: ``device`` (``cpu``, ``cuda:1``, ``mps``) and a number."""

    device: str
    number: int = 0
    env: dict = field(default_factory=dict, compare=False, hash=False)

    @property
    def kind(self) -> str:
        return self.device.split(":")[0]

    @property
    def local_device(self) -> str:
        """The device as the worker sees it (its one visible GPU is ``cuda:0``)."""
        return "cuda:0" if self.kind == "cuda" else self.device

    @property
    def name(self) -> str:
        return f"{self.device}#{self.number}"


def cuda_count() -> int:
    """Number of CUDA GPUs, from ``nvidia-smi -L`` (no torch import); 0 without a driver."""
    if not shutil.which("nvidia-smi"):
        return 0
    try:
        out = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.SubprocessError):
        return 0
    if out.returncode != 0:
        return 0
    return sum(1 for line in out.stdout.splitlines() if line.startswith("GPU "))


def has_mps() -> bool:
    return sys.platform == "darwin" and platform.machine() == "arm64"


def detect() -> list[str]:
    """``auto``: every CUDA GPU, else MPS, else the CPU (a GPU sweep does not also fill the
    CPU with runs; list ``cpu`` explicitly for that)."""
    n = cuda_count()
    if n:
        return [f"cuda:{i}" for i in range(n)]
    if has_mps():
        return ["mps"]
    return ["cpu"]


def _listed(devices, source: str) -> list[str]:
    if isinstance(devices, str):
        devices = [d.strip() for d in devices.split(",") if d.strip()]
    out = []
    for device in devices:
        device = str(device).strip().lower()
        if not _DEVICE.match(device):
            raise ConfigError(source, "resources.devices", "auto or a list of cpu, cuda:N, mps",
                              got=device)
        if device == "cuda":
            out.extend(f"cuda:{i}" for i in range(cuda_count()) if f"cuda:{i}" not in out)
        elif device not in out:
            out.append(device)
    if not out:
        raise ConfigError(source, "resources.devices", "at least one device")
    return out


def _check_present(devices: list[str], source: str) -> None:
    n = None
    for device in devices:
        if device.startswith("cuda"):
            n = cuda_count() if n is None else n
            index = int(device.split(":")[1])
            if index >= n:
                raise ConfigError(source, "resources.devices", f"a GPU this machine has "
                                  f"({n} CUDA device{'s' if n != 1 else ''} found)", got=device)
        if device == "mps" and not has_mps():
            raise ConfigError(source, "resources.devices", "a device this machine has "
                              "(MPS needs an Apple silicon Mac)", got=device)


def make_slots(devices="auto", slots: dict | None = None, source: str = "sweep") -> list[Slot]:
    """The pool: for each device, ``slots[device kind]`` slots. Slots are interleaved across
    devices so the first runs spread over every device."""
    names = detect() if devices in (None, "auto", ["auto"]) else _listed(devices, source)
    _check_present(names, source)
    per_kind = {**DEFAULT_SLOTS, **(slots or {})}
    for kind, count in per_kind.items():
        if not isinstance(count, int) or isinstance(count, bool) or count < 1:
            raise ConfigError(source, f"resources.slots.{kind}", "an integer >= 1", got=count)
    cpu_slots = per_kind["cpu"] if "cpu" in names else 1
    threads = max(1, (os.cpu_count() or 1) // cpu_slots)
    pool = []
    for number in range(max(per_kind.get(d.split(":")[0], 1) for d in names)):
        for device in names:
            if number < per_kind.get(device.split(":")[0], 1):
                pool.append(Slot(device, number, slot_env(device, threads)))
    return pool


def slot_env(device: str, cpu_threads: int = 1) -> dict[str, str]:
    """Environment for a worker pinned to ``device``; CPU workers share the cores evenly."""
    if device.startswith("cuda"):
        return {"CUDA_VISIBLE_DEVICES": device.split(":")[1]}
    if device == "mps":
        return dict(MPS_ENV)
    # A CPU worker must not grab a GPU by accident, nor oversubscribe the cores.
    env = {"CUDA_VISIBLE_DEVICES": ""}
    if "OMP_NUM_THREADS" not in os.environ:
        env["OMP_NUM_THREADS"] = str(cpu_threads)
    return env
