"""Scheduler efficiency: many short ``sleep`` runs through the real manager, store and leases.

    python bench/scheduler.py                 # 200 runs x 0.2 s on 2 CPU slots
    python bench/scheduler.py --runs 50 --upstream-sample 4

Prints, measured in this one invocation:

- ``efficiency`` = ideal time / actual time, where ideal = runs x seconds / slots and actual is
  the wall time of the whole sweep in this process: expansion, store registration (SQLite,
  WAL), worker start-up, per run one store transaction in its worker that records the
  previous run's outcome and claims (with a lease) and begins this one, heartbeats;
- the per-run overhead in ms (slot time not spent sleeping, divided by the runs);
- the upstream way: one new Python process per run that imports torch and transformers before
  its work. Only a sample of such processes is timed (``--upstream-sample``, run ``--slots`` at
  a time like the sweep) and the 200-run time is extrapolated from their mean; the ratio is
  upstream time / sdt time.

W&B tracking is disabled for the benchmark (it measures the scheduler, not W&B start-up).
The last line is ``scheduler_efficiency: X``.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

UPSTREAM_RUN = ("import time, torch, transformers; time.sleep({seconds})")


def sweep_file(folder: Path, runs: int, seconds: float, slots: int) -> Path:
    path = folder / "bench.yaml"
    tags = ", ".join(str(i) for i in range(runs))
    path.write_text(
        "name: bench-scheduler\n"
        "experiment: sleep\n"
        f"set: {{sleep.seconds: {seconds}, output_dir: {folder / 'runs'}}}\n"
        f"studies:\n  many: {{grid: {{sleep.tag: [{tags}]}}}}\n"
        f"resources: {{devices: [cpu], slots: {{cpu: {slots}}}}}\n"
        "tracking: {wandb: {mode: disabled}}\n"
        f"store: {folder / 'bench.db'}\n")
    return path


def run_sdt(path: Path) -> tuple[float, int, dict]:
    """Run the sweep; returns wall time, runs completed, and where the time went."""
    from sdt.sweep import manager
    from sdt.sweep.store import code_version

    t0, start = time.time(), time.perf_counter()
    session = manager.open_session(path)
    scheduler = manager.execute(session, code_version=code_version())
    elapsed = time.perf_counter() - start  # every outcome is in the store by now
    scheduler.close()
    runs = session.store.sweep_runs(session.name)
    done = sum(1 for r in runs if r["state"] == "completed")
    return elapsed, done, breakdown(runs, t0, t0 + elapsed)


def breakdown(runs: list[dict], t0: float, t1: float) -> dict:
    """From the store's timestamps: start-up (until each worker's first run), the time each
    run spent inside its run function beyond its sleep, the time around it in the worker
    (``started`` is stamped as the claim transaction begins and ``finished`` inside the next
    one: the claim's commit, loading the kind on a worker's first run, config/outcome files,
    run.log), the gap between runs on a worker (what is left between those two stamps), and
    the tail (last finish to the end)."""
    by_pid: dict[int, list[dict]] = {}
    for run in runs:
        by_pid.setdefault(run["pid"], []).append(run)
    gaps, around, inside = [], [], []
    for chain in by_pid.values():
        chain.sort(key=lambda r: r["started"])
        gaps += [b["started"] - a["finished"] for a, b in zip(chain, chain[1:])]
        around += [r["finished"] - r["started"] - r["duration_s"] for r in chain]
        inside += [r["duration_s"] - r["config"]["sleep"]["seconds"] for r in chain]
    mean = lambda xs: 1000 * sum(xs) / max(1, len(xs))  # noqa: E731 (ms)
    return {"startup_s": sum(min(r["started"] for r in c) - t0 for c in by_pid.values())
            / len(by_pid),
            "tail_s": t1 - max(r["finished"] for r in runs),
            "run_fn_extra_ms": mean(inside), "around_run_ms": mean(around),
            "dispatch_gap_ms": mean(gaps)}


def run_upstream(sample: int, seconds: float, slots: int) -> list[float]:
    """Wall time of ``sample`` fresh interpreters importing torch+transformers, ``slots`` at
    a time."""
    def one(_):
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-c", UPSTREAM_RUN.format(seconds=seconds)],
                       check=True, capture_output=True)
        return time.perf_counter() - t0

    with ThreadPoolExecutor(slots) as pool:
        return list(pool.map(one, range(sample)))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=0.2)
    parser.add_argument("--slots", type=int, default=2)
    parser.add_argument("--upstream-sample", type=int, default=10)
    args = parser.parse_args()
    os.environ["WANDB_MODE"] = "disabled"

    with tempfile.TemporaryDirectory(prefix="sdt-bench-") as tmp:
        path = sweep_file(Path(tmp), args.runs, args.seconds, args.slots)
        actual, done, parts = run_sdt(path)
    ideal = args.runs * args.seconds / args.slots
    efficiency = ideal / actual
    overhead_ms = (actual * args.slots - args.runs * args.seconds) / args.runs * 1000
    print(f"sdt: {args.runs} sleep runs of {args.seconds} s on {args.slots} cpu slots "
          f"(SQLite store, claims with leases, W&B tracking disabled)")
    print(f"  completed {done}/{args.runs}; ideal {ideal:.2f} s, actual {actual:.2f} s")
    print(f"  efficiency {efficiency:.3f}; overhead per run {overhead_ms:.1f} ms of slot time")
    print(f"  where it went: start-up {parts['startup_s']:.2f} s per worker; per run "
          f"{parts['run_fn_extra_ms']:.1f} ms inside the run function beyond its sleep, "
          f"{parts['around_run_ms']:.1f} ms around it in the worker (claim commit, config.yaml, "
          f"outcome.json, run.log), {parts['dispatch_gap_ms']:.1f} ms between runs; tail "
          f"{parts['tail_s']:.2f} s")
    steady = ideal / (actual - parts["startup_s"] - parts["tail_s"])
    print(f"  steady state (without start-up and tail): efficiency {steady:.3f}")
    print(f"  machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at the end")

    if args.upstream_sample > 0:
        times = run_upstream(args.upstream_sample, args.seconds, args.slots)
        mean = sum(times) / len(times)
        upstream_total = mean * args.runs / args.slots
        print(f"upstream way: a new Python process per run importing torch and transformers, "
              f"{args.slots} at a time")
        print(f"  measured {len(times)} runs (mean {mean:.2f} s each, {args.seconds} s of work); "
              f"extrapolated to {args.runs} runs: {upstream_total:.1f} s "
              f"(efficiency {ideal / upstream_total:.3f})")
        print(f"  sdt is {upstream_total / actual:.1f}x faster on this sweep")
    print(f"scheduler_efficiency: {efficiency:.3f}")
    return 0 if done == args.runs else 1


if __name__ == "__main__":
    sys.exit(main())
