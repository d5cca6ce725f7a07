"""User rewards by dotted path: ``reward.fn: package.module:function``.

The function is called once per batch as ``fn(texts, sample, **reward.params)`` and returns
one float per text (a NaN or inf counts as invalid). Its values are recorded as the ``user``
term.

    # mypkg/rewards.py
    def short_and_positive(texts, sample, target=0.0):
        return [-abs(len(t) - 10) + target for t in texts]
"""

from __future__ import annotations

import numpy as np

from sdt.config.reward import load_callable
from sdt.errors import UserError
from sdt.search.rewards.base import QueryReward, Scored


class UserReward(QueryReward):
    def __init__(self, cfg, sample, decode):
        super().__init__(decode)
        self.fn = load_callable(cfg.fn)
        self.sample = sample
        self.params = dict(cfg.params)
        self.name = cfg.fn

    def score_texts(self, texts: list[str]) -> Scored:
        out = np.asarray(self.fn(list(texts), self.sample, **self.params), dtype=np.float64)
        if out.shape != (len(texts),):
            raise UserError(f"reward.fn {self.name} returned shape {out.shape} for "
                            f"{len(texts)} texts; expected one float per text")
        return Scored(total=out, terms={"user": out}, valid=np.isfinite(out),
                      parsed=[None] * len(texts))
