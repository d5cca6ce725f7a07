"""The S-ADT replay buffer: what earlier queries' trees taught, kept across a run's queries.

Two first-in-first-out stores, each holding at most ``capacity`` entries:

- ``values``: (hidden [D], soft value, visits) of every evaluated, non-complete node (the
  regression targets of ``sadt_loss: mse``);
- ``paths``: root-to-leaf paths for ``sadt_loss: tb`` as dicts of tensors (``root_h`` [D],
  ``child_h`` [T, K, D], ``fixed`` [T, K] bool (complete child), ``fixed_v`` [T, K] its
  reward, ``logw`` [T, K] log p̂ (-inf pads), ``chosen`` [T], ``target`` the leaf's value).
"""

from __future__ import annotations

import numpy as np
import torch


class Buffer:
    def __init__(self, capacity: int):
        self.capacity = capacity
        self.hidden: list[np.ndarray] = []
        self.target: list[float] = []
        self.weight: list[float] = []
        self.paths: list[dict] = []

    def __len__(self) -> int:
        return len(self.target)

    def add_values(self, hidden, target, weight) -> None:
        self.hidden.extend(np.asarray(h, dtype=np.float32) for h in hidden)
        self.target.extend(float(t) for t in target)
        self.weight.extend(float(w) for w in weight)
        extra = len(self.target) - self.capacity
        if extra > 0:
            del self.hidden[:extra], self.target[:extra], self.weight[:extra]

    def add_paths(self, paths: list[dict]) -> None:
        self.paths.extend(paths)
        extra = len(self.paths) - self.capacity
        if extra > 0:
            del self.paths[:extra]

    def value_batch(self, idx) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        return (torch.from_numpy(np.stack([self.hidden[i] for i in idx])),
                torch.tensor([self.target[i] for i in idx], dtype=torch.float32),
                torch.tensor([self.weight[i] for i in idx], dtype=torch.float32))

    def to_dict(self) -> dict:
        hidden = torch.from_numpy(np.stack(self.hidden)) if self.hidden else torch.zeros(0)
        return {"capacity": self.capacity, "hidden": hidden,
                "target": torch.tensor(self.target, dtype=torch.float64),
                "weight": torch.tensor(self.weight, dtype=torch.float64), "paths": self.paths}

    @classmethod
    def from_dict(cls, d: dict) -> "Buffer":
        buf = cls(int(d["capacity"]))
        buf.hidden = [h.numpy() for h in d["hidden"]] if len(d["target"]) else []
        buf.target = d["target"].tolist()
        buf.weight = d["weight"].tolist()
        buf.paths = list(d["paths"])
        return buf
