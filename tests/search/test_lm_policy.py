"""LMPolicy on a real tiny Llama: cached, batched, padded prefixes give exactly the
distributions of a plain forward without cache; NFE equals the rows it ran."""

import numpy as np
import pytest
import torch

from sdt.search import LMPolicy, SADTState, run_search
from sdt.search.methods import METHODS

from searchkit import search_cfg

EOS = 1


@pytest.fixture(scope="module")
def lm():
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    cfg = LlamaConfig(vocab_size=24, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                      num_attention_heads=4, num_key_value_heads=4, eos_token_id=EOS,
                      attn_implementation="sdpa")
    return LlamaForCausalLM(cfg).eval()


@pytest.fixture(scope="module")
def query(lm):
    torch.manual_seed(1)
    embeds = torch.randn(1, 7, 32)
    mask = torch.tensor([[0, 0, 1, 1, 1, 1, 1]])  # left padded, as TSLM.prompt_embeds gives
    return embeds, mask


@torch.no_grad()
def plain(lm, query, prefix):
    """Next-token log-distribution and last hidden state, no cache, one row."""
    embeds, mask = query
    tok = lm.get_input_embeddings()(torch.tensor([list(prefix)], dtype=torch.long))
    x = torch.cat([embeds, tok], 1)
    m = torch.cat([mask, torch.ones(1, len(prefix), dtype=torch.long)], 1)
    pos = (m.cumsum(-1) - 1).clamp_min(0)
    out = lm(inputs_embeds=x, attention_mask=m, position_ids=pos, output_hidden_states=True)
    return torch.log_softmax(out.logits[0, -1], -1).numpy(), out.hidden_states[-1][0, -1].numpy()


def test_batched_padded_prefixes_match_a_plain_forward(lm, query):
    policy = LMPolicy(lm, EOS)
    root_logp, root_h = policy.start(query)
    ref = plain(lm, query, ())
    np.testing.assert_allclose(root_logp, ref[0], atol=1e-5)
    np.testing.assert_allclose(root_h, ref[1], atol=1e-5)
    prefixes = [(3,), (5, 6, 7), (2, 9), (4, 4, 4, 4, 4)]
    logp, hidden = policy.dists(prefixes)
    for i, p in enumerate(prefixes):
        ref = plain(lm, query, p)
        np.testing.assert_allclose(logp[i], ref[0], atol=1e-5)
        np.testing.assert_allclose(hidden[i], ref[1], atol=1e-5)
    assert policy.nfe == 1 + 4 == policy.forward_rows
    assert policy.batch_log == [1, 4]


def test_greedy_rollout_with_cache_matches_plain_decoding(lm, query):
    policy = LMPolicy(lm, EOS)
    root, _ = policy.start(query)
    prefixes = [(), (3, 8)]
    first = np.stack([root, policy.dists([(3, 8)])[0][0]])
    ys = policy.rollout(prefixes, first, 9, 0.0, np.random.default_rng(0))
    for p, y in zip(prefixes, ys):
        seq = list(p)
        while len(seq) < 9:
            tok = int(np.argmax(plain(lm, query, tuple(seq))[0]))
            if tok == EOS:
                break
            seq.append(tok)
        assert y == tuple(seq)
    assert policy.nfe == policy.forward_rows


def test_sampled_rollouts_are_complete_and_counted(lm, query):
    policy = LMPolicy(lm, EOS)
    root, _ = policy.start(query)
    ys = policy.rollout([()] * 16, np.repeat(root[None], 16, 0), 6, 1.0, np.random.default_rng(0))
    assert len(set(ys)) > 1
    assert all(len(y) <= 6 and EOS not in y for y in ys)
    assert policy.nfe == policy.forward_rows
    assert policy.tokens >= sum(len(y) for y in ys)


def lm_setup(lm, method, parallel, **extra):
    """A small config for ``method`` on the test LM, the policy, the S-ADT state (sadt), and
    a reward that likes distinct tokens."""
    cfg = {"method": method, "max_new_tokens": 5, **extra}
    if method not in ("greedy", "sample"):
        cfg["num_rollouts"] = 6
    if method in ("mcts", "dts", "dts_star", "maxent_ts", "sadt"):
        cfg.update(expansion_k=3, parallel_rollouts=parallel)
    if method == "sadt":
        cfg["value_head"] = {"train_steps": 2}
    cfg = search_cfg(**cfg)
    policy = LMPolicy(lm, EOS)
    state = SADTState.from_config(cfg, policy.hidden_size) if method == "sadt" else None
    reward = lambda ys: np.array([float(len(set(y))) for y in ys])  # noqa: E731
    return cfg, policy, state, reward


@pytest.mark.parametrize("method", sorted(METHODS))
def test_every_method_runs_on_the_lm_with_exact_nfe(lm, query, method):
    cfg, policy, state, reward = lm_setup(lm, method, 3)
    rng = np.random.default_rng(0)
    for _ in range(2):
        policy.forward_rows = 0
        res = run_search(policy, query, reward, cfg, rng, state=state)
        assert res.stats["nfe"] == policy.forward_rows
        assert all(len(y) <= 5 and EOS not in y for y in res.continuations)
        np.testing.assert_array_equal(res.rewards, reward(res.continuations))


@pytest.fixture(scope="module")
def queries(lm):
    """Three prompts of different lengths and padding, as TSLM.prompt_embeds gives them."""
    torch.manual_seed(2)
    out = []
    for length, pad in ((7, 2), (4, 0), (9, 5)):
        mask = torch.ones(1, length, dtype=torch.long)
        mask[0, :pad] = 0
        out.append((torch.randn(1, length, 32), mask))
    return out


def test_rows_of_many_queries_in_one_forward_match_a_plain_forward(lm, queries):
    policy = LMPolicy(lm, EOS)
    roots, hidden = policy.start_many(queries)
    for q, query in enumerate(queries):
        ref = plain(lm, query, ())
        np.testing.assert_allclose(roots[q], ref[0], atol=1e-5)
        np.testing.assert_allclose(hidden[q], ref[1], atol=1e-5)
    rows = [(2, (3,)), (0, (5, 6, 7)), (1, (2, 9)), (2, (4, 4, 4, 4)), (0, (3,))]
    logp, h = policy.dists_rows([s for s, _ in rows], [p for _, p in rows])
    for i, (slot, prefix) in enumerate(rows):
        ref = plain(lm, queries[slot], prefix)
        np.testing.assert_allclose(logp[i], ref[0], atol=1e-5)
        np.testing.assert_allclose(h[i], ref[1], atol=1e-5)
    assert policy.nfe == 3 + 5 == policy.forward_rows
    assert policy.batch_log == [3, 5]


def test_lockstep_greedy_equals_one_query_at_a_time(lm, queries):
    """Deterministic decoding shows that rows of other queries never leak into a query's
    continuation: in lockstep (one forward per step for all three) and one at a time give
    the same continuations and the same per-query NFE."""
    from sdt.search import run_searches

    reward = lambda ys: np.array([float(len(y)) for y in ys])  # noqa: E731
    out = {}
    for window in (1, 3):
        policy = LMPolicy(lm, EOS)
        cfg = search_cfg(method="greedy", max_new_tokens=8, query_batch=window)
        res = run_searches(policy, queries, [reward] * 3, cfg, np.random.default_rng(0))
        out[window] = [(r.continuations, r.stats["nfe"], r.stats["tokens"]) for r in res]
        assert sum(r.stats["nfe"] for r in res) == policy.forward_rows
    assert out[1] == out[3]


@pytest.mark.parametrize("method", ["dts", "maxent_ts", "sadt", "mcts", "best_of_n"])
def test_lockstep_tree_searches_count_each_query_exactly(lm, queries, method):
    from sdt.search import run_searches

    cfg, policy, state, reward = lm_setup(lm, method, 2, query_batch=3)
    res = run_searches(policy, queries * 2, [reward] * 6, cfg, np.random.default_rng(0),
                       state=state)
    assert len(res) == 6
    assert sum(r.stats["nfe"] for r in res) == policy.forward_rows
    assert sum(r.stats["nfe"] for r in res[3:]) == policy.nfe  # the last window's total
    assert max(policy.batch_log) > 3  # rows of several queries shared forward calls
    for r in res:
        assert all(len(y) <= 5 and EOS not in y for y in r.continuations)
        np.testing.assert_array_equal(r.rewards, reward(r.continuations))


def test_cached_sampling_draws_from_the_model_distribution(lm, query):
    """The decode loop's sampler (an exponential race on the GPU/CPU tensor) samples p: the
    token after a forced one, over 6000 rollouts, against the plain forward's distribution."""
    policy = LMPolicy(lm, EOS)
    policy.start(query)
    first = np.full((6000, 24), -np.inf)
    first[:, 5] = 0.0  # the first sampled token is 5; the next comes from the decode loop
    ys = policy.rollout([(3,)] * 6000, first, 3, 1.0, np.random.default_rng(0))
    counts = np.bincount([y[2] if len(y) == 3 else EOS for y in ys], minlength=24) / 6000
    p = np.exp(plain(lm, query, (3, 5))[0])
    assert 0.5 * np.abs(counts - p).sum() < 0.04  # TV; the Monte-Carlo floor is about 0.02
