"""A synthetic sweep written through the real store and into real run folders, with per-query
rows whose effects are known: for tests of the report, ``bench/report_scale.py`` and a look
at a report without running a sweep.

>>> url = build("/tmp/sdt-synthetic")      # doctest: +SKIP
>>> # sdt-sweep report synthetic --store /tmp/sdt-synthetic/sdt.db

Each search run has ``metrics.jsonl`` (one row per query, ``step`` = query index),
``predictions.jsonl`` and ``psd.npz``; the training run it depends on has a loss history.
Rewards are ``level[source] + effect[method] * log2(budget / 5) / 4 + query term + noise``, so
a method with effect 0 does not differ from greedy and one with a large effect clearly does.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
from pathlib import Path

import numpy as np

from sdt.io import atomic_write_bytes

METHODS = {"greedy": 0.0, "sample": -0.05, "best_of_n": 0.15, "dts": 0.3, "sadt": 0.45,
           "maxent_ts": 0.25}
BUDGETS = (5, 10, 20, 50)
UNBUDGETED = ("greedy", "sample")
SWEEP_KEYS = ("seed", "dataset", "search")


def _run_id(config: dict, kind: str) -> str:
    text = json.dumps({"kind": kind, **config}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def _train_history(rng, epochs: int = 4, steps: int = 6) -> list[dict]:
    rows, step = [], 0
    for epoch in range(1, epochs + 1):
        for _ in range(steps):
            loss = 2.0 * math.exp(-step / 10) + 0.1 * rng.random()
            rows.append({"step": step, "time_s": 0.1 * step, "train/loss": loss,
                         "epoch": epoch})
            step += 1
        rows.append({"step": step, "epoch": epoch, "train/epoch_loss": loss,
                     "val/loss": loss * 1.1, "val/accuracy": 1 - loss / 3})
    return rows


def build(root: str | Path, *, sweep: str = "synthetic", sources=("synthetic",),
          methods: dict | None = None, budgets=BUDGETS, seeds=(0, 1, 2), queries: int = 16,
          noise: float = 0.1, failed: int = 1, pending: int = 1, psd: bool = True,
          url: str | None = None, seed: int = 0, factors: dict | None = None) -> str:
    """Write the sweep into ``root`` (store ``root/sdt.db`` unless ``url``); returns the
    store URL. ``factors`` (``{"search.lam": (1.0, [0.5, 2.0])}``: centre and other values)
    add one-factor-at-a-time studies of the tree methods, one study per factor, crossed with
    the budgets (no effect on the metrics). ``failed`` and ``pending`` runs are extra candidates at budgets of their own that
    failed or never ran (at budgets above the others)."""
    from sdt.metrics import aggregate
    from sdt.sweep.store import Store

    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    store = Store(url or str(root / "sdt.db"))
    methods = dict(METHODS if methods is None else methods)
    rng = np.random.default_rng(seed)
    entries, dirs, results, outcomes = [], {}, {}, {}

    train_cfg = {"seed": 0, "experiment": {"name": "forecast_tiny"}, "training": {"lr": 1e-3}}
    train_id = _run_id(train_cfg, "train")
    entries.append((train_id, "train", train_cfg, [], 0, {}))
    dirs[train_id] = str(root / "runs" / "train" / train_id)
    outcomes[train_id] = ("completed", {"test_loss": 0.3, "train_time_s": 12.0},
                          _train_history(rng), None)

    query_level = {s: rng.normal(0, 0.3, queries) for s in sources}
    factors = dict(factors or {})
    centre = {k: c for k, (c, _) in factors.items()}
    ofat = [({}, ["trees"] + [k.rsplit(".", 1)[-1] for k in factors])]
    ofat += [({k: v}, [k.rsplit(".", 1)[-1]]) for k, (_, vs) in factors.items() for v in vs]
    points = []
    for source in sources:
        for method in methods:
            if method in UNBUDGETED:
                points.append((source, method, 10, {}, ["references"]))
                continue
            for change, studies in ofat:
                for b in budgets:
                    points.append((source, method, b, {**centre, **change}, studies))
    top = 2 * max(budgets)  # budgets of their own: configurations that never completed
    extra = [(sources[0], m, top + k, dict(centre), ["trees"]) for m in list(methods)[-1:]
             for k in range(failed + pending)]
    for i, (source, method, b, knobs, studies) in enumerate(points + extra):
        for s in seeds:
            cfg = {"seed": int(s), "dataset": {"name": "forecast", "source": source},
                   "search": {"method": method, "num_rollouts": int(b), "expansion_k": 3},
                   "train": train_cfg}
            for key, value in knobs.items():
                cfg["search"][key.rsplit(".", 1)[-1]] = value
            run_id = _run_id(cfg, "search")
            overrides = {"dataset.source": source, "search.method": method,
                         "search.num_rollouts": int(b), **knobs}
            entries.append((run_id, "search", cfg, list(studies), int(s), overrides))
            dirs[run_id] = str(root / "runs" / "search" / run_id)
            if i >= len(points):
                k = i - len(points)
                if k < failed:
                    outcomes[run_id] = ("failed", None, None,
                                        "Traceback...\nRuntimeError: synthetic failure")
                continue
            rows = _query_rows(rng, methods[method], b, query_level[source], s, noise,
                               method in UNBUDGETED)
            metrics = aggregate(rows)
            metrics["num_queries"] = float(len(rows))
            outcomes[run_id] = ("completed", metrics, rows, None)
            results[run_id] = (methods[method], b)
    store.register(sweep, entries, run_dirs=dirs)
    for run_id, (state, metrics, history, error) in outcomes.items():
        folder = Path(dirs[run_id])
        folder.mkdir(parents=True, exist_ok=True)
        if history is not None:
            atomic_write_bytes(folder / "metrics.jsonl", "".join(
                json.dumps(r) + "\n" for r in history).encode(), durable=False)
        if run_id in results and psd:
            _write_psd(folder, results[run_id][0], queries)
        store.claim(run_id)
        store.finish(run_id, state, metrics=metrics,
                     error=error.splitlines()[-1] if error else None, traceback=error,
                     duration_s=1.0)
    store.close()
    return store.url


def _query_rows(rng, effect, budget, level, seed, noise, unbudgeted) -> list[dict]:
    gain = 0.0 if unbudgeted else math.log2(budget / 5) / 4
    seed_shift = 0.02 * (seed % 3 - 1)
    rows = []
    for q, base in enumerate(level):
        reward = base + effect * (0.5 + gain) + seed_shift + rng.normal(0, noise)
        nfe = 57.0 if unbudgeted else 57.0 * budget * 3 * (1 + 0.05 * rng.random())
        rows.append({"step": q, "reward": reward, "crps": max(0.05, 0.6 - 0.3 * effect +
                                                              rng.normal(0, noise / 2)),
                     "spec_w1": max(0.01, 0.3 - 0.2 * effect + rng.normal(0, noise / 4)),
                     "power_ratio": min(1.2, 0.35 + effect + rng.normal(0, 0.05)),
                     "nfe": nfe, "time_s": nfe / 2000.0, "valid_rate": 1.0})
    return rows


def _write_psd(folder: Path, effect: float, queries: int) -> None:
    freqs = np.linspace(0.0, 0.5, 33)
    truth = 1.0 / (freqs + 0.05)
    rows = np.tile(truth, (queries, 1))
    blob = io.BytesIO()
    np.savez_compressed(blob, freqs=freqs, history=rows * 1.05, forecast=rows * (0.3 + effect),
                        truth=rows)
    atomic_write_bytes(folder / "psd.npz", blob.getvalue(), durable=False)
