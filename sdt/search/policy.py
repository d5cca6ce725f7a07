"""The policy interface every search method talks to, and its cost accounting.

A policy is p(token | prefix, query). A query is prefilled once (:meth:`Policy.start`); after
that, prefixes are tuples of generated token ids (EOS never inside a prefix).

NFE (one definition, ``SEARCH.md``): the number of next-token distributions computed. The
prefill counts 1; ``dists`` over B prefixes counts B; a rollout counts one per token it samples
except the first when the caller hands in the distribution it already has. The base class
counts from what it hands out, independently of how an implementation computes it, so an
implementation's own count (``ToyPolicy.calls``, ``LMPolicy.forward_rows``) can be checked
against it. ``tokens`` counts sampled tokens (EOS included).
"""

from __future__ import annotations

from abc import ABC, abstractmethod

import numpy as np


class Policy(ABC):
    """Implementations provide ``_prefill``, ``_dists`` and ``_rollout``; ``eos_id``,
    ``vocab_size`` and ``hidden_size`` (None when the policy has no hidden states)."""

    eos_id: int
    vocab_size: int
    hidden_size: int | None = None

    def __init__(self):
        self.nfe = 0
        self.tokens = 0

    def start(self, query) -> tuple[np.ndarray, np.ndarray | None]:
        """Prefill ``query``; the root's (logp [V], hidden [D] or None). Resets the counters."""
        self.nfe = 1
        self.tokens = 0
        return self._prefill(query)

    def dists(self, prefixes: list[tuple]) -> tuple[np.ndarray, np.ndarray | None]:
        """Next-token log-distributions [B, V] (float) and hidden states [B, D] of non-empty
        prefixes, in one batched call."""
        if not prefixes:
            return np.zeros((0, self.vocab_size)), None
        if any(len(p) == 0 for p in prefixes):
            raise ValueError("the root's distribution comes from start(); prefixes must be "
                             "non-empty")
        self.nfe += len(prefixes)
        return self._dists(prefixes)

    def rollout(self, prefixes: list[tuple], first_logp: np.ndarray, horizon: int,
                temperature: float, rng: np.random.Generator) -> list[tuple]:
        """Complete every prefix by sampling (one batch): until EOS or ``horizon`` tokens.

        ``first_logp[i]`` is the known next-token log-distribution of ``prefixes[i]``.
        ``temperature`` 0 means argmax. Returns the complete sequences (prefix included, EOS
        excluded). Every prefix must be shorter than ``horizon``.
        """
        if not prefixes:
            return []
        if any(len(p) >= horizon for p in prefixes):
            raise ValueError(f"a prefix already has {horizon} (max_new_tokens) tokens")
        out, eos = self._rollout(prefixes, np.asarray(first_logp), horizon, temperature, rng)
        sampled = sum(len(y) - len(p) + int(e) for y, p, e in zip(out, prefixes, eos))
        self.tokens += sampled
        self.nfe += sampled - len(prefixes)
        return out

    @abstractmethod
    def _prefill(self, query) -> tuple[np.ndarray, np.ndarray | None]: ...

    @abstractmethod
    def _dists(self, prefixes: list[tuple]) -> tuple[np.ndarray, np.ndarray | None]: ...

    @abstractmethod
    def _rollout(self, prefixes, first_logp, horizon, temperature, rng
                 ) -> tuple[list[tuple], list[bool]]:
        """The sequences and, per row, whether it ended by sampling EOS."""


def sequential_rollout(dist, eos_id: int, prefixes, first_logp, horizon: int,
                       temperature: float, rng: np.random.Generator
                       ) -> tuple[list[tuple], list[bool]]:
    """``_rollout`` for policies without batching: one prefix at a time, one ``dist(prefix)
    -> (logp, hidden)`` call per sampled token (the toy LM, the naive benchmark baseline)."""
    out, eos = [], []
    for prefix, logp in zip(prefixes, first_logp):
        seq = list(prefix)
        while True:
            tok = int(sample_logp(logp, temperature, rng)[0])
            if tok == eos_id:
                eos.append(True)
                break
            seq.append(tok)
            if len(seq) >= horizon:
                eos.append(False)
                break
            logp = dist(tuple(seq))[0]
        out.append(tuple(seq))
    return out, eos


def sample_logp(logp: np.ndarray, temperature: float, rng: np.random.Generator) -> np.ndarray:
    """One token per row of ``logp`` [B, V] at ``temperature`` (0 = argmax), on the CPU."""
    logp = np.atleast_2d(logp)
    if temperature == 0:
        return logp.argmax(-1)
    z = logp / temperature
    z = z - z.max(-1, keepdims=True)
    p = np.exp(z)
    cdf = np.cumsum(p, -1)
    u = rng.random(len(logp)) * cdf[:, -1]
    return np.minimum((cdf < u[:, None]).sum(-1), logp.shape[-1] - 1)
