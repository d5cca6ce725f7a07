"""The results table of a sweep as a pandas DataFrame, straight from the store.

>>> import sdt
>>> df = sdt.results.load("sadt-ablation")            # doctest: +SKIP
>>> df.groupby("search.method")["reward"].mean()       # doctest: +SKIP

One row per run of the sweep, in plan order. Columns: ``run_id``, ``sweep``, ``studies``
(comma-joined; a run listed by two studies appears once), ``seed``, ``kind``, ``state``,
``trial`` (the Optuna trial numbers the run served, ``study:n,m``, else empty), the
resolved config flattened to dotted keys (``search.method``, ``training.lr_encoder``, ...),
the final metrics by name (missing for runs that did not complete), ``error``, ``duration_s``,
``started``/``finished`` (UTC timestamps), ``device``, ``host``, ``code_version``,
``attempts``, ``executions`` and ``run_dir``.
"""

from __future__ import annotations

from pathlib import Path

from sdt.errors import UserError

RUN_COLUMNS = ("run_id", "sweep", "studies", "seed", "kind", "state", "trial")
TAIL_COLUMNS = ("error", "step", "duration_s", "started", "finished", "device", "host",
                "code_version", "attempts", "executions", "run_dir")


def flatten(data: dict, prefix: str = "") -> dict:
    """``{"a": {"b": 1}, "c": [1, 2]}`` -> ``{"a.b": 1, "c": [1, 2]}`` (lists stay values)."""
    out = {}
    for key, value in data.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            out.update(flatten(value, dotted + "."))
        else:
            out[dotted] = value
    return out


def rows(sweep: str, store) -> list[dict]:
    """The sweep's results rows as plain dicts (what :func:`load` puts in a DataFrame)."""
    out = []
    trials = store.trials(sweep)
    for run in store.sweep_runs(sweep):
        params = flatten(run["config"])
        served = trials.get(run["run_id"], {})
        row = {"run_id": run["run_id"], "sweep": sweep, "studies": ",".join(run["studies"]),
               "seed": run["seed"] if run["seed"] is not None else params.get("seed"),
               "kind": run["kind"], "state": run["state"],
               # the Optuna trial numbers it served, per study ("tuning:3,7"); None for none
               "trial": ";".join(f"{s}:{','.join(map(str, n))}" for s, n in served.items())
               or None}
        row.update({k: v for k, v in params.items() if k not in row})
        row.update({k: v for k, v in run["metrics"].items() if k not in row})
        row.update({k: run.get(k) for k in TAIL_COLUMNS})
        out.append(row)
    return out


def open_store(store=None):
    """A :class:`Store` from a Store, a URL or SQLite path, or the default."""
    from sdt.sweep.store import Store

    if isinstance(store, Store):
        return store
    return Store(store)


def load(sweep_name: str, store=None):
    """The results table of ``sweep_name`` (see the module docstring for its columns).

    ``store`` is a URL, a SQLite path or a :class:`~sdt.sweep.store.Store`; by default
    ``runs/sdt.db`` under the current folder. An unknown sweep is a :class:`UserError` that
    lists the sweeps the store holds.
    """
    import pandas as pd

    handle = open_store(store)
    data = rows(sweep_name, handle)
    if not data:
        known = handle.sweeps()
        raise UserError(f"no sweep named {sweep_name!r} in {handle.url} "
                        f"(known: {', '.join(known) if known else 'none'})")
    df = pd.DataFrame(data)
    for column in ("started", "finished"):
        df[column] = pd.to_datetime(df[column], unit="s", utc=True)
    return df


def export(sweep_name: str, fmt: str, path: str | Path | None = None, store=None) -> Path:
    """Write the results table as parquet or CSV; returns the path written (default
    ``<sweep>.<fmt>`` in the current folder). Lists, mappings and columns that mix types
    (``sleep.tag: [1, "a"]``) become JSON text, so CSV and parquet hold the same table."""
    import json

    from sdt.io import atomic_write_bytes

    if fmt not in ("parquet", "csv"):
        raise UserError(f"--format: expected parquet or csv, got {fmt!r}")
    df = load(sweep_name, store)
    for column in df.columns:
        if df[column].dtype != object:
            continue
        kinds = {type(v) for v in df[column] if v is not None and v == v}
        if len(kinds) > 1 or kinds & {list, dict}:
            df[column] = df[column].map(lambda v: None if v is None else json.dumps(v))
    target = Path(path) if path else Path(f"{sweep_name}.{fmt}")
    if fmt == "csv":
        atomic_write_bytes(target, df.to_csv(index=False).encode())
    else:
        import io

        buffer = io.BytesIO()
        df.to_parquet(buffer, index=False)
        atomic_write_bytes(target, buffer.getvalue())
    return target
