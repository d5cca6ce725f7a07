"""What ``dts``, ``dts_star``, ``maxent_ts`` and ``sadt`` share: soft selection, the soft
backup, and the output rule (a sample from the tree by the selection rule).

A node's weights are its children's prior p(c) (``maxent_ts``, renormalised over the children
by the formulas) or sample counts n_c (``dts``). Only evaluated children enter the backup: an
unevaluated child has no value (not 0); in selection it competes through its weight alone
(see :func:`sdt.search.tree.selection_probs`).
"""

from __future__ import annotations

import math

import numpy as np

from sdt.search.methods._base import SearchContext, choice
from sdt.search.methods._tree import TreeSearch
from sdt.search.node import Node
from sdt.search.tree import selection_probs, soft_backup


class SoftTreeSearch(TreeSearch):
    def bonus(self, ctx: SearchContext, node: Node):
        return None

    def select(self, ctx: SearchContext, node: Node) -> Node:
        vis = node.visited()
        stand_in = node.value if any(vis) else None
        probs = selection_probs(node.weights, node.child_values(), vis, ctx.cfg.lam, stand_in,
                                self.bonus(ctx, node))
        return node.children[choice(probs, ctx.rng)]

    def node_value(self, ctx: SearchContext, node: Node) -> float:
        pairs = [(w, c.value) for w, c in zip(node.weights, node.children) if c.visits > 0]
        return soft_backup([w for w, _ in pairs], [v for _, v in pairs], ctx.cfg.lam)

    def backup(self, ctx: SearchContext, path: list[Node], r: float) -> None:
        leaf = path[-1]
        leaf.visits += 1
        if leaf.value is None:
            leaf.value = r
        elif not leaf.terminal:
            # Several rollouts from a node not yet expanded (parallel walks): their soft mean
            # (1/lam) log mean exp(lam r), the estimate of V from samples of p.
            n, lam = leaf.visits, ctx.cfg.lam
            leaf.value = float(np.logaddexp(math.log((n - 1) / n) + lam * leaf.value,
                                            math.log(1 / n) + lam * r) / lam)
        for node in reversed(path[:-1]):
            node.visits += 1
            node.value = self.node_value(ctx, node)

    def output_probs(self, ctx: SearchContext, node: Node) -> list[float]:
        """The selection rule without exploration bonus, over evaluated children only."""
        vis = node.visited()
        w = [w if v else 0.0 for w, v in zip(node.weights, vis)]
        return selection_probs(w, node.child_values(), vis, ctx.cfg.lam, 0.0)

    def output(self, ctx: SearchContext, root: Node) -> list[tuple]:
        return [self.descend(ctx, root, sample=True).rollout
                for _ in range(getattr(ctx.cfg, "num_samples", 1))]

    def descend(self, ctx: SearchContext, root: Node, sample: bool) -> Node:
        """From the root to a node with no evaluated child, by the output rule (sampled, or
        its argmax for ``dts_star``); that node's stored rollout completes it."""
        node = root
        while not node.terminal and any(node.visited()):
            probs = self.output_probs(ctx, node)
            i = choice(probs, ctx.rng) if sample else int(np.argmax(probs))
            node = node.children[i]
        return node
