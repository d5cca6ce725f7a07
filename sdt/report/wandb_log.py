"""The report on W&B: a sweep-level run (group = the sweep, job type ``report``) holding the
main table (``wandb.Table``), the claim table and every figure (``wandb.Image``), beside the
results-table run that ``sdt-sweep run`` leaves. Opt-in (``sdt-sweep report --wandb``), in
the sweep's ``tracking.wandb`` settings (``auto``: online with an API key, else offline);
never fails the report."""

from __future__ import annotations

import logging
from pathlib import Path

log = logging.getLogger(__name__)


def log_report(report, folder: Path, wandb_settings: dict | None = None) -> str | None:
    """Log ``report`` (written in ``folder``); returns the W&B run folder, or None when W&B
    is disabled or unavailable."""
    from sdt.tracking import Tracker, resolve_mode

    settings = {"mode": "auto", "project": "specdifftree", "entity": None,
                **{k: v for k, v in (wandb_settings or {}).items() if v is not None}}
    mode = resolve_mode(settings["mode"])
    if mode == "disabled":
        return None
    try:
        import wandb

        dirs = [d for d in report.data.runs["run_dir"] if isinstance(d, str) and d]
        root = Path(dirs[0]).parent.parent if dirs else Path("runs")
        tracker = Tracker(mode=mode, project=settings["project"], entity=settings["entity"],
                          name=f"{report.name}-report", group=report.name, job_type="report",
                          config={"sweep": report.name, "store": report.data.url,
                                  "baseline": report.settings.baseline.label,
                                  "metrics": report.settings.metrics},
                          dir=root / "sweeps" / report.name)
        if tracker.run is None:
            return None
        main = report.main.copy()
        for column in main.columns:
            if main[column].dtype == object or str(main[column].dtype) in ("str", "string"):
                main[column] = main[column].map(lambda v: None if v is None else str(v))
        logged = {"report/main_table": wandb.Table(dataframe=main)}
        claims = folder / "tables" / "claim.csv"
        if report.claims:
            import pandas as pd

            logged["report/claim"] = wandb.Table(dataframe=pd.read_csv(claims))
        for fig in report.figures:
            logged[f"report/{Path(fig.name).stem}"] = wandb.Image(
                str(folder / "figures" / fig.name), caption=fig.title)
        tracker.run.log(logged)
        out = str(tracker.run_dir)
        tracker.finish()
        return out
    except Exception as exc:  # tracking never breaks a report
        log.warning("report not logged to W&B: %s", exc)
        return None
