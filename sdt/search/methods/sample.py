"""``sample``: ``num_samples`` ancestral samples at the rollout temperature, one batch."""

from __future__ import annotations

import numpy as np

from sdt.search.methods._base import Method, Rollout, SearchContext
from sdt.search.node import trie_stats


def sample_from_root(ctx: SearchContext, n: int) -> Rollout:
    """The request for ``n`` continuations sampled from the root in one batch."""
    return Rollout([()] * n, np.repeat(ctx.root_logp[None], n, axis=0),
                   ctx.cfg.rollout_temperature)


class Sample(Method):
    name = "sample"

    def search(self, ctx: SearchContext):
        ys = yield sample_from_root(ctx, ctx.cfg.num_samples)
        return ys, trie_stats(ys)
