"""The store: claims, leases, heartbeats, reclaiming, outcomes, membership, results table."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time

import pandas as pd
import pytest

import sdt
from sdt.sweep.store import Store, resolve_url

LEASE = 30.0


def entries(n: int, studies=("s",)):
    return [(f"r{i}", "sleep", {"sleep": {"tag": i}, "seed": 0}, list(studies), 0,
             {"sleep.tag": i}) for i in range(n)]


@pytest.fixture
def url(tmp_path):
    return f"sqlite:///{tmp_path / 'sdt.db'}"


def two_owners(url):
    a, b = Store(url, lease_s=LEASE), Store(url, lease_s=LEASE)
    a.register("sw", entries(3))
    return a, b


def test_resolve_url(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert resolve_url() == f"sqlite:///{tmp_path / 'runs' / 'sdt.db'}"
    assert (tmp_path / "runs").is_dir()
    assert resolve_url(None, "other/x.db") == f"sqlite:///{tmp_path / 'other' / 'x.db'}"
    assert resolve_url("--store.db", "other/x.db").endswith("/--store.db")
    assert resolve_url("postgresql://u@h/db", "x.db") == "postgresql://u@h/db"


def test_a_claim_is_exclusive_until_the_lease_expires(url):
    a, b = two_owners(url)
    t = 1000.0
    assert a.claim("r0", now=t)
    assert not b.claim("r0", now=t + 1)
    assert not b.claim("r0", now=t + LEASE - 0.001)
    assert b.claim("r0", now=t + LEASE + 0.001)  # a's lease ran out: b takes over
    record = b.get("r0")
    assert record["owner"] == b.owner and record["attempts"] == 2
    assert not a.start_execution("r0", pid=1, device="cpu")  # a lost it: must not start


def test_states_report_expired_leases_as_claimable(url):
    a, _ = two_owners(url)
    a.claim("r0", now=1000.0)
    assert a.states(["r0", "r1"]) == {"r0": "running", "r1": "pending"}
    assert a.states(["r0"], now=1000.0 + LEASE + 1) == {"r0": "expired"}


def test_finish_records_the_outcome_and_respects_the_claim(url):
    a, b = two_owners(url)
    assert a.claim("r0") and a.start_execution("r0", pid=123, device="cuda:1",
                                              code_version="v1")
    assert a.finish("r0", "completed", metrics={"value": 0.5}, duration_s=1.5) == "completed"
    rec = a.get("r0")
    assert (rec["state"], rec["metrics"], rec["pid"], rec["device"], rec["executions"],
            rec["code_version"], rec["duration_s"]) == ("completed", {"value": 0.5}, 123,
                                                        "cuda:1", 1, "v1", 1.5)
    assert rec["host"] == socket.gethostname() and rec["finished"] >= rec["started"]
    assert not b.claim("r0") and not a.claim("r0")  # completed runs are never claimed
    # Lost claim: nothing a is told is written over b's claim; b records the run.
    assert a.claim("r1", now=1000.0) and b.claim("r1", now=1000.0 + LEASE + 1)
    assert a.finish("r1", "failed", error="late") is None
    assert a.finish("r1", "completed", metrics={"value": 1.0}) is None
    assert (b.get("r1")["state"], b.get("r1")["owner"]) == ("running", b.owner)
    assert b.finish("r1", "completed", metrics={"value": 2.0}) == "completed"
    assert b.get("r1")["metrics"] == {"value": 2.0}


def test_renew_keeps_one_runs_lease_for_its_holder_only(url):
    a, b = two_owners(url)
    assert a.claim("r0", now=1000.0) and a.claim("r1", now=1000.0)
    assert a.renew("r0", now=1020.0) and a.get("r1")["lease_expires"] == 1000.0 + LEASE
    assert a.get("r0")["lease_expires"] == 1020.0 + LEASE
    assert a.renew("r0", now=1000.0 + LEASE - 1)  # the executing process keeps it alive
    assert not b.claim("r0", now=1000.0 + LEASE + 1)  # so it does not expire
    assert b.claim("r0", now=1000.0 + 2 * LEASE)  # until the holder stops renewing
    assert not a.renew("r0") and b.renew("r0")


def test_finish_and_start_records_one_run_and_begins_the_next_in_one_go(url):
    a, b = two_owners(url)
    assert a.finish_and_start(None, "r0", pid=7, device="cpu", code_version="v2") == (None, True)
    rec = a.get("r0")
    assert (rec["state"], rec["owner"], rec["pid"], rec["attempts"], rec["executions"],
            rec["code_version"]) == ("running", a.owner, 7, 1, 1, "v2")
    assert not b.claim("r0")  # claimed with a lease like any claim
    assert b.claim("r1")  # b holds r1: a's worker must not begin it
    done = {"run_id": "r0", "state": "completed", "metrics": {"value": 0.25},
            "duration_s": 0.5}
    assert a.finish_and_start(done, "r1", pid=7, device="cpu") == ("completed", False)
    assert (a.get("r0")["state"], a.get("r0")["metrics"]) == ("completed", {"value": 0.25})
    assert a.get("r1")["owner"] == b.owner and a.get("r1")["executions"] == 0
    assert a.finish_and_start(None, "r2", pid=7, device="cpu") == (None, True)
    failed = {"run_id": "r2", "state": "failed", "error": "boom", "retries": 1}
    assert a.finish_and_start(failed, "r2", pid=8, device="cpu") == ("pending", True)
    rec = a.get("r2")
    assert (rec["state"], rec["pid"], rec["attempts"], rec["executions"], rec["error"]) == (
        "running", 8, 2, 2, "boom")
    assert a.finish_and_start({**failed, "retries": 1}, None, pid=8, device="cpu") == (
        "failed", False)
    assert a.finish_and_start(None, None, pid=8, device="cpu") == (None, False)


def test_failed_runs_are_retried_up_to_retries(url):
    a, _ = two_owners(url)
    assert a.claim("r0") and a.finish("r0", "failed", error="boom", retries=1) == "pending"
    assert a.get("r0")["error"] == "boom"
    assert a.claim("r0") and a.finish("r0", "failed", error="boom", retries=1) == "failed"
    assert a.get("r0")["attempts"] == 2 and not a.claim("r0")
    for state in ("nan", "oom", "pruned"):  # recorded as such, never retried
        a.register(None, [(state, "sleep", {}, [], 0, {})])
        assert a.claim(state) and a.finish(state, state, step=3, retries=5) == state
        assert a.get(state)["step"] == 3


def test_reclaim_orphans_of_dead_managers_on_this_host(url):
    a, b = two_owners(url)
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True).stdout.strip()
    ghost = Store(url, owner=f"{a.host}:{dead}:gone")
    far = Store(url, owner=f"elsewhere:{dead}:far")
    assert ghost.claim("r0") and far.claim("r1") and a.claim("r2")
    assert b.reclaim_orphans() == ["r0"]  # not another host's, not a live manager's
    assert b.states() == {"r0": "pending", "r1": "running", "r2": "running"}
    assert b.claim("r0")


def test_release_and_reset(url):
    a, b = two_owners(url)
    assert a.claim("r0") and not b.release("r0") and a.release("r0")
    assert a.get("r0")["attempts"] == 0 and a.states(["r0"]) == {"r0": "pending"}
    a.claim("r0"), a.finish("r0", "completed")
    a.claim("r1"), a.finish("r1", "failed")
    a.claim("r2")
    assert a.reset(["r0", "r1", "r2"], ["failed"]) == 1
    assert a.states() == {"r0": "completed", "r1": "pending", "r2": "running"}
    assert a.reset(["r0", "r1", "r2"], ["completed", "failed", "running"]) == 1
    assert a.states() == {"r0": "pending", "r1": "pending", "r2": "running"}


def test_one_record_per_run_tagged_with_each_sweeps_studies(url):
    a = Store(url)
    a.register("sw1", entries(2, studies=("x", "y")))
    assert a.claim("r0") and a.finish("r0", "completed", metrics={"value": 1})
    a.register("sw2", entries(3, studies=("z",)))  # r0 shared: its record is kept
    assert a.get("r0")["state"] == "completed"
    assert [(r["run_id"], r["studies"], r["state"]) for r in a.sweep_runs("sw1")] == [
        ("r0", ["x", "y"], "completed"), ("r1", ["x", "y"], "pending")]
    assert [r["studies"] for r in a.sweep_runs("sw2")] == [["z"]] * 3
    a.register("sw1", entries(1, studies=("x",)))  # the sweep changed: membership follows
    assert [r["run_id"] for r in a.sweep_runs("sw1")] == ["r0"]
    assert a.sweeps() == ["sw1", "sw2"] and len(a.states()) == 3


RACE = """
import json, sys, time
from sdt.sweep.store import Store
store = Store(sys.argv[1])
ids = json.loads(sys.argv[2])
time.sleep(max(0.0, float(sys.argv[3]) - time.time()))  # all start claiming together
print(json.dumps([rid for rid in ids if store.claim(rid)]))
"""


def test_racing_processes_claim_each_run_exactly_once(url):
    ids = [f"r{i}" for i in range(60)]
    Store(url).register("sw", entries(60))
    start = str(time.time() + 2.0)
    procs = [subprocess.Popen([sys.executable, "-c", RACE, url,
                               json.dumps(ids if i % 2 else ids[::-1]), start],
                              stdout=subprocess.PIPE, text=True) for i in range(3)]
    won = [json.loads(p.communicate(timeout=60)[0]) for p in procs]
    flat = [rid for w in won for rid in w]
    print("claims per process:", [len(w) for w in won])
    assert sorted(flat) == sorted(ids)  # every run claimed, none twice
    assert len(set(flat)) == len(flat)


def test_results_table_and_export_round_trip(url, tmp_path):
    a = Store(url)
    a.register("sw", [("r0", "sleep", {"seed": 1, "sleep": {"tag": "a", "seconds": 0.1}},
                       ["x", "y"], 1, {}),
                      ("r1", "sleep", {"seed": 2, "sleep": {"tag": 7, "seconds": 0.2}},
                       ["y"], 2, {})])
    a.claim("r0"), a.start_execution("r0", pid=5, device="cpu", code_version="v9")
    a.finish("r0", "completed", metrics={"value": 0.25, "slept_s": 0.1}, duration_s=0.1)
    df = sdt.results.load("sw", url)
    assert list(df["run_id"]) == ["r0", "r1"]
    assert list(df["studies"]) == ["x,y", "y"] and list(df["seed"]) == [1, 2]
    assert list(df["state"]) == ["completed", "pending"]
    assert list(df["sleep.seconds"]) == [0.1, 0.2]
    assert df.loc[0, "value"] == 0.25 and pd.isna(df.loc[1, "value"])
    assert (df.loc[0, "device"], df.loc[0, "code_version"], df.loc[0, "host"]) == (
        "cpu", "v9", socket.gethostname())
    assert str(df["started"].dtype).startswith("datetime64")
    from sdt.sweep.results import export

    pq = pd.read_parquet(export("sw", "parquet", tmp_path / "r.parquet", url))
    csv = pd.read_csv(export("sw", "csv", tmp_path / "r.csv", url))
    assert list(pq.columns) == list(df.columns) == list(csv.columns)
    assert list(pq["sleep.tag"]) == ['"a"', "7"]  # mixed types become JSON text
    assert pq["value"].iloc[0] == csv["value"].iloc[0] == 0.25
    with pytest.raises(sdt.errors.UserError, match="no sweep named 'nope'.*known: sw"):
        sdt.results.load("nope", url)
