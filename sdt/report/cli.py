"""``sdt-sweep report``: the comparison report of a sweep."""

from __future__ import annotations

from pathlib import Path

import typer


def register(app: typer.Typer) -> None:
    @app.command("report")
    def report(
        sweep: str = typer.Argument(None, help="Sweep name or YAML; omit for the most recent "
                                               "sweep in the store."),
        store: str = typer.Option(None, "--store", help="Store URL or SQLite path (default: "
                                                        "the sweep's `store:`, else "
                                                        "runs/sdt.db)."),
        output: Path = typer.Option(None, "-o", "--output",
                                    help="Folder to write (default: reports/<sweep>)."),
        open_: bool = typer.Option(False, "--open", help="Open the page in the browser."),
        wandb: bool = typer.Option(False, "--wandb", help="Also log the main table and the "
                                                          "figures to a sweep-level W&B run "
                                                          "(the sweep's tracking.wandb)."),
    ) -> None:
        """Write reports/<sweep>/: index.html (self-contained), report.md, figures/*.png and
        tables/*.csv: S-ADT and the other candidates against the baseline, with bootstrap
        CIs, paired tests (Holm), the budget claim, figures and the failed runs.

        The sweep file's `report:` section (baseline, candidates, metrics, reference,
        budget, test, alpha) drives it; given a name, the file is looked up in sweeps/.
        Example: sdt-sweep report sadt-vs-baseline --open
        """
        from sdt.report.build import write_report

        folder = write_report(sweep, store, output, wandb=wandb)
        page = folder / "index.html"
        print(page)
        if open_:
            import webbrowser

            webbrowser.open(page.resolve().as_uri())
