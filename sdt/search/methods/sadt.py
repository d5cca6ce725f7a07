"""``sadt``: ``maxent_ts`` with the amortised value F_phi (SEARCH.md, S-ADT amortisation).

- Expansion computes the distributions and hidden states of all non-complete children in one
  forward call (``expansion_k`` NFE) and F_phi on them; a complete child's F is its reward.
- An unevaluated child takes F as its value, in selection and in the backup; selection is
  ∝ p̂(c) exp(lam [(1 - alpha) v(c) + alpha F(c)]) over evaluated children and
  ∝ p̂(c) exp(lam F(c)) over the others. The output rule is the same (without UCT bonus); an
  unevaluated child it stops at is completed by a rollout then (one batch, NFE counted).
- After the output is chosen the tree goes into the state's buffer and F_phi trains
  (``value_head.train_steps`` steps of ``sadt_loss``).
"""

from __future__ import annotations


from sdt.search.methods._base import SearchContext, choice
from sdt.search.methods.maxent_ts import MaxEntTS
from sdt.search.node import Node
from sdt.search.tree import selection_probs, soft_backup


class SADT(MaxEntTS):
    name = "sadt"

    def expand(self, ctx: SearchContext, node: Node) -> None:
        super().expand(ctx, node)
        open_ = [c for c in node.children if not c.terminal]
        if open_:
            logp, hidden = ctx.policy.dists([c.tokens for c in open_])
            if hidden is None:
                raise ValueError("sadt needs a policy that returns hidden states")
            f = ctx.state.values(hidden)
            for i, c in enumerate(open_):
                c.logp, c.hidden, c.f = logp[i], hidden[i], float(f[i])
        for c in node.children:
            if c.terminal:
                c.f = c.value

    def _mixed(self, ctx: SearchContext, node: Node, alpha: float) -> list[float]:
        """(1 - alpha) v + alpha F for evaluated children, F for the others."""
        return [(1 - alpha) * c.value + alpha * c.f if c.visits > 0 else c.f
                for c in node.children]

    def select(self, ctx: SearchContext, node: Node) -> Node:
        return node.children[choice(self._probs(ctx, node, self.bonus(ctx, node)), ctx.rng)]

    def _probs(self, ctx: SearchContext, node: Node, bonus) -> list[float]:
        mixed = self._mixed(ctx, node, ctx.cfg.alpha)
        return selection_probs(node.weights, mixed, [True] * len(mixed), ctx.cfg.lam, 0.0, bonus)

    def node_value(self, ctx: SearchContext, node: Node) -> float:
        return soft_backup(node.weights, self._mixed(ctx, node, 0.0), ctx.cfg.lam)

    def output(self, ctx: SearchContext, root: Node) -> list[tuple]:
        stops = []
        for _ in range(ctx.cfg.num_samples):
            node = root
            while not node.terminal and node.visits > 0 and node.children:
                node = node.children[choice(self._probs(ctx, node, None), ctx.rng)]
            stops.append(node)
        todo = [i for i, n in enumerate(stops) if n.rollout is None]
        fresh = dict(zip(todo, self.complete(ctx, [stops[i] for i in todo])))
        return [fresh[i] if i in fresh else n.rollout for i, n in enumerate(stops)]

    def finish(self, ctx: SearchContext, root: Node) -> None:
        ctx.state.observe(root)
        ctx.state.train()
