"""What a search returns, and the per-query reward cache every method scores through."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class SearchResult:
    """``continuations``: ``num_samples`` complete continuations (token-id tuples, EOS excluded;
    each ended by EOS or at ``max_new_tokens``). ``rewards``: r of each returned continuation
    from the reward function (never a node's value estimate). ``stats``: nfe, tokens, nodes,
    max_depth, mean_branching, time_s. ``tree``: the root :class:`~sdt.search.node.Node` of a
    tree method's final tree (None for the others)."""

    continuations: list[tuple]
    rewards: np.ndarray
    stats: dict[str, float] = field(default_factory=dict)
    tree: object | None = None


class RewardCache:
    """Calls ``reward_fn`` (batched: list of token tuples -> array) once per distinct sequence.

    ``calls`` counts distinct sequences scored (reward evaluations)."""

    def __init__(self, reward_fn):
        self.reward_fn = reward_fn
        self.values: dict[tuple, float] = {}

    def __call__(self, sequences: list[tuple]) -> np.ndarray:
        missing = list(dict.fromkeys(s for s in sequences if s not in self.values))
        if missing:
            r = np.asarray(self.reward_fn(missing), dtype=np.float64).reshape(-1)
            if len(r) != len(missing):
                raise ValueError(f"reward_fn returned {len(r)} values for {len(missing)} "
                                 "sequences")
            self.values.update(zip(missing, r.tolist()))
        return np.array([self.values[s] for s in sequences], dtype=np.float64)

    @property
    def calls(self) -> int:
        return len(self.values)
