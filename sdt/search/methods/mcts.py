"""``mcts``: UCT over the top-``expansion_k`` tokens of p; mean backup; the output is the best
complete sequences evaluated (the ``num_samples`` highest distinct rewards, repeated from the
top if fewer were seen). Unvisited children are tried first, in prior order."""

from __future__ import annotations

import numpy as np

from sdt.search.methods._base import SearchContext
from sdt.search.methods._tree import TreeSearch
from sdt.search.node import Node
from sdt.search.tree import top_k, uct_scores


class MCTS(TreeSearch):
    name = "mcts"

    def expand(self, ctx: SearchContext, node: Node) -> None:
        top = top_k(node.logp, ctx.cfg.expansion_k)
        self.attach(ctx, node, top, np.exp(node.logp[top]))

    def select(self, ctx: SearchContext, node: Node) -> Node:
        visits = [c.visits for c in node.children]
        means = [c.value_sum / c.visits if c.visits else 0.0 for c in node.children]
        return node.children[int(np.argmax(uct_scores(means, visits, node.visits,
                                                      ctx.cfg.c_uct)))]

    def backup(self, ctx: SearchContext, path: list[Node], r: float) -> None:
        for node in path:
            node.visits += 1
            node.value_sum += r
            node.value = node.value_sum / node.visits

    def output(self, ctx: SearchContext, root: Node) -> list[tuple]:
        best = dict(self.seen)  # a sequence's reward is the same wherever it was seen
        ranked = sorted(best, key=lambda y: -best[y])
        return [ranked[i % len(ranked)] for i in range(ctx.cfg.num_samples)]
