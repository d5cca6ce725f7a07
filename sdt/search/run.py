"""``run_search``: one query, one method, one result."""

from __future__ import annotations

import time

import numpy as np

from sdt.search.methods import get_method
from sdt.search.methods._base import SearchContext
from sdt.search.policy import Policy
from sdt.search.result import RewardCache, SearchResult


def run_search(policy: Policy, query, reward_fn, cfg, rng: np.random.Generator,
               state=None) -> SearchResult:
    """Search one query with ``cfg.method``.

    ``query``: what the policy prefills (``LMPolicy``: ``(inputs_embeds [1,T,H],
    attention_mask [1,T])``). ``reward_fn(list of token tuples) -> array`` scores complete
    continuations (EOS excluded), batched; it is called once per distinct sequence. ``state``:
    the run's :class:`~sdt.search.sadt.SADTState` (``sadt`` only; kept across queries).
    ``stats['time_s']`` covers the prefill, the search and (``sadt``) the head's training.
    """
    if cfg.method == "sadt" and state is None:
        raise ValueError("method sadt needs state=SADTState.from_config(cfg, "
                         "policy.hidden_size) kept across the run's queries")
    start = time.perf_counter()
    reward = RewardCache(reward_fn)
    logp, hidden = policy.start(query)
    ctx = SearchContext(policy, reward, cfg, rng, logp, hidden, state)
    continuations, tree = get_method(cfg.method)().run(ctx)
    rewards = reward(continuations)
    stats = {"nfe": float(policy.nfe), "tokens": float(policy.tokens), **tree,
             "time_s": time.perf_counter() - start}
    return SearchResult(list(continuations), rewards, stats)
