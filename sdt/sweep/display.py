"""What the sweep commands print: the dry-run plan, the progress bar, the end-of-sweep summary
and ``status``. Everything here reads the store (or a plan); nothing decides a state."""

from __future__ import annotations

import time
from collections import Counter, defaultdict

from rich.console import Console
from rich.table import Table

from sdt.sweep.store import STATES, TERMINAL

SHOWN_STATES = ("completed", "failed", "nan", "oom", "pruned", "running", "pending")


def first_line(text: str | None, width: int = 120) -> str:
    line = (text or "").strip().splitlines()[0] if (text or "").strip() else ""
    return line if len(line) <= width else line[: width - 1] + "…"


def dry_run(console: Console, session, states: dict[str, str]) -> None:
    """Every run of the plan: id, kind, studies, overrides, device pool, state in the store."""
    from sdt.sweep.expand import plan_table

    plan = session.plan
    plan.already = {rid: s for rid, s in states.items() if s != "pending"}
    slots = session.slots()
    devices = ",".join(dict.fromkeys(s.device for s in slots))
    table = Table(title=f"sweep {session.name}: {len(plan.runs)} runs", show_lines=False)
    for column in ("id", "kind", "studies", "overrides", "seed", "deps", "device", "state"):
        table.add_column(column, overflow="fold")
    for row in plan_table(plan):
        state = row["state"] if row["state"] != "new" else (
            "pending" if row["id"] in states else "new")
        table.add_row(row["id"], row["kind"], row["studies"], row["overrides"], row["seed"],
                      row["deps"], devices, "done" if state == "completed" else state)
    console.print(table)
    done = sum(1 for r in plan.runs if states.get(r.run_id) == "completed")
    console.print(f"{len(plan.runs)} runs: {done} already completed, {len(plan.runs) - done} to "
                  f"run; {plan.duplicates} duplicate point(s) collapsed into shared runs; "
                  f"{len(slots)} slot(s) on {devices}; store {session.store.url}")
    for name, study in plan.adaptive.items():
        block = study.optuna
        console.print(f"study {name}: optuna, {block.n_trials} trials ({block.sampler} "
                      f"sampler, pruner {block.pruner}, objectives "
                      f"{', '.join(f'{k} {v}' for k, v in block.objectives.items())}); trials "
                      "are asked as slots free up, not expanded up front")


class Progress:
    """A progress bar over the plan's runs that advances when a run reaches a final state."""

    def __init__(self, console: Console, total: int, done: int, enabled: bool = True):
        self.counts: Counter = Counter()
        self._bar = None
        if not enabled:
            return
        from rich.progress import (BarColumn, MofNCompleteColumn, Progress as Bar,
                                   TextColumn, TimeElapsedColumn, TimeRemainingColumn)

        self._bar = Bar(TextColumn("[bold]sweep"), BarColumn(), MofNCompleteColumn(),
                        TextColumn("{task.fields[detail]}"), TimeElapsedColumn(),
                        TimeRemainingColumn(), console=console, transient=False)
        self._task = self._bar.add_task("sweep", total=total, completed=done, detail="")
        self._bar.start()

    def update(self, run_id: str, state: str) -> None:
        self.counts[state] += 1
        if self._bar is not None:
            detail = " ".join(f"{s}:{n}" for s, n in sorted(self.counts.items()))
            self._bar.update(self._task, advance=1, detail=detail)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.stop()


def _per_study(runs: list[dict]) -> dict[str, Counter]:
    counts: dict[str, Counter] = defaultdict(Counter)
    for run in runs:
        for study in run["studies"] or ["(dependency)"]:
            counts[study][run["state"]] += 1
    return counts


def _state_table(title: str, runs: list[dict]) -> Table:
    table = Table(title=title)
    table.add_column("study")
    table.add_column("runs", justify="right")
    for state in SHOWN_STATES:
        table.add_column(state, justify="right")
    for study, counts in sorted(_per_study(runs).items()):
        table.add_row(study, str(sum(counts.values())),
                      *[str(counts.get(s, 0) or "") for s in SHOWN_STATES])
    total = Counter(r["state"] for r in runs)
    table.add_row("[bold]all", str(len(runs)),
                  *[str(total.get(s, 0) or "") for s in SHOWN_STATES])
    return table


def summary(console: Console, name: str, runs: list[dict], executed: int,
            elapsed_s: float) -> None:
    """Per-study counts by state, then one line per run that did not complete."""
    console.print(_state_table(f"sweep {name}", runs))
    bad = [r for r in runs if r["state"] in TERMINAL - {"completed", "pruned"}]
    if bad:  # plain lines: they never wrap mid-message and grep well in logs
        console.print(f"[bold]runs that did not complete ({len(bad)}):")
        for run in bad:
            console.print(f"  {run['run_id']} [{','.join(run['studies'])}] {run['state']}: "
                          f"{first_line(run['error'], 300)}  ({run['run_dir']}/run.log)",
                          markup=False, highlight=False, soft_wrap=True)
    console.print(f"{executed} run(s) executed by this process in {elapsed_s:.1f} s; "
                  f"{sum(r['state'] == 'completed' for r in runs)}/{len(runs)} completed")


def status(console: Console, name: str, runs: list[dict], now: float | None = None) -> None:
    """``sdt-sweep status``: counts per study, the running runs, and an ETA."""
    now = time.time() if now is None else now
    console.print(_state_table(f"sweep {name}", runs))
    running = [r for r in runs if r["state"] == "running"]
    if running:
        table = Table(title="running")
        for column in ("run", "studies", "host", "pid", "device", "heartbeat age", "running for",
                       "lease"):
            table.add_column(column)
        for run in running:
            age = f"{now - run['heartbeat']:.0f} s" if run["heartbeat"] else "-"
            for_ = f"{now - run['started']:.0f} s" if run["started"] else "starting"
            lease = ("expired" if run["lease_expires"] and run["lease_expires"] < now
                     else "held")
            table.add_row(run["run_id"], ",".join(run["studies"]), run["host"] or "-",
                          str(run["pid"] or "-"), run["device"] or "-", age, for_, lease)
        console.print(table)
    console.print(eta_line(runs))


def eta_line(runs: list[dict]) -> str:
    """Remaining runs x mean duration of the completed ones / runs in flight (at least 1)."""
    durations = [r["duration_s"] for r in runs if r["state"] == "completed" and r["duration_s"]]
    left = sum(1 for r in runs if r["state"] in ("pending", "running"))
    if not left:
        return "nothing left to run"
    if not durations:
        return f"{left} run(s) left; no completed run yet to estimate from"
    parallel = max(1, sum(1 for r in runs if r["state"] == "running"))
    eta = left * (sum(durations) / len(durations)) / parallel
    return (f"{left} run(s) left; mean run {sum(durations) / len(durations):.1f} s; "
            f"ETA ~{_duration(eta)} at {parallel} in parallel")


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 7200:
        return f"{seconds // 60} min {seconds % 60} s"
    return f"{seconds // 3600} h {(seconds % 3600) // 60} min"


def store_overview(console: Console, store) -> None:
    """``sdt-sweep status`` without a sweep: every sweep in the store with its counts."""
    names = store.sweeps()
    if not names:
        console.print(f"no sweeps in {store.url}")
        return
    table = Table(title=f"sweeps in {store.url}")
    table.add_column("sweep")
    table.add_column("runs", justify="right")
    for state in STATES:
        table.add_column(state, justify="right")
    for name in names:
        counts = Counter(r["state"] for r in store.sweep_runs(name))
        table.add_row(name, str(sum(counts.values())),
                      *[str(counts.get(s, 0) or "") for s in STATES])
    console.print(table)


def study_front(console: Console, source) -> None:
    """An Optuna study after the sweep: trial counts by state, then its best trials (the
    Pareto front with several objectives), with the run ids, and where to open it."""
    from optuna.trial import TrialState

    study = source.study
    trials = study.get_trials(deepcopy=False)
    counts = Counter(t.state.name.lower() for t in trials)
    console.print(f"study {source.name} ({study.study_name}): {len(trials)} trial(s): "
                  + ", ".join(f"{n} {s}" for s, n in sorted(counts.items())))
    best = source.pareto()
    if not best:
        return
    several = len(source.objectives) > 1
    table = Table(title=f"{source.name}: " + ("Pareto front" if several else "best trial")
                  + " (" + ", ".join(f"{k} {v}" for k, v in source.block.objectives.items())
                  + ")")
    table.add_column("trial", justify="right")
    for name in source.objectives:
        table.add_column(name, justify="right")
    table.add_column("params")
    table.add_column("runs")
    for trial in sorted(best, key=lambda t: t.values):
        if trial.state != TrialState.COMPLETE:
            continue
        params = ", ".join(f"{k}={_short(v)}" for k, v in trial.params.items())
        table.add_row(str(trial.number), *[_short(v) for v in trial.values], params,
                      ",".join(trial.user_attrs.get("sdt_runs", [])))
    console.print(table)
    console.print(f"open it: optuna.load_study(study_name={study.study_name!r}, "
                  f"storage={_safe_url(source.url)!r})", markup=False, highlight=False)


def _short(value) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def _safe_url(url: str) -> str:
    """The URL without its password."""
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)
