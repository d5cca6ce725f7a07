"""The S-ADT claim row: the rollout budget (and NFE) at which each candidate's reward curve
reaches the reference method's reward at the reference's largest budget.

The curve is the candidate's mean reward at each budget it ran; the budget where it first
reaches the target is read off by linear interpolation of the reward between two budgets,
geometric between the budgets (and NFE) themselves. The CI comes from resampling the shared
(seed, query) units within each seed, the same resample for every curve and the target, so
that the comparison stays paired; a resample whose curve never reaches its target counts as
"beyond the largest budget". A curve whose mean never reaches the target is "not reached".
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from sdt.report import stats
from sdt.report.data import SweepData, _hashable, is_number
from sdt.report.settings import Settings
from sdt.report.table import _centre, _label, arms_table, level_of, units

N_RESAMPLES = 2000


@dataclass
class Claim:
    group: str
    candidate: str
    reference: str
    reference_budget: float
    target: float  # the reference's mean reward at its largest budget
    reference_nfe: float
    budget: float  # nan: not reached
    budget_low: float
    budget_high: float  # inf: beyond the largest budget in more than 2.5% of resamples
    nfe: float
    nfe_low: float
    nfe_high: float
    budgets: str  # the candidate's budgets, e.g. "5, 10, 20"
    n_seeds: int
    n_queries: int

    @property
    def reached(self) -> bool:
        return math.isfinite(self.budget)


def _matrix(data: SweepData, arms: list[str], metric: str) -> pd.DataFrame:
    """Values of ``metric`` per shared unit (rows) and arm (columns)."""
    level = "query" if all(level_of(data, a, metric) == "query" for a in arms) else "run"
    frames = []
    for a in arms:
        u = units(data, a, metric, level).set_index(["seed", "query"])["value"]
        frames.append(u.rename(a))
    return pd.concat(frames, axis=1, join="inner").sort_index()


def _curve(arms: pd.DataFrame, keys: list[str], sel, budget: str) -> pd.DataFrame:
    """A method's configurations along the budget, its other knobs at their centre."""
    arms = arms[arms[budget].map(is_number)]
    others = [k for k in keys if k != budget and k not in sel.where
              and arms[k].map(_hashable).nunique(dropna=False) > 1]
    return _centre(arms, others)


def claims(data: SweepData, settings: Settings, panel_keys: list[str]) -> list[Claim]:
    if settings.reference is None or settings.budget is None \
            or settings.budget not in data.arm_keys or "reward" not in \
            set(data.queries.columns) | data.metric_names:
        return []
    arms = arms_table(data)
    arms = arms[arms["arm"].isin(set(data.completed["arm"]))]
    budget = settings.budget
    # one claim per panel of the main table and candidate: other factors at their centre
    group_keys = [k for k in panel_keys if k != budget]
    out = []
    for gvals, g in (arms.groupby([arms[k].map(_hashable) for k in group_keys], sort=False)
                     if group_keys else [((), arms)]):
        gvals = gvals if isinstance(gvals, tuple) else (gvals,)
        group = _label(dict(zip(group_keys, gvals)), data.arm_keys)
        ref = _curve(g[settings.reference.matches(g)], data.arm_keys, settings.reference,
                     budget)
        if ref.empty:
            continue
        ref_arm = ref.loc[ref[budget].astype(float).idxmax(), "arm"]
        ref_budget = float(ref.loc[ref["arm"] == ref_arm, budget].iloc[0])
        for sel in settings.candidates:
            if sel.where == settings.reference.where:
                continue
            curve = _curve(g[sel.matches(g)], data.arm_keys, sel, budget)
            if curve[budget].map(_hashable).nunique() < 2:
                continue  # no curve to read a budget off
            curve = curve.sort_values(budget, key=lambda s: s.astype(float))
            claim = _one(data, group, sel.label, settings.reference.label, ref_arm,
                         ref_budget, curve, budget)
            if claim is not None:
                out.append(claim)
    return out


def _one(data, group, label, ref_label, ref_arm, ref_budget, curve, budget) -> Claim | None:
    arms = list(curve["arm"])
    budgets = curve[budget].astype(float).to_numpy()
    reward = _matrix(data, [ref_arm, *arms], "reward")
    if reward.empty:
        return None
    nfe = _matrix(data, [ref_arm, *arms], "nfe").reindex(reward.index)
    seeds = reward.index.get_level_values("seed").to_numpy()
    r = reward.to_numpy(dtype=float)  # units x (reference, curve...)
    f = nfe.to_numpy(dtype=float)
    target, ref_nfe = float(r[:, 0].mean()), float(np.nanmean(f[:, 0])) if f.size else math.nan
    mean_curve, nfe_curve = r[:, 1:].mean(0), np.nanmean(f[:, 1:], 0) if f.size else None
    pos = stats.crossing(budgets, mean_curve, target)
    idx = stats.stratified_indices(seeds, N_RESAMPLES)
    boot_r = r[idx].mean(1)  # resamples x arms
    boot_f = np.nanmean(f[idx], 1) if f.size else None
    positions = stats.crossings(boot_r[:, 1:], boot_r[:, 0])
    b_budget = stats.at_indices(budgets, positions)
    b_nfe = stats.at_indices(boot_f[:, 1:], positions) if boot_f is not None \
        else np.full(N_RESAMPLES, np.inf)
    tail = (1 - stats.CONFIDENCE) / 2

    def q(xs, a):
        return float(np.quantile(np.asarray(xs), a, method="inverted_cdf"))

    return Claim(group=group, candidate=label,
                 reference=ref_label, reference_budget=ref_budget, target=target,
                 reference_nfe=ref_nfe,
                 budget=stats.at_index(budgets, pos),
                 budget_low=q(b_budget, tail), budget_high=q(b_budget, 1 - tail),
                 nfe=stats.at_index(nfe_curve, pos) if nfe_curve is not None else math.nan,
                 nfe_low=q(b_nfe, tail), nfe_high=q(b_nfe, 1 - tail),
                 budgets=", ".join(f"{b:g}" for b in budgets),
                 n_seeds=int(len(np.unique(seeds))),
                 n_queries=int(reward.groupby(level="seed").size().max()))
