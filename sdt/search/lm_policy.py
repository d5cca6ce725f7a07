"""``LMPolicy``: the policy over a transformers causal LM whose prompt is given as embeddings.

- ``start_many`` prefills a window of prompts (each ``inputs_embeds [1,T,H]``,
  ``attention_mask [1,T]``, left padded; stacked left padded to the longest) in one forward
  and keeps their KV caches; ``start`` one.
- ``dists_rows`` runs any number of rows (query slot, prefix) in ONE forward over their
  queries' caches (the prefixes are left padded after the prompt; positions count real
  tokens only, ``cumsum(mask) - 1`` as in training), returning log-distributions and last
  hidden states.
- ``rollout`` runs a batch of rollouts: one forward over the prefixes, then one cached decode
  step per token for the rows still running (finished rows leave the batch, so every computed
  distribution is one that was used).

``forward_rows`` counts the rows of every forward call (the policy's own NFE count, to check
against the base class's); ``batch_log`` keeps each call's row count (the benchmark replays
them against a raw forward).
"""

from __future__ import annotations

import torch

from sdt.search.policy import Policy, sample_logp


def _positions(mask: torch.Tensor) -> torch.Tensor:
    return (mask.long().cumsum(-1) - 1).clamp_min(0)


def _stack_left(queries) -> tuple[torch.Tensor, torch.Tensor]:
    """Queries ``(inputs_embeds [b,T,H], attention_mask [b,T])`` (b rows each, left padded)
    as one left-padded batch [sum b, max T, H]."""
    if len(queries) == 1:
        return queries[0]
    width = max(e.shape[1] for e, _ in queries)
    embeds, masks = [], []
    for e, m in queries:
        pad = width - e.shape[1]
        embeds.append(torch.nn.functional.pad(e, (0, 0, pad, 0)))
        masks.append(torch.nn.functional.pad(m, (pad, 0)))
    return torch.cat(embeds), torch.cat(masks)


class LMPolicy(Policy):
    def __init__(self, lm, eos_id: int):
        super().__init__()
        self.lm = lm.eval()
        self.eos_id = int(eos_id)
        self.vocab_size = int(lm.get_output_embeddings().weight.shape[0])
        self.hidden_size = int(lm.config.hidden_size)
        self.device = next(lm.parameters()).device
        self.forward_rows = 0
        self.batch_log: list[int] = []

    @torch.no_grad()
    def _call(self, *, mask, positions, cache=None, ids=None, embeds=None, hidden=False):
        out = self.lm(input_ids=ids, inputs_embeds=embeds, attention_mask=mask,
                      position_ids=positions, cache=cache, use_cache=True,
                      output_hidden_states=hidden, logits_to_keep=1)
        rows = mask.shape[0]
        self.forward_rows += rows
        self.batch_log.append(rows)
        h = out.hidden_states[-1][:, -1] if hidden else None
        return out.cache, out.logits[:, -1].float(), h

    def _prefill(self, queries):
        embeds, mask = _stack_left(queries)
        embeds, mask = embeds.to(self.device), mask.to(self.device)
        cache, logits, hidden = self._call(embeds=embeds, mask=mask,
                                           positions=_positions(mask), hidden=True)
        self.prompt_kv = [(layer.keys, layer.values) for layer in cache.layers]
        self.prompt_mask = mask
        self.first_position = mask.long().sum(-1)  # [Q]: the real prompt tokens per query
        return (torch.log_softmax(logits, -1).cpu().numpy(), hidden.float().cpu().numpy())

    def _prompt_cache(self, slots: torch.Tensor):
        from transformers import DynamicCache

        if self.prompt_mask.shape[0] == 1:  # views; the first update concatenates anyway
            rows = len(slots)
            return DynamicCache(ddp_cache_data=[
                (k.expand(rows, -1, -1, -1), v.expand(rows, -1, -1, -1))
                for k, v in self.prompt_kv])
        return DynamicCache(ddp_cache_data=[
            (k.index_select(0, slots), v.index_select(0, slots)) for k, v in self.prompt_kv])

    def _segment(self, slots, seqs: list, hidden: bool):
        """One forward of non-empty token sequences (left padded) over the prompt caches of
        their queries (``slots``)."""
        rows, width = len(seqs), max(len(s) for s in seqs)
        ids = torch.zeros(rows, width, dtype=torch.long)
        seg = torch.zeros(rows, width, dtype=torch.long)
        for i, s in enumerate(seqs):
            ids[i, width - len(s):] = torch.as_tensor(s)
            seg[i, width - len(s):] = 1
        ids, seg = ids.to(self.device), seg.to(self.device)
        slots = torch.as_tensor(slots, dtype=torch.long, device=self.device)
        mask = torch.cat([self.prompt_mask.index_select(0, slots), seg], dim=1)
        positions = self.first_position.index_select(0, slots)[:, None] + _positions(seg)
        cache, logits, h = self._call(ids=ids, mask=mask, positions=positions,
                                      cache=self._prompt_cache(slots), hidden=hidden)
        return cache, mask, positions[:, -1] + 1, logits, h

    def _dists(self, slots, prefixes):
        _, _, _, logits, h = self._segment(slots, [list(p) for p in prefixes], hidden=True)
        return (torch.log_softmax(logits, -1).cpu().numpy(), h.float().cpu().numpy())

    @torch.no_grad()
    def _rollout(self, slots, prefixes, first_logp, horizon, temperature, rng):
        seqs = [list(p) for p in prefixes]
        eos = [False] * len(seqs)
        first = sample_logp(first_logp, temperature, rng)
        running = []
        for i, tok in enumerate(first.tolist()):
            if tok == self.eos_id:
                eos[i] = True
                continue
            seqs[i].append(tok)
            if len(seqs[i]) < horizon:
                running.append(i)
        if running:
            gen = torch.Generator(device=self.device).manual_seed(int(rng.integers(2**62)))
            cache, mask, nxt, logits, _ = self._segment([slots[i] for i in running],
                                                        [seqs[i] for i in running], False)
            while True:
                if temperature == 0:
                    toks = logits.argmax(-1)
                else:
                    # exponential race: argmax p_i / E_i, E_i ~ Exp(1), is a draw from p
                    # (exact, and cheaper than torch.multinomial on a CPU)
                    probs = torch.softmax(logits / temperature, -1)
                    race = torch.empty_like(probs).exponential_(generator=gen)
                    toks = (probs / race).argmax(-1)
                keep = []
                for j, (i, tok) in enumerate(zip(running, toks.tolist())):
                    if tok == self.eos_id:
                        eos[i] = True
                        continue
                    seqs[i].append(tok)
                    if len(seqs[i]) < horizon:
                        keep.append(j)
                if not keep:
                    break
                if len(keep) < len(running):
                    sel = torch.as_tensor(keep, device=self.device)
                    cache.batch_select_indices(sel)
                    mask, nxt, toks = mask[sel], nxt[sel], toks[sel]
                    running = [running[j] for j in keep]
                mask = torch.cat([mask, torch.ones_like(mask[:, :1])], dim=1)
                cache, logits, _ = self._call(ids=toks[:, None], mask=mask,
                                              positions=nxt[:, None], cache=cache)
                nxt = nxt + 1
        return [tuple(s) for s in seqs], eos
