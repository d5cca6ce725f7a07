"""``run_searches``: many queries, one method, the trees advanced in lockstep; ``run_search``:
one query.

Lockstep: the queries of a window (``search.query_batch`` of them) are prefilled in one
forward call; each query's search is a generator (:meth:`Method.search`) that runs strictly
sequentially and yields the policy calls it needs. Each round, the driver collects the pending
request of every tree, answers all distribution requests in one batched call and all rollout
requests in another (rows of different queries side by side over their own prompt caches),
and sends each tree its part. No tree sees another's rows, so each tree does exactly what it
would do alone; only the forward calls are shared.

Cost per query: the driver books each request's NFE and tokens to the query that made it (the
prefill counts 1), so ``stats["nfe"]`` is that query's own count; their sum is the policy's
total. ``time_s`` is the window's wall time (prefill, search, ``sadt`` training) divided by its
queries: under lockstep a forward call serves them all.
"""

from __future__ import annotations

import time

import numpy as np

from sdt.search.methods import get_method
from sdt.search.methods._base import Dists, Rollout, SearchContext
from sdt.search.policy import Policy
from sdt.search.result import RewardCache, SearchResult


def run_search(policy: Policy, query, reward_fn, cfg, rng: np.random.Generator,
               state=None) -> SearchResult:
    """Search one query with ``cfg.method``.

    ``query``: what the policy prefills (``LMPolicy``: ``(inputs_embeds [1,T,H],
    attention_mask [1,T])``). ``reward_fn(list of token tuples) -> array`` scores complete
    continuations (EOS excluded), batched; it is called once per distinct sequence. ``state``:
    the run's :class:`~sdt.search.sadt.SADTState` (``sadt`` only; kept across queries).
    """
    return run_searches(policy, [query], [reward_fn], cfg, rng, state=state)[0]


def run_searches(policy: Policy, queries: list, reward_fns: list, cfg,
                 rng: np.random.Generator, state=None, window: int | None = None,
                 on_result=None) -> list[SearchResult]:
    """Search every query (``reward_fns[i]`` scores query i), ``window`` (default
    ``cfg.query_batch``) at a time in lockstep; results in query order. ``on_result(i,
    result)`` is called as each window finishes, in order (progress, logging)."""
    if len(queries) != len(reward_fns):
        raise ValueError(f"{len(queries)} queries but {len(reward_fns)} reward functions")
    if cfg.method == "sadt" and state is None:
        raise ValueError("method sadt needs state=SADTState.from_config(cfg, "
                         "policy.hidden_size) kept across the run's queries")
    window = window or getattr(cfg, "query_batch", 1)
    results: list[SearchResult] = []
    for start in range(0, len(queries), window):
        part = _window(policy, queries[start:start + window],
                       reward_fns[start:start + window], cfg, rng, state)
        for i, res in enumerate(part):
            if on_result is not None:
                on_result(start + i, res)
        results += part
    return results


def _window(policy: Policy, queries, reward_fns, cfg, rng, state) -> list[SearchResult]:
    start = time.perf_counter()
    n = len(queries)
    logp, hidden = policy.start_many(queries)
    nfe, tokens = [1.0] * n, [0.0] * n
    rewards = [RewardCache(fn) for fn in reward_fns]
    ctxs = [SearchContext(rewards[i], cfg, rng, logp[i], None if hidden is None else hidden[i],
                          policy.eos_id, state) for i in range(n)]
    methods = [get_method(cfg.method)() for _ in range(n)]
    searches = [m.search(c) for m, c in zip(methods, ctxs)]
    done: dict[int, tuple] = {}
    pending: dict[int, object] = {}

    def advance(i: int, answer) -> None:
        try:
            pending[i] = searches[i].send(answer)
        except StopIteration as stop:
            done[i] = stop.value
            methods[i].finish(ctxs[i])

    for i in range(n):
        advance(i, None)
    while pending:
        requests, pending = pending, {}
        asks = [(i, r) for i, r in requests.items() if isinstance(r, Dists)]
        if asks:
            lp, h = policy.dists_rows([i for i, r in asks for _ in r.prefixes],
                                      [p for _, r in asks for p in r.prefixes])
            at = 0
            for i, r in asks:
                b = len(r.prefixes)
                nfe[i] += b
                advance(i, (lp[at:at + b], None if h is None else h[at:at + b]))
                at += b
        rolls = [(i, r) for i, r in requests.items() if isinstance(r, Rollout)]
        for temperature in sorted({r.temperature for _, r in rolls}):
            group = [(i, r) for i, r in rolls if r.temperature == temperature]
            ys, sampled = policy.rollout_rows(
                [i for i, r in group for _ in r.prefixes],
                [p for _, r in group for p in r.prefixes],
                np.concatenate([r.first_logp for _, r in group]), cfg.max_new_tokens,
                temperature, rng)
            at = 0
            for i, r in group:
                b = len(r.prefixes)
                tokens[i] += sum(sampled[at:at + b])
                nfe[i] += sum(sampled[at:at + b]) - b
                advance(i, ys[at:at + b])
                at += b
        unknown = [r for r in requests.values() if not isinstance(r, (Dists, Rollout))]
        if unknown:
            raise TypeError(f"a search yielded {unknown[0]!r}, not a Dists or Rollout request")
    per_query = (time.perf_counter() - start) / n
    out = []
    for i in range(n):
        continuations, tree = done[i]
        stats = {"nfe": nfe[i], "tokens": tokens[i], **tree, "time_s": per_query}
        out.append(SearchResult(list(continuations), rewards[i](continuations), stats,
                                getattr(methods[i], "root", None)))
    return out
