"""``sdt-sweep``: run ablation sweeps and Optuna studies of S-ADT against baseline decoding.

Each subsystem adds its commands from its own ``cli`` module; heavy imports (torch,
transformers, wandb, pandas) happen inside the commands, so ``--help`` starts fast.
"""

from __future__ import annotations

import sys

import typer

from sdt.errors import UserError

app = typer.Typer(
    name="sdt-sweep",
    help=(
        "Ablation and sweep experiment manager for SpecDiffTree research.\n\n"
        "Typical session:\n\n"
        "  sdt-sweep train experiments/cpu/tiny.yaml        # one training run\n\n"
        "  sdt-sweep run sweeps/ablation.yaml --dry-run     # what would run\n\n"
        "  sdt-sweep run sweeps/ablation.yaml               # run it (resumable)\n\n"
        "  sdt-sweep status sadt-ablation                   # progress per study\n\n"
        "  sdt-sweep report sadt-ablation                   # HTML + Markdown report\n\n"
        "Every config value can be overridden with --set dotted.key=value."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


@app.callback()
def _root() -> None:
    """Ablation and sweep experiment manager for SpecDiffTree research."""


def _register() -> None:
    from sdt.report import cli as report_cli
    from sdt.search import cli as search_cli
    from sdt.sweep import cli as sweep_cli
    from sdt.train import cli as train_cli

    for module in (train_cli, search_cli, sweep_cli, report_cli):
        module.register(app)


_register()


def main(argv: list[str] | None = None) -> int:
    """Console entry point: user errors print one line and exit 2, never a traceback."""
    try:
        rc = app(args=argv, standalone_mode=False)
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # click's usage errors (typer vendors click: match by shape)
        if hasattr(exc, "show") and hasattr(exc, "exit_code"):
            exc.show()
            return exc.exit_code
        if type(exc).__name__ == "Abort":
            return 1
        raise
    return rc if isinstance(rc, int) else 0


if __name__ == "__main__":
    sys.exit(main())
