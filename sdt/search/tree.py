"""The mathematics of the tree methods, as pure functions over one node's children.

Notation (``shared/design/SEARCH.md``): ``w`` are the children's weights (renormalised prior
p̂ for ``maxent_ts``/``sadt``, sample counts n_c for ``dts``), ``v`` their value estimates,
``lam`` the inverse temperature of pi*(y) ∝ p(y) exp(lam r(y)).

Soft value: V(s) = (1/lam) log Σ_c w_c exp(lam V(c)) / Σ_c w_c. With w = p over the whole
vocabulary this is the exact soft Bellman backup; a constant value r in every child gives r
(never growth with depth).
"""

from __future__ import annotations

import math

import numpy as np


def soft_backup(weights, values, lam: float) -> float:
    """(1/lam) log( Σ w_c exp(lam v_c) / Σ w_c ), computed stably (log-sum-exp).

    Children with weight 0 drop out; ``weights`` need not be normalised. Plain Python: a
    node has a handful of children, where numpy's per-call cost would dominate.
    """
    pairs = [(float(w), float(v)) for w, v in zip(weights, values) if w > 0]
    m = max(lam * v for _, v in pairs)
    total = sum(w * math.exp(lam * v - m) for w, v in pairs)
    return (m + math.log(total) - math.log(sum(w for w, _ in pairs))) / lam


def soft_probs(weights, values, lam: float, bonus=None) -> list[float]:
    """Probabilities ∝ w_c exp(lam v_c + bonus_c): the soft methods' selection and output rule
    over children that all carry an estimate (a child is estimated when it is created, never
    represented by a stand-in). A child of weight 0 gets probability 0."""
    bonus = [0.0] * len(weights) if bonus is None else bonus
    logits = [math.log(w) + lam * float(v) + b if w > 0 else -math.inf
              for w, v, b in zip(weights, values, bonus)]
    m = max(logits)
    e = [math.exp(x - m) for x in logits]
    total = sum(e)
    return [x / total for x in e]


def uct_scores(means, visits, parent_visits: int, c_uct: float) -> np.ndarray:
    """UCT: mean + c_uct * sqrt(ln N(parent) / N(child)); unvisited children score +inf."""
    n = np.asarray(visits, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        explore = c_uct * np.sqrt(math.log(max(parent_visits, 1)) / n)
        scores = np.asarray(means, dtype=np.float64) + explore
    return np.where(n > 0, scores, np.inf)


def maxent_bonus(visits, parent_visits: int, uct_bonus: float) -> np.ndarray:
    """Optional exploration bonus added to the selection logits of ``maxent_ts``/``sadt``:
    uct_bonus * sqrt(ln(1 + N(parent)) / (1 + N(child))). Zero keeps selection exact."""
    n = np.asarray(visits, dtype=np.float64)
    return uct_bonus * np.sqrt(math.log1p(parent_visits) / (1.0 + n))


def top_k(logp: np.ndarray, k: int) -> np.ndarray:
    """The ``k`` most probable tokens, most probable first (ties: lower id first)."""
    k = min(k, len(logp))
    top = np.argpartition(-logp, k - 1)[:k]
    return top[np.lexsort((top, -logp[top]))]
