"""S-ADT amortisation state: the value head F_phi, its optimiser and the replay buffer.

One :class:`SADTState` lives across all the queries of a run: after each query the ``sadt``
method adds the finished tree to the buffer (:meth:`observe`) and takes ``train_steps``
optimiser steps (:meth:`train`). ``save``/``load`` make it an artifact another run can start
from (train on one split, evaluate on another; ``value_head.train_steps: 0`` keeps it frozen)::

    state = SADTState.from_config(cfg.search, policy.hidden_size, seed=cfg.seed)
    for query in queries:
        run_search(policy, query, reward_fn, cfg.search, rng, state=state)
    state.save(run_dir / "sadt_state.pt")
"""

from __future__ import annotations

import io
import math
from pathlib import Path

import numpy as np
import torch

from sdt.errors import UserError
from sdt.io import atomic_write_bytes
from sdt.search.buffer import Buffer
from sdt.search.node import Node
from sdt.search.tree import soft_backup
from sdt.search.value_head import ValueHead, mse_loss, soft_loss, tb_loss


class SADTState:
    def __init__(self, hidden_size: int, *, hidden: int = 64, lr: float = 1e-3,
                 train_steps: int = 20, batch_size: int = 64, buffer_size: int = 4096,
                 loss: str = "soft", lam: float = 1.0, seed: int = 0):
        self.hidden_size = hidden_size
        self.hidden = hidden
        self.train_steps = train_steps
        self.batch_size = batch_size
        self.loss = loss
        self.lam = lam
        self.gen = torch.Generator().manual_seed(seed)
        with torch.random.fork_rng():
            torch.manual_seed(seed)
            self.head = ValueHead(hidden_size, hidden)
        self.opt = torch.optim.Adam(self.head.parameters(), lr=lr)
        self.buffer = Buffer(buffer_size)

    @classmethod
    def from_config(cls, cfg, hidden_size: int, seed: int = 0) -> "SADTState":
        """A fresh state for a ``sadt`` search section, or the one in ``cfg.buffer_load``
        (its head and buffer; the training knobs come from ``cfg``)."""
        vh = cfg.value_head
        if cfg.buffer_load:
            state = cls.load(cfg.buffer_load)
            if state.hidden_size != hidden_size:
                raise UserError(f"search.buffer_load: {cfg.buffer_load} was trained on hidden "
                                f"size {state.hidden_size}, this model has {hidden_size}")
            state.train_steps, state.batch_size = vh.train_steps, vh.batch_size
            state.loss, state.lam = cfg.sadt_loss, cfg.lam
            for group in state.opt.param_groups:
                group["lr"] = vh.lr
            return state
        return cls(hidden_size, hidden=vh.hidden, lr=vh.lr, train_steps=vh.train_steps,
                   batch_size=vh.batch_size, buffer_size=vh.buffer_size, loss=cfg.sadt_loss,
                   lam=cfg.lam, seed=seed)

    @torch.no_grad()
    def values(self, hidden: np.ndarray) -> np.ndarray:
        """F_phi of hidden states [B, D] -> [B]."""
        return self.head(torch.as_tensor(np.asarray(hidden), dtype=torch.float32)).double().numpy()

    # -- learning from finished trees ------------------------------------------------------

    def observe(self, root: Node) -> None:
        """Add a finished tree to the buffer: for every non-complete node with a hidden state,
        the soft mean of its creation rollouts (weight: their number) and, if it was expanded,
        the backup over its children right after they were created (weight: the rollouts and
        complete children behind it); for ``tb``, every path from the root to a complete node
        (whose value is its exact reward).

        Why these and not the final backed-up values: both are taken before anything was
        decided from them (a node is rolled out when created; its children are rolled out
        when it is expanded, a decision made from its own rollouts only), so their exp(lam v)
        estimates exp(lam V) without bias, and the soft loss's minimiser is V. Final values are
        censored by the search: a node stays unexpanded, keeping its first estimate, mostly
        when that estimate was low, so regressing on them learns a value below V (measured
        on the toy: 3.44 against V = 3.64 at 3 rollouts per query)."""
        hidden, targets, weights = [], [], []
        lam = self.lam
        for n in root.walk():
            if n.terminal or n.hidden is None:
                continue
            if n.rollouts:
                hidden.append(n.hidden)
                rs = [r for _, r in n.rollouts]
                targets.append(soft_backup([1.0] * len(rs), rs, lam))
                weights.append(len(n.rollouts))
            if n.first_backup is not None:
                hidden.append(n.hidden)
                targets.append(n.first_backup)
                weights.append(sum(max(1, len(c.rollouts)) for c in n.children))
        self.buffer.add_values(hidden, targets, weights)
        if self.loss == "tb" and root.hidden is not None:
            self.buffer.add_paths(list(self._paths(root)))

    def _paths(self, root: Node):
        """Root-to-complete-node paths through expanded nodes whose children all have hidden
        states (or are complete). A path that ended at a rolled-out leaf would use one
        rollout's reward as its terminal, and the loss would not vanish at F = V."""
        stack = [(root, [])]
        while stack:
            node, steps = stack.pop()
            if node.terminal:
                yield self._path_tensors(root, steps, node)
                continue
            if not node.expanded or any(c.hidden is None and not c.terminal
                                        for c in node.children):
                continue
            for i, child in enumerate(node.children):
                if child.value is not None:
                    stack.append((child, steps + [(node, i)]))

    def _path_tensors(self, root: Node, steps, leaf: Node) -> dict:
        T, K = len(steps), max(len(s.children) for s, _ in steps)
        child_h = torch.zeros(T, K, self.hidden_size)
        fixed = torch.zeros(T, K, dtype=torch.bool)
        fixed_v = torch.zeros(T, K)
        logw = torch.full((T, K), -math.inf)
        for t, (s, _) in enumerate(steps):
            w = np.asarray(s.weights)
            logw[t, : len(w)] = torch.from_numpy(np.log(w / w.sum()))
            for j, c in enumerate(s.children):
                if c.terminal:
                    fixed[t, j], fixed_v[t, j] = True, c.value
                else:
                    child_h[t, j] = torch.from_numpy(np.asarray(c.hidden, dtype=np.float32))
        return {"root_h": torch.from_numpy(np.asarray(root.hidden, dtype=np.float32)),
                "child_h": child_h, "fixed": fixed, "fixed_v": fixed_v, "logw": logw,
                "chosen": torch.tensor([i for _, i in steps]),
                "target": torch.tensor(float(leaf.value))}

    def path_loss(self, paths: list[dict]) -> torch.Tensor:
        """The trajectory-balance loss [B] of stored paths under the current head, in one
        batch (shorter paths padded with steps that add nothing)."""
        B = len(paths)
        T = max(len(p["chosen"]) for p in paths)
        K = max(p["logw"].shape[1] for p in paths)
        child_h = torch.zeros(B, T, K, self.hidden_size)
        fixed = torch.ones(B, T, K, dtype=torch.bool)
        fixed_v = torch.zeros(B, T, K)
        logw = torch.full((B, T, K), -math.inf)
        logw[:, :, 0] = 0.0
        chosen = torch.zeros(B, T, dtype=torch.long)
        for b, p in enumerate(paths):
            t, k = p["logw"].shape
            child_h[b, :t, :k] = p["child_h"]
            fixed[b, :t] = False
            fixed[b, :t, :k] = p["fixed"]
            fixed_v[b, :t, :k] = p["fixed_v"]
            logw[b, :t] = -math.inf
            logw[b, :t, :k] = p["logw"]
            chosen[b, :t] = p["chosen"]
        f = torch.where(fixed, fixed_v, self.head(child_h))
        log_z = self.lam * self.head(torch.stack([p["root_h"] for p in paths]))
        target = torch.stack([p["target"] for p in paths])
        return tb_loss(log_z, f, logw, chosen, target, self.lam)

    def train(self) -> float | None:
        """``train_steps`` Adam steps on minibatches of the buffer; the last loss (None when
        there was nothing to train on)."""
        size = len(self.buffer.paths) if self.loss == "tb" else len(self.buffer)
        if size == 0 or self.train_steps == 0:
            return None
        with torch.enable_grad():  # a caller's no_grad (a search under it) must not stop it
            return self._train(size)

    def _train(self, size: int) -> float:
        loss = None
        for _ in range(self.train_steps):
            idx = torch.randint(size, (min(self.batch_size, size),), generator=self.gen).tolist()
            if self.loss == "tb":
                loss = self.path_loss([self.buffer.paths[i] for i in idx]).mean()
            else:
                h, target, weight = self.buffer.value_batch(idx)
                loss = (soft_loss(self.head(h), target, weight, self.lam)
                        if self.loss == "soft" else mse_loss(self.head(h), target, weight))
            self.opt.zero_grad()
            loss.backward()
            self.opt.step()
        return float(loss.detach())

    # -- artifact --------------------------------------------------------------------------

    def save(self, path: str | Path) -> None:
        blob = io.BytesIO()
        torch.save({"meta": {"hidden_size": self.hidden_size, "hidden": self.hidden,
                             "train_steps": self.train_steps, "batch_size": self.batch_size,
                             "loss": self.loss, "lam": self.lam},
                    "head": self.head.state_dict(), "opt": self.opt.state_dict(),
                    "buffer": self.buffer.to_dict(), "gen": self.gen.get_state()}, blob)
        atomic_write_bytes(Path(path), blob.getvalue())

    @classmethod
    def load(cls, path: str | Path) -> "SADTState":
        if not Path(path).is_file():
            raise UserError(f"search.buffer_load: no S-ADT state at {path}")
        d = torch.load(path, weights_only=True)
        meta = d["meta"]
        state = cls(meta["hidden_size"], hidden=meta["hidden"], train_steps=meta["train_steps"],
                    batch_size=meta["batch_size"], buffer_size=int(d["buffer"]["capacity"]),
                    loss=meta["loss"], lam=meta["lam"])
        state.head.load_state_dict(d["head"])
        state.opt.load_state_dict(d["opt"])
        state.buffer = Buffer.from_dict(d["buffer"])
        state.gen.set_state(d["gen"])
        return state
