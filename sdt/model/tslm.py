"""TSLM: a causal LM that reads text and time series (OpenTSLM-SP layout).

Prompt of one sample, in order::

    <bos> pre_prompt | per series: caption "<series_text> It has mean M and std S:" then its
    projected patch embeddings | post_prompt

then, in training, the answer tokens and <eos>. Rows are LEFT padded; position ids count real
tokens only (``cumsum(mask) - 1``), in training and in generation alike, so a token's position
never depends on how much padding its row got. Padded patches are dropped before the LM sees
them. The loss covers the answer and <eos> only (prompt and padding are -100).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from sdt.model.encoder import PatchEncoder, zscore
from sdt.model.projector import build_projector

PATCH = -1  # placeholder id where a patch embedding goes
IGNORE = -100


def position_ids(mask: torch.Tensor) -> torch.Tensor:
    """Positions that count real tokens only (left padding gets position 0)."""
    return (mask.long().cumsum(-1) - 1).clamp_min(0)


def caption(text: str, mean: float, std: float) -> str:
    return f"{text} It has mean {mean:.4f} and std {std:.4f}:"


@dataclass
class Decoding:
    """Where decoding stands for B rows: the KV cache, the attention mask over everything
    cached, the position the next token gets, and the next-token logits and last hidden state
    of each row. ``TSLM.extend`` appends one token per row (mutating the cache in place);
    ``select`` copies rows (for branching, repeat an index: ``state.select([0, 0, 1])``)."""

    cache: object
    attention_mask: torch.Tensor  # [B, T]
    next_position: torch.Tensor  # [B]
    logits: torch.Tensor  # [B, V]
    hidden: torch.Tensor  # [B, H]

    def select(self, index) -> "Decoding":
        from transformers import DynamicCache

        idx = torch.as_tensor(index, dtype=torch.long, device=self.attention_mask.device)
        cache = DynamicCache(ddp_cache_data=[
            (layer.keys.index_select(0, idx), layer.values.index_select(0, idx))
            for layer in self.cache.layers])
        return Decoding(cache, self.attention_mask[idx], self.next_position[idx],
                        self.logits[idx], self.hidden[idx])


class TSLM(nn.Module):
    """Encoder + projector + causal LM. ``hparams`` (a plain dict) rebuilds it: see
    :func:`sdt.model.build.build_from_hparams`."""

    def __init__(self, lm, tokenizer, hparams: dict):
        super().__init__()
        self.lm = lm
        self.tokenizer = tokenizer
        self.hparams = hparams
        enc = hparams["encoder"]
        # checkpoints from before series_features keep loading as they were trained
        self.encoder = PatchEncoder(hparams["patch_size"], enc["dim"], enc["num_layers"],
                                    enc["num_heads"], enc["max_patches"],
                                    series_features=enc.get("series_features", False),
                                    out_dim=self.hidden_size)
        self.projector = build_projector(hparams["projector"], enc["dim"], self.hidden_size)
        self.ignore_series = bool(hparams.get("ignore_series", False))

    @property
    def hidden_size(self) -> int:
        return self.lm.get_input_embeddings().embedding_dim

    @property
    def device(self) -> torch.device:
        return next(self.projector.parameters()).device

    # -- prompt ----------------------------------------------------------------------------

    def _layout(self, samples, answers: bool):
        """Token ids per row (PATCH where a patch goes), labels, and the z-scored series with
        their scale features."""
        tok = self.tokenizer
        bos = [tok.bos_token_id] if tok.bos_token_id is not None else []
        texts, series, stats = [], [], []
        plan = []  # per sample: list of ("text", index into texts) / ("series", n_patches)
        for s in samples:
            items = [("text", len(texts))]
            texts.append(s.pre_prompt)
            if not self.ignore_series:
                for raw, text in zip(s.series, s.series_text):
                    z, mean, std = zscore(torch.as_tensor(raw, dtype=torch.float32))
                    items.append(("text", len(texts)))
                    texts.append(" " + caption(text, mean, std))
                    items.append(("series", self.encoder.num_patches(len(z))))
                    series.append(z)
                    stats.append(self.encoder.stats_features(mean, std))
            items.append(("text", len(texts)))
            texts.append(" " + s.post_prompt)
            if answers:
                items.append(("answer", len(texts)))
                texts.append(" " + s.answer.lstrip())
            plan.append(items)
        encoded = tok(texts, add_special_tokens=False)["input_ids"] if texts else []
        rows, labels = [], []
        for items in plan:
            ids, lab = list(bos), [IGNORE] * len(bos)
            for kind, ref in items:
                if kind == "series":
                    ids += [PATCH] * ref
                    lab += [IGNORE] * ref
                elif kind == "answer":
                    ans = encoded[ref] + [tok.eos_token_id]
                    ids += ans
                    lab += ans
                else:
                    ids += encoded[ref]
                    lab += [IGNORE] * len(encoded[ref])
            rows.append(ids)
            labels.append(lab)
        return rows, labels, (series, stats)

    def _embed(self, rows, encoded_series):
        """Left-pad rows and put the projected patches where PATCH stands.
        ``encoded_series``: the z-scored series and their scale features."""
        series, stats = encoded_series
        device = self.device
        T = max(len(r) for r in rows)
        pad = self.tokenizer.pad_token_id
        ids = torch.full((len(rows), T), pad, dtype=torch.long)
        mask = torch.zeros((len(rows), T), dtype=torch.long)
        for i, r in enumerate(rows):
            ids[i, T - len(r):] = torch.tensor(r, dtype=torch.long)
            mask[i, T - len(r):] = 1
        ids, mask = ids.to(device), mask.to(device)
        is_patch = ids == PATCH
        embeds = self.lm.get_input_embeddings()(ids.masked_fill(is_patch, pad))
        if series:
            h, real, extra = self.encoder([z.to(device) for z in series],
                                          torch.tensor(stats, dtype=torch.float32))
            patches = self.projector(h[real])  # [n_real_patches, H]
            if extra is not None:  # each series' features onto each of its patches
                patches = patches + extra[real.nonzero()[:, 0]]
            patches = patches.to(embeds.dtype)
            embeds = embeds.masked_scatter(is_patch[..., None], patches)
        return embeds, mask

    def prompt_embeds(self, samples) -> tuple[torch.Tensor, torch.Tensor]:
        """``(inputs_embeds [B, T, H], attention_mask [B, T])`` of the prompts, left padded."""
        rows, _, series = self._layout(samples, answers=False)
        return self._embed(rows, series)

    def training_batch(self, samples):
        """``(inputs_embeds, attention_mask, labels)`` of prompt + answer + <eos>, left padded;
        labels are -100 except on the answer and <eos>."""
        rows, labels, series = self._layout(samples, answers=True)
        embeds, mask = self._embed(rows, series)
        T = embeds.shape[1]
        lab = torch.full((len(rows), T), IGNORE, dtype=torch.long)
        for i, l in enumerate(labels):
            lab[i, T - len(l):] = torch.tensor(l, dtype=torch.long)
        return embeds, mask, lab.to(embeds.device)

    # -- training --------------------------------------------------------------------------

    def forward(self, samples) -> torch.Tensor:
        """Mean next-token cross-entropy over the answer tokens (and <eos>) of the batch."""
        embeds, mask, labels = self.training_batch(samples)
        logits = self.lm(inputs_embeds=embeds, attention_mask=mask,
                         position_ids=position_ids(mask), use_cache=False).logits
        return F.cross_entropy(logits[:, :-1].flatten(0, 1).float(), labels[:, 1:].flatten(),
                               ignore_index=IGNORE)

    # -- decoding --------------------------------------------------------------------------

    def _step(self, *, embeds, mask, positions, cache=None) -> Decoding:
        out = self.lm(inputs_embeds=embeds, attention_mask=mask,
                      position_ids=positions, cache=cache, use_cache=True,
                      output_hidden_states=True, logits_to_keep=1)
        return Decoding(out.cache, mask, positions[:, -1] + 1,
                        out.logits[:, -1].float(), out.hidden_states[-1][:, -1])

    @torch.no_grad()
    def prefill(self, samples) -> Decoding:
        """Run the prompts once; the returned state continues decoding from their KV cache."""
        embeds, mask = self.prompt_embeds(samples)
        return self._step(embeds=embeds, mask=mask, positions=position_ids(mask))

    @torch.no_grad()
    def extend(self, state: Decoding, token_ids: torch.Tensor) -> Decoding:
        """Append one token per row (``token_ids [B]``) at position ``state.next_position``
        (the position training gave that token). Mutates ``state.cache``."""
        ids = torch.as_tensor(token_ids, device=state.attention_mask.device).view(-1, 1)
        mask = torch.cat([state.attention_mask, torch.ones_like(ids)], dim=1)
        return self._step(embeds=self.lm.get_input_embeddings()(ids), mask=mask,
                          positions=state.next_position[:, None], cache=state.cache)

    @torch.no_grad()
    def generate(self, samples, max_new_tokens: int) -> list[str]:
        """Greedy, deterministic decoding with the KV cache; text up to <eos> (excluded)."""
        if not samples:
            return []
        eos = self.tokenizer.eos_token_id
        state = self.prefill(samples)
        done = torch.zeros(len(samples), dtype=torch.bool, device=state.logits.device)
        out = []
        for t in range(max_new_tokens):
            nxt = state.logits.argmax(-1)
            done = done | (nxt == eos)
            out.append(nxt.masked_fill(done, eos))
            if bool(done.all()) or t == max_new_tokens - 1:
                break
            state = self.extend(state, nxt)
        tokens = torch.stack(out, 1).tolist() if out else [[] for _ in samples]
        texts = []
        for row in tokens:
            row = row[: row.index(eos)] if eos in row else row
            texts.append(self.tokenizer.decode(row, skip_special_tokens=True).strip())
        return texts
