"""``best_of_n``: ``num_rollouts`` samples in one batch; the ``num_samples`` best by reward."""

from __future__ import annotations

import numpy as np

from sdt.search.methods._base import Method, SearchContext
from sdt.search.methods.sample import sample_from_root
from sdt.search.node import trie_stats


class BestOfN(Method):
    name = "best_of_n"

    def search(self, ctx: SearchContext):
        ys = yield sample_from_root(ctx, ctx.cfg.num_rollouts)
        order = np.argsort(-ctx.reward(ys), kind="stable")[: ctx.cfg.num_samples]
        return [ys[i] for i in order], trie_stats(ys)
