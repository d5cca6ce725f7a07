"""``sdt-sweep report``: from the store to ``reports/<sweep>/`` (``index.html``,
``report.md``, ``figures/*.png``, ``tables/*.csv``), written into a temporary folder and
swapped in whole.

>>> path = write_report("sadt-ablation")            # doctest: +SKIP
"""

from __future__ import annotations

import math
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from sdt.errors import UserError
from sdt.report import data as data_mod, prose
from sdt.report.claim import Claim, claims
from sdt.report.settings import Settings, resolve
from sdt.report.table import Row, expected_seeds, main_table, rows

FAILED_STATES = ("failed", "nan", "oom", "pruned")
WAITING_STATES = ("pending", "running")
MAX_LINES = 40


@dataclass
class Figure:
    name: str  # file name under figures/
    title: str
    caption: str
    png: bytes


@dataclass
class Report:
    data: data_mod.SweepData
    settings: Settings
    rows: list[Row]
    panel_keys: list[str]
    main: pd.DataFrame
    claims: list[Claim]
    failed: pd.DataFrame
    retry: str
    status: dict
    missing: list[str]
    sentences: list[str]
    claim_sentences: list[str]
    notes: list[str] = field(default_factory=list)
    figures: list[Figure] = field(default_factory=list)
    sweep_file: str | None = None
    wandb: dict = field(default_factory=dict)  # the sweep's tracking.wandb settings

    @property
    def name(self) -> str:
        return self.data.name


def find_sweep_file(name: str, folder: str | Path = "sweeps") -> Path | None:
    """The sweep file in ``folder`` whose ``name:`` (or file stem) is ``name``."""
    from sdt.config import load_yaml

    folder = Path(folder)
    if not folder.is_dir():
        return None
    for path in sorted(folder.glob("*.y*ml")):
        try:
            doc = load_yaml(path)
        except Exception:  # an unrelated broken file is not this report's problem
            continue
        if isinstance(doc, dict) and str(doc.get("name") or path.stem) == name:
            return path
    return None


def locate(sweep: str | None, store: str | None) -> tuple[str, object, Path | None, object]:
    """(sweep name, store, sweep file or None, its spec or None) from what the user typed: a
    sweep name, a sweep YAML, or nothing (the most recent sweep)."""
    from sdt.sweep.spec import load_sweep

    spec = None
    path = None
    if sweep and sweep.endswith((".yaml", ".yml")):
        path = Path(sweep)
        if not path.is_file():
            raise UserError(f"no sweep file {sweep}")
        spec = load_sweep(path)
        store = store or spec.store
    handle = data_mod.open_store(store)
    name = spec.name if spec else sweep or data_mod.latest_sweep(handle)
    if name not in handle.sweeps():
        known = ", ".join(handle.sweeps()) or "none"
        raise UserError(f"no sweep named {name!r} in {handle.url} (known: {known})")
    if spec is None:
        path = find_sweep_file(name)
        spec = load_sweep(path) if path else None
    return name, handle, path, spec


def build_report(sweep: str | None = None, store: str | None = None, *,
                 figures: bool = True) -> Report:
    name, handle, path, spec = locate(sweep, store)
    data = data_mod.load(name, handle)
    settings = resolve(data, spec.report if spec else None, str(path) if path else None)
    table_rows, pkeys, notes = rows(data, settings)
    main = main_table(data, settings, table_rows)
    found = claims(data, settings, pkeys)
    base_label = settings.baseline.label
    sentences = [prose.comparison(rec, base_label, settings.alpha)
                 for rec in main.to_dict("records")
                 if rec["role"] == "candidate" and isinstance(rec["p"], float)
                 and math.isfinite(rec["p"])]
    budget_name = (settings.budget or "budget").rsplit(".", 1)[-1].replace("num_", "")
    report = Report(
        data=data, settings=settings, rows=table_rows, panel_keys=pkeys, main=main,
        claims=found, failed=failed_runs(data), retry=retry_command(path, name, handle.url),
        status=data.runs["state"].value_counts().to_dict(), missing=missing(data, table_rows),
        sentences=sentences, claim_sentences=[prose.claim(c, budget_name) for c in found],
        notes=notes, sweep_file=str(path) if path else None,
        wandb=spec.tracking.wandb.model_dump() if spec else {})
    if figures:
        from sdt.report.figures import all_figures

        report.figures = all_figures(report)
    return report


def failed_runs(data: data_mod.SweepData) -> pd.DataFrame:
    runs = data.runs[data.runs["state"].isin(FAILED_STATES)]
    out = pd.DataFrame({
        "run_id": runs["run_id"], "kind": runs["kind"], "state": runs["state"],
        "studies": runs["studies"], "config": runs["arm"].where(runs["arm"] != "", "-"),
        "seed": runs["seed"],
        "error": [_last_line(e) for e in runs["error"]], "run_dir": runs["run_dir"]})
    return out.reset_index(drop=True)


def _last_line(text) -> str:
    if not isinstance(text, str) or not text.strip():
        return "-"
    return [line for line in text.strip().splitlines() if line.strip()][-1].strip()


def retry_command(path: Path | None, name: str, url: str) -> str:
    from sdt.sweep.store import DEFAULT_STORE, resolve_url

    target = str(path) if path else f"<the sweep file of {name}>"
    cmd = f"sdt-sweep run {target} --retry-failed"
    if url != resolve_url(DEFAULT_STORE):
        cmd += f" --store {url}"
    return cmd


def missing(data: data_mod.SweepData, table_rows: list[Row]) -> list[str]:
    """What a partial sweep lacks, one line each."""
    out = []
    waiting = data.runs[data.runs["state"].isin(WAITING_STATES)]
    if len(waiting):
        by = waiting.groupby("studies")["state"].value_counts().unstack(fill_value=0)
        for study, counts in by.iterrows():
            parts = ", ".join(f"{int(n)} {s}" for s, n in counts.items() if n)
            out.append(f"study {study or '(dependency)'}: {parts}")
    done = data.completed_by_arm
    labels = {r.arm: r.label + (f" [{r.panel}]" if r.panel else "") for r in table_rows}
    short = []
    for arm in data.primary["arm"].drop_duplicates():
        have = done[arm]["seed"].nunique() if arm in done else 0
        want = expected_seeds(data, arm)
        if have < want:
            short.append(f"{labels.get(arm, arm)}: {have} of {want} seeds completed")
    out += short[:MAX_LINES]
    if len(short) > MAX_LINES:
        out.append(f"... and {len(short) - MAX_LINES} more configurations (tables/runs.csv)")
    return out


def write_report(sweep: str | None = None, store: str | None = None,
                 out: str | Path | None = None, *, wandb: bool = False) -> Path:
    """Build the report and write it to ``out`` (default ``reports/<sweep>``); returns that
    folder. Readers see the old report or the new one, never half of one. ``wandb``: also
    log it to a sweep-level W&B run (:mod:`sdt.report.wandb_log`)."""
    from sdt.report.render import render

    report = build_report(sweep, store)
    target = Path(out) if out else Path("reports") / report.name
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    os.chmod(tmp, 0o755)
    try:
        render(report, tmp)
        for path in tmp.rglob("*"):  # the temporary files were private to this process
            os.chmod(path, 0o755 if path.is_dir() else 0o644)
        old = None
        if target.exists():
            old = target.with_name(f".{target.name}.old-{os.getpid()}")
            os.replace(target, old)
        os.replace(tmp, target)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if wandb:
        from sdt.report.wandb_log import log_report

        log_report(report, target, report.wandb)
    return target
