"""``mcts``: UCT over the top-``expansion_k`` tokens of p; mean backup; the output is the best
complete sequences evaluated (the ``num_samples`` highest distinct rewards, repeated from the
top if fewer were seen). Unvisited children are tried first, in prior order; a leaf is
evaluated by ``parallel_rollouts`` rollouts (leaf parallelism), all backed up."""

from __future__ import annotations

import numpy as np

from sdt.search.methods._base import SearchContext
from sdt.search.methods._tree import TreeSearch
from sdt.search.node import Node
from sdt.search.tree import top_k, uct_scores


class MCTS(TreeSearch):
    name = "mcts"

    def iterate(self, ctx: SearchContext, root: Node):
        node, path = root, [root]
        while not node.terminal and (node is root or node.visits > 0):
            if not node.expanded:
                top = top_k(node.logp, ctx.cfg.expansion_k)
                self.attach(ctx, node, top, np.exp(node.logp[top]))
            node = self.select(ctx, node)
            path.append(node)
        if node.terminal:
            rewards, spent = [node.value], 1
        else:
            spent = yield from self.evaluate(ctx, [node])
            rewards = [r for _, r in node.rollouts]
        self.recount(path)
        for n in path:
            n.visits += len(rewards)
            n.value_sum += sum(rewards)
            n.value = n.value_sum / n.visits
        return spent

    def select(self, ctx: SearchContext, node: Node) -> Node:
        visits = [c.visits for c in node.children]
        means = [c.value_sum / c.visits if c.visits else 0.0 for c in node.children]
        return node.children[int(np.argmax(uct_scores(means, visits, node.visits,
                                                      ctx.cfg.c_uct)))]

    def output(self, ctx: SearchContext, root: Node) -> list[tuple]:
        best = dict(self.seen)  # a sequence's reward is the same wherever it was seen
        ranked = sorted(best, key=lambda y: -best[y])
        return [ranked[i % len(ranked)] for i in range(ctx.cfg.num_samples)]
