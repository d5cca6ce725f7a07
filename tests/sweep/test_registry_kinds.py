"""The experiment-kind registry and the ``sleep`` kind, run for real."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from sdt.config.schema import TrainConfig
from sdt.context import RunContext
from sdt.errors import ConfigError, UserError
from sdt.runner import execute
from sdt.sweep.kinds.sleep import CRASH_EXIT_CODE, EXECUTION_LOG_ENV, SleepConfig, value_of
from sdt.sweep.registry import Kind, get_kind, known_kinds, register_kind, resolve

REPO = Path(__file__).resolve().parents[2]


def test_builtin_kinds_resolve_lazily():
    assert {"train", "search", "sleep"} <= set(known_kinds())
    train = get_kind("train")
    assert train.schema == "sdt.config.schema:TrainConfig"  # a string until asked
    assert train.load_schema() is TrainConfig
    sleep = get_kind("sleep")
    assert sleep.load_schema() is SleepConfig
    assert sleep.load_run().__name__ == "run"
    assert sleep.metrics == ("slept_s", "value") and sleep.objective == "value"
    assert get_kind("search").dependencies == "sdt.search.experiment:dependencies"


def test_unknown_kind_names_file_key_and_known_kinds():
    with pytest.raises(ConfigError) as err:
        get_kind("slep", "sweeps/x.yaml")
    msg = str(err.value)
    assert msg.startswith("sweeps/x.yaml: experiment: ")
    assert "'sleep'" in msg and "train" in msg and "did you mean 'sleep'" in msg


@pytest.mark.parametrize("ref, hint", [
    ("no_such_module_xyz:KIND", "cannot import"),
    ("sdt.sweep.registry:NOPE", "no attribute"),
    ("sdt.sweep.registry:get_kind", "Kind object"),
])
def test_bad_user_kind_paths(ref, hint):
    with pytest.raises(ConfigError) as err:
        get_kind(ref, "s.yaml")
    assert "s.yaml: experiment:" in str(err.value) and hint in str(err.value)


def test_user_kind_by_dotted_path_and_register(tmp_path, monkeypatch):
    (tmp_path / "mykinds.py").write_text(textwrap.dedent("""
        from sdt.config import StrictModel
        from sdt.sweep.registry import Kind

        class Cfg(StrictModel):
            seed: int = 0
            x: float = 1.0

        def run(config, ctx):
            return {"y": config.x * 2}

        KIND = Kind(name="double", schema=Cfg, run="mykinds:run", metrics=("y",), objective="y")
    """))
    monkeypatch.syspath_prepend(str(tmp_path))
    kind = get_kind("mykinds:KIND")
    assert kind.name == "double" and kind.load_schema().__name__ == "Cfg"
    assert kind.load_run()(kind.load_schema()(x=3), None) == {"y": 6}
    register_kind(kind)
    try:
        assert get_kind("double") is kind
    finally:
        from sdt.sweep import registry
        registry._KINDS.pop("double")


def test_resolve_rejects_malformed_reference():
    with pytest.raises(UserError):
        resolve("no-colon", "thing")
    broken = Kind(name="broken", schema="sdt.config.schema:TrainConfig",
                  run="sdt.config:canonical.nope")
    with pytest.raises(UserError, match="no attribute"):
        broken.load_run()


def _ctx(tmp_path, run_id="r1"):
    return RunContext(run_id=run_id, run_dir=tmp_path / run_id, kind="sleep")


def test_sleep_run_metrics_history_and_execution_log(tmp_path, monkeypatch):
    log = tmp_path / "executions.log"
    monkeypatch.setenv(EXECUTION_LOG_ENV, str(log))
    config = SleepConfig.model_validate({"seed": 3, "sleep": {"seconds": 0.02, "tag": {"a": [1]}}})
    ctx = _ctx(tmp_path)
    outcome = execute(get_kind("sleep").load_run(), config, ctx)
    assert outcome.state == "completed"
    assert outcome.metrics["value"] == value_of(3, {"a": [1]})
    assert 0.02 <= outcome.metrics["slept_s"] < 1.0
    rows = [json.loads(line) for line in ctx.history_path.read_text().splitlines()]
    assert [r["step"] for r in rows] == [0, 1] and rows[1]["value"] == outcome.metrics["value"]
    assert log.read_text() == f"r1 {os.getpid()}\n"


def test_sleep_value_is_deterministic_in_seed_and_tag():
    assert value_of(0, "a") == value_of(0, "a")
    values = {value_of(s, t) for s in range(5) for t in ("a", "b", None, 1, [1, 2])}
    assert len(values) == 25 and all(0 <= v < 1 for v in values)


def test_sleep_fail_is_recorded_failed(tmp_path, monkeypatch):
    log = tmp_path / "executions.log"
    monkeypatch.setenv(EXECUTION_LOG_ENV, str(log))
    config = SleepConfig.model_validate({"sleep": {"seconds": 0, "fail": True}})
    outcome = execute(get_kind("sleep").load_run(), config, _ctx(tmp_path))
    assert outcome.state == "failed" and "sleep.fail" in outcome.error
    assert len(log.read_text().splitlines()) == 1


@pytest.mark.parametrize("crash, code", [("exit", CRASH_EXIT_CODE), (True, CRASH_EXIT_CODE),
                                         ("signal", -signal.SIGKILL)])
def test_sleep_crash_kills_its_own_process(tmp_path, crash, code):
    log = tmp_path / "executions.log"
    script = textwrap.dedent(f"""
        from sdt.context import RunContext
        from sdt.sweep.kinds.sleep import SleepConfig, run
        config = SleepConfig.model_validate({{"sleep": {{"seconds": 0, "crash": {crash!r}}}}})
        run(config, RunContext(run_id="boom", run_dir={str(tmp_path / 'boom')!r}))
        print("still alive")
    """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          env={**os.environ, EXECUTION_LOG_ENV: str(log)}, timeout=60)
    assert proc.returncode == code, proc.stderr
    assert "still alive" not in proc.stdout
    (line,) = log.read_text().splitlines()
    assert line.split()[0] == "boom" and line.split()[1] != str(os.getpid())


def test_sleep_config_rejects_bad_values():
    for bad in ({"sleep": {"seconds": -1}}, {"sleep": {"crash": "boom"}}, {"sleep": {"tga": 1}}):
        with pytest.raises(Exception):
            SleepConfig.model_validate(bad)


def test_expansion_does_not_import_torch():
    code = ("import sys; from sdt.sweep.spec import load_sweep; from sdt.sweep.expand import "
            "expand; expand(load_sweep('sweeps/train_tiny.yaml')); "
            "expand(load_sweep('sweeps/sleep_demo.yaml')); assert 'torch' not in sys.modules")
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
