"""The ``search`` section: which method decodes, with which budget and knobs.

A tagged union on ``search.method``: each method declares only the keys it uses, so a key that
does not apply to the chosen method (``search.alpha`` with ``method: greedy``) is an unknown-key
error naming ``search.alpha``. Definitions of every knob: ``shared/design/SEARCH.md``.

>>> from sdt.config.search import SearchSection
>>> from pydantic import TypeAdapter
>>> TypeAdapter(SearchSection).validate_python({"method": "dts", "num_rollouts": 10}).lam
1.0
"""

from __future__ import annotations

from typing import Annotated, Literal, Union

from pydantic import Field, field_validator

from sdt.config._base import StrictModel

PosInt = Annotated[int, Field(gt=0)]
PosFloat = Annotated[float, Field(gt=0)]
NonNegFloat = Annotated[float, Field(ge=0)]


class _Base(StrictModel):
    # H counts generated tokens only, never the prompt.
    max_new_tokens: PosInt = 64
    # Queries whose searches advance in lockstep, their rows sharing each forward call (each
    # tree stays strictly sequential, so results per tree are what they would be alone).
    # ``sadt``'s value head learns from the trees of earlier windows: 1 = after every query.
    query_batch: PosInt = 8


class _Sampled(_Base):
    # Exactness (pi*) needs rollouts from p itself: temperature 1.
    rollout_temperature: PosFloat = 1.0


class _Ensemble(StrictModel):
    # Size of the returned ensemble (CRPS, diversity); deterministic methods return one.
    num_samples: PosInt = 1


class _Budget(_Sampled):
    num_rollouts: PosInt = 20


class _Tree(_Budget):
    expansion_k: PosInt = 3
    # Rollouts that evaluate each new leaf, in one batch (its estimate is their soft mean; an
    # output ending there is resampled among them by exp(lam r)). ``num_rollouts`` stays the
    # total budget.
    parallel_rollouts: PosInt = 1


class _Soft(_Tree):
    lam: PosFloat = 1.0


class GreedySearch(_Base):
    """Argmax at each step (the OpenTSLM baseline); one continuation."""

    method: Literal["greedy"] = "greedy"


class SampleSearch(_Ensemble, _Sampled):
    """``num_samples`` ancestral samples at ``rollout_temperature``, in one batch."""

    method: Literal["sample"] = "sample"


class BestOfNSearch(_Ensemble, _Budget):
    """``num_rollouts`` samples in one batch; the ``num_samples`` highest rewards are returned."""

    method: Literal["best_of_n"] = "best_of_n"

    @field_validator("num_samples")
    @classmethod
    def _ensemble_fits(cls, v, info):
        n = info.data.get("num_rollouts")
        if n is not None and v > n:
            raise ValueError(f"num_samples <= num_rollouts ({n})")
        return v


class MCTSSearch(_Ensemble, _Tree):
    """UCT over the top-``expansion_k`` tokens; returns the best complete sequences seen."""

    method: Literal["mcts"] = "mcts"
    c_uct: NonNegFloat = 1.0


class DTSSearch(_Ensemble, _Soft):
    """Diffusion Tree Sampling on tokens: children drawn from p with counts."""

    method: Literal["dts"] = "dts"


class DTSStarSearch(_Soft):
    """DTS with the argmax path as output (one continuation)."""

    method: Literal["dts_star"] = "dts_star"


class MaxEntTSSearch(_Ensemble, _Soft):
    """Top-``expansion_k`` children weighted by the renormalised prior; optional UCT bonus."""

    method: Literal["maxent_ts"] = "maxent_ts"
    uct_bonus: NonNegFloat = 0.0


class ValueHeadSection(StrictModel):
    """F_phi: an MLP on the LM's last hidden state, trained between queries."""

    hidden: PosInt = 64
    lr: PosFloat = 1.0e-3
    train_steps: Annotated[int, Field(ge=0)] = 20  # per query; 0 = frozen (evaluate a loaded F)
    batch_size: PosInt = 64
    buffer_size: PosInt = 4096


class SADTSearch(MaxEntTSSearch):
    """``maxent_ts`` plus the amortised value F_phi (hybrid selection with ``alpha``)."""

    method: Literal["sadt"] = "sadt"  # type: ignore[assignment]
    alpha: Annotated[float, Field(ge=0, le=1)] = 0.5
    # soft: LINEX regression on node estimates (its minimiser is the soft value); mse: plain
    # regression (biased low where few rollouts stand behind a node); tb: trajectory balance
    # over root-to-complete-sequence paths of the tree.
    sadt_loss: Literal["soft", "mse", "tb"] = "soft"
    value_head: ValueHeadSection = ValueHeadSection()
    # A state (value head + buffer) saved by another run, e.g. trained on another split.
    buffer_load: str | None = None
    buffer_save: str | None = None


SearchSection = Annotated[
    Union[GreedySearch, SampleSearch, BestOfNSearch, MCTSSearch, DTSSearch, DTSStarSearch,
          MaxEntTSSearch, SADTSearch],
    Field(discriminator="method"),
]

METHODS = ("greedy", "sample", "best_of_n", "mcts", "dts", "dts_star", "maxent_ts", "sadt")
