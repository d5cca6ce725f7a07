"""Metrics over generated token sequences: diversity and perplexity."""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np


def distinct_n(sequences: Sequence[Sequence[int]], n: int = 2) -> float:
    """Distinct-n: distinct n-grams / all n-grams, pooled over the sequences (n-grams never
    cross a sequence boundary). NaN when no sequence has n tokens.

    >>> distinct_n([(1, 2, 3), (1, 2, 4)])   # bigrams 12 23 12 24: 3 distinct of 4
    0.75
    """
    grams = [tuple(s[i:i + n]) for s in sequences for i in range(len(s) - n + 1)]
    return len(set(grams)) / len(grams) if grams else float("nan")


def perplexity(token_logprobs: Sequence[Sequence[float]] | Sequence[float]) -> float:
    """exp(−mean log p) over the continuation tokens (pooled over sequences). NaN if empty."""
    flat = np.concatenate([np.atleast_1d(np.asarray(t, dtype=np.float64))
                           for t in token_logprobs]) if len(token_logprobs) else np.zeros(0)
    return float(math.exp(-flat.mean())) if flat.size else float("nan")
