"""Expansion semantics on enumerable sweeps: exact points, configs, order, ids, limits, speed."""

from __future__ import annotations

import itertools
import time

import pytest
from pydantic import BaseModel

from sdt.config import config_hash
from sdt.config.load import apply_overrides, validate
from sdt.config.schema import TrainConfig
from sdt.errors import ConfigError
from sdt.single import run_dir_for
from sdt.sweep import registry
from sdt.sweep.expand import count_points, expand, plan_table
from sdt.sweep.kinds.sleep import SleepConfig
from sdt.sweep.registry import Kind, register_kind
from sdt.sweep.spec import SweepSpec


def spec(studies, experiment="sleep", **extra) -> SweepSpec:
    return SweepSpec.model_validate({"name": "t", "experiment": experiment,
                                     "studies": studies, **extra})


def tags(plan):
    return [r.config.sleep.tag for r in plan.runs]


def test_grid_is_the_cartesian_product():
    plan = expand(spec({"g": {"grid": {"sleep.tag": [1, 2, 3], "sleep.seconds": [0, 0.5]}}}))
    got = {(r.config.sleep.tag, r.config.sleep.seconds) for r in plan.runs}
    assert got == set(itertools.product([1, 2, 3], [0.0, 0.5]))
    assert len(plan.runs) == 6 and plan.duplicates == 0
    assert plan.runs[0].overrides == {"sleep.tag": 1, "sleep.seconds": 0}


def test_vary_is_one_factor_at_a_time_around_the_baseline():
    plan = expand(spec({"o": {"vary": {"sleep.tag": [1, 2, 3], "sleep.seconds": [0, 0.5, 1]}}},
                       baseline={"sleep.tag": 2, "sleep.seconds": 0.5}))
    got = [(r.config.sleep.tag, r.config.sleep.seconds) for r in plan.runs]
    assert got == [(2, 0.5), (1, 0.5), (3, 0.5), (2, 0.0), (2, 1.0)]
    # 1 + non-baseline values; a baseline value written 0.5 or 1/2 is the same point
    assert count_points(spec({"o": {"vary": {"sleep.seconds": [0.5, 1, 2]}}},
                             baseline={"sleep.seconds": 0.5}))["o"] == 3


def test_baseline_is_the_centre_of_every_study():
    plan = expand(spec({"g": {"grid": {"sleep.tag": [9]}}, "o": {"vary": {"sleep.tag": [9]}}},
                       baseline={"sleep.tag": 1, "sleep.seconds": 0.3}))
    got = sorted((r.studies, r.config.sleep.tag, r.config.sleep.seconds) for r in plan.runs)
    assert got == [(["g", "o"], 9, 0.3), (["o"], 1, 0.3)]


def test_baseline_keys_apply_where_the_config_has_them():
    plan = expand(spec({"d": {"grid": {"dataset.name": ["tsqa", "forecast"]}}},
                       experiment="train", baseline={"dataset.horizon": 4,
                                                     "training.patch_size": 2}))
    by_name = {r.config.dataset.name: r for r in plan.runs}
    assert by_name["forecast"].config.dataset.horizon == 4
    assert by_name["tsqa"].overrides == {"training.patch_size": 2, "dataset.name": "tsqa"}
    assert all(r.config.training.patch_size == 2 for r in plan.runs)
    with pytest.raises(ConfigError) as err:  # applies to no run: a mistake
        expand(spec({"d": {"grid": {"dataset.name": ["tsqa"]}}}, experiment="train",
                    baseline={"dataset.horizon": 4}))
    assert err.value.key == "baseline.dataset.horizon" and "applies to no run" in str(err.value)
    with pytest.raises(ConfigError) as err:
        expand(spec({"d": {"grid": {"dataset.name": ["tsqa"]}}}, experiment="train",
                    baseline={"training.patchsize": 4}))
    assert "did you mean 'training.patch_size'" in str(err.value)
    with pytest.raises(ConfigError) as err:  # a wrong value is an error wherever it applies
        expand(spec({"d": {"grid": {"dataset.name": ["tsqa"]}}}, experiment="train",
                    baseline={"training.patch_size": 0}))
    assert err.value.key == "baseline.training.patch_size"


def test_grid_crossed_with_vary():
    s = spec({"x": {"grid": {"experiment.name": ["a", "b"]},
                    "vary": {"sleep.tag": [0, 1, 2], "sleep.seconds": [0.1, 0.2]}}},
             baseline={"sleep.tag": 0, "sleep.seconds": 0.1})
    plan = expand(s)
    assert len(plan.runs) == 2 * (1 + 2 + 1)
    for name in ("a", "b"):
        points = {(r.config.sleep.tag, r.config.sleep.seconds) for r in plan.runs
                  if r.config.experiment.name == name}
        assert points == {(0, 0.1), (1, 0.1), (2, 0.1), (0, 0.2)}


def test_zip_runs_and_their_product():
    plan = expand(spec({"z": {"zip": {"sleep.tag": ["a", "b"], "sleep.seconds": [1, 2]},
                              "runs": [{"experiment.name": "x"}, {"experiment.name": "y",
                                                                  "sleep.fail": True}]}}))
    got = {(r.config.sleep.tag, r.config.sleep.seconds, r.config.experiment.name,
            r.config.sleep.fail) for r in plan.runs}
    assert got == {("a", 1.0, "x", False), ("b", 2.0, "x", False),
                   ("a", 1.0, "y", True), ("b", 2.0, "y", True)}


def test_random_is_reproducible_and_inside_its_ranges():
    study = {"r": {"random": {"n": 50, "seed": 7, "params": {
        "sleep.seconds": {"log_uniform": [0.001, 1.0]},
        "sleep.tag": {"int": [1, 4]},
        "experiment.name": {"choice": ["a", "b"]},
        "experiment.notes": {"values": ["n1", "n2"]},
    }}}}
    a, b = expand(spec(study)), expand(spec(study))
    assert [r.run_id for r in a.runs] == [r.run_id for r in b.runs]
    assert all(0.001 <= r.config.sleep.seconds <= 1 for r in a.runs)
    assert {r.config.sleep.tag for r in a.runs} == {1, 2, 3, 4}  # int bounds are inclusive
    study["r"]["random"]["seed"] = 8
    assert [r.run_id for r in expand(spec(study)).runs] != [r.run_id for r in a.runs]


def test_quantised_and_wandb_log_uniform_distributions():
    from random import Random

    from sdt.sweep.params import Distribution, sample

    q = Distribution.model_validate({"distribution": "q_uniform", "min": 0, "max": 1, "q": 0.25})
    rng = Random(0)
    assert {sample(q, rng) for _ in range(200)} == {0.0, 0.25, 0.5, 0.75, 1.0}
    lu = Distribution.model_validate({"distribution": "log_uniform", "min": 0, "max": 1})
    assert (lu.low, lu.high, lu.log) == (1.0, pytest.approx(2.718281828), True)
    inferred = Distribution.model_validate({"min": 1, "max": 3})
    assert inferred.type == "int" and {sample(inferred, rng) for _ in range(100)} == {1, 2, 3}


def test_seeds_replicate_every_point_seed_by_seed():
    plan = expand(spec({"g": {"grid": {"sleep.tag": [1, 2]}}}, seeds=[5, 6, 7]))
    assert [(r.seed, r.config.sleep.tag) for r in plan.runs] == \
        [(5, 1), (5, 2), (6, 1), (6, 2), (7, 1), (7, 2)]
    assert all(r.config.seed == r.seed == r.resolved["seed"] for r in plan.runs)
    assert plan.points == {"g": 6}


def test_set_applies_to_every_run_and_studies_override_it():
    plan = expand(spec({"a": {"grid": {"sleep.tag": [1]}}, "b": {"grid": {"sleep.seconds": [2]}}},
                       set={"sleep.seconds": 0.7, "experiment.notes": "n"}))
    got = sorted((r.config.sleep.seconds, r.config.experiment.notes) for r in plan.runs)
    assert got == [(0.7, "n"), (2.0, "n")]


def test_duplicates_collapse_into_one_run_with_every_study_tag():
    plan = expand(spec({"b": {"grid": {"sleep.tag": [1, 2]}},
                        "a": {"runs": [{"sleep.tag": 2}, {"sleep.tag": 3}]},
                        "c": {"grid": {"sleep.tag": [2.0]}}}))  # 2.0 and 2: one setting
    studies = {r.config.sleep.tag: r.studies for r in plan.runs}
    assert studies == {1: ["b"], 2: ["a", "b", "c"], 3: ["a"]}
    assert plan.counts == {"b": 2, "a": 2, "c": 1}
    assert plan.points == {"b": 2, "a": 2, "c": 1} and plan.duplicates == 2


def test_run_id_is_the_hash_of_the_resolved_config():
    plan = expand(spec({"g": {"grid": {"dataset.name": ["tsqa", "har", "forecast"],
                                       "training.patch_size": [2, 8]}}},
                       experiment="train", seeds=[0, 1]))
    assert len(plan.runs) == 12
    for run in plan.runs:
        assert run.resolved == run.config.model_dump(mode="json")
        assert run.run_id == config_hash(run.resolved) == run_dir_for(run.config, "train")[0]


def test_fast_path_equals_full_validation():
    """Re-validating only touched sections gives the config a full validation gives."""
    base = {"dataset": {"name": "TSQA", "num_samples_train": 10}, "model": {"lora": {"r": 2}}}
    grid = {"dataset.name": ["forecast", "har"], "model.lora.enabled": [True, False],
            "training.lr_encoder": [0.5, 1]}
    s = spec({"g": {"grid": grid}}, experiment="train", set={"dataset": base["dataset"],
                                                            "model.lora.r": 2})
    for run in expand(s).runs:
        merged = apply_overrides(base, {**run.overrides})
        full = validate(merged, TrainConfig)
        assert full.model_dump(mode="json") == run.resolved
    # the forecast variant kept num_samples_train from set, its own defaults elsewhere
    forecast = [r for r in expand(s).runs if r.config.dataset.name == "forecast"][0]
    assert forecast.config.dataset.num_samples_train == 10
    assert forecast.config.dataset.horizon == 8


def test_conditional_keys_follow_the_tagged_union():
    ok = expand(spec({"f": {"grid": {"dataset.name": ["forecast"], "dataset.horizon": [4, 16]}}},
                     experiment="train"))
    assert sorted(r.config.dataset.horizon for r in ok.runs) == [4, 16]
    with pytest.raises(ConfigError) as err:
        expand(spec({"f": {"grid": {"dataset.name": ["forecast", "tsqa"],
                                    "dataset.horizon": [4]}}}, experiment="train"))
    assert err.value.key == "studies.f.grid.dataset.horizon"
    # a sub-key of a section the base leaves to its default goes into the default variant
    plan = expand(spec({"f": {"grid": {"dataset.num_samples_test": [3]}}}, experiment="train",
                       set={"dataset.min_length": 32}))
    assert plan.runs[0].config.dataset.name == "tsqa"
    assert plan.runs[0].config.dataset.min_length == 32
    # a section-level check blames the point's key inside it
    with pytest.raises(ConfigError) as err:
        expand(spec({"f": {"grid": {"dataset.min_length": [600]}}}, experiment="train"))
    assert err.value.key == "studies.f.grid.dataset.min_length"
    assert "min_length <= max_length" in str(err.value)


def test_studies_are_interleaved_round_robin():
    plan = expand(spec({"a": {"grid": {"sleep.tag": ["a1", "a2", "a3"]}},
                        "b": {"grid": {"sleep.tag": ["b1"]}},
                        "c": {"grid": {"sleep.tag": ["c1", "c2"]}}}))
    assert tags(plan) == ["a1", "b1", "c1", "a2", "c2", "a3"]


def test_dependencies_come_first_once_and_carry_the_studies(tmp_path):
    class Needy(BaseModel):
        seed: int = 0
        prep: str = "p"
        x: int = 0

    def deps(config):
        return {"prep": ("sleep", SleepConfig.model_validate({"sleep": {"tag": config.prep}}))}

    register_kind(Kind(name="needy", schema=Needy, run="sdt.sweep.kinds.sleep:run",
                       dependencies=deps))
    try:
        plan = expand(spec({"a": {"grid": {"prep": ["p", "q"], "x": [1, 2]}},
                            "b": {"grid": {"prep": ["p"], "x": [3]}}}, experiment="needy"))
    finally:
        registry._KINDS.pop("needy")
    kinds = [r.kind for r in plan.runs]
    assert kinds == ["sleep", "sleep", "needy", "needy", "needy", "needy", "needy"]
    p, q = plan.runs[:2]
    assert p.dependency and p.config.sleep.tag == "p" and p.studies == ["a", "b"]
    assert q.config.sleep.tag == "q" and q.studies == ["a"]
    for run in plan.runs[2:]:
        assert run.deps == {"prep": p.run_id if run.config.prep == "p" else q.run_id}
    assert plan.counts == {"a": 4, "b": 1} and plan.duplicates == 0
    rows = plan_table(plan)
    assert rows[0]["kind"] == "sleep (dependency)" and rows[2]["deps"].startswith("prep=")


def test_plan_table_and_pending():
    plan = expand(spec({"g": {"grid": {"sleep.tag": [1, 2]}}}, seeds=[0]))
    plan.already = {plan.runs[0].run_id: "completed"}
    rows = plan_table(plan)
    assert [r["state"] for r in rows] == ["completed", "new"]
    assert rows[1] == {"id": plan.runs[1].run_id, "kind": "sleep", "studies": "g",
                       "overrides": "sleep.tag=2", "seed": "0", "deps": "", "state": "new"}
    assert [r.run_id for r in plan.pending()] == [plan.runs[1].run_id]
    assert plan.runs[0].cost == pytest.approx(0.1)  # sleep estimates its own duration


def test_ten_thousand_points_expand_fast():
    grid = {"training.lr_encoder": [1e-4 * (i + 1) for i in range(100)],
            "training.patch_size": list(range(1, 101))}
    s = spec({"g": {"grid": grid}}, experiment="train")
    t0 = time.perf_counter()
    plan = expand(s)
    elapsed = time.perf_counter() - t0
    print(f"\nexpand: 10^4 train points in {elapsed:.3f} s")
    assert len(plan.runs) == 10_000
    assert elapsed < 3.0  # generous: the machine is shared; measured ~0.3-0.7 s


def test_million_points_refused_without_force_and_limit_is_configurable():
    big = {"g": {"grid": {"sleep.tag": list(range(1000)), "sleep.seconds": list(range(1001))}}}
    with pytest.raises(ConfigError, match="--force") as err:
        expand(spec(big))
    assert "1001000" in str(err.value)
    small = {"g": {"grid": {"sleep.tag": list(range(30))}}}
    with pytest.raises(ConfigError):
        expand(spec(small, limits={"max_points": 20}))
    assert len(expand(spec(small, limits={"max_points": 20}), force=True).runs) == 30


def test_seeds_need_a_seed_key():
    class NoSeed(BaseModel):
        x: int = 0

    register_kind(Kind(name="noseed", schema=NoSeed, run="sdt.sweep.kinds.sleep:run"))
    try:
        with pytest.raises(ConfigError) as err:
            expand(spec({"g": {"grid": {"x": [1]}}}, experiment="noseed", seeds=[0, 1]))
        assert err.value.key == "seeds"
        assert expand(spec({"g": {"grid": {"x": [1, 2]}}}, experiment="noseed")).runs[0].seed \
            is None
    finally:
        registry._KINDS.pop("noseed")


def test_coupled_sections_revalidate_together(tmp_path):
    """The search kind fills its data set from the training config: a point that changes the
    training config must get the data set (and reward) that follow from it."""
    from sdt.config.load import read_config_dict
    from sdt.config.search_run import SearchRunConfig

    (tmp_path / "train.yaml").write_text(
        "dataset: {name: forecast, horizon: 4, num_samples_train: 8}\ntraining: {num_epochs: 1}\n")
    base = tmp_path / "search.yaml"
    base.write_text("train: train.yaml\nsearch: {method: greedy}\n")
    studies = {"m": {"grid": {"search.method": ["greedy", "best_of_n"]}},
               "t": {"runs": [{"train_overrides": {"dataset.horizon": 6}},
                              {"train_overrides": {"dataset.horizon": 6}, "dataset.source": "co2"},
                              {"train": str(tmp_path / "train.yaml")}]}}
    s = spec(studies, experiment="search", base=str(base), seeds=[0, 1])
    plan = expand(s)
    raw, sources = read_config_dict(base)
    for run in plan.runs:
        if run.kind != "search":
            continue
        merged = apply_overrides(raw, {**run.overrides, "seed": run.seed})
        full = validate(merged, SearchRunConfig, str(base), sources)
        assert full.model_dump(mode="json") == run.resolved
    horizons = sorted({r.config.dataset.horizon for r in plan.runs if r.kind == "search"})
    assert horizons == [4, 6]  # the data set followed the training config's overrides
    # the training runs it needs come first, once each (horizon 4 and 6)
    deps = [r for r in plan.runs if r.dependency]
    assert sorted(r.config.dataset.horizon for r in deps) == [4, 6]
    assert all(r.kind == "train" for r in deps) and plan.runs[:2] == deps


def test_ablation_centre_collapses_across_studies(tmp_path):
    """The SWEEPS.md layout: a methods study and OFAT studies share their centre runs; the
    baseline's ``search.lam`` applies to the soft methods only."""
    (tmp_path / "train.yaml").write_text("dataset: {name: forecast}\n")
    base = tmp_path / "search.yaml"
    base.write_text("train: train.yaml\n")
    s = spec({"methods": {"grid": {"search.method": ["greedy", "mcts", "dts"]}},
              "rollouts": {"grid": {"search.method": ["mcts", "dts"]},
                           "vary": {"search.num_rollouts": [5, 10, 20]}}},
             experiment="search", base=str(base),
             baseline={"search.num_rollouts": 10, "search.expansion_k": 3, "search.lam": 0.5})
    plan = expand(s)
    search = [r for r in plan.runs if r.kind == "search"]
    assert len(search) == 3 + 4 and plan.duplicates == 2
    centre = {r.config.search.method: r for r in search if r.studies == ["methods", "rollouts"]}
    assert sorted(centre) == ["dts", "mcts"]
    assert centre["dts"].config.search.lam == 0.5 and centre["mcts"].config.search.num_rollouts == 10
    assert "search.lam" not in centre["mcts"].overrides
    assert [r.kind for r in plan.runs] == ["train"] + ["search"] * 7
