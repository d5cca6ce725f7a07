"""A toy LM given by an explicit transition table, and its exact pi* and V by enumeration.

Used by the tests and as the smallest runnable example of the search API::

    >>> import numpy as np
    >>> from sdt.search.toy import ToyPolicy, soft_values
    >>> toy = ToyPolicy.random(vocab=3, horizon=3, seed=0)
    >>> constant = lambda ys: np.full(len(ys), 0.5)
    >>> round(soft_values(toy, constant, lam=2.0)[()], 12)   # V of a constant reward is it
    0.5

The table maps every non-terminal prefix (fewer than ``horizon`` tokens, no EOS) to a
distribution over the vocabulary (EOS = the last id). The hidden state of a prefix is its
one-hot index among those prefixes, so a linear value head can represent any V exactly.
"""

from __future__ import annotations

import itertools
import math

import numpy as np

from sdt.search.policy import Policy, sequential_rollout


def _prefixes(vocab: int, horizon: int):
    """Non-terminal prefixes: tuples over the non-EOS tokens, shorter than ``horizon``."""
    for n in range(horizon):
        yield from itertools.product(range(vocab - 1), repeat=n)


class ToyPolicy(Policy):
    """``calls`` counts every distribution the toy is asked for, independently of ``nfe``."""

    def __init__(self, table: dict[tuple, np.ndarray], vocab: int, horizon: int):
        super().__init__()
        self.table = {k: np.log(np.asarray(v, dtype=np.float64)) for k, v in table.items()}
        self.vocab_size = vocab
        self.eos_id = vocab - 1
        self.horizon = horizon
        self.index = {p: i for i, p in enumerate(sorted(self.table, key=lambda t: (len(t), t)))}
        self.hidden_size = len(self.index)
        self.calls = 0

    @classmethod
    def random(cls, vocab: int = 3, horizon: int = 3, seed: int = 0,
               concentration: float = 1.0) -> "ToyPolicy":
        rng = np.random.default_rng(seed)
        table = {p: rng.dirichlet(np.full(vocab, concentration)) for p in _prefixes(vocab, horizon)}
        return cls(table, vocab, horizon)

    @classmethod
    def hard(cls, seed: int, vocab: int | None = None, horizon: int = 3
             ) -> tuple["ToyPolicy", "TableReward", float]:
        """A random toy of the kind that defeats a biased tree (the property tests' draw):
        vocabulary 3-4 with EOS possible at every step, tables with a spread of priors where
        one token of every prefix is rare (prior 0.02-0.1), a reward per sequence that favours
        sequences through rare tokens (so it disagrees with the LM's mode), and lam in
        [0.5, 3]. Returns (toy, reward, lam)."""
        rng = np.random.default_rng(seed)
        vocab = int(rng.integers(3, 5)) if vocab is None else vocab
        table = {}
        for p in _prefixes(vocab, horizon):
            probs = rng.dirichlet(np.full(vocab, 0.7))
            rare = int(rng.integers(vocab))
            probs[rare] = 0.0
            probs = probs / probs.sum() * (1 - (eps := rng.uniform(0.02, 0.1)))
            probs[rare] = eps
            table[p] = probs
        toy = cls(table, vocab, horizon)
        ys = list(sequences(toy))
        logp = np.log([sequences(toy)[y] for y in ys])
        # rewards: noise plus a bonus that grows as the sequence gets less likely
        r = rng.normal(0, 0.5, len(ys)) + 0.6 * (-logp - (-logp).mean()) / (-logp).std()
        lam = float(rng.uniform(0.5, 3.0))
        return toy, TableReward(dict(zip(ys, r / max(1.0, lam / 1.5)))), lam

    def _dist(self, prefix: tuple) -> tuple[np.ndarray, np.ndarray]:
        self.calls += 1
        hidden = np.zeros(self.hidden_size, dtype=np.float32)
        hidden[self.index[prefix]] = 1.0
        return self.table[prefix], hidden

    def _prefill(self, queries):
        rows = [self._dist(()) for _ in queries]  # every query of the toy is the same
        return np.stack([r[0] for r in rows]), np.stack([r[1] for r in rows])

    def _dists(self, slots, prefixes):
        rows = [self._dist(tuple(p)) for p in prefixes]
        return np.stack([r[0] for r in rows]), np.stack([r[1] for r in rows])

    def _rollout(self, slots, prefixes, first_logp, horizon, temperature, rng):
        return sequential_rollout(self._dist, self.eos_id, prefixes, first_logp, horizon,
                                  temperature, rng)


class TableReward:
    """A reward given as a table over complete sequences (batched call)."""

    def __init__(self, table: dict[tuple, float]):
        self.table = table

    def __call__(self, ys) -> np.ndarray:
        return np.array([self.table[tuple(y)] for y in ys], dtype=np.float64)


def sequences(toy: ToyPolicy, horizon: int | None = None) -> dict[tuple, float]:
    """Every complete continuation y (EOS excluded) with its probability p(y)."""
    horizon = toy.horizon if horizon is None else horizon
    out: dict[tuple, float] = {}

    def visit(prefix, prob):
        if len(prefix) == horizon:
            out[prefix] = out.get(prefix, 0.0) + prob
            return
        p = np.exp(toy.table[prefix])
        out[prefix] = out.get(prefix, 0.0) + prob * p[toy.eos_id]
        for tok in range(toy.vocab_size - 1):
            visit(prefix + (tok,), prob * p[tok])

    visit((), 1.0)
    return out


def soft_values(toy: ToyPolicy, reward_fn, lam: float) -> dict[tuple, float]:
    """V(s) = (1/lam) log E_{c~p(.|s)} exp(lam V(s·c)) for every prefix; V(complete y) = r(y).

    Keys: non-terminal prefixes, plus ``("eos", y)`` for y ended by EOS and y of full length.
    """
    ys = list(sequences(toy))
    r = dict(zip(ys, np.asarray(reward_fn(ys), dtype=np.float64)))
    V: dict = {}

    def value(prefix):
        if len(prefix) == toy.horizon:
            V[prefix] = r[prefix]
            return r[prefix]
        p = np.exp(toy.table[prefix])
        vals = [value(prefix + (t,)) for t in range(toy.vocab_size - 1)] + [r[prefix]]
        V[("eos", prefix)] = r[prefix]
        a = lam * np.array(vals)
        m = a.max()
        V[prefix] = float((m + math.log(float(np.dot(p, np.exp(a - m))))) / lam)
        return V[prefix]

    value(())
    return V


def target(toy: ToyPolicy, reward_fn, lam: float) -> dict[tuple, float]:
    """pi*(y) ∝ p(y) exp(lam r(y)) over every complete continuation."""
    probs = sequences(toy)
    ys = list(probs)
    r = np.asarray(reward_fn(ys), dtype=np.float64)
    logw = np.log([probs[y] for y in ys]) + lam * r
    w = np.exp(logw - logw.max())
    return dict(zip(ys, w / w.sum()))


def total_variation(samples, pi: dict[tuple, float]) -> float:
    """TV between the empirical distribution of ``samples`` and ``pi``."""
    counts: dict[tuple, int] = {}
    for y in samples:
        counts[tuple(y)] = counts.get(tuple(y), 0) + 1
    n = len(samples)
    keys = set(counts) | set(pi)
    return 0.5 * sum(abs(counts.get(k, 0) / n - pi.get(k, 0.0)) for k in keys)


def implied_target(toy: ToyPolicy, reward_fn, lam: float, root) -> dict[tuple, float]:
    """The distribution the soft output rule samples from ``root``'s tree once every value in
    it is exact: at an expanded node the next token among its children with probability
    ∝ p̂(c) exp(lam V_T(c)), p̂ = p renormalised over the children (the limit of ``dts``'s
    counts too); below a leaf that is not expanded, pi*(. | leaf) itself (its rollouts are
    from p). V_T is the soft value of that restricted tree. With every token a child wherever
    a node is expanded this is pi*; with ``expansion_k`` below the vocabulary it is the
    restricted target the method converges to."""
    probs = sequences(toy)
    r = dict(zip(probs, np.asarray(reward_fn(list(probs)), dtype=np.float64)))
    V = soft_values(toy, reward_fn, lam)

    def below(prefix) -> dict[tuple, float]:
        ys = [y for y in probs if y[:len(prefix)] == prefix]
        logw = np.log([probs[y] for y in ys]) + lam * np.array([r[y] for y in ys])
        w = np.exp(logw - logw.max())
        return dict(zip(ys, w / w.sum()))

    def visit(node) -> tuple[float, dict]:
        """(V_T(node), output distribution below node)."""
        if node.terminal:
            return r[node.tokens], {node.tokens: 1.0}
        if not node.expanded:
            return V[node.tokens], below(node.tokens)
        p = np.exp(toy.table[node.tokens])
        subs = [visit(c) for c in node.children]
        ids = [toy.eos_id if c.tokens == node.tokens else c.tokens[-1] for c in node.children]
        logits = np.log(p[ids]) + lam * np.array([v for v, _ in subs])
        m = logits.max()
        q = np.exp(logits - m)
        value = (m + math.log(q.sum() / p[ids].sum())) / lam
        out: dict[tuple, float] = {}
        for qi, (_, dist) in zip(q / q.sum(), subs):
            for y, pr in dist.items():
                out[y] = out.get(y, 0.0) + qi * pr
        return value, out

    return visit(root)[1]
