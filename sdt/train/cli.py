"""``sdt-sweep train``: one training run (the seed's ``train_with_wandb.py --config``)."""

from __future__ import annotations

from pathlib import Path

import typer

SET_HELP = "Override a config value: --set training.batch_size=4 (repeatable)."


def register(app: typer.Typer) -> None:
    @app.command("train")
    def train(
        config: Path = typer.Argument(..., help="Experiment YAML, e.g. experiments/cpu/tiny.yaml"),
        set_: list[str] = typer.Option([], "--set", help=SET_HELP),
        resume: bool = typer.Option(False, "--resume",
                                    help="Continue from the run's last checkpoint, bit for bit."),
        as_json: bool = typer.Option(False, "--json",
                                     help="Last line of stdout: one JSON object with run_dir, "
                                          "state and final metrics."),
        wandb_project: str = typer.Option(None, "--wandb-project", "--wandb_project",
                                          help="W&B project (tracking.wandb.project)."),
        wandb_entity: str = typer.Option(None, "--wandb-entity", "--wandb_entity",
                                         help="W&B entity (tracking.wandb.entity)."),
        wandb_mode: str = typer.Option(None, "--wandb-mode",
                                       help="auto | online | offline | disabled"),
        store: str = typer.Option(None, "--store",
                                  help="Store (SQLite path or SQLAlchemy URL) that records the "
                                       "run, so sweeps and searches that need it reuse it "
                                       "(default: sdt.db in the config's output_dir)."),
    ) -> int:
        """Train a time-series LM from an experiment config.

        Writes runs/train/<name>-<hash>/ with config.yaml, run.log, metrics.jsonl,
        checkpoints (best.pt, last.pt), predictions and an offline W&B run, and records the
        run in the store: a later `sdt-sweep search` or sweep that needs it does not train
        it again.

        Example: sdt-sweep train experiments/cpu/tiny.yaml --set training.num_epochs=2
        """
        import os

        from sdt.train.device import MPS_ENV  # set before torch first touches MPS

        for key, value in MPS_ENV.items():
            os.environ.setdefault(key, value)
        from sdt.config import load_config
        from sdt.config.schema import TrainConfig
        from sdt.single import run_single

        sets = list(set_)
        for key, value in (("project", wandb_project), ("entity", wandb_entity),
                           ("mode", wandb_mode)):
            if value is not None:
                sets.append(f"tracking.wandb.{key}={value}")
        cfg = load_config(config, sets, TrainConfig)
        from sdt.train.experiment import run

        raise typer.Exit(run_single(run, cfg, "train", resume=resume, as_json=as_json,
                                    store_url=store))
