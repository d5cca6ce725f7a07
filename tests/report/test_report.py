"""The report of a synthetic sweep: every section, every number of the main table recomputed
independently from ``sdt.results.load()`` and the per-query rows, byte-identical output, and
the errors a user can make."""

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps
from statsmodels.stats.multitest import multipletests

import sdt
from sdt.cli import main
from sdt.report import prose
from sdt.report.build import write_report
from sdt.report.stats import N_RESAMPLES

from conftest import sweep_file

REPORT = {"baseline": {"search.method": "greedy"},
          "candidates": [{"search.method": "sadt"}, {"search.method": "dts"},
                         {"search.method": "sample"}],
          "metrics": ["reward", "crps", "spec_w1", "power_ratio", "nfe", "time_s"],
          "reference": {"search.method": "dts"}}
SECTIONS = ["Main table", "Against the baseline", "The claim", "Figures", "Missing",
            "Failed runs"]


@pytest.fixture(scope="module")
def written(synth, tmp_path_factory):
    root, url = synth
    work = tmp_path_factory.mktemp("work")
    path = sweep_file(work, report=REPORT, store=str(root / "sdt.db"))
    folder = write_report(path, None, work / "out")
    return work, folder, path


def per_query(url: str) -> pd.DataFrame:
    """Independently: the results table joined with every run's metrics.jsonl."""
    runs = sdt.results.load("synthetic", url)
    search = runs[(runs["kind"] == "search") & (runs["state"] == "completed")]
    frames = []
    for _, run in search.iterrows():
        q = pd.read_json(Path(run["run_dir"]) / "metrics.jsonl", lines=True)
        q["seed"] = run["seed"]
        q["method"] = run["search.method"]
        q["budget"] = run["search.num_rollouts"]
        frames.append(q)
    return pd.concat(frames, ignore_index=True)


def test_every_section_and_file_is_there(written):
    _, folder, _ = written
    md = (folder / "report.md").read_text()
    html = (folder / "index.html").read_text()
    for section in SECTIONS:
        assert f"## {section}" in md and f"<h2>{section}" in html, section
    for name in ("main.csv", "runs.csv", "failed.csv", "claim.csv"):
        assert (folder / "tables" / name).is_file()
    figures = sorted(p.name for p in (folder / "figures").iterdir())
    assert {"pareto_reward_nfe.png", "psd_overlay.png", "training_curves.png",
            "parallel_coordinates.png"} <= set(figures)
    assert any(f.startswith("curve_trees_num_rollouts") for f in figures)
    for name in figures:  # each figure inlined in the page, none linked
        assert (folder / "figures" / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert html.count('src="data:image/png;base64,') == len(figures)
    assert "http://" not in html and "https://" not in html  # opens with no network


def test_main_table_numbers_equal_an_independent_computation(written, synth):
    _, folder, _ = written
    _, url = synth
    q = per_query(url)
    main = pd.read_csv(folder / "tables" / "main.csv")
    assert list(main["row"].drop_duplicates()) == [
        "greedy", "sadt (num_rollouts=50)", "dts (num_rollouts=50)", "sample"]
    pick = {"greedy": ("greedy", 10), "sadt (num_rollouts=50)": ("sadt", 50),
            "dts (num_rollouts=50)": ("dts", 50), "sample": ("sample", 10)}
    base = q[(q["method"] == "greedy")]
    p_all = []
    md = (folder / "report.md").read_text()
    for rec in main.to_dict("records"):
        method, budget = pick[rec["row"]]
        mine = q[(q["method"] == method) & (q["budget"] == budget)]
        values = mine[rec["metric"]]
        assert rec["mean"] == pytest.approx(values.mean(), rel=1e-12)
        assert rec["n_seeds"] == mine["seed"].nunique() == 3
        assert rec["n_queries"] == mine.groupby("seed")["step"].nunique().max() == 16
        groups = tuple(g[rec["metric"]].to_numpy() for _, g in mine.groupby("seed"))
        if np.ptp(values) > 0:
            ci = sps.bootstrap(groups, lambda *s, axis=-1: sum(x.sum(axis=axis) for x in s) /
                               sum(x.shape[axis] for x in s), n_resamples=N_RESAMPLES, method="BCa",
                               vectorized=True, random_state=np.random.default_rng(0))
            assert rec["ci_low"] == pytest.approx(ci.confidence_interval.low, rel=1e-9)
            assert rec["ci_high"] == pytest.approx(ci.confidence_interval.high, rel=1e-9)
        else:
            assert rec["ci_low"] == rec["ci_high"] == rec["mean"]
        cell = f"{prose.num(rec['mean'])} {prose.ci(rec['ci_low'], rec['ci_high'])}"
        assert cell in md
        if rec["role"] == "candidate":
            paired = mine.merge(base, on=["seed", "step"], suffixes=("", "_b"))
            d = paired[rec["metric"]] - paired[rec["metric"] + "_b"]
            assert rec["n_pairs"] == len(d) == 48
            assert rec["diff"] == pytest.approx(d.mean(), rel=1e-9, abs=1e-12)
            expected_p = 1.0 if (d == 0).all() else sps.wilcoxon(d).pvalue
            assert rec["p"] == pytest.approx(expected_p, rel=1e-9)
            p_all.append(rec["p"])
    holm = multipletests(p_all, method="holm")[1]
    assert main.loc[main["role"] == "candidate", "p_holm"].to_numpy() == \
        pytest.approx(holm, rel=1e-9)
    # best per column: the largest reward, the smallest crps
    for metric, way in (("reward", max), ("crps", min)):
        rows = main[main["metric"] == metric]
        best = rows.loc[rows["best"], "row"].tolist()
        assert best == [way(rows.to_dict("records"), key=lambda r: r["mean"])["row"]]
    assert "**" in md  # the best cells are marked


def test_claim_row_and_prose(written):
    _, folder, _ = written
    claim = pd.read_csv(folder / "tables" / "claim.csv")
    row = claim[claim["candidate"] == "sadt"].iloc[0]
    # sadt's effect is 1.5x dts's: it reaches dts@50 well below 50 rollouts
    assert 5 < row["budget_low"] <= row["budget"] <= row["budget_high"] < 50
    assert row["nfe"] < row["reference_nfe"]
    md = (folder / "report.md").read_text()
    assert re.search(r"sadt \(num_rollouts=50\) vs greedy: reward \+\d\.\d+ \[\d\.\d+, \d\.\d+\], p_holm = "
                     r"[\d.e-]+ \(Wilcoxon signed-rank, rank-biserial r = [\d.]+\), 3 seeds x "
                     r"16 queries; significant at alpha = 0.05 after Holm\. Warning: fewer "
                     r"than 5 seeds\.", md)
    # sample's effect on reward is small: the sentence must not call it significant
    line = next(l for l in md.splitlines() if l.startswith("- sample vs greedy: reward"))
    assert "not significant" in line
    assert "sadt against dts's reward at 50 rollouts" in md and "x fewer" in md


def test_partial_sweep_says_what_is_missing_and_how_to_retry(written):
    _, folder, path = written
    md = (folder / "report.md").read_text()
    missing = md.split("## Missing")[1].split("## Failed runs")[0]
    assert "study trees: 3 pending" in missing
    failed = pd.read_csv(folder / "tables" / "failed.csv")
    assert len(failed) == 3 and set(failed["error"]) == {"RuntimeError: synthetic failure"}
    assert f"sdt-sweep run {path} --retry-failed" in md


def test_same_store_gives_byte_identical_pages_tables_and_figures(written, tmp_path):
    work, folder, path = written
    again = write_report(path, None, tmp_path / "again")
    files = sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())
    assert files == sorted(str(p.relative_to(again)) for p in again.rglob("*") if p.is_file())
    for name in files:  # report.md, index.html, tables/*.csv, figures/*.png
        assert (again / name).read_bytes() == (folder / name).read_bytes(), name


def test_cli_defaults_to_the_latest_sweep_and_reports_without_a_report_section(
        synth, tmp_path, monkeypatch, capsys):
    from sdt.sweep.store import Store

    root, url = synth
    monkeypatch.chdir(tmp_path)
    store = Store(url)
    assert main(["report", "--store", url]) == 0
    page = Path(capsys.readouterr().out.strip().splitlines()[-1])
    assert page == Path("reports/synthetic/index.html") and page.is_file()
    md = (tmp_path / "reports/synthetic/report.md").read_text()
    assert "defaults (no report: section)" in md and "best_of_n" in md
    store.close()


@pytest.mark.parametrize("report, where", [
    ({"baseline": {"search.methd": "greedy"}}, "report.baseline: 'search.methd' is not a "
                                               "config key of the sweep's search runs; did "
                                               "you mean 'search.method'"),
    ({"candidates": [{"search.method": "sadtt"}]}, "report.candidates[0]: no run of the "
                                                   "sweep has"),
    ({"metrics": ["rewrd"]}, "report.metrics[0]: no run recorded a metric 'rewrd'; did you "
                             "mean 'reward'"),
    ({"baselin": {}}, "report.baselin"),
])
def test_bad_report_section_is_a_one_line_error(synth, tmp_path, capsys, report, where):
    root, url = synth
    path = sweep_file(tmp_path, report=report, store=str(root / "sdt.db"))
    assert main(["report", path, "-o", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and path in err and where in err, err
    assert not (tmp_path / "out").exists()


def test_unknown_sweep_and_empty_or_missing_store(synth, tmp_path, capsys):
    from sdt.sweep.store import Store

    _, url = synth
    assert main(["report", "nope", "--store", url]) == 2
    assert capsys.readouterr().err.strip() == \
        f"error: no sweep named 'nope' in {url} (known: synthetic)"
    empty = tmp_path / "empty.db"
    Store(str(empty)).close()
    assert main(["report", "--store", str(empty)]) == 2
    assert "holds no sweep" in capsys.readouterr().err
    assert main(["report", "--store", str(tmp_path / "absent.db")]) == 2
    assert "no store at" in capsys.readouterr().err
    assert not (tmp_path / "absent.db").exists()


def test_no_sweep_name_means_the_most_recent_sweep(tmp_path, monkeypatch, capsys):
    from sdt.report import synthetic

    small = dict(methods={"greedy": 0.0, "sadt": 0.4}, budgets=(5, 10), seeds=(0, 1),
                 queries=4, failed=0, pending=0, psd=False)
    url = synthetic.build(tmp_path / "a", sweep="older", **small)
    synthetic.build(tmp_path / "a", sweep="newer", url=url, seed=1, **small)
    synthetic.build(tmp_path / "b", sweep="zz-first-by-name", **small)  # another store
    monkeypatch.chdir(tmp_path)
    assert main(["report", "--store", url]) == 0
    assert capsys.readouterr().out.strip().endswith("reports/newer/index.html")


def test_optuna_study_in_the_store_database_gets_its_plots(tmp_path):
    import optuna

    from sdt.report import synthetic
    from sdt.report.optuna_plots import study_names

    url = synthetic.build(tmp_path, methods={"greedy": 0.0, "sadt": 0.4}, budgets=(5, 10),
                          seeds=(0, 1), queries=4, failed=0, pending=0, psd=False)
    assert study_names(url, "synthetic") == []  # no Optuna tables: nothing read or created
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(study_name="synthetic/tuning", storage=url,
                                directions=["maximize", "minimize"],
                                sampler=optuna.samplers.RandomSampler(seed=0))
    study.optimize(lambda t: (t.suggest_float("search.lam", 0.1, 10, log=True) ** 0.5,
                              t.suggest_int("search.num_rollouts", 4, 64)), n_trials=8)
    optuna.create_study(study_name="other-sweep/x", storage=url)
    single = optuna.create_study(study_name="synthetic/one", storage=url)
    single.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=1)
    assert study_names(url, "synthetic") == ["synthetic/one", "synthetic/tuning"]
    folder = write_report("synthetic", url, tmp_path / "out")
    figures = {p.name for p in (folder / "figures").iterdir()}
    assert {f"optuna_tuning_{k}.png" for k in ("history", "importances", "pareto",
                                                 "parallel")} <= figures
    assert not any(f.startswith("optuna_one") for f in figures)
    md = (folder / "report.md").read_text()
    assert "Optuna study synthetic/one: 1 completed trial(s), no plots" in md


@pytest.mark.slow
def test_wandb_gets_the_main_table_and_the_figures(synth, tmp_path, monkeypatch):
    from sdt.tracking import read_offline_run

    root, _ = synth
    for var in ("WANDB_DIR", "WANDB_CACHE_DIR", "WANDB_CONFIG_DIR", "WANDB_DATA_DIR"):
        monkeypatch.setenv(var, str(tmp_path / "wandb-home"))
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    path = sweep_file(tmp_path, report=REPORT, store=str(root / "sdt.db"))
    folder = write_report(path, None, tmp_path / "out", wandb=True)
    wb = read_offline_run(root / "runs" / "sweeps" / "synthetic")
    assert (wb["run"]["run_group"], wb["run"]["job_type"]) == ("synthetic", "report")
    logged = {k.split(".")[0] for k in wb["history"][0]}  # wandb flattens media: key._type
    assert {"report/main_table", "report/claim"} <= logged
    assert {f"report/{p.stem}" for p in (folder / "figures").iterdir()} <= logged
    row = wb["history"][0]
    assert row["report/main_table._type"] == "table-file"


def test_rows_of_an_interrupted_attempt_do_not_count(tmp_path):
    """A run killed after a few queries and executed again appends a whole new set of rows;
    the report reads the last attempt's."""
    from sdt.report import synthetic
    from sdt.report.build import build_report

    url = synthetic.build(tmp_path, methods={"greedy": 0.0, "sadt": 0.4}, budgets=(5,),
                          seeds=(0, 1), queries=4, failed=0, pending=0, psd=False)
    runs = sdt.results.load("synthetic", url)
    run = runs[(runs["search.method"] == "sadt") & (runs["seed"] == 0)].iloc[0]
    history = Path(run["run_dir"]) / "metrics.jsonl"
    rows = history.read_text()
    history.write_text('{"step": 0, "reward": 100.0}\n{"step": 1, "reward": 100.0}\n' + rows)
    report = build_report("synthetic", url, figures=False)
    cell = report.main[(report.main["row"] == "sadt") & (report.main["metric"] == "reward")]
    sadt = runs[runs["search.method"] == "sadt"]
    assert cell["unit"].item() == "query" and cell["n_queries"].item() == 4
    assert cell["mean"].item() == pytest.approx(sadt["reward"].mean(), rel=1e-12)


def test_a_training_only_sweep_reports_per_run_metrics_and_curves(tmp_path):
    """No search runs, no per-query rows: each run is one unit, the seeds are the sample."""
    from sdt.sweep.store import Store

    store = Store(str(tmp_path / "sdt.db"))
    entries, finals = [], {}
    for lr, acc in ((1e-3, 0.9), (3e-3, 0.7)):
        for seed in (0, 1, 2):
            run_id = f"t{lr:g}-{seed}"
            entries.append((run_id, "train", {"seed": seed, "training": {"lr_encoder": lr}},
                            ["learning_rate"], seed, {"training.lr_encoder": lr}))
            finals[run_id] = {"test_accuracy": acc + 0.01 * seed, "test_loss": 1 - acc,
                              "train_time_s": 10.0 + seed}
    dirs = {e[0]: str(tmp_path / "runs" / e[0]) for e in entries}
    store.register("train-only", entries, run_dirs=dirs)
    for run_id, metrics in finals.items():
        Path(dirs[run_id]).mkdir(parents=True)
        (Path(dirs[run_id]) / "metrics.jsonl").write_text("".join(
            f'{{"step": {s}, "train/loss": {2.0 / (s + 1)}}}\n' for s in range(5)))
        store.claim(run_id)
        store.finish(run_id, "completed", metrics=metrics)
    folder = write_report("train-only", store.url, tmp_path / "out")
    main_ = pd.read_csv(folder / "tables" / "main.csv")
    assert set(main_["metric"]) == {"test_accuracy", "test_loss", "train_time_s"}
    acc = main_[main_["metric"] == "test_accuracy"].set_index("row")
    assert acc.loc["lr_encoder=0.001", "role"] == "baseline"  # first in plan order
    assert acc.loc["lr_encoder=0.003", "mean"] == pytest.approx(0.71)
    assert (acc["unit"] == "run").all() and (acc["n_seeds"] == 3).all()
    assert acc.loc["lr_encoder=0.003", "diff"] == pytest.approx(-0.2)
    assert bool(acc.loc["lr_encoder=0.001", "best"])
    assert (folder / "figures" / "training_curves.png").is_file()
    store.close()


def test_two_data_sets_make_two_panels_each_against_its_own_baseline(tmp_path):
    from sdt.report import synthetic
    from sdt.report.build import build_report

    url = synthetic.build(tmp_path, sources=("synthetic", "sunspots"), budgets=(5, 20),
                          methods={"greedy": 0.0, "dts": 0.3, "sadt": 0.45}, seeds=(0, 1),
                          queries=6, failed=0, pending=0, psd=False,
                          factors={"search.lam": (1.0, [0.5, 2.0])})
    report = build_report("synthetic", url, figures=False)
    assert report.panel_keys == ["dataset.source"]
    rows = [(r.panel, r.label, r.role) for r in report.rows]
    # one row per method and panel: lam at its centre (1.0), the largest budget
    assert rows == [(f"source={s}", label, role) for s in ("synthetic", "sunspots")
                    for label, role in (("greedy", "baseline"),
                                        ("dts (num_rollouts=20, lam=1)", "candidate"),
                                        ("sadt (num_rollouts=20, lam=1)", "candidate"))]
    runs = sdt.results.load("synthetic", url)
    main_ = report.main.set_index(["panel", "row", "metric"])
    for source in ("synthetic", "sunspots"):
        pick = runs[(runs["dataset.source"] == source) & (runs["search.method"] == "sadt")
                    & (runs["search.num_rollouts"] == 20) & (runs["search.lam"] == 1.0)]
        greedy = runs[(runs["dataset.source"] == source) & (runs["search.method"] == "greedy")]
        cell = main_.loc[(f"source={source}", "sadt (num_rollouts=20, lam=1)", "reward")]
        assert cell["mean"] == pytest.approx(pick["reward"].mean(), rel=1e-12)
        assert cell["diff"] == pytest.approx(pick["reward"].mean() - greedy["reward"].mean(),
                                             rel=1e-9)
    assert [c.group for c in report.claims] == ["source=synthetic", "source=sunspots"]


def test_a_sweep_with_nothing_completed_still_reports_what_is_missing(tmp_path, capsys):
    from sdt.sweep.store import Store

    store = Store(str(tmp_path / "sdt.db"))
    store.register("p", [(f"r{i}", "search", {"seed": i % 2, "search": {"method": m}},
                          ["methods"], i % 2, {"search.method": m})
                         for i, m in enumerate(["greedy", "greedy", "sadt", "sadt"])])
    store.claim("r0")
    store.finish("r0", "failed", error="Traceback (most recent call last):\nValueError: bad")
    assert main(["report", "p", "--store", store.url, "-o", str(tmp_path / "out")]) == 0
    md = (tmp_path / "out" / "report.md").read_text()
    assert "0 of 4 runs completed (1 failed, 3 pending)" in md
    assert "No metric to show yet" in md and "No paired comparison has data yet." in md
    assert "- study methods: 3 pending" in md and "- sadt: 0 of 2 seeds completed" in md
    assert "| r0 | search | failed | methods | search.method=greedy | 0 | ValueError: bad |" in md
    store.close()
