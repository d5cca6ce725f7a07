"""``dts``: Diffusion Tree Sampling on tokens. Children are tokens drawn from p(.|s) with
their counts n_c: ``expansion_k`` draws at expansion, and one more draw at every selection
(a token already a child adds to its count; a new token becomes a child while there are fewer
than ``expansion_k`` distinct ones, otherwise the draw is dropped). The counts are thus p
restricted to the children, so with ``expansion_k`` = vocabulary the backup
(1/lam) log Σ n_c exp(lam v_c) / Σ n_c tends to the expectation under p. Drawing costs no NFE:
the node's distribution is already known. A new child drawn during the walk is evaluated (its
rollouts) and ends the walk, like every child: never a stand-in value."""

from __future__ import annotations

import numpy as np

from sdt.search.methods._base import SearchContext, choice
from sdt.search.methods._soft import SoftTreeSearch
from sdt.search.node import Node
from sdt.search.policy import sample_logp


class DTS(SoftTreeSearch):
    name = "dts"
    skip_settled = False

    def expand(self, ctx: SearchContext, node: Node) -> list[Node]:
        draws = sample_logp(np.repeat(node.logp[None], ctx.cfg.expansion_k, 0), 1.0, ctx.rng)
        tokens, counts = np.unique(draws, return_counts=True)
        return self.attach(ctx, node, tokens, counts)

    def settled(self) -> bool:
        return False  # a complete tree's counts still converge to p with every draw

    def select(self, ctx: SearchContext, node: Node) -> Node:
        new = self.draw(ctx, node)
        return new if new is not None else super().select(ctx, node)

    def draw(self, ctx: SearchContext, node: Node) -> Node | None:
        """One more draw from p at ``node``: the new child it creates, if any."""
        if node.probs is None:  # p(.|s) as a list: one draw per walk, numpy's cost would dominate
            node.probs = np.exp(node.logp).tolist()
        tok = choice(node.probs, ctx.rng)
        key = node.tokens if tok == ctx.eos_id else node.tokens + (tok,)
        for i, child in enumerate(node.children):
            if child.tokens == key:  # the EOS child is the only one with the parent's tokens
                node.weights[i] += 1.0
                return None
        if len(node.children) < ctx.cfg.expansion_k:
            child = self.attach(ctx, node, [tok], [1.0])[0]
            return None if child.terminal else child
        return None
