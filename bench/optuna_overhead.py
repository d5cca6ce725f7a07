"""Optuna overhead: a TPE study of many short ``sleep`` trials through the real manager,
workers, store and study (Optuna's RDB storage in the same SQLite file as the store).

    python bench/optuna_overhead.py                 # 100 trials x 0.2 s on 2 CPU slots
    python bench/optuna_overhead.py --trials 40 --n-parallel 2

``efficiency`` = ideal time / actual time, where ideal = trials x seconds / slots and actual
is the wall time of the whole study in this process: opening the study, worker start-up, per
trial an ask (TPE over the trials so far) and a tell in the manager, the trial's run recorded
in the store (one transaction that also claims the next run) and its trial row. The value a
trial reports comes from its parameter (``sleep.tag``, a float in [0, 1)) through the sleep
kind's hash. For scale: Optuna's own ``study.optimize`` in two processes reaches about 0.94 on
a journal file and 0.72 on SQLite on this machine (measured when the issue was filed).

W&B tracking is disabled (it measures the engine, not W&B start-up). The last line is
``optuna_efficiency: X``.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from scheduler import run_sdt  # noqa: E402  (the same timing and breakdown as the scheduler bench)


def sweep_file(folder: Path, trials: int, seconds: float, slots: int,
               n_parallel: int | None) -> Path:
    path = folder / "bench.yaml"
    parallel = f", n_parallel: {n_parallel}" if n_parallel else ""
    path.write_text(
        "name: bench-optuna\n"
        "experiment: sleep\n"
        f"set: {{sleep.seconds: {seconds}, output_dir: {folder / 'runs'}}}\n"
        "studies:\n"
        f"  tuning: {{optuna: {{n_trials: {trials}, sampler: tpe, seed: 0{parallel}, "
        "objectives: {value: maximize}, params: {sleep.tag: {float: [0.0, 1.0]}}}}\n"
        f"resources: {{devices: [cpu], slots: {{cpu: {slots}}}}}\n"
        "tracking: {wandb: {mode: disabled}}\n"
        f"store: {folder / 'bench.db'}\n")
    return path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=100)
    parser.add_argument("--seconds", type=float, default=0.2)
    parser.add_argument("--slots", type=int, default=2)
    parser.add_argument("--n-parallel", type=int, default=None,
                        help="trials asked and not yet told (default: the study's, 2 per slot)")
    args = parser.parse_args()
    os.environ["WANDB_MODE"] = "disabled"

    with tempfile.TemporaryDirectory(prefix="sdt-bench-") as tmp:
        path = sweep_file(Path(tmp), args.trials, args.seconds, args.slots, args.n_parallel)
        actual, done, parts = run_sdt(path)
        import optuna

        study = optuna.load_study(study_name="bench-optuna/tuning",
                                  storage=f"sqlite:///{Path(tmp) / 'bench.db'}")
        told = sum(t.state.is_finished() for t in study.get_trials(deepcopy=False))
        best = study.best_value
    ideal = args.trials * args.seconds / args.slots
    efficiency = ideal / actual
    overhead_ms = (actual * args.slots - args.trials * args.seconds) / args.trials * 1000
    print(f"sdt + optuna: {args.trials} TPE trials of {args.seconds} s sleep runs on "
          f"{args.slots} cpu slots (store and study in one SQLite file, W&B disabled)")
    print(f"  runs completed {done}/{args.trials}, trials told {told}; best value {best:.4f}")
    print(f"  ideal {ideal:.2f} s, actual {actual:.2f} s; overhead per trial {overhead_ms:.1f} "
          "ms of slot time")
    print(f"  where it went: start-up {parts['startup_s']:.2f} s per worker; per run "
          f"{parts['around_run_ms']:.1f} ms around it in the worker, "
          f"{parts['dispatch_gap_ms']:.1f} ms between runs; tail {parts['tail_s']:.2f} s")
    print(f"  machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at the end")
    print(f"optuna_efficiency: {efficiency:.3f}")
    return 0 if done == args.trials == told else 1


if __name__ == "__main__":
    sys.exit(main())
