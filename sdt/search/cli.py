"""``sdt-sweep search``: one decoding/evaluation run with a search method."""

from __future__ import annotations

from pathlib import Path

import typer

SET_HELP = "Override a config value: --set search.method=sadt (repeatable)."


def register(app: typer.Typer) -> None:
    @app.command("search")
    def search(
        config: Path = typer.Argument(..., help="Search YAML, e.g. "
                                                "experiments/search/forecast_tiny.yaml"),
        set_: list[str] = typer.Option([], "--set", help=SET_HELP),
        as_json: bool = typer.Option(False, "--json",
                                     help="Last line of stdout: one JSON object with run_dir, "
                                          "state and final metrics."),
        store: str = typer.Option(None, "--store",
                                  help="Store (SQLite path or SQLAlchemy URL) where the "
                                       "training dependency is found or recorded."),
        wandb_mode: str = typer.Option(None, "--wandb-mode",
                                       help="auto | online | offline | disabled"),
    ) -> int:
        """Decode the queries of a data set with a search method and score them.

        The training config named by `train:` is trained first unless a completed run of it
        (same config hash) exists in the store; then runs/search/<name>-<hash>/ gets
        config.yaml, metrics.jsonl (one row per query), predictions.jsonl, psd.npz and,
        for sadt, sadt_state.pt.

        Example: sdt-sweep search experiments/search/forecast_tiny.yaml
        --set search.method=sadt --set search.num_rollouts=20
        """
        from sdt.config import load_config
        from sdt.config.search_run import SearchRunConfig
        from sdt.search.experiment import run
        from sdt.single import run_single
        from sdt.sweep.api import ensure_completed

        sets = list(set_)
        if wandb_mode is not None:
            sets.append(f"tracking.wandb.mode={wandb_mode}")
        cfg = load_config(config, sets, SearchRunConfig)
        train_dir = ensure_completed("train", cfg.train, store_url=store)
        raise typer.Exit(run_single(run, cfg, "search", as_json=as_json,
                                    deps={"train": train_dir}, store_url=store))
