"""User rewards by dotted path: ``reward.fn: package.module:function``.

The function is called once per batch as ``fn(texts, sample, **reward.params)`` and returns
one float per text. A NaN or ±inf counts as invalid: r is ``reward.invalid`` there (the search
never sees a non-finite reward). Its raw values are recorded as the ``user`` term.

``sample`` is what a deployed reward could see (:func:`sdt.search.rewards.base.deployed_view`):
``pre_prompt``, ``series``, ``series_text``, ``post_prompt`` and ``meta`` with ``history``,
``scale``, ``horizon``, ``options``, ``task``, ``source`` where the query has them. The truth
(``sample.answer``, ``meta["future"]``, ``meta["gold"]``, ``meta["label"]``) and other meta keys
raise a KeyError/AttributeError that says so (``meta.get`` gives None). With
``reward.oracle: true`` the function gets the sample itself, truth included, and the run
reports ``uses_oracle`` 1 (an upper bound, not a method).

    # mypkg/rewards.py
    def short_and_positive(texts, sample, target=0.0):
        return [-abs(len(t) - 10) + target for t in texts]
"""

from __future__ import annotations

import numpy as np

from sdt.config.reward import load_callable
from sdt.errors import UserError
from sdt.search.rewards.base import QueryReward, Scored, deployed_view


class UserReward(QueryReward):
    def __init__(self, cfg, sample, decode):
        super().__init__(decode)
        self.fn = load_callable(cfg.fn)
        self.sample = sample if cfg.oracle else deployed_view(sample)
        self.params = dict(cfg.params)
        self.name = cfg.fn
        self.invalid = float(cfg.invalid)

    def score_texts(self, texts: list[str]) -> Scored:
        out = np.asarray(self.fn(list(texts), self.sample, **self.params), dtype=np.float64)
        if out.shape != (len(texts),):
            raise UserError(f"reward.fn {self.name} returned shape {out.shape} for "
                            f"{len(texts)} texts; expected one float per text")
        valid = np.isfinite(out)
        return Scored(total=np.where(valid, out, self.invalid), terms={"user": out},
                      valid=valid, parsed=[None] * len(texts))
