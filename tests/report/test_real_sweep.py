"""A real tiny sweep, end to end: a micro forecasting model trained once, searched by greedy,
sample, dts and sadt at two rollout budgets over three seeds through `sdt-sweep run`, then
`sdt-sweep report` on it; the main table's numbers are recomputed from ``sdt.results.load()``
and the runs' own per-query files."""

import importlib.util
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

import sdt
from sdt.cli import main

HERE = Path(__file__).resolve().parent
_kit = importlib.util.spec_from_file_location("searchkit", HERE.parent / "search" /
                                              "searchkit.py")
searchkit = importlib.util.module_from_spec(_kit)
_kit.loader.exec_module(searchkit)

TRAIN = searchkit.micro_train(
    "fc_micro", {"name": "forecast", "history_length": 32, "horizon": 4,
                 "num_samples_train": 64, "num_samples_val": 8, "num_samples_test": 8},
    max_patches=16)


@pytest.mark.slow
def test_a_finished_tiny_sweep_reports(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("WANDB_MODE", "disabled")
    (tmp_path / "train.yaml").write_text(yaml.safe_dump({**TRAIN, "output_dir": "runs"}))
    (tmp_path / "search.yaml").write_text(yaml.safe_dump({
        "train": "train.yaml", "experiment": {"name": "micro"},
        "search": {"method": "greedy", "max_new_tokens": 28},
        "evaluation": {"num_queries": 4}, "tracking": {"wandb": {"mode": "disabled"}},
        "output_dir": "runs"}))
    sweep = {"name": "tiny-report", "experiment": "search", "base": "search.yaml",
             "seeds": [0, 1, 2],
             "studies": {"references": {"runs": [{"search.method": "greedy"},
                                                 {"search.method": "sample"}]},
                         "trees": {"grid": {"search.method": ["dts", "sadt"],
                                            "search.num_rollouts": [2, 4],
                                            "search.expansion_k": [2]}}},
             "resources": {"devices": ["cpu"], "slots": {"cpu": 2}},
             "tracking": {"wandb": {"mode": "disabled"}}, "store": "sdt.db",
             "report": {"baseline": {"search.method": "greedy"},
                        "candidates": [{"search.method": "sadt"}, {"search.method": "dts"},
                                       {"search.method": "sample"}],
                        "metrics": ["reward", "crps", "spec_w1", "power_ratio", "nfe",
                                    "time_s"],
                        "reference": {"search.method": "dts"}}}
    (tmp_path / "sweep.yaml").write_text(yaml.safe_dump(sweep, sort_keys=False))
    assert main(["run", "sweep.yaml", "--no-progress"]) == 0
    capsys.readouterr()
    assert main(["report", "sweep.yaml"]) == 0
    folder = tmp_path / "reports" / "tiny-report"
    md = (folder / "report.md").read_text()
    for section in ("Main table", "Against the baseline", "The claim", "Figures", "Missing",
                    "Failed runs"):
        assert f"## {section}" in md
    assert "Nothing: every run of the sweep completed." in md
    figures = {p.name for p in (folder / "figures").iterdir()}
    # (no spectra: the micro model's forecasts do not parse, which the table shows as "-")
    assert {"pareto_reward_nfe.png", "training_curves.png", "parallel_coordinates.png"} <= \
        figures and any(f.startswith("curve_trees_num_rollouts") for f in figures)

    runs = sdt.results.load("tiny-report", "sdt.db")
    assert (runs["state"] == "completed").all() and (runs["kind"] == "train").sum() == 1
    search = runs[runs["kind"] == "search"]
    rows = []
    for _, run in search.iterrows():
        q = pd.read_json(Path(run["run_dir"]) / "metrics.jsonl", lines=True)
        assert len(q) == run["num_queries"] == 4
        q["seed"], q["method"] = run["seed"], run["search.method"]
        q["budget"] = run["search.num_rollouts"]
        rows.append(q)
    q = pd.concat(rows)
    main_csv = pd.read_csv(folder / "tables" / "main.csv")
    largest = q[q["method"].isin(["dts", "sadt"])]["budget"].max()
    for rec in main_csv.to_dict("records"):
        method = rec["row"].split(" ")[0]
        mine = q[q["method"] == method]
        if method in ("dts", "sadt"):
            mine = mine[mine["budget"] == largest]
        values = mine[rec["metric"]].dropna()
        if len(values):
            assert rec["n_seeds"] == mine.loc[values.index, "seed"].nunique() == 3
            assert rec["n_queries"] == 4
            assert rec["mean"] == pytest.approx(values.mean(), rel=1e-9)
            # the run's final metric in the store is the mean of its queries
            per_run = search[(search["search.method"] == method)]
            assert np.isfinite(per_run[rec["metric"]]).any()
        else:  # e.g. CRPS when no forecast of the micro model parses: said, not hidden
            assert np.isnan(rec["mean"]) and rec["n_seeds"] == 0
