"""``sdt-sweep run | worker | status | export`` as a user types them."""

from __future__ import annotations

import time

import pandas as pd
import pytest

import sdt
from sdt.cli import main
from sdt.sweep.store import Store
from sweep_files import executions, sleep_sweep
from test_spec_load import MALFORMED, write


def cli(capsys, *args) -> tuple[int, str, str]:
    rc = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return rc, out, err


STUDIES = {"good": {"grid": {"sleep.tag": [0, 1, 2]}},
           "bad": {"grid": {"sleep.tag": [2, 3], "sleep.fail": [True]}},
           "dup": {"grid": {"sleep.tag": [0, 1]}}}


def test_dry_run_lists_runs_and_runs_nothing(folder, capsys):
    path = sleep_sweep(folder, studies=STUDIES)
    rc, out, _ = cli(capsys, "run", path, "--dry-run")
    assert rc == 0
    assert "5 runs: 0 already completed, 5 to run; 2 duplicate point(s)" in out
    from sdt.sweep.manager import open_session

    session = open_session(path)
    assert all(t.run_id in out for t in session.tasks) and len(session.tasks) == 5
    shared = [t for t in session.tasks if t.studies == ["dup", "good"]]
    assert len(shared) == 2 and all(f"{t.run_id} │ sleep │ dup,good" in out for t in shared)
    assert Store(str(folder / "sdt.db")).states() == {}
    assert not executions(folder)
    rc, other, _ = cli(capsys, "run", path, "--dry-run", "--set", "sleep.seconds=0.01")
    changed = open_session(path, ["sleep.seconds=0.01"])
    assert rc == 0 and all(t.run_id in other and t.run_id not in out for t in changed.tasks)
    assert {t.config["sleep"]["seconds"] for t in changed.tasks} == {0.01}


def test_failures_summary_exit_code_retry_failed_and_rerun(folder, capsys):
    path = sleep_sweep(folder, studies=STUDIES)
    rc, out, _ = cli(capsys, "run", path, "--no-progress")
    assert rc == 1
    df = sdt.results.load("s", str(folder / "sdt.db"))
    failed = set(df.loc[df["state"] == "failed", "run_id"])
    assert len(df) == 5 and len(failed) == 2
    assert "runs that did not complete" in out and "RuntimeError: sleep.fail is set" in out
    assert all(rid in out for rid in failed)
    assert "5 run(s) executed by this process" in out
    first = executions(folder)
    assert set(first.values()) == {1} and len(first) == 5

    rc, out, _ = cli(capsys, "run", path, "--no-progress")  # nothing to do: still failed
    assert rc == 1 and executions(folder) == first

    rc, out, _ = cli(capsys, "run", path, "--retry-failed", "--no-progress")
    assert rc == 1 and "2 run(s) executed by this process" in out
    assert executions(folder) == {rid: 2 if rid in failed else 1 for rid in first}

    rc, out, _ = cli(capsys, "run", path, "--rerun", "--no-progress")
    assert rc == 1
    assert executions(folder) == {rid: 3 if rid in failed else 2 for rid in first}


def test_status_and_export(folder, capsys):
    path = sleep_sweep(folder, studies=STUDIES)
    assert cli(capsys, "run", path, "--no-progress")[0] == 1
    store = Store(str(folder / "sdt.db"))
    rc, out, _ = cli(capsys, "status", "s", "--store", folder / "sdt.db")
    assert rc == 0 and "nothing left to run" in out
    row = {line.split("│")[1].strip(): line for line in out.splitlines()
           if line.count("│") > 3}
    assert [c.strip() for c in row["good"].split("│")[2:5]] == ["3", "3", ""]
    assert [c.strip() for c in row["bad"].split("│")[2:5]] == ["2", "", "2"]
    # A run in flight elsewhere: status shows where, its heartbeat and an ETA.
    store.reset([store.sweep_runs("s")[0]["run_id"]], ["completed"])
    other = Store(store.url, owner="gpu-box:4242:abc")
    rid = store.sweep_runs("s")[0]["run_id"]
    assert other.claim(rid) and other.start_execution(rid, pid=4242, device="cuda:1")
    rc, out, _ = cli(capsys, "status", path)  # by sweep file: its store applies
    assert rc == 0 and "4242" in out and "cuda:1" in out and "held" in out
    assert "1 run(s) left; mean run" in out and "ETA" in out
    rc, out, _ = cli(capsys, "status", "--store", folder / "sdt.db")
    assert rc == 0 and "s " in out
    rc, _, err = cli(capsys, "status", "nope", "--store", folder / "sdt.db")
    assert rc == 2 and "no sweep named 'nope'" in err and "known: s" in err

    for fmt in ("parquet", "csv"):
        target = folder / f"out.{fmt}"
        rc, out, _ = cli(capsys, "export", "s", "--format", fmt, "-o", target,
                         "--store", folder / "sdt.db")
        assert rc == 0 and out.strip() == str(target)
        df = pd.read_parquet(target) if fmt == "parquet" else pd.read_csv(target)
        assert len(df) == 5 and {"run_id", "studies", "state", "sleep.tag", "value",
                                 "duration_s", "host", "code_version"} <= set(df.columns)
    rc, _, err = cli(capsys, "export", "s", "--format", "xlsx", "--store", folder / "sdt.db")
    assert rc == 2 and "--format" in err


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_malformed_sweeps_exit_2_naming_file_and_key(tmp_path, capsys, case):
    text, key = MALFORMED[case]
    path = write(tmp_path, text)
    rc, out, err = cli(capsys, "run", path)
    assert rc == 2, (out, err)
    assert err.startswith(f"error: {path}: "), err
    if key:
        assert f": {key}: " in err
    assert "Traceback" not in err + out


def test_problems_found_when_scheduling_exit_2(folder, capsys):
    path = sleep_sweep(folder, resources={"devices": ["cuda:7"]})
    rc, _, err = cli(capsys, "run", path)
    assert rc == 2 and err.startswith(f"error: {path}: resources.devices: expected a GPU")
    rc, _, err = cli(capsys, "run", sleep_sweep(folder), "--store", "nosuch://x")
    assert rc == 2 and "not a usable SQLAlchemy URL" in err and "Traceback" not in err
    assert not executions(folder)


def test_help_is_fast_and_imports_no_torch():
    import subprocess
    import sys

    t0 = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", "import sys; from sdt.cli import main; "
                          "rc = main(['run', '--help']); "
                          "print('torch' in sys.modules, 'wandb' in sys.modules)"],
                         capture_output=True, text=True)
    assert out.stdout.strip().endswith("False False"), out.stdout + out.stderr
    assert "--retry-failed" in out.stdout and "--dry-run" in out.stdout
    print(f"sdt-sweep run --help: {time.perf_counter() - t0:.2f} s")
