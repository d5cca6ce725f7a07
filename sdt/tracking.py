"""Weights & Biases, made safe: ``auto`` is online with an API key and offline without one;
``disabled`` does nothing; a missing or broken wandb never fails a run (it warns once)."""

from __future__ import annotations

import logging
import math
import netrc
import os
from pathlib import Path

log = logging.getLogger(__name__)


def resolve_mode(mode: str) -> str:
    """``auto`` -> ``online`` when an API key is configured (env or ~/.netrc), else ``offline``."""
    if mode != "auto":
        return mode
    if os.environ.get("WANDB_MODE") in ("offline", "disabled", "online"):
        return os.environ["WANDB_MODE"]
    if os.environ.get("WANDB_API_KEY"):
        return "online"
    try:
        rc = netrc.netrc(os.path.expanduser("~/.netrc"))
        if any("wandb" in host for host in rc.hosts):
            return "online"
    except (FileNotFoundError, netrc.NetrcParseError, OSError):
        pass
    return "offline"


def _clean(metrics: dict) -> dict:
    out = {}
    for key, value in metrics.items():
        if isinstance(value, bool) or value is None:
            continue
        if isinstance(value, (int, float)):
            out[key] = value if math.isfinite(value) else str(value)
        elif isinstance(value, str):
            out[key] = value
    return out


class Tracker:
    """One W&B run. Every method is a no-op when the mode is ``disabled`` or wandb failed."""

    def __init__(self, *, mode: str = "auto", project: str = "specdifftree",
                 entity: str | None = None, name: str | None = None, group: str | None = None,
                 job_type: str | None = None, tags: list[str] | None = None,
                 config: dict | None = None, dir: str | Path | None = None,
                 run_id: str | None = None, resume: bool = False):
        self.mode = resolve_mode(mode)
        self.run = None
        if self.mode == "disabled":
            return
        try:
            import wandb

            if dir is not None:
                Path(dir).mkdir(parents=True, exist_ok=True)
            self.run = wandb.init(
                mode=self.mode, project=project, entity=entity, name=name, group=group,
                job_type=job_type, tags=list(tags or [])[:64], config=config or {},
                dir=str(dir) if dir else None, id=run_id, resume="allow" if resume else None,
                reinit="finish_previous", settings=wandb.Settings(silent=True, console="off"),
            )
        except Exception as exc:  # tracking must never break a run
            log.warning("W&B disabled for this run: %s", exc)
            self.mode, self.run = "disabled", None

    @property
    def run_dir(self) -> Path | None:
        """The wandb run folder (``.../wandb/offline-run-...``), where its files are written."""
        return Path(self.run.dir).parent if self.run is not None else None

    def log(self, metrics: dict, step: int | None = None) -> None:
        if self.run is not None:
            try:
                self.run.log(_clean(metrics), step=step)
            except Exception as exc:
                log.warning("W&B log failed: %s", exc)

    def summary(self, metrics: dict) -> None:
        if self.run is not None:
            try:
                for key, value in _clean(metrics).items():
                    self.run.summary[key] = value
            except Exception as exc:
                log.warning("W&B summary failed: %s", exc)

    def finish(self, exit_code: int = 0) -> None:
        if self.run is not None:
            try:
                self.run.finish(exit_code=exit_code)
            except Exception as exc:
                log.warning("W&B finish failed: %s", exc)
            self.run = None


def read_offline_run(path: str | Path) -> dict:
    """Read back what an offline W&B run recorded: ``{"config", "history", "summary",
    "exit_code", "run"}``. ``path`` is the ``.wandb`` file, its run folder or a folder holding
    ``wandb/``. Uses wandb's own reader (``wandb leet inspect --json``), so it checks what a
    later ``wandb sync`` would upload."""
    import json
    import shutil
    import subprocess
    import sys

    path = Path(path)
    if path.is_dir():
        found = sorted(path.rglob("*.wandb"))
        if len(found) != 1:
            raise FileNotFoundError(f"expected one .wandb file under {path}, found {len(found)}")
        path = found[0]
    exe = shutil.which("wandb") or str(Path(sys.executable).with_name("wandb"))
    proc = subprocess.run([exe, "leet", "inspect", "--json", str(path)], capture_output=True,
                          text=True, timeout=120, check=True)
    out = {"config": {}, "history": [], "summary": {}, "exit_code": None, "run": {}}
    for line in proc.stdout.splitlines():
        try:
            rec = json.loads(line)
        except json.JSONDecodeError:
            continue
        kind = rec.get("type")
        if kind == "run":
            out["run"] = rec["run"]
            out["config"].update(rec["run"].get("config", {}).get("update", {}))
        elif kind == "config":
            out["config"].update(rec["config"].get("update", {}))
        elif kind == "history":
            out["history"].append(rec["history"]["item"])
        elif kind == "summary":
            out["summary"].update(rec["summary"].get("update", {}))
        elif kind == "exit":
            out["exit_code"] = rec["exit"].get("exit_code", 0)
    out["config"].pop("_wandb", None)
    return out
