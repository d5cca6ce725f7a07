"""The policy interface every search method talks to, and its cost accounting.

A policy is p(token | prefix, query). Queries are prefilled once (:meth:`Policy.start_many`
prefills a window of queries in one call; :meth:`Policy.start` one); after that a *row* is
``(slot, prefix)``: the query's position in the window and a tuple of generated token ids
(EOS never inside a prefix). Rows of different queries share one forward call, which is how
the trees of many queries advance in lockstep (:func:`sdt.search.run.run_searches`).

NFE (one definition, ``SEARCH.md``): the number of next-token distributions computed. The
prefill counts 1 per query; ``dists`` over B rows counts B; a rollout counts one per token it
samples except the first (the caller hands in the distribution it already has). The base class
counts from what it hands out, independently of how an implementation computes it, so an
implementation's own count (``ToyPolicy.calls``, ``LMPolicy.forward_rows``) can be checked
against it. ``nfe`` and ``tokens`` are totals over every query since the last ``start``;
:meth:`rollout_rows` also returns the per-row counts, which the lockstep driver books to
each query. ``tokens`` counts sampled tokens (EOS included).
"""

from __future__ import annotations

from abc import ABC, abstractmethod

import numpy as np


class Policy(ABC):
    """Implementations provide ``_prefill``, ``_dists`` and ``_rollout`` over rows; ``eos_id``,
    ``vocab_size`` and ``hidden_size`` (None when the policy has no hidden states)."""

    eos_id: int
    vocab_size: int
    hidden_size: int | None = None

    def __init__(self):
        self.nfe = 0
        self.tokens = 0

    # -- many queries (the lockstep driver) ------------------------------------------------

    def start_many(self, queries: list) -> tuple[np.ndarray, np.ndarray | None]:
        """Prefill a window of queries (slot i = ``queries[i]``) in one call: the roots'
        (logp [Q, V], hidden [Q, D] or None). Resets the counters."""
        self.nfe = len(queries)
        self.tokens = 0
        return self._prefill(list(queries))

    def dists_rows(self, slots, prefixes: list[tuple]) -> tuple[np.ndarray, np.ndarray | None]:
        """Next-token log-distributions [B, V] and hidden states [B, D] of non-empty prefixes,
        row i in query ``slots[i]``, in one batched call."""
        if not prefixes:
            return np.zeros((0, self.vocab_size)), None
        if any(len(p) == 0 for p in prefixes):
            raise ValueError("the root's distribution comes from start(); prefixes must be "
                             "non-empty")
        self.nfe += len(prefixes)
        return self._dists(list(slots), [tuple(p) for p in prefixes])

    def rollout_rows(self, slots, prefixes: list[tuple], first_logp: np.ndarray, horizon: int,
                     temperature: float, rng: np.random.Generator
                     ) -> tuple[list[tuple], list[int]]:
        """Complete every prefix by sampling (one batch): until EOS or ``horizon`` tokens.

        ``first_logp[i]`` is the known next-token log-distribution of row i. ``temperature``
        0 means argmax. Returns the complete sequences (prefix included, EOS excluded) and the
        tokens each row sampled (EOS included; its NFE is that minus one). Every prefix must
        be shorter than ``horizon``.
        """
        if not prefixes:
            return [], []
        if any(len(p) >= horizon for p in prefixes):
            raise ValueError(f"a prefix already has {horizon} (max_new_tokens) tokens")
        out, eos = self._rollout(list(slots), [tuple(p) for p in prefixes],
                                 np.asarray(first_logp), horizon, temperature, rng)
        sampled = [len(y) - len(p) + int(e) for y, p, e in zip(out, prefixes, eos)]
        self.tokens += sum(sampled)
        self.nfe += sum(sampled) - len(prefixes)
        return out, sampled

    # -- one query (slot 0) ----------------------------------------------------------------

    def start(self, query) -> tuple[np.ndarray, np.ndarray | None]:
        """Prefill one query; the root's (logp [V], hidden [D] or None)."""
        logp, hidden = self.start_many([query])
        return logp[0], None if hidden is None else hidden[0]

    def dists(self, prefixes: list[tuple]) -> tuple[np.ndarray, np.ndarray | None]:
        return self.dists_rows([0] * len(prefixes), prefixes)

    def rollout(self, prefixes: list[tuple], first_logp: np.ndarray, horizon: int,
                temperature: float, rng: np.random.Generator) -> list[tuple]:
        return self.rollout_rows([0] * len(prefixes), prefixes, first_logp, horizon,
                                 temperature, rng)[0]

    # -- what an implementation provides ---------------------------------------------------

    @abstractmethod
    def _prefill(self, queries: list) -> tuple[np.ndarray, np.ndarray | None]: ...

    @abstractmethod
    def _dists(self, slots: list[int], prefixes: list[tuple]
               ) -> tuple[np.ndarray, np.ndarray | None]: ...

    @abstractmethod
    def _rollout(self, slots, prefixes, first_logp, horizon, temperature, rng
                 ) -> tuple[list[tuple], list[bool]]:
        """The sequences and, per row, whether it ended by sampling EOS."""


def sequential_rollout(dist, eos_id: int, prefixes, first_logp, horizon: int,
                       temperature: float, rng: np.random.Generator
                       ) -> tuple[list[tuple], list[bool]]:
    """``_rollout`` for policies without batching: one prefix at a time, one ``dist(prefix)
    -> (logp, hidden)`` call per sampled token (the toy LM, the naive benchmark baseline).
    ``dist`` of a row: bind the slot first (``lambda p: dist(slot, p)``) where it matters."""
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
