"""What every reward does for one query: decode continuations, score them, remember scores.

A reward is built per query (it precomputes what depends only on the query, e.g. the
history's spectrum) and is called by the search as ``reward_fn(list of token-id tuples) ->
np.ndarray``: continuation tokens only, never the prompt. (The search scores each distinct
sequence once through :class:`sdt.search.result.RewardCache`.)

What a reward may look at (SEARCH.md "Rewards": computed without the ground truth) is what a
deployed reward could see: :func:`deployed_view` of the query, i.e. the prompt, the series,
and of the meta only :data:`VISIBLE_META` (history, parse scale, horizon, options, task,
source). The truth (``answer``, and meta keys such as ``future``, ``gold``, ``label``) and
every other meta key (e.g. a window's position in its series, from which the future could be
looked up) stay out. Only a term or reward marked as an oracle sees the sample itself: the
``oracle`` terms of the built-in rewards, and a user reward with ``reward.oracle: true``
(then :func:`sdt.config.reward.uses_oracle` is True and the run reports ``uses_oracle`` 1).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np

Decode = Callable[[Sequence[int]], str]

# Meta keys a deployed reward could know: the history and what is needed to parse a forecast
# (its scale and horizon), the options shown, the task asked and the data source's name.
VISIBLE_META = ("history", "scale", "horizon", "options", "task", "source")
_ORACLE_HINT = "mark the reward as an oracle (reward.oracle: true) if it is an upper bound"


class VisibleMeta(dict):
    """The meta keys of :data:`VISIBLE_META` a query has. Indexing a key the query has but
    that is hidden raises a KeyError that says so (``.get`` gives None, as for a key the
    query does not have)."""

    def __init__(self, visible: dict, hidden: Sequence[str]):
        super().__init__(visible)
        self.hidden = tuple(hidden)

    def __missing__(self, key):
        if key in self.hidden:
            raise KeyError(f"meta[{key!r}] is not shown to a reward: it sees only what a "
                           f"deployed reward could see ({', '.join(VISIBLE_META)}); "
                           f"{_ORACLE_HINT}")
        raise KeyError(key)


@dataclass(frozen=True)
class DeployedSample:
    """A query as a deployed reward sees it: the sample's prompt and series (read-only
    copies) and :class:`VisibleMeta`; ``answer`` raises AttributeError."""

    pre_prompt: str
    series: list
    series_text: list
    post_prompt: str
    meta: VisibleMeta

    @property
    def answer(self):
        raise AttributeError(f"sample.answer is the truth, not shown to a reward; {_ORACLE_HINT}")


def _read_only(value):
    """A copy the reward cannot change the query through (arrays read-only)."""
    if isinstance(value, np.ndarray):
        value = value.copy()
        value.setflags(write=False)
    elif isinstance(value, (dict, list)):
        value = type(value)(value)
    return value


def deployed_view(sample) -> DeployedSample:
    """What a reward may see of ``sample`` (see the module docstring). The horizon is given
    when the meta has only the true future (its length, not its values)."""
    meta = sample.meta
    visible = {k: _read_only(meta[k]) for k in VISIBLE_META if k in meta}
    if "horizon" not in visible and meta.get("future") is not None:
        visible["horizon"] = len(meta["future"])
    hidden = [k for k in meta if k not in visible] + ["answer"]
    return DeployedSample(pre_prompt=sample.pre_prompt,
                          series=[_read_only(np.asarray(x)) for x in sample.series],
                          series_text=list(sample.series_text), post_prompt=sample.post_prompt,
                          meta=VisibleMeta(visible, hidden))


@dataclass
class Scored:
    """Scores of a batch of texts: ``total`` r, each term's value (NaN where a term does not
    apply, e.g. for invalid text), which texts were valid, and what was parsed from each
    (forecast values, chosen option, or ``None``)."""

    total: np.ndarray
    terms: dict[str, np.ndarray] = field(default_factory=dict)
    valid: np.ndarray | None = None
    parsed: list = field(default_factory=list)
    texts: list[str] = field(default_factory=list)


class QueryReward:
    """Base of the rewards: subclasses implement :meth:`score_texts`."""

    def __init__(self, decode: Decode):
        self._decode = decode

    def score_texts(self, texts: list[str]) -> Scored:
        raise NotImplementedError

    def score(self, continuations: Sequence[Sequence[int]]) -> Scored:
        """Full breakdown for ``continuations`` (token ids), e.g. of what a method returns."""
        texts = [self._decode(list(c)) for c in continuations]
        scored = self.score_texts(texts)
        scored.texts = texts
        return scored

    def __call__(self, continuations: Sequence[Sequence[int]]) -> np.ndarray:
        return np.asarray(self.score(continuations).total, dtype=np.float64)
