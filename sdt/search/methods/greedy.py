"""``greedy``: argmax at each step, one continuation (the OpenTSLM baseline)."""

from __future__ import annotations

from sdt.search.methods._base import Method, SearchContext
from sdt.search.node import trie_stats


class Greedy(Method):
    name = "greedy"

    def run(self, ctx: SearchContext):
        ys = ctx.policy.rollout([()], ctx.root_logp[None], ctx.cfg.max_new_tokens, 0.0, ctx.rng)
        return ys, trie_stats(ys)
