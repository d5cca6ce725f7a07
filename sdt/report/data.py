"""What a report reads: the sweep's results table (``sdt.results``), its per-query rows from
the run folders, and which runs form which *arm* (one configuration, every seed).

A search run's ``metrics.jsonl`` holds one row per query (``step`` = query index) when its
final metrics say ``num_queries`` and the row count of its last attempt agrees; those rows
are the units of the report's statistics. Other runs (training) count as one unit each, their final metrics from
the store. The *primary* runs are those of the kind the plan lists last (dependencies, such
as the training run a search decodes with, come first), so a search sweep compares search
runs and shows its training runs as curves.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np
import pandas as pd

from sdt.errors import UserError

QUERY = "query"


@dataclass
class SweepData:
    name: str
    url: str
    runs: pd.DataFrame  # sdt.results.load(): one row per run, plan order, plus ``arm``
    primary_kind: str
    arm_keys: list[str]  # config keys that tell the arms of the primary runs apart
    queries: pd.DataFrame  # per-query rows of completed primary runs: run_id, seed, query, ...
    query_runs: set = field(default_factory=set)  # run ids whose units are queries
    metric_names: set = field(default_factory=set)  # final-metric names in the store
    units_cache: dict = field(default_factory=dict, repr=False)

    @cached_property
    def primary(self) -> pd.DataFrame:
        return self.runs[self.runs["kind"] == self.primary_kind]

    @cached_property
    def completed(self) -> pd.DataFrame:
        p = self.primary
        return p[p["state"] == "completed"]

    @cached_property
    def queries_by_arm(self) -> dict[str, pd.DataFrame]:
        return {arm: g for arm, g in self.queries.groupby("arm", sort=False)} \
            if len(self.queries) else {}

    @cached_property
    def completed_by_arm(self) -> dict[str, pd.DataFrame]:
        return {arm: g for arm, g in self.completed.groupby("arm", sort=False)}

    @cached_property
    def query_level_arms(self) -> set[str]:
        """Arms whose every completed run has per-query rows."""
        return {arm for arm, g in self.completed_by_arm.items()
                if set(g["run_id"].tolist()) <= self.query_runs}


def open_store(url: str | None):
    """The store at ``url`` (a SQLAlchemy URL or SQLite path; default ``runs/sdt.db``),
    refusing a SQLite file that does not exist instead of creating an empty one."""
    from sdt.sweep.store import DEFAULT_STORE, Store

    target = url or DEFAULT_STORE
    if "://" not in target and not Path(target).expanduser().is_file():
        raise UserError(f"no store at {target} (run a sweep first, or give --store)")
    if target.startswith("sqlite:///") and not Path(target[len("sqlite:///"):]).is_file():
        raise UserError(f"no store at {target[len('sqlite:///'):]} (run a sweep first, or "
                        "give --store)")
    return Store(target)


def latest_sweep(store) -> str:
    """The sweep whose runs were created, started or finished most recently."""
    import sqlalchemy as sa

    from sdt.sweep.store import members_table as m, runs_table as r

    when = sa.func.max(sa.func.coalesce(r.c.finished, r.c.started, r.c.created))
    query = (sa.select(m.c.sweep, when.label("t")).join(r, r.c.run_id == m.c.run_id)
             .group_by(m.c.sweep).order_by(sa.desc("t"), m.c.sweep).limit(1))
    with store.engine.connect() as conn:
        row = conn.execute(query).first()
    if row is None:
        raise UserError(f"the store {store.url} holds no sweep (run one with `sdt-sweep run`)")
    return row[0]


def _read_history(path: Path) -> list[dict] | None:
    try:
        text = path.read_text()
    except OSError:
        return None
    lines = [line for line in text.splitlines() if line.strip()]
    try:
        return json.loads("[" + ",".join(lines) + "]")
    except json.JSONDecodeError:  # a line cut by a crash: keep the whole ones
        out = []
        for line in lines:
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError:
                pass
        return out


def read_history(run_dir) -> pd.DataFrame:
    """A run's ``metrics.jsonl`` as a DataFrame (empty when absent)."""
    if not isinstance(run_dir, str) or not run_dir:
        return pd.DataFrame()
    rows = _read_history(Path(run_dir) / "metrics.jsonl")
    return pd.DataFrame(rows or [])


def _per_query(completed: pd.DataFrame) -> tuple[pd.DataFrame, set]:
    frames, ids, seeds = [], [], []
    with_queries = set()
    has_nq = "num_queries" in completed.columns
    for run_id, run_dir, seed, nq in zip(completed["run_id"], completed["run_dir"],
                                         completed["seed"],
                                         completed["num_queries"] if has_nq
                                         else [math.nan] * len(completed)):
        if not (isinstance(nq, (int, float)) and nq == nq and nq > 0) or not run_dir:
            continue
        rows = _last_attempt(_read_history(Path(run_dir) / "metrics.jsonl") or [])
        if len(rows) != int(nq):
            continue
        frames.extend(rows)
        ids.extend([run_id] * len(rows))
        seeds.extend([seed] * len(rows))
        with_queries.add(run_id)
    if not frames:
        return pd.DataFrame(columns=["run_id", "seed", QUERY]), with_queries
    df = pd.DataFrame.from_records(frames)
    df = df.rename(columns={"step": QUERY})
    df.insert(0, "seed", seeds)
    df.insert(0, "run_id", ids)
    return df, with_queries


def _last_attempt(rows: list[dict]) -> list[dict]:
    """The rows from the last ``step`` 0 on: a run executed again (after a crash or a kill)
    appends its queries after the rows of the attempt that did not finish."""
    starts = [i for i, r in enumerate(rows) if r.get("step") == 0]
    return rows[starts[-1]:] if starts else rows


def _seed_derived(frame: pd.DataFrame, column: str) -> bool:
    """True when ``column`` takes one value within every seed's runs (the seed decides it)."""
    if "seed" not in frame or frame["seed"].isna().all():
        return False
    return bool((frame.groupby("seed", dropna=False)[column]
                 .agg(lambda s: s.map(_hashable).nunique(dropna=False)) <= 1).all())


def _hashable(value):
    if isinstance(value, (list, dict)):
        return json.dumps(value, sort_keys=True)
    if isinstance(value, float) and value.is_integer():
        return int(value)  # a column with gaps holds its integers as floats
    return value


def short(key: str, keys) -> str:
    """``search.num_rollouts`` -> ``num_rollouts`` unless another key ends the same way."""
    tail = key.rsplit(".", 1)[-1]
    return tail if sum(k.rsplit(".", 1)[-1] == tail for k in keys) == 1 else key


def show(value) -> str:
    """A config value as the report prints it (``10.0`` -> ``10``, missing -> ``-``)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return str(_hashable(value))


def config_columns(runs: pd.DataFrame, metric_names: set[str]) -> list[str]:
    """The flattened config keys among the results table's columns."""
    from sdt.sweep.results import RUN_COLUMNS, TAIL_COLUMNS

    skip = set(RUN_COLUMNS) | set(TAIL_COLUMNS) | {"seed", "arm"} | metric_names
    return [c for c in runs.columns if c not in skip]


def arm_keys(primary: pd.DataFrame, metric_names: set[str]) -> list[str]:
    """The config keys whose values differ between the primary runs, other than the seed and
    what the seed decides.

    A key that some runs lack (a method's own knob: ``search.alpha`` exists for ``sadt``
    only) counts when its present values differ; one that merely comes and goes with another
    key is left out, unless leaving it out would merge configurations that differ.
    """
    varying, valued = [], []
    for column in config_columns(primary, metric_names):
        values = primary[column].map(_hashable)
        if values.nunique(dropna=False) <= 1:
            continue
        if len(primary) > 1 and _seed_derived(primary, column):
            continue
        varying.append(column)
        if values.dropna().nunique() > 1:
            valued.append(column)
    if not valued or _count_configs(primary, valued) < _count_configs(primary, varying):
        return varying
    return valued


def _count_configs(frame: pd.DataFrame, keys: list[str]) -> int:
    return len(frame[keys].map(lambda v: str(_hashable(v))).drop_duplicates())


def load(sweep: str, store) -> SweepData:
    """Read the sweep ``sweep`` from ``store`` (a :class:`Store`)."""
    from sdt.sweep.results import load as load_results

    runs = load_results(sweep, store).reset_index(drop=True)
    primary_kind = str(runs["kind"].iloc[-1])
    metric_names = store_metric_names(store, sweep)
    primary = runs[runs["kind"] == primary_kind]
    keys = arm_keys(primary, metric_names)
    runs["arm"] = ""
    if keys:
        columns = [primary[k].map(show).tolist() for k in keys]
        runs.loc[primary.index, "arm"] = [", ".join(f"{k}={v}" for k, v in zip(keys, vals))
                                          for vals in zip(*columns)]
    else:
        runs.loc[primary.index, "arm"] = "all runs"
    completed = primary[primary["state"] == "completed"]
    queries, with_queries = _per_query(completed)
    if len(queries):
        queries = queries.merge(runs[["run_id", "arm"]], on="run_id", how="left")
    else:
        queries["arm"] = pd.Series(dtype=object)
    return SweepData(name=sweep, url=store.url, runs=runs, primary_kind=primary_kind,
                     arm_keys=keys, queries=queries, query_runs=with_queries,
                     metric_names=metric_names)


def store_metric_names(store, sweep: str) -> set[str]:
    """Every final-metric name recorded for the sweep's runs (the results table mixes them
    with the config keys)."""
    import sqlalchemy as sa

    from sdt.sweep.store import members_table as m, runs_table as r

    query = (sa.select(r.c.metrics).join(m, m.c.run_id == r.c.run_id)
             .where(m.c.sweep == sweep, r.c.metrics.is_not(None)).distinct())
    names: set[str] = set()
    with store.engine.connect() as conn:
        for (text,) in conn.execute(query):
            names.update(json.loads(text))
    return names


def is_number(value) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)
