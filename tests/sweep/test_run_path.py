"""The one run path: a standalone command records its run in the store, so what needs it
later (a search, a sweep) reuses it instead of running it again."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import yaml

from sdt.cli import main
from sdt.sweep.store import Store

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "search"))
from searchkit import micro_train, search_cli  # noqa: E402

TRAIN = micro_train("fc_micro", {"name": "forecast", "history_length": 32, "horizon": 4,
                                  "num_samples_train": 32, "num_samples_val": 4,
                                  "num_samples_test": 4}, max_patches=16)


def test_train_then_search_trains_once(folder, capsys):
    (folder / "train.yaml").write_text(yaml.safe_dump({**TRAIN, "output_dir": str(folder)}))
    (folder / "search.yaml").write_text(yaml.safe_dump({
        "train": "train.yaml", "experiment": {"name": "micro"},
        "search": {"method": "greedy", "max_new_tokens": 28}, "evaluation": {"num_queries": 1},
        "tracking": {"wandb": {"mode": "disabled"}}, "output_dir": str(folder)}))
    db = folder / "sdt.db"
    rc = main(["train", str(folder / "train.yaml"), "--json", "--store", str(db)])
    trained = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert rc == 0 and trained["state"] == "completed"
    record = Store(str(db)).get(trained["run_id"])
    assert (record["state"], record["executions"], record["kind"]) == ("completed", 1, "train")
    assert record["run_dir"] == trained["run_dir"] and record["pid"] is not None
    mtime = (Path(trained["run_dir"]) / "outcome.json").stat().st_mtime

    searched = search_cli(capsys, folder / "search.yaml", db)
    assert searched["state"] == "completed"
    assert Store(str(db)).get(searched["run_id"])["state"] == "completed"  # recorded there too
    assert Store(str(db)).get(trained["run_id"])["executions"] == 1  # not trained again
    assert (Path(trained["run_dir"]) / "outcome.json").stat().st_mtime == mtime
    assert [p.name for p in (folder / "train").iterdir()] == [Path(trained["run_dir"]).name]
