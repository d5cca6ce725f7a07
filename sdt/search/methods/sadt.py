"""``sadt``: ``maxent_ts`` with the amortised value F_phi (SEARCH.md, S-ADT amortisation).

- Children are evaluated when they are created, as in ``maxent_ts``; the distributions of the
  new children come with their hidden states (the same request), and F_phi runs on them
  (almost free). A complete child's F is its reward.
- Selection is ∝ p̂(c) exp(lam [(1 - alpha) v(c) + alpha F(c)]) (+ optional UCT bonus): F_phi
  steers which leaf is expanded next, i.e. where the rollout budget goes.
- The backup and the output rule use the backed-up values only, never F: whatever F_phi is
  (untrained, or wrong), the output samples the same target as ``maxent_ts``; a good F_phi
  only gets there with fewer rollouts. ``alpha`` belongs to exploration, never to the output.
- After the output is chosen the tree goes into the state's buffer and F_phi trains
  (``value_head.train_steps`` steps of ``sadt_loss``).
"""

from __future__ import annotations

from sdt.search.methods._base import SearchContext, choice
from sdt.search.methods.maxent_ts import MaxEntTS
from sdt.search.node import Node
from sdt.search.tree import soft_probs


class SADT(MaxEntTS):
    name = "sadt"

    def on_dists(self, ctx: SearchContext, nodes: list[Node]) -> None:
        if any(n.hidden is None for n in nodes):
            raise ValueError("sadt needs a policy that returns hidden states")
        for n, f in zip(nodes, ctx.state.values([n.hidden for n in nodes])):
            n.f = float(f)

    def select(self, ctx: SearchContext, node: Node) -> Node:
        alpha = ctx.cfg.alpha
        mixed = [c.value if c.terminal or c.f is None else (1 - alpha) * c.value + alpha * c.f
                 for c in node.children]
        probs = soft_probs(self.walk_weights(node), mixed, ctx.cfg.lam, self.bonus(ctx, node))
        return node.children[choice(probs, ctx.rng)]

    def finish(self, ctx: SearchContext) -> None:
        ctx.state.observe(self.root)
        ctx.state.train()
