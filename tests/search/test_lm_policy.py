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


@pytest.mark.parametrize("method", sorted(METHODS))
def test_every_method_runs_on_the_lm_with_exact_nfe(lm, query, method):
    cfg = {"method": method, "max_new_tokens": 5}
    if method not in ("greedy", "sample"):
        cfg["num_rollouts"] = 6
    if method in ("mcts", "dts", "dts_star", "maxent_ts", "sadt"):
        cfg["expansion_k"] = 3
        cfg["parallel_rollouts"] = 3
    if method == "sadt":
        cfg["value_head"] = {"train_steps": 2}
    cfg = search_cfg(**cfg)
    policy = LMPolicy(lm, EOS)
    state = SADTState.from_config(cfg, policy.hidden_size) if method == "sadt" else None
    reward = lambda ys: np.array([float(len(set(y))) for y in ys])  # noqa: E731
    rng = np.random.default_rng(0)
    for _ in range(2):
        policy.forward_rows = 0
        res = run_search(policy, query, reward, cfg, rng, state=state)
        assert res.stats["nfe"] == policy.forward_rows
        assert all(len(y) <= 5 and EOS not in y for y in res.continuations)
        np.testing.assert_array_equal(res.rewards, reward(res.continuations))
