"""The TSLM's prompt layout, labels, positions and decoding."""

import math

import pytest
import torch

from sdt.model.tslm import IGNORE, position_ids


def test_labels_cover_answer_and_eos_only(model, samples):
    embeds, mask, labels = model.training_batch(samples)
    tok = model.tokenizer
    for i, s in enumerate(samples):
        ids = labels[i][labels[i] != IGNORE].tolist()
        assert ids[-1] == tok.eos_token_id
        assert tok.decode(ids[:-1]) == " " + s.answer.lstrip()
    # padding (left) is never a label
    assert (labels[mask == 0] == IGNORE).all()


def test_left_padding_and_patch_counts(model, samples):
    embeds, mask = model.prompt_embeds(samples)
    assert embeds.shape[:2] == mask.shape
    # left padded: once a row starts, it never has padding again
    assert (mask.cummax(dim=1).values == mask).all()
    assert mask[:, -1].all()
    rows, _, _ = model._layout(samples, answers=False)
    for i, s in enumerate(samples):
        patches = sum(-(-len(x) // 4) for x in s.series)  # real patches only
        assert sum(r == -1 for r in rows[i]) == patches
        assert int(mask[i].sum()) == len(rows[i])
    pos = position_ids(mask)
    for i in range(len(samples)):
        n = int(mask[i].sum())
        assert pos[i, -n:].tolist() == list(range(n))


def test_row_is_independent_of_its_batch(model, samples):
    """Padding (tokens or patches) changes nothing: a row's logits alone == in a batch."""
    alone = model.prefill(samples[:1]).logits
    batched = model.prefill(samples).logits[:1]
    torch.testing.assert_close(alone, batched, atol=1e-4, rtol=1e-4)


def test_cached_greedy_equals_argmax_of_full_forward(model, samples):
    """Positions and cache in generation match a full (training-style) forward."""
    state = model.prefill(samples)
    tokens = []
    for _ in range(5):
        nxt = state.logits.argmax(-1)
        tokens.append(nxt)
        state = model.extend(state, nxt)
    tokens = torch.stack(tokens, 1)  # [B, 5]
    embeds, mask = model.prompt_embeds(samples)
    full = torch.cat([embeds, model.lm.get_input_embeddings()(tokens)], 1)
    full_mask = torch.cat([mask, torch.ones_like(tokens)], 1)
    with torch.no_grad():
        logits = model.lm(inputs_embeds=full, attention_mask=full_mask,
                          position_ids=position_ids(full_mask)).logits
    T = embeds.shape[1]
    assert torch.equal(logits[:, T - 1:T + 4].argmax(-1), tokens)
    texts = model.generate(samples, max_new_tokens=5)
    eos = model.tokenizer.eos_token_id
    for row, text in zip(tokens.tolist(), texts):
        row = row[: row.index(eos)] if eos in row else row
        assert text == model.tokenizer.decode(row, skip_special_tokens=True).strip()


def test_select_copies_rows_for_branching(model, samples):
    state = model.prefill(samples[:2])
    branch = state.select([1, 1, 0])
    nxt = torch.tensor([3, 4, 5])
    after = model.extend(branch, nxt)
    alone = model.extend(model.prefill(samples[1:2]), torch.tensor([4]))
    torch.testing.assert_close(after.logits[1:2], alone.logits, atol=1e-4, rtol=1e-4)
    assert after.cache.get_seq_length() == state.cache.get_seq_length() + 1  # a copy grew


def test_ignore_series_removes_patches_and_statistics(model, samples):
    model.ignore_series = True
    rows, _, (series, stats) = model._layout(samples, answers=False)
    assert series == [] and stats == [] and all(-1 not in r for r in rows)
    assert "mean" not in model.tokenizer.decode(rows[0])


def test_padded_patches_do_not_leak_into_real_ones(model):
    enc = model.encoder
    a = torch.randn(10)
    stats = torch.tensor([enc.stats_features(1.0, 2.0), enc.stats_features(-3.0, 0.5)])
    alone, real_a, extra_a = enc([a], stats[:1])
    both, real, extra = enc([a, torch.randn(40)], stats)
    assert real_a.sum() == 3 and real[0].sum() == 3 and real[1].sum() == 10
    torch.testing.assert_close(alone[0, :3], both[0, :3], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(extra_a[0], extra[0])


def test_series_features_reach_every_patch_embedding(model, samples, monkeypatch):
    """The series features are one vector per series in the LM's width, added to each of its
    projected patches; they start silent (zero-initialised) and z-scoring-equal series differ
    through them once learned."""
    enc = model.encoder
    z = torch.randn(12)
    small = torch.tensor([enc.stats_features(0.0, 0.01)])
    large = torch.tensor([enc.stats_features(50.0, 100.0)])
    assert enc.stats_features(-50.0, 1000.0) == pytest.approx([3.0, -math.log10(51.0)])
    fresh = type(enc)(4, 16, 1, 2, 8, series_features=True, out_dim=24)
    h_small, _, e_small = fresh([z], small)
    h_large, _, e_large = fresh([z], large)
    torch.testing.assert_close(h_small, h_large)  # the patches never see them
    assert e_small.shape == (1, 24) and not e_small.any()  # zero-initialised
    with torch.no_grad():
        fresh.globals.weight.normal_()
    assert not torch.allclose(fresh([z], small)[2], fresh([z], large)[2])
    assert type(enc)(4, 16, 1, 2, 8)([z])[2] is None
    # in the TSLM: each patch embedding = projector(patch) + its own series' vector
    monkeypatch.setattr(enc.globals, "weight", torch.nn.Parameter(
        torch.randn_like(enc.globals.weight)))
    monkeypatch.setattr(model, "ignore_series", False)
    rows, _, (series, stats) = model._layout(samples, answers=False)
    embeds, mask = model._embed(rows, (series, stats))
    h, real, extra = enc(series, torch.tensor(stats))
    expected = model.projector(h[real]) + extra[real.nonzero()[:, 0]]
    T = embeds.shape[1]
    placed = torch.cat([embeds[i, T - len(r):][torch.tensor(r) == -1]
                        for i, r in enumerate(rows)])
    torch.testing.assert_close(placed, expected)


@pytest.mark.parametrize("at", [0, 40, 59, 75, 99])
def test_where_feature_puts_a_spike_in_its_twelfth(model, at):
    """A spike of 20 noise stds at step ``at`` of 100 puts (almost) all of the 'where' mass in
    bin floor(12 * at / 99), whatever the series' scale and trend."""
    from sdt.model.encoder import robust_diff, zscore
    enc = model.encoder
    g = torch.Generator().manual_seed(at)
    x = torch.randn(100, generator=g) + torch.linspace(0, 5, 100)
    x[at] += 20.0
    for scale in (1e-3, 1.0, 1e3):
        z, mean, std = zscore(x * scale + 7)
        rdx = robust_diff(z, enc.ROBUST_CLIP)[None]
        rel = (torch.arange(100) / 99.0)[None]
        feats = enc.global_features(rdx, rel, torch.ones(1, 100, dtype=torch.bool),
                                    torch.tensor([enc.stats_features(mean, std)]))
        where = feats[0, 2:2 + enc.WHERE_BINS]
        assert where.sum().item() == pytest.approx(1.0, abs=1e-5)
        # the spike's own difference (step at) and the return (at + 1) share the mass
        bins = {min(int(12 * t / 99), 11) for t in (at, min(at + 1, 99))}
        assert sum(where[b].item() for b in bins) > 0.99
