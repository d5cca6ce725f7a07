"""One sample in the OpenTSLM layout, shared by every data set, the trainer and the search."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class Sample:
    """``pre_prompt``, then per series its caption (``series_text[i]``) and the series itself,
    then ``post_prompt``; ``answer`` is the target text (what the model must write).

    Series are raw values (not normalised): the model z-scores them and writes their mean
    and std into the caption. ``meta`` carries what evaluation and rewards need, e.g.
    ``task`` and ``gold`` (option letter) for TSQA, ``history``/``future``/``scale`` for
    forecasting.
    """

    pre_prompt: str
    series: list[np.ndarray]
    series_text: list[str]
    post_prompt: str
    answer: str
    meta: dict = field(default_factory=dict)

    def __post_init__(self):
        self.series = [np.asarray(s, dtype=np.float32).reshape(-1) for s in self.series]
        if len(self.series) != len(self.series_text):
            raise ValueError(
                f"{len(self.series)} series but {len(self.series_text)} series_text captions")

    def to_json(self) -> dict:
        """The OpenTSLM jsonl layout (plus ``meta``)."""
        return {
            "pre_prompt": self.pre_prompt,
            "time_series_text": list(self.series_text),
            "time_series": [s.tolist() for s in self.series],
            "post_prompt": self.post_prompt,
            "answer": self.answer,
            "meta": {k: (v.tolist() if isinstance(v, np.ndarray) else v)
                     for k, v in self.meta.items()},
        }

    @classmethod
    def from_json(cls, obj: dict) -> "Sample":
        return cls(
            pre_prompt=obj.get("pre_prompt", ""),
            series=[np.asarray(s, dtype=np.float32) for s in obj["time_series"]],
            series_text=list(obj["time_series_text"]),
            post_prompt=obj.get("post_prompt", ""),
            answer=obj.get("answer", ""),
            meta=dict(obj.get("meta") or {}),
        )
