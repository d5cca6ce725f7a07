"""The interface every search method implements, and what it is handed."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

import numpy as np

from sdt.search.policy import Policy
from sdt.search.result import RewardCache


@dataclass
class SearchContext:
    """One query's search: the policy (already prefilled), the cached reward, the ``search``
    config section, the random generator, the root's distribution and hidden state, and the
    S-ADT state (``sadt`` only)."""

    policy: Policy
    reward: RewardCache
    cfg: object
    rng: np.random.Generator
    root_logp: np.ndarray
    root_hidden: np.ndarray | None
    state: object | None = None


class Method(ABC):
    """A search method: ``run`` returns ``num_samples`` complete continuations (EOS excluded)
    and its tree statistics (nodes, max_depth, mean_branching). Cost (NFE, tokens) is counted
    by the policy."""

    name: str

    @abstractmethod
    def run(self, ctx: SearchContext) -> tuple[list[tuple], dict[str, float]]: ...


def choice(probs, rng: np.random.Generator) -> int:
    """An index drawn from ``probs`` (faster than ``rng.choice`` for a handful of entries)."""
    u = rng.random() * sum(probs)
    acc = 0.0
    for i, p in enumerate(probs):
        acc += p
        if u < acc:
            return i
    return max(i for i, p in enumerate(probs) if p > 0)
