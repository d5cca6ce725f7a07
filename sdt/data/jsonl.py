"""Local data in the OpenTSLM sample layout, one JSON object per line.

Every line holds ``pre_prompt`` (str), ``time_series_text`` (list of str), ``time_series``
(list of lists of numbers, one per caption), ``post_prompt`` (str) and ``answer`` (str); an
optional ``meta`` object and any other keys are kept in ``Sample.meta``. Blank lines are
skipped. A bad line is a :class:`UserError` naming the file, the line number and the key.

Splits: each of ``train_path``/``val_path``/``test_path`` is read when given, in file order,
capped at ``num_samples_<split>``. Without ``val_path``, val is a seeded holdout of
``num_samples_val`` samples (at most a tenth) of the train file, removed from train. A split
with no file and no source is empty.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from sdt.data._rng import stream
from sdt.data.sample import Sample
from sdt.errors import UserError

_TEXT_KEYS = ("pre_prompt", "post_prompt", "answer")
_TAG = 0x150


def _bad(path, line_no: int, key: str | None, problem: str) -> UserError:
    where = f"{path}: line {line_no}: " + (f"{key}: " if key else "")
    return UserError(where + problem)


def _is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def parse_line(obj, path, line_no: int) -> Sample:
    """The sample of one decoded line; raises the located :class:`UserError` when invalid."""
    if not isinstance(obj, dict):
        raise _bad(path, line_no, None, f"expected a JSON object, got {type(obj).__name__}")
    for key in (*_TEXT_KEYS, "time_series_text", "time_series"):
        if key not in obj:
            raise _bad(path, line_no, key, "missing key")
    for key in _TEXT_KEYS:
        if not isinstance(obj[key], str):
            raise _bad(path, line_no, key, f"expected a string, got {obj[key]!r:.60}")
    captions, series = obj["time_series_text"], obj["time_series"]
    if not isinstance(captions, list) or not all(isinstance(c, str) for c in captions):
        raise _bad(path, line_no, "time_series_text", "expected a list of strings")
    if not isinstance(series, list):
        raise _bad(path, line_no, "time_series", "expected a list of lists of numbers")
    for k, s in enumerate(series):
        if not isinstance(s, list) or not s or not all(_is_number(v) for v in s):
            raise _bad(path, line_no, f"time_series[{k}]",
                       "expected a non-empty list of finite numbers")
    if len(series) != len(captions):
        raise _bad(path, line_no, "time_series",
                   f"{len(series)} series but {len(captions)} time_series_text captions")
    meta = obj.get("meta", {})
    if not isinstance(meta, dict):
        raise _bad(path, line_no, "meta", "expected an object")
    extra = {k: v for k, v in obj.items()
             if k not in (*_TEXT_KEYS, "time_series_text", "time_series", "meta")}
    return Sample(pre_prompt=obj["pre_prompt"], series=[np.asarray(s) for s in series],
                  series_text=captions, post_prompt=obj["post_prompt"], answer=obj["answer"],
                  meta={**extra, **meta})


def read_jsonl(path, key: str = "path", limit: int | None = None) -> list[Sample]:
    """The samples of the file ``path`` (at most ``limit``); ``key`` names the config key
    in the error for a missing file."""
    p = Path(path)
    if not p.is_file():
        raise UserError(f"{key}: file not found: {p}")
    out: list[Sample] = []
    with p.open(encoding="utf-8") as f:
        for line_no, line in enumerate(f, start=1):
            if limit is not None and len(out) >= limit:
                break
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                raise _bad(p, line_no, None, f"invalid JSON ({exc.msg} at column {exc.colno})")
            out.append(parse_line(obj, p, line_no))
    return out


def _holdout(n_train: int, n_val: int, seed: int) -> np.ndarray:
    k = min(n_val, n_train // 10)
    rng = stream(_TAG, seed)
    return np.sort(rng.choice(n_train, size=k, replace=False))


def build(cfg, split: str, seed: int) -> list[Sample]:
    """The registry entry: a :class:`sdt.config.schema.JsonlDataset` split."""
    n = getattr(cfg, f"num_samples_{split}")
    if split != "test" and cfg.train_path and not cfg.val_path:
        samples = read_jsonl(cfg.train_path, "dataset.train_path")
        held = set(_holdout(len(samples), cfg.num_samples_val, seed).tolist())
        keep = [i for i in range(len(samples)) if (i in held) == (split == "val")]
        return [samples[i] for i in keep[:n]]
    path = getattr(cfg, f"{split}_path")
    return read_jsonl(path, f"dataset.{split}_path", limit=n) if path else []
