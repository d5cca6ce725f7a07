"""What every reward does for one query: decode continuations, score them, remember scores.

A reward is built per query (it precomputes what depends only on the query, e.g. the
history's spectrum) and is called by the search as ``reward_fn(list of token-id tuples) ->
np.ndarray``: continuation tokens only, never the prompt. (The search scores each distinct
sequence once through :class:`sdt.search.result.RewardCache`.)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np

Decode = Callable[[Sequence[int]], str]


@dataclass
class Scored:
    """Scores of a batch of texts: ``total`` r, each term's value (NaN where a term does not
    apply, e.g. for invalid text), which texts were valid, and what was parsed from each
    (forecast values, chosen option, or ``None``)."""

    total: np.ndarray
    terms: dict[str, np.ndarray] = field(default_factory=dict)
    valid: np.ndarray | None = None
    parsed: list = field(default_factory=list)
    texts: list[str] = field(default_factory=list)


class QueryReward:
    """Base of the rewards: subclasses implement :meth:`score_texts`."""

    def __init__(self, decode: Decode):
        self._decode = decode

    def score_texts(self, texts: list[str]) -> Scored:
        raise NotImplementedError

    def score(self, continuations: Sequence[Sequence[int]]) -> Scored:
        """Full breakdown for ``continuations`` (token ids), e.g. of what a method returns."""
        texts = [self._decode(list(c)) for c in continuations]
        scored = self.score_texts(texts)
        scored.texts = texts
        return scored

    def __call__(self, continuations: Sequence[Sequence[int]]) -> np.ndarray:
        return np.asarray(self.score(continuations).total, dtype=np.float64)
