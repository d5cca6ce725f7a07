"""How long `sdt-sweep report` takes on a big sweep: a synthetic store of about 10,000 search
runs (10 data sets x 182 configurations x 6 seeds, 16 queries each: greedy and sample, and
four tree methods at five rollout budgets crossed with one-factor-at-a-time studies of
expansion_k and lam; plus failed and pending runs and a training run), written through the
real store API into real run folders with per-query rows, then the whole report (tables,
statistics, claim row, figures, HTML, Markdown).

    python bench/report_scale.py            # last line: report_seconds_10k: X   (goal <= 15)

Only the report is timed, not the building of the store.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sources", type=int, default=10)
    parser.add_argument("--seeds", type=int, default=6)
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = parser.parse_args(argv)

    from sdt.report import synthetic
    from sdt.report.build import write_report

    root = Path(tempfile.mkdtemp(prefix="sdt-report-bench-"))
    try:
        t0 = time.perf_counter()
        url = synthetic.build(root, sweep="bench", seeds=tuple(range(args.seeds)),
                              sources=tuple(f"series{i}" for i in range(args.sources)),
                              budgets=(5, 10, 20, 50, 100), failed=2, pending=2,
                              factors={"search.expansion_k": (3, [2, 4, 5, 8]),
                                       "search.lam": (1.0, [0.5, 2.0, 5.0, 10.0])})
        built = time.perf_counter() - t0
        from sdt.sweep.store import Store

        store = Store(url)
        runs = len(store.sweep_runs("bench"))
        store.close()
        print(f"store: {runs} runs with per-query rows in {built:.1f} s ({root})")
        t0, c0 = time.perf_counter(), time.process_time()
        folder = write_report("bench", url, root / "report")
        seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
        size = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())
        print(f"report: {folder} ({size / 1e6:.1f} MB, "
              f"{len(list((folder / 'figures').iterdir()))} figures)")
        # CPU seconds of this process: what the wall time would be on an idle machine (the
        # wall time counts other processes' use of shared cores too)
        print(f"report_cpu_seconds_10k: {cpu:.2f} (load average {os.getloadavg()[0]:.1f} "
              f"on {os.cpu_count()} cores)")
        print(f"report_seconds_10k: {seconds:.2f}")
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
