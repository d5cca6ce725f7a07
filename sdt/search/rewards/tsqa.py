"""The multiple-choice reward (TSQA): r = w_verifier·verifier + w_oracle·oracle.

- ``verifier``: 1 if the chosen option is the one the series' features support, else 0. The
  features and their decision rules are :mod:`sdt.data.tsqa_features` (trend change over the
  residual std, variance ratio of the last vs first third, dominant period, position of the
  largest robust z-score), the same definitions the data set is checked against; the option
  texts and their meanings are :data:`sdt.data.tsqa.TASKS`. No gold answer is used: it is
  computed from :func:`~sdt.search.rewards.base.deployed_view` of the query, which holds none.
- ``oracle``: 1 if the chosen option is the gold one (upper bounds only).

The chosen option is the first ``(a)``..``(d)`` in the text (:func:`sdt.data.evaluate.first_option`);
text without one scores ``reward.invalid`` and NaN terms.
"""

from __future__ import annotations

import re

import numpy as np

from sdt.data.evaluate import first_option
from sdt.data.tsqa import LETTERS, TASKS
from sdt.data.tsqa_features import predict
from sdt.errors import UserError
from sdt.search.rewards.base import QueryReward, Scored, deployed_view

_SHOWN = re.compile(r"\(([a-d])\)\s*([^()]+?)(?=\s*\([a-d]\)|\.\s*Answer|$)")


def shown_options(sample) -> list[str]:
    """Option texts in letter order: from the sample's meta, else read off the prompt."""
    if sample.meta.get("options"):
        return list(sample.meta["options"])
    return [text.strip() for _, text in _SHOWN.findall(sample.post_prompt)]


def verified_letter(sample) -> str | None:
    """The option letter the feature rules pick for this question, or None when the task is
    not one the verifier knows."""
    task = sample.meta.get("task")
    if task not in TASKS or not sample.series:
        return None
    label = TASKS[task][1][predict(task, sample.series[0])]
    options = shown_options(sample)
    return LETTERS[options.index(label)] if label in options else None


class TSQAReward(QueryReward):
    def __init__(self, cfg, sample, decode):
        super().__init__(decode)
        self.cfg = cfg
        self.expected = verified_letter(deployed_view(sample))
        self.gold = sample.meta.get("gold")  # the truth: the oracle term's only
        if self.expected is None and cfg.weights.verifier != 0:
            raise UserError(f"the TSQA verifier knows the tasks {sorted(TASKS)}; this sample's "
                            f"task is {sample.meta.get('task')!r} (set reward.weights.verifier: 0)")
        if self.gold is None and cfg.weights.oracle != 0:
            raise UserError("reward.weights.oracle needs the gold option, which this sample "
                            "does not carry")

    def score_texts(self, texts: list[str]) -> Scored:
        n = len(texts)
        chosen = [first_option(t) for t in texts]
        valid = np.array([c is not None for c in chosen], dtype=bool)

        def indicator(target):
            if target is None:
                return np.full(n, np.nan)
            return np.where(valid, [float(c == target) for c in chosen], np.nan)

        terms = {"verifier": indicator(self.expected), "oracle": indicator(self.gold)}
        total = np.full(n, float(self.cfg.invalid))
        w = self.cfg.weights
        for i in np.flatnonzero(valid):
            total[i] = sum(getattr(w, k) * terms[k][i] for k in terms if getattr(w, k) != 0)
        return Scored(total=total, terms=terms, valid=valid, parsed=chosen)
