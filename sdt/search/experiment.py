"""The search run, top to bottom: trained model -> queries -> per query (reward, search,
metrics) -> artifacts -> aggregated metrics. ``run(config, ctx)`` is the run function of
``sdt-sweep search`` and of the ``search`` kind in sweeps; ``dependencies(config)`` names the
training run whose checkpoint decodes (done once, by config hash, and handed in as
``ctx.deps["train"]``).

Per query, one row of history (``ctx.log``, step = query index): ``reward`` and each reward
term (``reward/<term>``, mean over the returned continuations), the task metrics
(:mod:`sdt.metrics.per_sample`), ``diversity`` (distinct-2 over the returned continuations),
``perplexity`` (of the returned continuations under the model, <eos> included where they ended
by it), and the cost ``nfe``, ``tokens``, ``nodes``, ``max_depth``, ``mean_branching``,
``time_s``. The running mean reward is reported for pruning. The returned metrics are the
means over queries (NaN-aware, see :func:`sdt.metrics.aggregate`) plus ``num_queries`` and
``uses_oracle`` (1 when the reward saw the truth: an upper bound, not a method).

Artifacts in the run directory: ``predictions.jsonl`` (per query: texts, token ids, rewards,
parsed values, truth, metrics), ``psd.npz`` (forecasting: the spectra of history, forecast and
true future on the history's grid, one row per query) and, for ``sadt``, the value head and
buffer ``sadt_state.pt`` (load it in another run with ``search.buffer_load``).
"""

from __future__ import annotations

import io
import logging

import numpy as np

from sdt.config.reward import uses_oracle
from sdt.context import RunContext
from sdt.errors import UserError
from sdt.io import append_jsonl, atomic_write_bytes
from sdt.metrics import (
    aggregate,
    choice_metrics,
    distinct_n,
    forecast_metrics,
    perplexity,
    psd,
)
from sdt.search.rewards import build_reward

log = logging.getLogger(__name__)

SADT_STATE = "sadt_state.pt"


def dependencies(config) -> dict:
    """The training run this search decodes with: ``{"train": ("train", TrainConfig)}``."""
    return {"train": ("train", config.train)}


def queries(config) -> list:
    """The evaluation samples: ``evaluation.split`` of ``dataset`` drawn with the data seed
    (the training config's seed unless given, so the test split is the one held out from
    training), the first ``evaluation.num_queries`` of them."""
    from sdt.data import build_dataset

    ev = config.evaluation
    seed = config.train.seed if ev.data_seed is None else ev.data_seed
    samples = build_dataset(config.dataset, ev.split, seed)
    if not samples:
        raise UserError(f"the {ev.split} split of dataset {config.dataset.name!r} is empty")
    return samples[: ev.num_queries] if ev.num_queries else samples


def continuation_logprobs(model, sample, continuations, eos_id: int,
                          max_new_tokens: int) -> list[np.ndarray]:
    """log p(y_t | prompt, y_<t) of each continuation's tokens (teacher forcing with the KV
    cache; one prefill and one batched step per position), plus <eos> for continuations
    shorter than ``max_new_tokens`` (they ended by it)."""
    import torch

    rows = [list(c) + ([eos_id] if len(c) < max_new_tokens else []) for c in continuations]
    if not rows:
        return []
    length = max(len(r) for r in rows)
    ids = torch.tensor([r + [eos_id] * (length - len(r)) for r in rows])
    state = model.prefill([sample]).select([0] * len(rows))
    out = np.zeros((len(rows), length))
    for t in range(length):
        logp = torch.log_softmax(state.logits.float(), -1)
        out[:, t] = logp.gather(1, ids[:, t:t + 1].to(logp.device)).squeeze(1).cpu().numpy()
        if t + 1 < length:
            state = model.extend(state, ids[:, t])
    return [out[i, :len(r)] for i, r in enumerate(rows)]


def query_metrics(config, sample, scored, result) -> dict:
    """Everything measured on one query (see the module docstring)."""
    row: dict = {"reward": float(np.mean(scored.total)) if len(scored.total) else float("nan")}
    for term, values in scored.terms.items():
        finite = values[np.isfinite(values)]
        row[f"reward/{term}"] = float(finite.mean()) if finite.size else float("nan")
    meta = sample.meta
    if config.dataset.name == "forecast":
        history = meta.get("history", sample.series[0])
        row.update(forecast_metrics(forecasts(config, sample, scored), history,
                                    meta.get("future")))
    else:
        from sdt.data.evaluate import first_option

        row.update(choice_metrics([first_option(t) for t in scored.texts], meta.get("gold")))
    row["diversity"] = distinct_n(result.continuations, 2)
    for key in ("nfe", "tokens", "nodes", "max_depth", "mean_branching", "time_s"):
        row[key] = float(result.stats.get(key, float("nan")))
    return row


def forecasts(config, sample, scored) -> list:
    """The parsed forecast of each returned continuation (None where it does not parse):
    the forecast reward's own parse, else (a user reward) the shared numeric format's."""
    if config.reward.kind == "forecast":
        return list(scored.parsed)
    from sdt.data import numeric

    meta = sample.meta
    return [numeric.decode(t, meta["scale"], meta["horizon"])[0] for t in scored.texts]


def spectra(grid, history, forecasts, future) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """History, forecast (mean spectrum of the valid members; NaN if none) and true-future
    spectra (Welch), each interpolated onto ``grid`` (the first query's history grid, so the
    rows of a run stack)."""
    def on_grid(x):
        freqs, power = psd(x)
        return np.interp(grid, freqs, power)

    nan = np.full(len(grid), np.nan)
    members = [on_grid(f) for f in forecasts if f is not None]
    return (on_grid(history), np.mean(members, axis=0) if members else nan,
            nan if future is None else on_grid(future))


def run(config, ctx: RunContext) -> dict[str, float]:
    import torch
    from tqdm.auto import tqdm

    from sdt.model import load_trained
    from sdt.search import LMPolicy, SADTState, run_searches
    from sdt.train.device import resolve_device

    train_dir = ctx.deps.get("train")
    if train_dir is None:
        raise UserError("a search run needs its trained model (ctx.deps['train']): run it "
                        "with `sdt-sweep search` or in a sweep, which train it first")
    device = resolve_device(config.device.type, config.device.index)
    ctx.device = str(device)
    torch.manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    model = load_trained(train_dir, device=str(device))
    tokenizer = model.tokenizer
    policy = LMPolicy(model.lm, eos_id=tokenizer.eos_token_id)
    # S-ADT's value head and buffer persist across the queries of the run
    state = (SADTState.from_config(config.search, policy.hidden_size, seed=config.seed)
             if config.search.method == "sadt" else None)
    samples = queries(config)
    log.info("search %s on %d %s queries with the model of %s", config.search.method,
             len(samples), config.evaluation.split, train_dir)

    def decode(ids):
        return tokenizer.decode(list(ids), skip_special_tokens=True)

    predictions = ctx.run_dir / "predictions.jsonl"
    predictions.unlink(missing_ok=True)  # a rerun writes its own
    rows, psd_rows, grid = [], [], None
    running = 0.0
    bar = tqdm(total=len(samples), desc=f"search {config.search.method}",
               disable=not ctx.progress, unit="query", dynamic_ncols=True)
    rewards = [build_reward(config.reward, sample, decode) for sample in samples]
    with torch.no_grad():
        prompts = [model.prompt_embeds([sample]) for sample in samples]

    def record(i, result):
        nonlocal running, grid
        sample, reward = samples[i], rewards[i]
        scored = reward.score(result.continuations)
        row = query_metrics(config, sample, scored, result)
        if config.evaluation.perplexity:
            lps = continuation_logprobs(model, sample, result.continuations,
                                        tokenizer.eos_token_id, config.search.max_new_tokens)
            row["perplexity"] = perplexity(lps)
        rows.append(row)
        ctx.log(row, step=i)
        running += (row["reward"] - running) / (i + 1)
        bar.update(1)
        bar.set_postfix(reward=f"{running:.3g}", nfe=f"{row['nfe']:.0f}")
        if config.evaluation.save_predictions:
            append_jsonl(predictions, _prediction(i, sample, scored, result, row))
            if config.dataset.name == "forecast":
                history = sample.meta.get("history", sample.series[0])
                if grid is None:
                    grid = psd(history)[0]
                psd_rows.append(spectra(grid, history, forecasts(config, sample, scored),
                                        sample.meta.get("future")))
        ctx.report(i, running)

    # The queries' trees advance in lockstep, ``search.query_batch`` at a time (one forward
    # call serves them all); each window's results are recorded in query order.
    run_searches(policy, prompts, rewards, config.search, rng, state=state, on_result=record)
    bar.close()
    if psd_rows:
        h, f, t = (np.stack(x) for x in zip(*psd_rows))
        blob = io.BytesIO()
        np.savez_compressed(blob, freqs=grid, history=h, forecast=f, truth=t)
        atomic_write_bytes(ctx.run_dir / "psd.npz", blob.getvalue())
    if state is not None:
        state.save(ctx.run_dir / SADT_STATE)
        if config.search.buffer_save:
            state.save(config.search.buffer_save)
    metrics = aggregate(rows)
    metrics["num_queries"] = float(len(rows))
    metrics["uses_oracle"] = float(uses_oracle(config.reward))
    return metrics


def _prediction(index: int, sample, scored, result, row: dict) -> dict:
    """One line of predictions.jsonl (plain JSON types)."""
    def plain(x):
        return x.tolist() if isinstance(x, np.ndarray) else x

    meta = sample.meta
    return {
        "index": index,
        "texts": scored.texts,
        "tokens": [list(map(int, c)) for c in result.continuations],
        "rewards": plain(scored.total),
        "terms": {k: plain(v) for k, v in scored.terms.items()},
        "valid": plain(scored.valid),
        "parsed": [plain(p) for p in scored.parsed],
        "answer": sample.answer,
        "gold": meta.get("gold"),
        "future": plain(meta.get("future")),
        "metrics": row,
    }
