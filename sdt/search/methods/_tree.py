"""The loop shared by every tree method: select, expand, evaluate, back up.

One iteration (``num_rollouts`` rollouts in all, so every method spends the same budget
knob; ``parallel_rollouts`` walks per iteration, their rollouts in one batch):

1. From the root, while the node is expanded-or-expandable (the root, or a node evaluated
   before) and not terminal: expand it if it has no children yet, then select a child.
2. The walk stops at a node never evaluated (or a terminal one). A terminal node's value is its
   reward; otherwise the node is completed by one rollout from p at the rollout temperature
   (its distribution is computed first if it is not known: one NFE), and the rollout's reward
   is its first value. The rollout is stored: it completes the node in the output rule.
3. Each reward is backed up along its path (the subclass's rule).

Children that are complete (their token is EOS, or they reach ``max_new_tokens``) are scored
when they are created (one batched reward call, no NFE) and count as evaluated, with their
exact value r.
"""

from __future__ import annotations

from abc import abstractmethod

import numpy as np

from sdt.search.methods._base import Method, SearchContext
from sdt.search.node import Node, tree_stats


class TreeSearch(Method):
    def run(self, ctx: SearchContext):
        self.root = root = Node((), logp=ctx.root_logp, hidden=ctx.root_hidden)
        self.seen: list[tuple[tuple, float]] = []  # every complete sequence evaluated
        left = ctx.cfg.num_rollouts
        while left > 0:
            batch = min(ctx.cfg.parallel_rollouts, left)
            self.iterate(ctx, root, batch)
            left -= batch
        out = self.output(ctx, root)
        self.finish(ctx, root)
        return out, tree_stats(root)

    def iterate(self, ctx: SearchContext, root: Node, batch: int = 1) -> None:
        """``batch`` walks from the same tree state, their rollouts in one batch, then the
        backups (a node two walks reach gets two rollouts)."""
        paths = [self.walk(ctx, root) for _ in range(batch)]
        leaves = [p[-1] for p in paths]
        seqs = [n.tokens for n in leaves]  # a terminal leaf is its own sequence
        todo = [i for i, n in enumerate(leaves) if not n.terminal]
        for i, y in zip(todo, self.complete(ctx, [leaves[i] for i in todo])):
            seqs[i] = y
        for path, y, r in zip(paths, seqs, ctx.reward(seqs)):
            leaf = path[-1]
            if not leaf.terminal:
                if leaf.rollout is None:
                    leaf.rollout = y
                self.seen.append((y, float(r)))
            self.backup(ctx, path, float(r))

    def walk(self, ctx: SearchContext, root: Node) -> list[Node]:
        node, path = root, [root]
        while not node.terminal and (node is root or node.visits > 0):
            if not node.expanded:
                self.expand(ctx, node)
            node = self.select(ctx, node)
            path.append(node)
        return path

    # -- pieces shared by the methods ------------------------------------------------------

    def complete(self, ctx: SearchContext, nodes: list[Node]) -> list[tuple]:
        """One rollout per node (one batch); unknown distributions are computed first."""
        if not nodes:
            return []
        unknown = list({id(n): n for n in nodes if n.logp is None}.values())
        if unknown:
            logp, hidden = ctx.policy.dists([n.tokens for n in unknown])
            for i, n in enumerate(unknown):
                n.logp = logp[i]
                n.hidden = None if hidden is None else hidden[i]
        return ctx.policy.rollout([n.tokens for n in nodes], np.stack([n.logp for n in nodes]),
                                  ctx.cfg.max_new_tokens, ctx.cfg.rollout_temperature, ctx.rng)

    def attach(self, ctx: SearchContext, node: Node, tokens, weights) -> list[Node]:
        """Create children of ``node`` for ``tokens``; complete ones are scored at once."""
        eos, horizon = ctx.policy.eos_id, ctx.cfg.max_new_tokens
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
                c.rollout = c.tokens
                self.seen.append((c.tokens, float(r)))
        node.expanded = True
        return new

    def finish(self, ctx: SearchContext, root: Node) -> None:
        """Called once after the output is chosen (``sadt`` learns from the tree here)."""

    # -- what each method defines ----------------------------------------------------------

    @abstractmethod
    def expand(self, ctx: SearchContext, node: Node) -> None: ...

    @abstractmethod
    def select(self, ctx: SearchContext, node: Node) -> Node: ...

    @abstractmethod
    def backup(self, ctx: SearchContext, path: list[Node], r: float) -> None: ...

    @abstractmethod
    def output(self, ctx: SearchContext, root: Node) -> list[tuple]: ...
