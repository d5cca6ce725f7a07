"""Evaluation: teacher-forced loss and greedy answers scored per sample and per task.

Multiple choice (``meta["gold"]``): accuracy by the first option the model writes (none =
wrong), overall and ``accuracy_<task>``. Forecast (``meta["future"]``): the answer is parsed
by the numeric text format; ``valid_rate``, and ``mae``/``mse`` over the valid forecasts next
to ``last_value_mae`` (repeat the last history value) on the same samples. Raw-unit errors of
series with very different scales are dominated by the largest ones, so ``mae_scaled`` and
``last_value_mae_scaled`` also give each sample's MAE in units of its history's std (the
numeric format's scale), averaged over the samples.
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np
import torch

from sdt.data.evaluate import OPTION_RE, first_option

SCORINGS = ("mcq", "cot", "forecast", "text")


def scoring_for(stage: str | None, dataset: str) -> str:
    """How answers are scored, from the explicit stage (never a file name) and data set."""
    if dataset == "forecast":
        return "forecast"
    if stage == "stage2_captioning":
        return "text"
    if stage in ("stage3_cot", "stage4_sleep_cot", "stage5_ecg_cot"):
        return "cot"
    return "mcq"


def chosen_option(text: str | None, scoring: str) -> str | None:
    """MCQ: the first option written; chain of thought: the first option after the last
    "answer" (the reasoning may mention every option), else the last option written."""
    if scoring != "cot" or not text:
        return first_option(text)
    low = text.lower()
    if "answer" in low:
        found = OPTION_RE.findall(text[low.rfind("answer"):])
        if found:
            return found[0]
    found = OPTION_RE.findall(text)
    return found[-1] if found else None


def gold_option(sample) -> str | None:
    return sample.meta.get("gold") or first_option(sample.answer)


def answer_budget(model, samples, extra: int = 2) -> int:
    """Just enough new tokens for the longest reference answer (plus <eos> and slack)."""
    lengths = model.tokenizer([" " + s.answer.lstrip() for s in samples],
                              add_special_tokens=False)["input_ids"]
    return max((len(ids) for ids in lengths), default=1) + extra


def _by_length(samples) -> list[int]:
    # Similar lengths side by side waste less padding in a batch.
    return sorted(range(len(samples)), key=lambda i: sum(len(s) for s in samples[i].series))


@torch.no_grad()
def batch_loss(model, samples, batch_size: int, amp) -> float:
    """Mean answer-token loss over ``samples`` (each batch weighted by its size)."""
    order = _by_length(samples)
    total = 0.0
    for i in range(0, len(order), batch_size):
        batch = [samples[j] for j in order[i:i + batch_size]]
        with amp():
            total += float(model(batch)) * len(batch)
    return total / max(1, len(samples))


@torch.no_grad()
def predict(model, samples, batch_size: int, max_new_tokens: int) -> list[str]:
    order = _by_length(samples)
    out: list[str] = [""] * len(samples)
    for i in range(0, len(order), batch_size):
        idx = order[i:i + batch_size]
        for j, text in zip(idx, model.generate([samples[j] for j in idx], max_new_tokens)):
            out[j] = text
    return out


def _forecast_score(sample, text: str):
    from sdt.data.numeric import decode, scale_info

    future = np.asarray(sample.meta["future"], dtype=np.float64)
    history = np.asarray(sample.meta.get("history", sample.series[0]), dtype=np.float64)
    info = sample.meta.get("scale") or scale_info(history)  # the data set's own scaling
    values, valid = decode(text, info, len(future))
    return future, history, values, valid, float(info["scale"])


def score(samples, predictions: list[str], scoring: str = "mcq") -> tuple[dict, list[dict]]:
    """Metrics and one row per sample (for predictions.jsonl). ``text`` scoring gives no
    answer metric (the loss is the measure); a sample without a gold option is not scored."""
    rows, per_task = [], defaultdict(list)
    errors, last_errors, valid_flags = [], [], []
    scaled, last_scaled = [], []  # per sample: MAE / history std
    for i, (s, text) in enumerate(zip(samples, predictions)):
        row = {"index": i, "prediction": text, "answer": s.answer.strip()}
        gold = gold_option(s) if scoring in ("mcq", "cot") else None
        if gold is not None:
            correct = chosen_option(text, scoring) == gold
            per_task[s.meta.get("task", "all")].append(correct)
            row.update(task=s.meta.get("task"), gold=gold, correct=correct)
        elif scoring == "forecast" and "future" in s.meta:
            future, history, values, valid, scale = _forecast_score(s, text)
            valid_flags.append(valid)
            row["valid"] = valid
            if valid:
                errors.append(values - future)
                last_errors.append(history[-1] - future)
                scaled.append(np.mean(np.abs(errors[-1])) / scale)
                last_scaled.append(np.mean(np.abs(last_errors[-1])) / scale)
                row["forecast"] = values.tolist()
        rows.append(row)
    metrics: dict[str, float] = {}
    if per_task:
        flat = [c for v in per_task.values() for c in v]
        metrics["accuracy"] = float(np.mean(flat))
        if len(per_task) > 1 or "all" not in per_task:
            for task, v in sorted(per_task.items()):
                metrics[f"accuracy_{task}"] = float(np.mean(v))
    if valid_flags:
        metrics["valid_rate"] = float(np.mean(valid_flags))
        if errors:
            e, b = np.concatenate(errors), np.concatenate(last_errors)
            metrics.update(
                mae=float(np.mean(np.abs(e))), mse=float(np.mean(e ** 2)),
                last_value_mae=float(np.mean(np.abs(b))),
                mae_scaled=float(np.mean(scaled)),
                last_value_mae_scaled=float(np.mean(last_scaled)))
        else:
            metrics.update({k: float("inf") for k in (
                "mae", "mse", "last_value_mae", "mae_scaled", "last_value_mae_scaled")})
    return metrics, rows


def evaluate(model, samples, *, metrics: list[str], batch_size: int, max_new_tokens: int,
             amp, scoring: str = "mcq") -> tuple[dict, list[dict]]:
    """The requested ``evaluation.metrics`` on ``samples``: ``loss`` teacher-forced; the
    answer metrics (accuracy, mae, mse, valid_rate) from greedy answers."""
    model.eval()
    out, rows = {}, []
    if "loss" in metrics:
        out["loss"] = batch_loss(model, samples, batch_size, amp)
    if set(metrics) - {"loss"}:
        with amp():
            texts = predict(model, samples, batch_size, max_new_tokens)
        scored, rows = score(samples, texts, scoring)
        out.update({k: v for k, v in scored.items() if _wanted(k, metrics)})
    return out, rows


def _wanted(key: str, metrics: list[str]) -> bool:
    if key.startswith("accuracy_"):
        return "accuracy" in metrics
    if key in ("last_value_mae", "mae_scaled", "last_value_mae_scaled"):
        return "mae" in metrics  # the scaled MAE and the baselines go with the metric
    return key in metrics


def objective(scoring: str, metrics: list[str]) -> tuple[str, str]:
    """The validation metric for best checkpoint and early stopping: ``(name, max|min)``."""
    if scoring in ("mcq", "cot") and "accuracy" in metrics:
        return "accuracy", "max"
    if scoring == "forecast" and "mae" in metrics:  # scale-free: no few large series decide
        return "mae_scaled", "min"
    return "loss", "min"
