"""The interface every search method implements, and what it is handed.

A method's :meth:`Method.search` is a generator: it runs one query's search strictly
sequentially and *yields* each policy call it needs (:class:`Dists`, :class:`Rollout`) instead
of making it; the driver (:func:`sdt.search.run.run_searches`) sends back the answer. That is
what lets the trees of many queries advance in lockstep, their rows in one forward call,
without changing what any one tree does. Rewards and F_phi are per query and cheap: they are
called directly (``ctx.reward``, ``ctx.state``).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

import numpy as np

from sdt.search.result import RewardCache


@dataclass
class Dists:
    """Ask for the next-token log-distributions [B, V] and hidden states [B, D] (or None) of
    ``prefixes`` (non-empty): B NFE."""

    prefixes: list[tuple]


@dataclass
class Rollout:
    """Ask for one complete continuation of each prefix, sampled at ``temperature`` from the
    known ``first_logp`` [B, V] on: the list of complete sequences."""

    prefixes: list[tuple]
    first_logp: np.ndarray
    temperature: float


@dataclass
class SearchContext:
    """One query's search: the cached reward, the ``search`` config section, the random
    generator, the root's distribution and hidden state, the S-ADT state (``sadt`` only;
    shared by the run's queries) and the policy's constants (``eos_id``)."""

    reward: RewardCache
    cfg: object
    rng: np.random.Generator
    root_logp: np.ndarray
    root_hidden: np.ndarray | None
    eos_id: int
    state: object | None = None


class Method(ABC):
    """A search method: ``search`` yields policy requests and returns ``num_samples``
    complete continuations (EOS excluded) and its tree statistics (nodes, max_depth,
    mean_branching). Cost (NFE, tokens) is counted by the driver from the requests."""

    name: str

    @abstractmethod
    def search(self, ctx: SearchContext): ...

    def finish(self, ctx: SearchContext) -> None:
        """Called once after the output is chosen (``sadt`` learns from the tree here)."""


def choice(probs, rng: np.random.Generator) -> int:
    """An index drawn from ``probs`` (faster than ``rng.choice`` for a handful of entries)."""
    u = rng.random() * sum(probs)
    acc = 0.0
    for i, p in enumerate(probs):
        acc += p
        if u < acc:
            return i
    return max(i for i, p in enumerate(probs) if p > 0)
