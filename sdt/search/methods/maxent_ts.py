"""``maxent_ts``: children are the top-``expansion_k`` tokens of p, weighted by p̂(c);
select ∝ p̂(c) exp(lam v(c)) (+ optional UCT bonus); back up (1/lam) log Σ p̂ exp(lam v).

With ``expansion_k`` below the vocabulary the tree samples the restricted target: at every
expanded prefix the next token is drawn from p renormalised over its top-k tokens, below an
unexpanded leaf from p itself (its rollouts)."""

from __future__ import annotations

import numpy as np

from sdt.search.methods._base import SearchContext
from sdt.search.methods._soft import SoftTreeSearch
from sdt.search.node import Node
from sdt.search.tree import maxent_bonus, top_k


class MaxEntTS(SoftTreeSearch):
    name = "maxent_ts"

    def expand(self, ctx: SearchContext, node: Node) -> list[Node]:
        top = top_k(node.logp, ctx.cfg.expansion_k)
        return self.attach(ctx, node, top, np.exp(node.logp[top]))

    def bonus(self, ctx: SearchContext, node: Node):
        if ctx.cfg.uct_bonus == 0:
            return None
        visits = [c.visits for c in node.children]
        return maxent_bonus(visits, node.visits, ctx.cfg.uct_bonus)
