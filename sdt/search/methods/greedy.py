"""``greedy``: argmax at each step, one continuation (the OpenTSLM baseline)."""

from __future__ import annotations

from sdt.search.methods._base import Method, Rollout, SearchContext
from sdt.search.node import trie_stats


class Greedy(Method):
    name = "greedy"

    def search(self, ctx: SearchContext):
        ys = yield Rollout([()], ctx.root_logp[None], 0.0)
        return ys, trie_stats(ys)
