"""``sdt-sweep run | worker | status | export``: the sweep engine's commands.

Imports happen inside the commands (and torch/wandb only where a run or the results table
needs them), so re-running a finished sweep returns in about a second.
"""

from __future__ import annotations

from pathlib import Path

import typer

SET_HELP = "Override a value of every run's config: --set dataset.num_samples_test=64."
STORE_HELP = "Store URL or SQLite path (default: the sweep's `store:`, else runs/sdt.db)."


def _execute_sweep(sweep: Path, set_: list[str], store: str | None, force: bool, *,
                   dry_run: bool = False, rerun: bool = False, retry_failed: bool = False,
                   progress: bool = True) -> int:
    import signal
    import sys
    import time

    from rich.console import Console

    from sdt.sweep import display, manager

    start = time.time()
    # Not a terminal (a log file, CI): wide enough that tables do not fold ids and errors.
    out = Console() if sys.stdout.isatty() else Console(width=160)
    err = Console(stderr=True)
    session = manager.open_session(sweep, set_, store, force)
    if dry_run:
        display.dry_run(out, session, session.store.states(session.run_ids()))
        return 0
    # SIGTERM unwinds like Ctrl-C: workers stop and their claims go back to pending.
    previous = signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        return _schedule(session, out, err, start, rerun=rerun, retry_failed=retry_failed,
                         progress=progress)
    finally:
        signal.signal(signal.SIGTERM, previous)


def _schedule(session, out, err, start: float, *, rerun: bool, retry_failed: bool,
              progress: bool) -> int:
    import time

    from sdt.sweep import display, manager
    from sdt.sweep.store import TERMINAL, code_version

    known = session.store.states(session.run_ids())
    redo = TERMINAL if rerun else {"failed"} if retry_failed else set()
    left = sum(1 for rid in session.run_ids() if known.get(rid) not in TERMINAL - redo)
    executed, scheduler = 0, None
    if left or session.plan.adaptive:
        slots = session.slots()  # device problems are reported before anything starts
        trials = sum(s.optuna.n_trials for s in session.plan.adaptive.values())
        bar = display.Progress(err, total=len(session.tasks) + trials,
                               done=len(session.tasks) - left, enabled=progress)
        try:
            scheduler = manager.execute(session, code_version=code_version(),
                                        on_update=bar.update, slots=slots, rerun=rerun,
                                        retry_failed=retry_failed)
        finally:
            bar.close()
        executed = scheduler.executed
    else:
        manager.register(session)  # nothing to run, but the sweep's membership may change
    runs = session.store.sweep_runs(session.name)
    display.summary(out, session.name, runs, executed, time.time() - start)
    for source in scheduler.sources[1:] if scheduler is not None else []:
        display.study_front(out, source)
    if executed:
        folder = manager.log_results_table(session)
        if folder:
            out.print(f"W&B results table: {folder}")
    if scheduler is not None:
        scheduler.close()
    return 1 if any(r["state"] == "failed" for r in runs) else 0


def _sweep_name(sweep: str, store: str | None) -> tuple[str, str | None]:
    """A sweep given by name, or by its YAML file (whose ``store:`` then applies)."""
    path = Path(sweep)
    if sweep.endswith((".yaml", ".yml")) and path.is_file():
        from sdt.sweep.spec import load_sweep

        spec = load_sweep(path)
        return spec.name, store or spec.store
    return sweep, store


def register(app: typer.Typer) -> None:
    @app.command("run")
    def run(
        sweep: Path = typer.Argument(..., help="Sweep YAML, e.g. sweeps/ablation.yaml"),
        dry_run: bool = typer.Option(False, "--dry-run",
                                     help="Print the runs (id, kind, studies, overrides, device, "
                                          "what is done, duplicates) and their count; run "
                                          "nothing."),
        retry_failed: bool = typer.Option(False, "--retry-failed",
                                          help="Run the sweep's failed runs again."),
        rerun: bool = typer.Option(False, "--rerun", help="Run every run again, completed "
                                                          "ones included."),
        store: str = typer.Option(None, "--store", help=STORE_HELP),
        force: bool = typer.Option(False, "--force",
                                   help="Expand a sweep beyond limits.max_points."),
        set_: list[str] = typer.Option([], "--set", help=SET_HELP),
        progress: bool = typer.Option(True, "--progress/--no-progress",
                                      help="Show the progress bar."),
    ) -> None:
        """Expand a sweep, skip what the store says is completed, run the rest on the device
        slots, record every outcome; exit 1 if any run failed. Optuna studies ask trials as
        slots free up until they hold n_trials, and print their Pareto front (or best trial).

        Resumable: killing it (even with SIGKILL) loses no completed result; run it again to
        finish. Example: sdt-sweep run sweeps/ablation.yaml --set dataset.num_samples_test=64
        """
        raise typer.Exit(_execute_sweep(sweep, set_, store, force, dry_run=dry_run,
                                        rerun=rerun, retry_failed=retry_failed,
                                        progress=progress))

    @app.command("worker")
    def worker(
        sweep: Path = typer.Argument(..., help="The sweep YAML the other managers run."),
        store: str = typer.Option(None, "--store", help=STORE_HELP),
        set_: list[str] = typer.Option([], "--set", help=SET_HELP),
        force: bool = typer.Option(False, "--force",
                                   help="Expand a sweep beyond limits.max_points."),
        progress: bool = typer.Option(True, "--progress/--no-progress"),
    ) -> None:
        """Join a sweep from another process or machine: claim and run whatever is left in
        the shared store (give the same --store URL everywhere, e.g. PostgreSQL)."""
        raise typer.Exit(_execute_sweep(sweep, set_, store, force, progress=progress))

    @app.command("status")
    def status(
        sweep: str = typer.Argument(None, help="Sweep name or YAML; omit to list every sweep."),
        store: str = typer.Option(None, "--store", help=STORE_HELP),
    ) -> None:
        """Runs by state per study, the running runs (host, pid, device, heartbeat age) and
        an ETA from the mean duration of completed runs."""
        from rich.console import Console

        from sdt.errors import UserError
        from sdt.sweep import display
        from sdt.sweep.store import Store

        console = Console()
        if sweep is None:
            display.store_overview(console, Store(store))
            return
        name, url = _sweep_name(sweep, store)
        handle = Store(url)
        runs = handle.sweep_runs(name)
        if not runs:
            known = ", ".join(handle.sweeps()) or "none"
            raise UserError(f"no sweep named {name!r} in {handle.url} (known: {known})")
        display.status(console, name, runs)

    @app.command("export")
    def export(
        sweep: str = typer.Argument(..., help="Sweep name or YAML."),
        fmt: str = typer.Option("parquet", "--format", help="parquet | csv"),
        output: Path = typer.Option(None, "-o", "--output",
                                    help="File to write (default: <sweep>.<format>)."),
        store: str = typer.Option(None, "--store", help=STORE_HELP),
    ) -> None:
        """Write the sweep's results table (params, metrics, timings, device, host, code
        version, state; one row per run) for pandas."""
        from sdt.sweep.results import export as write

        name, url = _sweep_name(sweep, store)
        path = write(name, fmt, output, url)
        print(path)
