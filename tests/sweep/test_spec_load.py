"""Sweep files: the shipped ones, W&B files, and malformed files that must name file and key."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from sdt.errors import ConfigError, UserError
from sdt.sweep.expand import expand
from sdt.sweep.spec import load_sweep

REPO = Path(__file__).resolve().parents[2]

TRAIN_BASE = """\
seed: 0
dataset: {name: tsqa, num_samples_train: 16}
training: {num_epochs: 1}
"""


def write(tmp_path: Path, text: str, name: str = "sweep.yaml") -> Path:
    (tmp_path / "exp").mkdir(exist_ok=True)
    (tmp_path / "exp" / "base.yaml").write_text(TRAIN_BASE)
    path = tmp_path / "sweeps" / name
    path.parent.mkdir(exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return path


def test_shipped_sleep_demo():
    plan = expand(load_sweep(REPO / "sweeps/sleep_demo.yaml"))
    # tags 3, durations 1+2, pairs 2 points, two seeds; (tag b, 0.2 s) is in all three studies.
    assert plan.points == {"tags": 6, "durations": 6, "pairs": 4}
    assert len(plan.runs) == 12 and plan.duplicates == 4
    shared = [r for r in plan.runs if r.studies == ["durations", "pairs", "tags"]]
    assert sorted(r.seed for r in shared) == [0, 1]
    assert all(r.config.sleep.seconds == 0.2 for r in shared)


def test_shipped_train_tiny():
    spec = load_sweep(REPO / "sweeps/train_tiny.yaml")
    assert Path(spec.base) .resolve() == (REPO / "experiments/cpu/tiny.yaml").resolve()
    plan = expand(spec)
    assert len(plan.runs) == 5 and plan.duplicates == 1
    for run in plan.runs:
        assert run.config.training.num_epochs == 2
        assert run.config.dataset.num_samples_train == 256
        assert run.config.experiment.name == "tiny_tsqa"  # from the base file
    assert sorted(r.config.training.patch_size for r in plan.runs) == [4, 4, 4, 8, 16]


def test_base_is_relative_to_the_sweep_file(tmp_path, monkeypatch):
    path = write(tmp_path, """
        experiment: train
        base: ../exp/base.yaml
        studies: {s: {grid: {training.batch_size: [2, 4]}}}
    """)
    monkeypatch.chdir(tmp_path / "exp")  # the current folder plays no part
    plan = expand(load_sweep(path))
    assert [r.config.dataset.num_samples_train for r in plan.runs] == [16, 16]
    assert load_sweep(path).name == "sweep"  # defaults to the file's stem


def test_command_line_set_overrides_every_run(tmp_path):
    path = write(tmp_path, """
        experiment: sleep
        set: {sleep.seconds: 0.3}
        studies: {s: {grid: {sleep.tag: [1, 2]}}}
    """)
    plan = expand(load_sweep(path, ["sleep.seconds=0.01", "experiment.name=quick"]))
    assert {(r.config.sleep.seconds, r.config.experiment.name) for r in plan.runs} == \
        {(0.01, "quick")}


def test_wandb_sweep_file_with_sdt_kind_runs_as_one_study(tmp_path):
    path = write(tmp_path, """
        name: my W&B sweep
        program: train.py
        method: grid
        experiment: sleep
        parameters:
          sleep.tag: {values: [a, b, c]}
          sleep: {parameters: {seconds: {value: 0}}}
    """, "wb.yaml")
    spec = load_sweep(path)
    assert spec.name == "my_W_B_sweep" and list(spec.studies) == ["my_W_B_sweep"]
    assert spec.command.program == "train.py"
    assert spec.studies["my_W_B_sweep"].grid == {"sleep.tag": ["a", "b", "c"],
                                                 "sleep.seconds": [0]}
    plan = expand(spec)
    assert sorted(r.config.sleep.tag for r in plan.runs) == ["a", "b", "c"]


def test_wandb_random_and_bayes(tmp_path):
    path = write(tmp_path, """
        method: random
        run_cap: 7
        metric: {name: value, goal: maximize}
        experiment: sleep
        parameters:
          sleep.seconds: {distribution: log_uniform_values, min: 0.001, max: 0.1}
          sleep.tag: {distribution: int_uniform, min: 1, max: 3}
    """)
    spec = load_sweep(path)
    assert spec.report.metrics == ["value"]  # W&B's metric of a random sweep: reported
    runs = expand(spec).runs
    assert len(runs) == 7
    assert all(0.001 <= r.config.sleep.seconds <= 0.1 and r.config.sleep.tag in (1, 2, 3)
               for r in runs)
    bayes = write(tmp_path, """
        method: bayes
        run_cap: 20
        metric: {name: value, goal: maximize}
        experiment: sleep
        parameters: {sleep.seconds: {min: 0.0, max: 0.1}}
    """, "bayes.yaml")
    plan = expand(load_sweep(bayes))
    assert plan.runs == [] and plan.adaptive["bayes"].kind == "optuna"
    opt = plan.adaptive["bayes"].optuna
    assert opt.n_trials == 20 and opt.objectives == {"value": "maximize"}


def test_wandb_program_without_sdt_kind_is_a_clear_error(tmp_path):
    path = write(tmp_path, """
        program: train.py
        method: grid
        parameters: {lr: {values: [0.1, 0.01]}}
    """)
    spec = load_sweep(path)
    with pytest.raises(UserError, match="command` experiment kind") as err:
        expand(spec)
    assert "train.py" in str(err.value) and str(path) in str(err.value)


def test_optuna_study_validates_and_is_left_to_the_scheduler(tmp_path):
    path = write(tmp_path, """
        experiment: sleep
        studies:
          fixed: {grid: {sleep.tag: [1]}}
          tuning:
            optuna:
              n_trials: 5
              sampler: nsga2
              objectives: {value: maximize, slept_s: minimize}
              params:
                sleep.seconds: {float: [0.0, 0.1]}
                sleep.tag: {int: [1, 64], log: true}
    """)
    plan = expand(load_sweep(path))
    assert len(plan.runs) == 1 and list(plan.adaptive) == ["tuning"]
    params = plan.adaptive["tuning"].optuna.params
    assert params["sleep.tag"].type == "int" and params["sleep.tag"].log


# (sweep text, the dotted key the error must name); every message also names the file.
MALFORMED = {
    "unknown_study_key": ("""
        experiment: sleep
        studies: {s: {gird: {sleep.tag: [1]}}}
    """, "studies.s.gird"),
    "vary_without_baseline": ("""
        experiment: sleep
        studies: {s: {vary: {sleep.seconds: [0.1, 0.2]}}}
    """, "studies.s.vary.sleep.seconds"),
    "key_not_in_config": ("""
        experiment: train
        base: ../exp/base.yaml
        studies: {s: {grid: {training.lr_encodr: [0.1]}}}
    """, "studies.s.grid.training.lr_encodr"),
    "conditional_key_of_other_variant": ("""
        experiment: train
        base: ../exp/base.yaml
        studies: {s: {grid: {dataset.horizon: [4, 8]}}}
    """, "studies.s.grid.dataset.horizon"),
    "value_out_of_range": ("""
        experiment: train
        base: ../exp/base.yaml
        baseline: {training.batch_size: 4}
        studies: {s: {vary: {training.batch_size: [0, 8]}}}
    """, "studies.s.vary.training.batch_size"),
    "empty_grid": ("""
        experiment: sleep
        studies: {s: {grid: {}}}
    """, "studies.s.grid"),
    "empty_value_list": ("""
        experiment: sleep
        studies: {s: {grid: {sleep.tag: []}}}
    """, "studies.s.grid.sleep.tag"),
    "unknown_device": ("""
        experiment: sleep
        resources: {devices: [cpu, tpu]}
        studies: {s: {grid: {sleep.tag: [1]}}}
    """, "resources.devices"),
    "zip_lengths": ("""
        experiment: sleep
        studies: {s: {zip: {sleep.tag: [1, 2, 3], sleep.seconds: [0.1, 0.2]}}}
    """, "studies.s"),
    "unknown_kind": ("""
        experiment: trian
        studies: {s: {grid: {sleep.tag: [1]}}}
    """, "experiment"),
    "base_missing": ("""
        experiment: train
        base: ../exp/nope.yaml
        studies: {s: {grid: {training.batch_size: [1]}}}
    """, "base"),
    "seeds_wrong_type": ("""
        experiment: sleep
        seeds: three
        studies: {s: {grid: {sleep.tag: [1]}}}
    """, "seeds"),
    "seeds_not_integers": ("""
        experiment: sleep
        seeds: [0, one]
        studies: {s: {grid: {sleep.tag: [1]}}}
    """, "seeds.1"),
    "negative_slots": ("""
        experiment: sleep
        resources: {slots: {cpu: -2}}
        studies: {s: {grid: {sleep.tag: [1]}}}
    """, "resources.slots.cpu"),
    "unknown_backend": ("""
        experiment: sleep
        resources: {backend: ray}
        studies: {s: {grid: {sleep.tag: [1]}}}
    """, "resources.backend"),
    "random_without_n": ("""
        experiment: sleep
        studies: {s: {random: {params: {sleep.seconds: {uniform: [0, 1]}}}}}
    """, "studies.s.random.n"),
    "bad_distribution": ("""
        experiment: sleep
        studies: {s: {random: {n: 3, params: {sleep.seconds: {distribution: gamma, min: 0, max: 1}}}}}
    """, "studies.s.random.params.sleep.seconds"),
    "inverted_range": ("""
        experiment: sleep
        studies: {s: {random: {n: 3, params: {sleep.seconds: {uniform: [1, 0]}}}}}
    """, "studies.s.random.params.sleep.seconds"),
    "distribution_in_grid": ("""
        experiment: sleep
        studies: {s: {grid: {sleep.seconds: {uniform: [0, 1]}}}}
    """, "studies.s.grid.sleep.seconds"),
    "unknown_top_level_key": ("""
        experiment: sleep
        studie: {s: {grid: {sleep.tag: [1]}}}
    """, "studie"),
    "no_studies_section": ("""
        experiment: sleep
    """, "studies"),
    "no_studies": ("""
        experiment: sleep
        studies: {}
    """, "studies"),
    "study_without_blocks": ("""
        experiment: sleep
        studies: {s: {}}
    """, "studies.s"),
    "same_key_in_two_blocks": ("""
        experiment: sleep
        baseline: {sleep.tag: 1}
        studies: {s: {grid: {sleep.tag: [1]}, vary: {sleep.tag: [2]}}}
    """, "studies.s"),
    "optuna_mixed_with_grid": ("""
        experiment: sleep
        studies: {s: {grid: {sleep.tag: [1]}, optuna: {n_trials: 2, objectives: {value: maximize}, params: {sleep.seconds: {float: [0, 1]}}}}}
    """, "studies.s"),
    "optuna_bad_sampler": ("""
        experiment: sleep
        studies: {s: {optuna: {n_trials: 2, sampler: bogo, objectives: {value: maximize}, params: {sleep.seconds: {float: [0, 1]}}}}}
    """, "studies.s.optuna.sampler"),
    "optuna_prunes_multi_objective": ("""
        experiment: sleep
        studies: {s: {optuna: {n_trials: 2, pruner: median, objectives: {value: maximize, slept_s: minimize}, params: {sleep.seconds: {float: [0, 1]}}}}}
    """, "studies.s.optuna"),
    "dask_backend_not_in_this_version": ("""
        experiment: sleep
        resources: {backend: dask}
        studies: {s: {grid: {sleep.tag: [1]}}}
    """, "resources.backend"),
    "optuna_normal_distribution": ("""
        experiment: sleep
        studies: {s: {optuna: {n_trials: 2, objectives: {value: maximize}, params: {sleep.seconds: {normal: [0, 1]}}}}}
    """, "studies.s.optuna"),
    "optuna_unknown_pruner": ("""
        experiment: sleep
        studies: {s: {optuna: {n_trials: 2, pruner: patient, objectives: {value: maximize}, params: {sleep.seconds: {float: [0, 1]}}}}}
    """, "studies.s.optuna.pruner"),
    "run_timeout_not_positive": ("""
        experiment: sleep
        resources: {timeout: 0}
        studies: {s: {grid: {sleep.tag: [1]}}}
    """, "resources.timeout"),
    "address_without_dask": ("""
        experiment: sleep
        resources: {address: "tcp://h:8786"}
        studies: {s: {grid: {sleep.tag: [1]}}}
    """, "resources"),
    "bad_set_value": ("""
        experiment: sleep
        set: {sleep.seconds: -1}
        studies: {s: {grid: {sleep.tag: [1]}}}
    """, "set.sleep.seconds"),
    "seed_in_study_with_seeds": ("""
        experiment: sleep
        seeds: [0, 1]
        studies: {s: {grid: {seed: [5]}}}
    """, "studies.s.grid.seed"),
    "set_into_a_scalar": ("""
        experiment: sleep
        studies: {s: {grid: {sleep.seconds.value: [1]}}}
    """, "studies.s.grid.sleep.seconds.value"),
    "bad_study_name": ("""
        experiment: sleep
        studies: {"a/b": {grid: {sleep.tag: [1]}}}
    """, "studies"),
    "wandb_bad_method": ("""
        experiment: sleep
        method: hyperopt
        parameters: {sleep.tag: {values: [1]}}
    """, "studies.sweep"),
    "yaml_error": ("""
        experiment: sleep
        studies: {s: {grid: [}
    """, None),
    "empty_file": ("", None),
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_malformed_sweep_names_file_and_key(tmp_path, case):
    text, key = MALFORMED[case]
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as err:
        expand(load_sweep(path))
    msg = str(err.value)
    assert msg.startswith(str(path) + ": "), msg
    assert err.value.key == key, msg
    if key:
        assert f": {key}: " in msg
    assert "Traceback" not in msg and "\n" not in msg


def test_did_you_mean_for_study_and_config_keys(tmp_path):
    msgs = {}
    for case in ("unknown_study_key", "key_not_in_config", "unknown_top_level_key"):
        with pytest.raises(ConfigError) as err:
            expand(load_sweep(write(tmp_path, MALFORMED[case][0])))
        msgs[case] = str(err.value)
    assert "did you mean 'studies.s.grid'" in msgs["unknown_study_key"]
    assert "did you mean 'training.lr_encoder'" in msgs["key_not_in_config"]
    assert "did you mean 'studies'" in msgs["unknown_top_level_key"]


def test_too_many_points_refused_without_force(tmp_path):
    grid = {"experiment.tags": [[str(i)] for i in range(100)],
            "sleep.tag": list(range(100)), "sleep.seconds": list(range(100))}
    path = write(tmp_path, f"""
        experiment: sleep
        seeds: [0, 1]
        studies: {{big: {{grid: {grid}}}}}
    """)
    with pytest.raises(ConfigError) as err:
        expand(load_sweep(path))
    assert err.value.key == "studies" and "2000000" in str(err.value)
    assert "--force" in str(err.value)
