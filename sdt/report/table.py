"""The main table: one row per method (the baseline first), one column per metric; each cell
the mean over the method's units with a stratified bootstrap CI, the number of seeds and of
queries behind it, and (candidates) the paired difference to the baseline, its test and its
Holm-adjusted p-value across the whole table.

Rows live in *panels*: when the baseline selector matches several configurations (greedy on
two data sets), the keys that tell them apart split the table, and each candidate is compared
with the baseline of its own panel. A candidate selector that matches several configurations
in a panel (sadt at five rollout budgets) gives one row per configuration, labelled by what
differs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from sdt.report import stats
from sdt.report.data import SweepData, _hashable, is_number, short, show
from sdt.report.settings import Settings, direction, same


@dataclass
class Row:
    panel: str
    label: str
    arm: str
    role: str  # baseline | candidate
    origin: str


def _label(values: dict, keys: list[str]) -> str:
    return ", ".join(f"{short(k, keys)}={show(v)}" for k, v in values.items())


def arms_table(data: SweepData) -> pd.DataFrame:
    """One row per arm of the primary runs (its first run's config), plan order."""
    return data.primary.drop_duplicates("arm").set_index("arm", drop=False)


def panel_keys(arms: pd.DataFrame, settings: Settings, keys: list[str]) -> list[str]:
    used = set(settings.baseline.where)
    for c in settings.candidates:
        used |= set(c.where)
    base = arms[settings.baseline.matches(arms)]
    return [k for k in keys if k not in used
            and base[k].map(_hashable).nunique(dropna=False) > 1]


def rows(data: SweepData, settings: Settings) -> tuple[list[Row], list[str], list[str]]:
    """The table's rows, the panel keys and notes about configurations left out."""
    arms = arms_table(data)
    keys = data.arm_keys
    pkeys = panel_keys(arms, settings, keys)
    base = arms[settings.baseline.matches(arms)]
    out: list[Row] = []
    notes: list[str] = []
    done = set(data.completed["arm"])
    for _, b in base.iterrows():
        pvals = {k: b[k] for k in pkeys}
        panel = _label(pvals, keys) if pkeys else ""
        in_panel = arms[np.logical_and.reduce(
            [arms[k].map(lambda v, w=w: same(v, w)) for k, w in pvals.items()]
            or [np.ones(len(arms), bool)])]
        out.append(Row(panel, settings.baseline.label, b["arm"], "baseline",
                       settings.baseline.origin))
        for sel in settings.candidates:
            matched = in_panel[sel.matches(in_panel) & (in_panel["arm"] != b["arm"])]
            differ = [k for k in keys if k not in pkeys and k not in sel.where
                      and matched[k].map(_hashable).nunique(dropna=False) > 1]
            matched = _centre(matched, [k for k in differ if k != settings.budget])
            matched = _largest_budget(matched, settings.budget, keys, pkeys, sel, done)
            for _, a in matched.iterrows():
                extra = _label({k: a[k] for k in differ}, keys)
                label = f"{sel.label} ({extra})" if extra else sel.label
                out.append(Row(panel, label, a["arm"], "candidate", sel.origin))
    if len(base) == 0:
        notes.append(f"no run matches the baseline {settings.baseline.where}")
    return out, pkeys, notes


def _centre(matched: pd.DataFrame, others: list[str]) -> pd.DataFrame:
    """One configuration per method: each other varying key at its most common value (the
    centre of one-factor-at-a-time studies, which every other factor's points share; the
    first in plan order on a tie). The study curves show the rest."""
    for k in others:
        values = matched[k].map(_hashable)
        top = values.value_counts(sort=False, dropna=False).idxmax()
        matched = matched[values.isna() if pd.isna(top) else values == top]
    return matched


def _largest_budget(matched: pd.DataFrame, budget: str | None, keys: list[str],
                    pkeys: list[str], sel, done: set) -> pd.DataFrame:
    """Of configurations that differ only in the budget, the one at the largest budget that
    has completed runs (the paper's table; the budget curves show the others)."""
    if budget is None or budget not in keys or budget in sel.where or matched.empty:
        return matched
    others = [k for k in keys if k != budget and k not in pkeys and k not in sel.where]
    order = matched[budget].map(lambda v: float(v) if is_number(v) else -math.inf)
    ranked = matched.assign(_d=matched["arm"].isin(done).to_numpy(), _b=order.to_numpy()) \
        .sort_values(["_d", "_b"], kind="stable")
    if others:
        keep = ranked.groupby([ranked[k].map(_hashable) for k in others], sort=False,
                              dropna=False).tail(1)
    else:
        keep = ranked.tail(1)
    return matched.loc[[i for i in matched.index if i in set(keep.index)]]


def units(data: SweepData, arm: str, metric: str, level: str) -> pd.DataFrame:
    """The arm's finite values of ``metric``: columns seed, query (query level) and value
    (computed once per arm, metric and level)."""
    key = (arm, metric, level)
    if key not in data.units_cache:
        data.units_cache[key] = _units(data, arm, metric, level)
    return data.units_cache[key]


def _units(data: SweepData, arm: str, metric: str, level: str) -> pd.DataFrame:
    if level == "query":
        q = data.queries_by_arm.get(arm, data.queries.iloc[:0])
        out = pd.DataFrame({"seed": _seeds(q["seed"]), "query": q["query"].to_numpy(),
                            "value": pd.to_numeric(q[metric], errors="coerce").to_numpy()})
    else:
        c = data.completed_by_arm.get(arm, data.completed.iloc[:0])
        values = pd.to_numeric(c[metric], errors="coerce") if metric in c else \
            pd.Series(np.nan, index=c.index)
        out = pd.DataFrame({"seed": _seeds(c["seed"]), "query": 0,
                            "value": values.to_numpy(dtype=float)})
    return out[np.isfinite(out["value"].to_numpy(dtype=float))]


def _seeds(column: pd.Series) -> np.ndarray:
    """Seeds as integers; a run without one (a kind with no seed) is seed -1."""
    return pd.to_numeric(column, errors="coerce").fillna(-1).to_numpy(np.int64)


def level_of(data: SweepData, arm: str, metric: str) -> str:
    """``query`` when every completed run of the arm has per-query rows holding ``metric``."""
    if arm in data.query_level_arms and metric in data.queries.columns:
        return "query"
    return "run"


def _groups(frame: pd.DataFrame, column: str = "value") -> list[np.ndarray]:
    return [g[column].to_numpy(dtype=float) for _, g in frame.groupby("seed", sort=True)]


def _best(values: list[float], way: str | None) -> list[int]:
    """Positions of the best value (ties share it); none when every row ties or there is
    nothing to compare."""
    finite = [(i, v) for i, v in enumerate(values) if v is not None and math.isfinite(v)]
    if way is None or len(finite) < 2:
        return []
    if way == "max":
        score = {i: -v for i, v in finite}
    elif way == "min":
        score = {i: v for i, v in finite}
    else:
        score = {i: abs(math.log(v)) if v > 0 else math.inf for i, v in finite}
    top = min(score.values())
    best = [i for i, s in score.items() if s == top]
    return [] if len(best) == len(finite) else best


COLUMNS = ["panel", "row", "role", "arm", "metric", "mean", "ci_low", "ci_high", "n_seeds",
           "n_queries", "unit", "best", "diff", "diff_low", "diff_high", "effect", "test",
           "n_pairs", "p", "p_holm", "significant"]


def main_table(data: SweepData, settings: Settings, table_rows: list[Row]) -> pd.DataFrame:
    """The long form of the main table (one line per row x metric; see :data:`COLUMNS`)."""
    records, cells, diffs = [], [], []
    baseline_of = {r.panel: r for r in table_rows if r.role == "baseline"}
    for row in table_rows:
        base = baseline_of.get(row.panel)
        for metric in settings.metrics:
            level = level_of(data, row.arm, metric)
            u = units(data, row.arm, metric, level)
            cells.append(_groups(u))
            per_seed = u.groupby("seed")["query"].nunique() if len(u) else pd.Series(dtype=int)
            rec = {"panel": row.panel, "row": row.label, "role": row.role, "arm": row.arm,
                   "metric": metric, "n_seeds": int(u["seed"].nunique()) if len(u) else 0,
                   "n_queries": int(per_seed.max()) if level == "query" and len(u) else 0,
                   "unit": level, "best": False}
            if row.role == "candidate" and base is not None:
                diffs.append((len(records), _differences(data, base.arm, row.arm, metric,
                                                         level)))
            records.append(rec)
    # every CI of the table in as few bootstrap calls as the data allow
    for rec, (mean, low, high) in zip(records, stats.mean_cis(cells)):
        rec.update(mean=mean, ci_low=low, ci_high=high)
    cis = stats.mean_cis([groups for _, (groups, _) in diffs])
    for (i, (groups, level)), ci in zip(diffs, cis):
        records[i].update(_compare(groups, level, settings.test, ci))
    df = pd.DataFrame.from_records(records, columns=[c for c in COLUMNS if c not in
                                                     ("p_holm", "significant")])
    for c in ("diff", "diff_low", "diff_high", "effect", "p", "n_pairs", "test"):
        if c not in df:
            df[c] = np.nan
    df["p_holm"] = stats.holm(df["p"].to_numpy(dtype=float))
    df["significant"] = df["p_holm"] < settings.alpha
    for (panel, metric), group in df.groupby(["panel", "metric"], sort=False):
        for i in _best(group["mean"].tolist(), direction(metric)):
            df.loc[group.index[i], "best"] = True
    return df[COLUMNS]


def _differences(data: SweepData, base_arm: str, arm: str, metric: str,
                 level: str) -> tuple[list[np.ndarray], str]:
    """Candidate minus baseline on their shared units, grouped by seed: (seed, query) when
    both have per-query rows, else (seed), where the seeds are the sample (one group)."""
    if level_of(data, base_arm, metric) != level:
        level = "run"
    seeds, d = _paired(units(data, arm, metric, level), units(data, base_arm, metric, level))
    if level == "run":
        return [d], level
    return [d[seeds == s] for s in np.unique(seeds)], level


def _compare(groups: list[np.ndarray], level: str, test: str, ci) -> dict:
    n = sum(len(g) for g in groups)
    if n == 0:
        return {"n_pairs": 0, "test": test}
    result = stats.paired_test(groups, test, ci=ci)
    return {"diff": result.diff, "diff_low": result.low, "diff_high": result.high,
            "effect": result.effect, "test": test, "n_pairs": result.n, "p": result.p}


def _paired(c: pd.DataFrame, b: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Seeds and differences (candidate - baseline) of the units both have."""
    def keyed(u):
        return u["seed"].to_numpy(np.int64) * (1 << 32) + u["query"].to_numpy(np.int64)

    _, ic, ib = np.intersect1d(keyed(c), keyed(b), assume_unique=True, return_indices=True)
    d = c["value"].to_numpy(float)[ic] - b["value"].to_numpy(float)[ib]
    return c["seed"].to_numpy(np.int64)[ic], d


def expected_seeds(data: SweepData, arm: str) -> int:
    p = data.primary
    return int(p.loc[p["arm"] == arm, "seed"].nunique())


