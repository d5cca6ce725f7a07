"""The report's files from a :class:`~sdt.report.build.Report`: CSV tables, PNG figures, the
Markdown page and the self-contained HTML page (figures inlined as base64, no network).
Everything is a function of the store's content, so the same store gives the same bytes."""

from __future__ import annotations

import base64
import json
import math
from pathlib import Path

import pandas as pd

from sdt.report import prose
from sdt.report.stats import MIN_SEEDS

TEMPLATES = Path(__file__).with_name("templates")


def _env():
    import jinja2

    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATES)),
                             autoescape=jinja2.select_autoescape(["html.j2"]),
                             keep_trailing_newline=True, trim_blocks=True, lstrip_blocks=True)
    env.filters["num"] = prose.num
    env.filters["b64"] = lambda data: base64.b64encode(data).decode()
    return env


def display_tables(report) -> list[dict]:
    """The main table as the pages show it: per panel, a header and rows of cells
    ``{"text", "best", "n"}``."""
    metrics = report.settings.metrics
    out = []
    main = report.main
    for panel, group in main.groupby("panel", sort=False):
        body = []
        for (row, arm), cells in group.groupby(["row", "arm"], sort=False):
            by_metric = {r["metric"]: r for r in cells.to_dict("records")}
            first = cells.iloc[0]
            n_seeds = int(cells["n_seeds"].max())
            line = {"label": row, "role": first["role"], "warn": n_seeds < MIN_SEEDS,
                    "n_seeds": n_seeds, "cells": []}
            for m in metrics:
                r = by_metric[m]
                if not math.isfinite(r["mean"]):
                    text, n = "-", ""
                else:
                    text = f"{prose.num(r['mean'])} {prose.ci(r['ci_low'], r['ci_high'])}"
                    n = f"{r['n_seeds']}x{r['n_queries']}" if r["unit"] == "query" \
                        else f"{r['n_seeds']} runs"
                line["cells"].append({"text": text, "best": bool(r["best"]), "n": n})
            body.append(line)
        out.append({"panel": panel, "metrics": metrics, "rows": body})
    return out


def comparison_tables(report) -> list[dict]:
    """Candidates against the baseline: difference [CI], p, p_holm, effect, per metric."""
    main = report.main
    cand = main[main["role"] == "candidate"]
    out = []
    for panel, group in cand.groupby("panel", sort=False):
        lines = []
        for rec in group.to_dict("records"):
            if not rec["n_pairs"] or (isinstance(rec["n_pairs"], float) and
                                      not math.isfinite(rec["n_pairs"])):
                continue
            lines.append({"row": rec["row"], "metric": rec["metric"],
                          "diff": f"{prose.signed(rec['diff'])} "
                                  f"{prose.ci(rec['diff_low'], rec['diff_high'])}",
                          "p": prose.pval(rec["p"]), "p_holm": prose.pval(rec["p_holm"]),
                          "effect": prose.num(rec["effect"]), "n": int(rec["n_pairs"]),
                          "significant": bool(rec["significant"])})
        out.append({"panel": panel, "lines": lines})
    return out


def claim_table(report) -> list[dict]:
    out = []
    for c in report.claims:
        ratio = c.reference_nfe / c.nfe if c.reached and c.nfe > 0 else math.nan
        out.append({"group": c.group, "candidate": c.candidate, "reference": c.reference,
                    "target": prose.num(c.target), "ref_budget": prose.num(c.reference_budget),
                    "ref_nfe": prose.num(c.reference_nfe),
                    "budget": f"{prose.num(c.budget)} {prose.budget_ci(c)}" if c.reached
                    else "not reached",
                    "nfe": f"{prose.num(c.nfe)} {prose.ci(c.nfe_low, c.nfe_high)}"
                    if c.reached else "-",
                    "ratio": prose.num(ratio) if c.reached else "-", "budgets": c.budgets,
                    "n": prose.sample_size(c.n_seeds, c.n_queries),
                    "warn": c.n_seeds < MIN_SEEDS})
    return out


def context(report) -> dict:
    s = report.settings
    status = report.status
    total = int(sum(status.values()))
    return {
        "name": report.name, "store": report.data.url, "sweep_file": report.sweep_file,
        "source": s.source, "baseline": s.baseline.label, "test": s.test, "alpha": s.alpha,
        "test_name": prose.TESTS[s.test][0], "effect_name": prose.TESTS[s.test][1],
        "min_seeds": MIN_SEEDS, "kind": report.data.primary_kind,
        "status": ", ".join(f"{int(n)} {k}" for k, n in sorted(status.items())),
        "completed": int(status.get("completed", 0)), "total": total,
        "tables": display_tables(report), "comparisons": comparison_tables(report),
        "panel_keys": report.panel_keys, "sentences": report.sentences,
        "claim_sentences": report.claim_sentences, "claims": claim_table(report),
        "reference": s.reference.label if s.reference else None,
        "budget": s.budget, "failed": report.failed.to_dict("records"),
        "retry": report.retry, "missing": report.missing, "notes": report.notes,
        "figures": report.figures,
    }


def _csv(df: pd.DataFrame) -> bytes:
    return df.to_csv(index=False, lineterminator="\n").encode()


def tables(report) -> dict[str, bytes]:
    from dataclasses import asdict

    runs = report.data.runs.copy()
    for column in runs.columns:  # lists and mappings as JSON text, like `sdt-sweep export`
        if runs[column].dtype == object:
            runs[column] = runs[column].map(
                lambda v: json.dumps(v, sort_keys=True)
                if isinstance(v, (list, dict)) else v)
    out = {"main.csv": _csv(report.main), "runs.csv": _csv(runs),
           "failed.csv": _csv(report.failed),
           "claim.csv": _csv(pd.DataFrame([asdict(c) for c in report.claims],
                                          columns=list(_claim_fields())))}
    return out


def _claim_fields():
    from dataclasses import fields

    from sdt.report.claim import Claim

    return [f.name for f in fields(Claim)]


def render(report, folder: Path) -> None:
    """Write every file of the report into ``folder`` (which exists and is empty)."""
    from sdt.io import atomic_write_bytes

    for name, blob in tables(report).items():
        atomic_write_bytes(folder / "tables" / name, blob, durable=False)
    for fig in report.figures:
        atomic_write_bytes(folder / "figures" / fig.name, fig.png, durable=False)
    env = _env()
    ctx = context(report)
    atomic_write_bytes(folder / "report.md", env.get_template("report.md.j2").render(**ctx)
                       .encode(), durable=False)
    atomic_write_bytes(folder / "index.html", env.get_template("index.html.j2").render(**ctx)
                       .encode(), durable=False)
