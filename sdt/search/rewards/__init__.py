"""Rewards by kind (SEARCH.md "Rewards"): ``build_reward(reward_cfg, sample, decode)`` gives
the per-query reward the search calls as ``reward_fn(list of token-id tuples) -> np.ndarray``;
``.score(continuations)`` gives the breakdown (total, each term, validity, parsed values).

A new reward is one module with a :class:`QueryReward` subclass and one line in ``REWARDS``;
it builds what it scores from :func:`deployed_view` of the sample (no truth), and reads the
truth only in a term marked as an oracle (see :mod:`sdt.search.rewards.base`).
"""

from __future__ import annotations

from sdt.search.rewards.base import (
    VISIBLE_META,
    Decode,
    DeployedSample,
    QueryReward,
    Scored,
    deployed_view,
)
from sdt.search.rewards.forecast import ForecastReward
from sdt.search.rewards.tsqa import TSQAReward
from sdt.search.rewards.user import UserReward, load_callable

REWARDS: dict[str, type[QueryReward]] = {
    "forecast": ForecastReward,
    "tsqa": TSQAReward,
    "user": UserReward,
}


def build_reward(cfg, sample, decode: Decode) -> QueryReward:
    """The reward of ``cfg.kind`` for one query ``sample``; ``decode`` turns continuation
    token ids into text (e.g. ``lambda ids: tok.decode(ids, skip_special_tokens=True)``)."""
    return REWARDS[cfg.kind](cfg, sample, decode)


__all__ = ["REWARDS", "VISIBLE_META", "Decode", "DeployedSample", "ForecastReward",
           "QueryReward", "Scored", "TSQAReward", "UserReward", "build_reward",
           "deployed_view", "load_callable"]
