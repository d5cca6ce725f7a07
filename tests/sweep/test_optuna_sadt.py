"""The shipped study ``sweeps/optuna_sadt.yaml`` end to end (slow): TPE over S-ADT's search
knobs on the forecasting model, two objectives, its Pareto front printed, the study opened
back with ``optuna.load_study``. The training run is shrunk with ``train_overrides`` so the
test takes about a minute; the sweep as shipped takes a few minutes on 2 cores."""

from __future__ import annotations

from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from sdt.sweep.store import Store
from sweep_files import sdt_sweep

SWEEP = Path(__file__).resolve().parents[2] / "sweeps" / "optuna_sadt.yaml"


@pytest.mark.slow
def test_shipped_sadt_study_runs_and_prints_its_pareto_front(folder):
    out = sdt_sweep(["run", SWEEP, "--no-progress", "--store", folder / "sdt.db",
                     "--set", "train_overrides.training.num_epochs=1",
                     "--set", "train_overrides.dataset.num_samples_train=64",
                     "--set", "evaluation.num_queries=2",
                     "--set", "tracking.wandb.mode=disabled"], folder, timeout=900)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    assert "Pareto front (reward maximize, nfe minimize)" in out.stdout
    study = optuna.load_study(study_name="sadt-optuna/tuning",
                              storage=f"sqlite:///{folder / 'sdt.db'}")
    assert [d.name for d in study.directions] == ["MAXIMIZE", "MINIMIZE"]
    trials = study.get_trials()
    assert len(trials) == 12 and {t.state for t in trials} == {TrialState.COMPLETE}
    assert set(trials[0].params) == {"search.num_rollouts", "search.expansion_k",
                                     "search.lam", "search.alpha"}
    runs = Store(str(folder / "sdt.db")).sweep_runs("sadt-optuna")
    trains = [r for r in runs if r["kind"] == "train"]
    assert len(trains) == 1 and trains[0]["executions"] == 1  # trained once for all trials
    assert all(r["config"]["search"]["method"] == "sadt" for r in runs if r["kind"] == "search")
