"""Search: S-ADT and the baselines over a trained time-series LM (``shared/design/SEARCH.md``).

Public API::

    from sdt.search import run_search, get_method, LMPolicy, SADTState, SearchResult

    policy = LMPolicy(tslm.lm, eos_id=tslm.tokenizer.eos_token_id)
    query = tslm.prompt_embeds([sample])            # (inputs_embeds [1,T,H], mask [1,T])
    state = SADTState.from_config(cfg.search, policy.hidden_size, seed=cfg.seed)  # sadt only
    res = run_search(policy, query, reward_fn, cfg.search, np.random.default_rng(seed),
                     state=state)
    res.continuations   # num_samples token-id tuples, EOS excluded, complete
    res.rewards         # r of each, from reward_fn (not a node value)
    res.stats           # nfe, tokens, nodes, max_depth, mean_branching, time_s
    res.tree            # the final tree's root Node (tree methods)
    state.save(path)    # the S-ADT artifact (value head + buffer); search.buffer_load reads it

    # many queries, their trees in lockstep (``search.query_batch`` per window, one forward
    # call for all their rows; each tree exactly as alone):
    results = run_searches(policy, queries, reward_fns, cfg.search, rng, state=state)

- ``reward_fn(list[tuple[int, ...]]) -> np.ndarray``: batched, continuation tokens only; the
  search calls it once per distinct sequence per query.
- ``get_method(name)``: the registered :class:`~sdt.search.methods.Method` class
  (``greedy sample best_of_n mcts dts dts_star maxent_ts sadt``).
- ``Policy``: the interface (``start_many``/``dists_rows``/``rollout_rows`` over rows of
  (query slot, prefix), and one-query ``start``/``dists``/``rollout``; NFE counted there);
  ``LMPolicy`` over a transformers causal LM, ``ToyPolicy`` an explicit transition table.
- Methods are generators that yield their policy calls (:mod:`sdt.search.methods._base`), so
  the driver (:mod:`sdt.search.run`) can batch many trees' calls without changing any tree.
- Config: :mod:`sdt.config.search` (``SearchSection``, a tagged union on ``method``). Tree
  methods take ``parallel_rollouts`` (default 1): rollouts per new leaf, one batch.
"""

# Lazy: ``sdt.search.cli`` and ``sdt.search.rewards`` import this package, and ``--help``
# must not pay for torch.
_EXPORTS = {
    "LMPolicy": "sdt.search.lm_policy", "METHODS": "sdt.search.methods",
    "TREE_METHODS": "sdt.search.methods", "get_method": "sdt.search.methods",
    "Policy": "sdt.search.policy", "SearchResult": "sdt.search.result",
    "run_search": "sdt.search.run", "run_searches": "sdt.search.run", "SADTState": "sdt.search.sadt", "ToyPolicy": "sdt.search.toy",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name):
    if name in _EXPORTS:
        import importlib

        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'sdt.search' has no attribute {name!r}")
