"""``sample``: ``num_samples`` ancestral samples at the rollout temperature, one batch."""

from __future__ import annotations

import numpy as np

from sdt.search.methods._base import Method, SearchContext
from sdt.search.node import trie_stats


def sample_from_root(ctx: SearchContext, n: int) -> list[tuple]:
    """``n`` continuations sampled from the root in one batch."""
    cfg = ctx.cfg
    first = np.repeat(ctx.root_logp[None], n, axis=0)
    return ctx.policy.rollout([()] * n, first, cfg.max_new_tokens, cfg.rollout_temperature,
                              ctx.rng)


class Sample(Method):
    name = "sample"

    def run(self, ctx: SearchContext):
        ys = sample_from_root(ctx, ctx.cfg.num_samples)
        return ys, trie_stats(ys)
