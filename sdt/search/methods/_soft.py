"""What ``dts``, ``dts_star``, ``maxent_ts`` and ``sadt`` share: soft selection, the soft
backup, and the output rule (a sample from the tree by the selection rule).

A node's weights are its children's prior p(c) (``maxent_ts``, renormalised over the children
by the formulas) or sample counts n_c (``dts``). Every child gets its estimate when it is
created, and only estimated children ever take part in selection, backup or output.

Why a child is rolled out when it is created (the rule from the mathematics): the soft value is
V(c) = (1/lam) log E_{y~p(.|c)} exp(lam r(y)), so exp(lam r) of one rollout from p is an
unbiased estimate of exp(lam V(c)), and the backup Σ_c w_c exp(lam v_c) / Σ_c w_c keeps it
unbiased one level up (it is linear in the children's estimates). Any stand-in for a child
without a rollout (0, the parent's current value, "terminal children first") is not an
estimate of exp(lam V(c)): the parent's value is itself a soft mean dominated by what was seen,
so a rare child with a high value stays unselected for hundreds of rollouts and the output
never reaches pi* (measured before this rule: TV flat at 0.11-0.13 from 50 to 500 rollouts).
Terminal children are exact (their reward) and need no rollout.

One iteration: walk from the root by the selection rule while the node is expanded (never into a
subtree whose leaves are all complete, except for ``dts``); at a leaf
that has an estimate, expand it (the method's children) and evaluate every new non-complete
child by ``parallel_rollouts`` rollouts (one batch); ``dts`` may instead create one new child
during the walk (a fresh draw), which is evaluated and ends the walk. Then back up the path. A
leaf's estimate is the soft mean of its rollouts, (1/lam) log mean_i exp(lam r_i); once a
node is expanded its estimate is the backup over its children (its own rollouts, through
which it was chosen for expansion, are not reused, so the new estimate is fresh).

Output: descend by probabilities ∝ w_c exp(lam v_c) (no exploration bonus); at a leaf that is
not complete, pick one of its rollouts with probability ∝ exp(lam r_i) (self-normalised
importance sampling within the leaf: exact as its rollouts grow, and with one rollout the
rollout itself).
"""

from __future__ import annotations

import numpy as np

from sdt.search.methods._base import SearchContext, choice
from sdt.search.methods._tree import TreeSearch
from sdt.search.node import Node
from sdt.search.tree import soft_backup, soft_probs


class SoftTreeSearch(TreeSearch):
    # Walks skip subtrees with nothing left to expand (every leaf complete: a walk there only
    # revisits exact values and spends budget for nothing). ``dts`` keeps them: its walks draw
    # a token at every node they pass, refining the counts.
    skip_settled = True

    def bonus(self, ctx: SearchContext, node: Node):
        return None

    def walk_weights(self, node: Node) -> list[float]:
        """The children's weights for a walk: 0 for a settled subtree (see ``skip_settled``)."""
        if not self.skip_settled:
            return node.weights
        return [w if c.open else 0.0 for w, c in zip(node.weights, node.children)]

    def expand(self, ctx: SearchContext, node: Node) -> list[Node]:
        """Create the node's children (the method's rule); returns them."""
        raise NotImplementedError

    def select(self, ctx: SearchContext, node: Node) -> Node:
        probs = soft_probs(self.walk_weights(node), node.child_values(), ctx.cfg.lam,
                           self.bonus(ctx, node))
        return node.children[choice(probs, ctx.rng)]

    def iterate(self, ctx: SearchContext, root: Node):
        node, path = root, [root]
        while node.expanded and not node.terminal:
            node = self.select(ctx, node)
            path.append(node)
            if node.value is None:  # dts drew a new child: it is evaluated, the walk ends
                break
        if node.terminal:
            spent = 1  # a complete sequence revisited: nothing to learn, budget still counts
        elif node.value is None and node is not root:
            spent = yield from self.evaluate(ctx, [node])  # a new child (dts's fresh draw)
        else:
            new = self.expand(ctx, node)
            spent = max(1, (yield from self.evaluate(ctx, [c for c in new if not c.terminal])))
            for c in new:
                if c.value is None:
                    c.value = self.leaf_value(ctx, c)
                    c.visits = len(c.rollouts)
            node.first_backup = self.node_value(ctx, node)
        self.backup(ctx, path)
        return spent

    def leaf_value(self, ctx: SearchContext, node: Node) -> float:
        """The soft mean of the node's rollouts."""
        rs = [r for _, r in node.rollouts]
        return soft_backup([1.0] * len(rs), rs, ctx.cfg.lam)

    def node_value(self, ctx: SearchContext, node: Node) -> float:
        pairs = [(w, c.value) for w, c in zip(node.weights, node.children) if c.value is not None]
        return soft_backup([w for w, _ in pairs], [v for _, v in pairs], ctx.cfg.lam)

    def backup(self, ctx: SearchContext, path: list[Node]) -> None:
        self.recount(path)
        for node in reversed(path):
            node.visits += 1
            if node.expanded:
                node.value = self.node_value(ctx, node)
            elif not node.terminal:
                node.value = self.leaf_value(ctx, node)

    def output(self, ctx: SearchContext, root: Node) -> list[tuple]:
        return [self.descend(ctx, root, sample=True) for _ in range(ctx.cfg.num_samples)]

    def descend(self, ctx: SearchContext, root: Node, sample: bool) -> tuple:
        """From the root by the output rule (sampled, or its argmax for ``dts_star``) to a
        leaf, then one of the leaf's continuations by exp(lam r) (or the best)."""
        node, lam = root, ctx.cfg.lam
        while node.expanded and not node.terminal:
            probs = soft_probs(node.weights, node.child_values(), lam)
            node = node.children[choice(probs, ctx.rng) if sample else int(np.argmax(probs))]
        rs = [r for _, r in node.rollouts]
        if sample:
            probs = soft_probs([1.0] * len(rs), rs, lam)
            return node.rollouts[choice(probs, ctx.rng)][0]
        return node.rollouts[int(np.argmax(rs))][0]
