"""A search-tree node (a prefix of the continuation) and the tree's statistics."""

from __future__ import annotations

import math

import numpy as np


class Node:
    """One prefix ``tokens`` (generated tokens only, EOS never included).

    ``logp``/``hidden``: the policy's next-token log-distribution and last hidden state at this
    prefix, once computed (None before: computing them costs one NFE). ``terminal``: the prefix
    is complete (it was followed by EOS, or it has ``max_new_tokens`` tokens); its value is its
    reward, known without a rollout. ``weights[i]`` is the weight of ``children[i]`` (prior p(c)
    or sample count). ``value`` is None until the node has an estimate. ``rollouts``: the
    (continuation, reward) pairs that evaluated the node (``parallel_rollouts`` of them; a
    complete node's one pair is itself); an output that stops at this leaf is resampled among
    them. ``f`` is F_phi (``sadt`` only).
    """

    __slots__ = ("tokens", "terminal", "logp", "hidden", "children", "weights", "visits",
                 "value", "value_sum", "rollouts", "f", "expanded", "probs", "first_backup", "open")

    def __init__(self, tokens: tuple, terminal: bool = False, logp=None, hidden=None):
        self.tokens = tokens
        self.terminal = terminal
        self.logp = logp
        self.hidden = hidden
        self.children: list[Node] = []
        self.weights: list[float] = []
        self.visits = 0
        self.value: float | None = None
        self.value_sum = 0.0
        self.rollouts: list[tuple[tuple, float]] = []
        self.f: float | None = None
        self.expanded = False
        self.probs: list[float] | None = None  # exp(logp) as a list, where a method draws often
        # soft methods: the backup over the children right after they were created and
        # evaluated (a second estimate of V taken before any selection below this node)
        self.first_backup: float | None = None
        # non-complete nodes in the subtree not expanded yet (kept along walked paths)
        self.open = 0 if terminal else 1

    @property
    def depth(self) -> int:
        return len(self.tokens)

    def estimated(self) -> list[bool]:
        return [c.value is not None for c in self.children]

    def child_values(self) -> list[float]:
        """Children's values; NaN for a child not evaluated yet."""
        return [c.value if c.value is not None else math.nan for c in self.children]

    def walk(self):
        """Every node of the subtree, depth first."""
        stack = [self]
        while stack:
            node = stack.pop()
            yield node
            stack.extend(node.children)


def tree_stats(root: Node) -> dict[str, float]:
    """nodes (all created, root included), max_depth, mean_branching (children per expanded
    node; 0 for a tree that never expanded)."""
    nodes = 0
    depth = 0
    branching = []
    for node in root.walk():
        nodes += 1
        depth = max(depth, node.depth)
        if node.children:
            branching.append(len(node.children))
    return {"nodes": float(nodes), "max_depth": float(depth),
            "mean_branching": float(np.mean(branching)) if branching else 0.0}


def trie_stats(sequences) -> dict[str, float]:
    """The same statistics for methods without a tree: the trie of the generated sequences."""
    children: dict[tuple, set] = {(): set()}
    depth = 0
    for seq in sequences:
        depth = max(depth, len(seq))
        for i, tok in enumerate(seq):
            children.setdefault(seq[:i], set()).add(tok)
            children.setdefault(seq[:i + 1], set())
    branching = [len(c) for c in children.values() if c]
    return {"nodes": float(len(children)), "max_depth": float(depth),
            "mean_branching": float(np.mean(branching)) if branching else 0.0}
