"""What every tree method shares: the budget loop, creating children, and evaluating nodes
by rollouts from p.

Budget (the same knob for every method): ``num_rollouts`` rollouts in all. The tree iterates
(the method's :meth:`TreeSearch.iterate`) until it has spent them; an iteration that only
revisits a complete sequence spends one, so a tree that is complete still stops. An iteration
that evaluates several new children finishes even when it passes the budget (each child needs
its estimate), so a tree may spend up to ``(expansion_k - 1) * parallel_rollouts`` more. A tree
whose leaves are all complete stops early (:meth:`TreeSearch.settled`).

Evaluating a node (:meth:`TreeSearch.evaluate`): its distribution is computed if unknown (one
NFE, all nodes of one evaluation in one request), then ``parallel_rollouts`` rollouts from p
at the rollout temperature (one request); each (continuation, reward) is kept in
``node.rollouts``. Children that are complete (their token is EOS, or they reach
``max_new_tokens``) are scored when they are created (a reward call, no NFE) and carry their
exact value r.
"""

from __future__ import annotations

from abc import abstractmethod

import numpy as np

from sdt.search.methods._base import Dists, Method, Rollout, SearchContext
from sdt.search.node import Node, tree_stats


class TreeSearch(Method):
    def search(self, ctx: SearchContext):
        self.root = root = Node((), logp=ctx.root_logp, hidden=ctx.root_hidden)
        self.seen: list[tuple[tuple, float]] = []  # every complete sequence evaluated
        left = ctx.cfg.num_rollouts
        while left > 0 and not self.settled():
            left -= yield from self.iterate(ctx, root)
        out = self.output(ctx, root)
        return out, tree_stats(root)

    # -- pieces shared by the methods ------------------------------------------------------

    def evaluate(self, ctx: SearchContext, nodes: list[Node]):
        """``parallel_rollouts`` rollouts from each node (their distributions first where
        unknown); returns the number of rollouts."""
        if not nodes:
            return 0
        unknown = [n for n in nodes if n.logp is None]
        if unknown:
            logp, hidden = yield Dists([n.tokens for n in unknown])
            for i, n in enumerate(unknown):
                n.logp = logp[i]
                n.hidden = None if hidden is None else hidden[i]
            self.on_dists(ctx, unknown)
        P = ctx.cfg.parallel_rollouts
        ys = yield Rollout([n.tokens for n in nodes for _ in range(P)],
                           np.repeat(np.stack([n.logp for n in nodes]), P, axis=0),
                           ctx.cfg.rollout_temperature)
        rs = ctx.reward(ys).tolist()
        for j, n in enumerate(nodes):
            n.rollouts = list(zip(ys[j * P:(j + 1) * P], rs[j * P:(j + 1) * P]))
        self.seen.extend(zip(ys, rs))
        return len(ys)

    def settled(self) -> bool:
        """Nothing more to learn: every leaf is complete, so further iterations would only
        revisit exact values (``dts`` overrides it: its draws keep refining the counts)."""
        return self.root.open == 0

    @staticmethod
    def recount(path: list[Node]) -> None:
        """Refresh ``open`` along a walked path, bottom up (nodes off the path are unchanged)."""
        for node in reversed(path):
            if node.expanded:
                node.open = sum(c.open for c in node.children)

    def on_dists(self, ctx: SearchContext, nodes: list[Node]) -> None:
        """Called when ``nodes`` got their distributions and hidden states (``sadt``: F_phi)."""

    def attach(self, ctx: SearchContext, node: Node, tokens, weights) -> list[Node]:
        """Create children of ``node`` for ``tokens``; complete ones are scored at once."""
        eos, horizon = ctx.eos_id, ctx.cfg.max_new_tokens
        new = []
        for tok, w in zip(tokens, weights):
            tok = int(tok)
            if tok == eos:
                child = Node(node.tokens, terminal=True)
            else:
                seq = node.tokens + (tok,)
                child = Node(seq, terminal=len(seq) >= horizon)
            node.children.append(child)
            node.weights.append(float(w))
            new.append(child)
        done = [c for c in new if c.terminal]
        if done:
            rewards = ctx.reward([c.tokens for c in done])
            for c, r in zip(done, rewards):
                c.value = c.value_sum = float(r)
                c.visits = 1
                c.rollouts = [(c.tokens, float(r))]
                self.seen.append((c.tokens, float(r)))
        node.expanded = True
        return new

    def finish(self, ctx: SearchContext) -> None:
        """Called once after the output is chosen (``sadt`` learns from ``self.root``)."""

    # -- what each method defines ----------------------------------------------------------

    @abstractmethod
    def iterate(self, ctx: SearchContext, root: Node):
        """One iteration (a generator of policy requests); returns the rollouts it spent."""

    @abstractmethod
    def output(self, ctx: SearchContext, root: Node) -> list[tuple]: ...
