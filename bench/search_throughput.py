"""Search throughput in the default configuration (no special flags: one rollout per new leaf,
the queries' trees in lockstep ``search.query_batch`` at a time): each tree method's NFE per
second against (a) the raw batched forward ceiling of the same model at the same batch sizes
with a KV cache and (b) a naive policy without cache or batching; and the time of one
ablation search run (sadt, 10 rollouts, k 3, 16 queries) one query at a time against in
lockstep. All measured in this one run.

    python bench/search_throughput.py [--run-dir runs/train/tiny-<hash>] [--device cuda]

The model: the trained TSLM in ``--run-dir`` (its LM, and a random prompt embedding of the
prompt length given), else a tiny Llama-style LM from a transformers config (the ``tiny``
preset's sizes) with a random prompt embedding; the first line says which.

Ceiling: every forward call the search made (``LMPolicy.batch_log``: its row count) is replayed
as one cached decode step of that many rows, so the ceiling is what the hardware gives for the
same sequence of batch sizes with nothing but the forward. The last line is
``search_nfe_ratio_vs_ceiling: X``, the worst tree method.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch
from pydantic import TypeAdapter

from sdt.config.search import SearchSection
from sdt.search import TREE_METHODS, LMPolicy, SADTState, run_searches
from sdt.search.policy import Policy, sequential_rollout


class NaivePolicy(Policy):
    """No cache, no batching: every distribution is a full forward of prompt + prefix, one row."""

    def __init__(self, lm, eos_id: int):
        super().__init__()
        self.lm, self.eos_id = lm, eos_id
        self.vocab_size = int(lm.get_output_embeddings().weight.shape[0])
        self.hidden_size = int(lm.config.hidden_size)
        self.device = next(lm.parameters()).device

    @torch.no_grad()
    def _one(self, slot, prefix):
        embeds, mask = self.prompts[slot]
        tok = self.lm.get_input_embeddings()(torch.tensor([list(prefix)], dtype=torch.long,
                                                          device=self.device))
        x = torch.cat([embeds, tok.to(embeds.dtype)], 1)
        m = torch.cat([mask, torch.ones(1, len(prefix), dtype=torch.long,
                                             device=self.device)], 1)
        out = self.lm(inputs_embeds=x, attention_mask=m, position_ids=(m.cumsum(-1) - 1)
                      .clamp_min(0), output_hidden_states=True, logits_to_keep=1)
        return (torch.log_softmax(out.logits[0, -1].float(), -1).cpu().numpy(),
                out.hidden_states[-1][0, -1].float().cpu().numpy())

    def _prefill(self, queries):
        self.prompts = [tuple(t.to(self.device) for t in q) for q in queries]
        rows = [self._one(slot, ()) for slot in range(len(queries))]
        return np.stack([r[0] for r in rows]), np.stack([r[1] for r in rows])

    def _dists(self, slots, prefixes):
        rows = [self._one(s, p) for s, p in zip(slots, prefixes)]
        return np.stack([r[0] for r in rows]), np.stack([r[1] for r in rows])

    def _rollout(self, slots, prefixes, first_logp, horizon, temperature, rng):
        out, eos = [], []
        for slot, prefix, logp in zip(slots, prefixes, first_logp):
            y, e = sequential_rollout(lambda p, s=slot: self._one(s, p), self.eos_id, [prefix],
                                      [logp], horizon, temperature, rng)
            out += y
            eos += e
        return out, eos


def build_model(args):
    if args.run_dir:
        from sdt.model import load_trained

        tslm = load_trained(args.run_dir, device=args.device)
        return tslm.lm, tslm.tokenizer.eos_token_id, f"trained TSLM from {args.run_dir}"
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    cfg = LlamaConfig(vocab_size=1024, hidden_size=128, intermediate_size=256,
                      num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=4,
                      eos_token_id=2, attn_implementation="sdpa")
    return (LlamaForCausalLM(cfg).to(args.device).eval(), 2,
            "tiny Llama-style LM (tiny preset sizes, random weights) with a random prompt "
            "embedding (sdt.model: no trained run given)")


@torch.no_grad()
def decode_step_time(lm, rows: int, context: int, device, reps: int) -> float:
    """Median seconds of one cached decode step over ``rows`` rows with ``context`` cached."""
    from transformers import DynamicCache

    cfg = lm.config
    heads = cfg.num_key_value_heads
    dim = cfg.hidden_size // cfg.num_attention_heads
    dtype = next(lm.parameters()).dtype
    times = []
    for _ in range(reps + 1):
        cache = DynamicCache(ddp_cache_data=[
            (torch.zeros(rows, heads, context, dim, device=device, dtype=dtype),
             torch.zeros(rows, heads, context, dim, device=device, dtype=dtype))
            for _ in range(cfg.num_hidden_layers)])
        ids = torch.zeros(rows, 1, dtype=torch.long, device=device)
        mask = torch.ones(rows, context + 1, dtype=torch.long, device=device)
        pos = torch.full((rows, 1), context, device=device)
        sync(device)
        t = CLOCK()
        out = lm(input_ids=ids, attention_mask=mask, position_ids=pos, cache=cache,
                 use_cache=True, logits_to_keep=1)
        out.logits[:, -1].float().argmax(-1).tolist()  # the search reads every step back
        sync(device)
        times.append(CLOCK() - t)
    return statistics.median(times[1:])


# On a shared CPU, wall time measures the neighbours; the process's CPU time (one thread)
# measures the work. On a GPU, wall time.
CLOCK = time.perf_counter


def sync(device):
    if str(device).startswith("cuda"):
        torch.cuda.synchronize()


def reward(ys):
    """Cheap and deterministic: favours small token ids (the bench measures the search)."""
    return np.array([-float(np.mean(y)) / 1000 if y else 0.0 for y in ys])


def config(method, args, **extra):
    cfg = {"method": method, "max_new_tokens": args.horizon, "num_rollouts": args.rollouts,
           "expansion_k": args.k, **extra}
    if method == "sadt":
        cfg["value_head"] = {"train_steps": 0}  # the bench measures search, not training
    return TypeAdapter(SearchSection).validate_python(cfg)


def measure(policy, method, args, queries, rng, **extra):
    """(NFE, seconds) of searching ``queries`` with the default config (plus ``extra``)."""
    cfg = config(method, args, **extra)
    state = SADTState.from_config(cfg, policy.hidden_size) if method == "sadt" else None
    sync(args.device)
    start = CLOCK()
    res = run_searches(policy, queries, [reward] * len(queries), cfg, rng, state=state)
    sync(args.device)
    return sum(r.stats["nfe"] for r in res), CLOCK() - start


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--run-dir", default=None)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--prompt-len", type=int, default=160)
    ap.add_argument("--horizon", type=int, default=56, help="the forecast configs' H")
    ap.add_argument("--rollouts", type=int, default=10)
    ap.add_argument("--k", type=int, default=3)
    ap.add_argument("--queries", type=int, default=16, help="an ablation run's queries")
    ap.add_argument("--naive-queries", type=int, default=1)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=2)
    args = ap.parse_args()
    global CLOCK
    if args.device == "cpu" and args.threads == 1:
        CLOCK = time.process_time
    torch.set_num_threads(args.threads)
    lm, eos, what = build_model(args)
    print(f"model: {what}; device {args.device}; prompt {args.prompt_len} embeddings, "
          f"H={args.horizon}, num_rollouts={args.rollouts}, expansion_k={args.k}, "
          f"{args.queries} queries, otherwise the default search config; clock "
          f"{CLOCK.__name__}")
    gen = torch.Generator().manual_seed(0)
    dtype = next(lm.parameters()).dtype
    queries = [(torch.randn(1, args.prompt_len, lm.config.hidden_size, generator=gen)
                .to(args.device, dtype), torch.ones(1, args.prompt_len, dtype=torch.long))
               for _ in range(args.queries)]
    worst = float("inf")
    step_cache: dict[int, float] = {}
    for method in TREE_METHODS:
        # Best of ``--repeats`` (same seed, same work): a shared machine only ever slows a run.
        secs = float("inf")
        for _ in range(args.repeats):
            policy = LMPolicy(lm, eos)
            nfe, run_secs = measure(policy, method, args, queries, np.random.default_rng(0))
            assert nfe == policy.forward_rows, (nfe, policy.forward_rows)
            secs = min(secs, run_secs)
        for rows in set(policy.batch_log) - set(step_cache):
            step_cache[rows] = decode_step_time(lm, rows, args.prompt_len + args.horizon // 2,
                                                args.device, reps=5)
        ceiling = sum(policy.batch_log) / sum(step_cache[b] for b in policy.batch_log)
        naive_nfe, naive_secs = measure(NaivePolicy(lm, eos), method, args,
                                        queries[: args.naive_queries], np.random.default_rng(0),
                                        query_batch=1)
        rate, naive = nfe / secs, naive_nfe / naive_secs
        mean_rows = sum(policy.batch_log) / len(policy.batch_log)
        print(f"{method:10s} nfe/s {rate:9.1f}  ceiling {ceiling:9.1f}  ratio_vs_ceiling "
              f"{rate / ceiling:5.2f}  naive {naive:8.1f}  ratio_vs_naive {rate / naive:6.2f}  "
              f"(mean rows/forward {mean_rows:.2f}, nfe/query {nfe / len(queries):.0f})")
        worst = min(worst, rate / ceiling)
    # One ablation search run (sadt at the ablation's centre), before and after lockstep.
    times = {}
    for window in (1, None):
        extra = {"query_batch": window} if window else {}
        times[window] = min(measure(LMPolicy(lm, eos), "sadt", args, queries,
                                    np.random.default_rng(0), **extra)[1]
                            for _ in range(args.repeats))
    print(f"ablation search run (sadt, {args.rollouts} rollouts, k {args.k}, {args.queries} "
          f"queries): one query at a time {times[1]:.2f} s, in lockstep (query_batch "
          f"{config('sadt', args).query_batch}) {times[None]:.2f} s: "
          f"{times[1] / times[None]:.1f}x faster")
    print(f"search_nfe_ratio_vs_ceiling: {worst:.3f}")


if __name__ == "__main__":
    main()
