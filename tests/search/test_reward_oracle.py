"""Rewards see only what a deployed reward could see (SEARCH.md "Rewards": no ground truth),
unless the config marks them as an oracle; ``uses_oracle`` follows the mark.

A real user reward module is written to a temp dir on sys.path; it records everything it
can reach of the sample it is handed, and one of its functions cheats if it can."""

import copy
import textwrap

import numpy as np
import pytest

from sdt.config import validate
from sdt.config.reward import ForecastReward as ForecastCfg
from sdt.config.reward import TSQAReward as TSQACfg
from sdt.config.reward import UserReward as UserCfg
from sdt.config.reward import uses_oracle
from sdt.data import numeric
from sdt.data.forecast import load_series, make_sample
from sdt.data.tsqa import generate
from sdt.errors import ConfigError
from sdt.search.rewards import build_reward
from sdt.search.rewards.base import VISIBLE_META

USER_MODULE = textwrap.dedent('''
    import numpy as np

    SEEN = []

    def spy(texts, sample):
        """Records what it can reach: attributes, meta keys and values, the truth if any."""
        seen = {"meta": dict(sample.meta), "pre_prompt": sample.pre_prompt,
                "post_prompt": sample.post_prompt,
                "series": [np.array(s) for s in sample.series]}
        try:
            seen["answer"] = sample.answer
        except AttributeError as exc:
            seen["answer_error"] = str(exc)
        for key in ("future", "gold", "label", "start"):
            try:
                seen[key] = sample.meta[key]
            except KeyError as exc:
                seen[key + "_error"] = str(exc)
        SEEN.append(seen)
        return [0.0] * len(texts)

    def cheat(texts, sample):
        """-MSE against the true future: what an oracle is, and what a method must not be."""
        future = np.asarray(sample.meta["future"], dtype=float)
        out = []
        for t in texts:
            values = np.array([float(v) for v in t.split()])
            z = (future - sample.meta["scale"]["loc"]) / sample.meta["scale"]["scale"]
            out.append(-float(np.mean((values - z) ** 2)))
        return out

    def via_start(texts, sample):
        """Looks the future up in the source series from the window's position."""
        from sdt.data.forecast import load_series
        start, n = sample.meta["start"], len(sample.meta["history"])
        future = load_series(sample.meta["source"])[start + n:start + n + sample.meta["horizon"]]
        return [float(future.sum())] * len(texts)
''')


def decode(ids):
    return "".join(map(chr, ids))


def ids(text):
    return tuple(map(ord, text))


@pytest.fixture
def user_module(tmp_path, monkeypatch):
    (tmp_path / "oracle_probe_rewards.py").write_text(USER_MODULE)
    monkeypatch.syspath_prepend(str(tmp_path))
    import importlib
    import sys

    sys.modules.pop("oracle_probe_rewards", None)
    module = importlib.import_module("oracle_probe_rewards")
    yield module
    sys.modules.pop("oracle_probe_rewards", None)


@pytest.fixture
def forecast_sample():
    x = load_series("sunspots")
    start = 100
    return make_sample(x[start:start + 64], x[start + 64:start + 72], "sunspots", start=start)


def _all_numbers(seen) -> np.ndarray:
    """Every number the spy could reach, flattened."""
    out = [np.asarray(s, dtype=float).reshape(-1) for s in seen["series"]]
    for value in seen["meta"].values():
        if isinstance(value, dict):
            out.append(np.asarray(list(value.values()), dtype=float))
        elif isinstance(value, (np.ndarray, list, tuple)) and len(value) and \
                isinstance(np.asarray(value).reshape(-1)[0], (int, float, np.number)):
            out.append(np.asarray(value, dtype=float).reshape(-1))
    return np.concatenate(out)


def test_user_reward_never_sees_the_true_future_without_the_flag(user_module, forecast_sample):
    cfg = UserCfg(fn="oracle_probe_rewards:spy")
    assert not uses_oracle(cfg)
    build_reward(cfg, forecast_sample, decode)([ids(" +0.00")])
    seen = user_module.SEEN[-1]
    assert set(seen["meta"]) <= set(VISIBLE_META)
    assert {"history", "scale", "horizon", "source"} <= set(seen["meta"])  # what it needs
    assert seen["meta"]["horizon"] == 8
    for key in ("future", "gold", "label", "start"):
        assert key not in seen and key + "_error" in seen
    assert "reward.oracle: true" in seen["future_error"]
    assert "answer" not in seen and "reward.oracle: true" in seen["answer_error"]
    reachable = _all_numbers(seen)
    future = forecast_sample.meta["future"]
    # sunspot values repeat, so compare with the history's values taken out
    unseen = set(future.tolist()) - set(forecast_sample.meta["history"].tolist())
    assert unseen and not unseen & set(reachable.tolist())
    # the truth is not in the texts either
    assert forecast_sample.answer.strip() not in seen["pre_prompt"] + seen["post_prompt"]


def test_user_reward_sees_the_truth_with_the_flag(user_module, forecast_sample):
    cfg = UserCfg(fn="oracle_probe_rewards:spy", oracle=True)
    assert uses_oracle(cfg)
    build_reward(cfg, forecast_sample, decode)([ids(" +0.00")])
    seen = user_module.SEEN[-1]
    np.testing.assert_array_equal(seen["future"], forecast_sample.meta["future"])
    assert seen["answer"] == forecast_sample.answer and seen["start"] == 100


def test_a_cheating_user_reward_fails_without_the_flag_and_works_with_it(user_module,
                                                                           forecast_sample):
    truth = numeric.encode(forecast_sample.meta["future"], forecast_sample.meta["scale"])
    for fn in ("cheat", "via_start"):
        reward = build_reward(UserCfg(fn=f"oracle_probe_rewards:{fn}"), forecast_sample, decode)
        with pytest.raises(KeyError, match="reward.oracle: true"):
            reward([ids(truth)])
    oracle = build_reward(UserCfg(fn="oracle_probe_rewards:cheat", oracle=True),
                          forecast_sample, decode)
    assert oracle([ids(truth)])[0] == pytest.approx(0.0, abs=1e-4)  # 2-decimal text


def test_user_reward_on_tsqa_sees_options_and_task_but_not_gold(user_module):
    sample = generate(1, "test", seed=3)[0]
    build_reward(UserCfg(fn="oracle_probe_rewards:spy"), sample, decode)([ids(" (a)")])
    seen = user_module.SEEN[-1]
    assert seen["meta"]["options"] == sample.meta["options"]
    assert seen["meta"]["task"] == sample.meta["task"]
    assert "gold_error" in seen and "label_error" in seen and "answer_error" in seen
    build_reward(UserCfg(fn="oracle_probe_rewards:spy", oracle=True), sample, decode)(
        [ids(" (a)")])
    assert user_module.SEEN[-1]["gold"] == sample.meta["gold"]


def test_user_reward_cannot_change_the_query(tmp_path, monkeypatch, forecast_sample):
    (tmp_path / "mutating_reward.py").write_text(
        "def f(texts, sample):\n"
        "    sample.meta['scale']['loc'] = 1e9\n"
        "    sample.meta['options'] = ['x']\n"
        "    try:\n"
        "        sample.series[0][0] = 1e9\n"
        "    except ValueError:\n"
        "        pass\n"
        "    return [0.0] * len(texts)\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    before = copy.deepcopy(forecast_sample.meta)
    series = forecast_sample.series[0].copy()
    build_reward(UserCfg(fn="mutating_reward:f"), forecast_sample, decode)([ids("x")])
    assert forecast_sample.meta["scale"] == before["scale"]
    assert "options" not in forecast_sample.meta
    np.testing.assert_array_equal(forecast_sample.series[0], series)


def test_non_finite_user_values_are_invalid_not_rewards(tmp_path, monkeypatch, forecast_sample):
    (tmp_path / "nan_reward.py").write_text(
        "def f(texts, sample):\n"
        "    return [float(t) for t in texts]\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    reward = build_reward(UserCfg(fn="nan_reward:f", invalid=-3.0), forecast_sample, decode)
    scored = reward.score([ids("1.5"), ids("nan"), ids("inf"), ids("-inf")])
    assert scored.total.tolist() == [1.5, -3.0, -3.0, -3.0]
    assert scored.valid.tolist() == [True, False, False, False]
    assert np.isnan(scored.terms["user"][1]) and np.isinf(scored.terms["user"][2])


def test_oracle_flag_in_config_files():
    from sdt.config.search_run import RewardSectionModel

    def reward(**section):
        return validate({"reward": section}, RewardSectionModel, "s.yaml").reward

    assert not uses_oracle(reward(kind="user", fn="math:sqrt"))
    assert uses_oracle(reward(kind="user", fn="math:sqrt", oracle=True))
    assert not uses_oracle(reward(kind="forecast"))
    assert uses_oracle(reward(kind="forecast", weights={"oracle": 0.5}))
    assert uses_oracle(reward(kind="tsqa", weights={"oracle": 1.0}))
    with pytest.raises(ConfigError, match="true or false") as err:
        reward(kind="user", fn="math:sqrt", oracle="maybe")
    assert err.value.key == "reward.oracle"
    with pytest.raises(ConfigError) as err:  # the built-ins mark their oracle by its weight
        reward(kind="forecast", oracle=True)
    assert err.value.key == "reward.oracle" and "weights" in str(err.value)


# --- the built-in rewards: only the oracle term depends on the truth ----------------------

def _other_truth(sample, rng):
    """The same query with different truth: future, answer, gold, label."""
    other = copy.deepcopy(sample)
    meta = other.meta
    if "future" in meta:
        meta["future"] = meta["future"] + rng.normal(size=meta["future"].size) * 50 + 10
        other.answer = numeric.encode(meta["future"], meta["scale"])
    if "gold" in meta:
        letters = "abcd"[:len(meta["options"])]
        meta["gold"] = letters[(letters.index(meta["gold"]) + 1) % len(letters)]
        meta["label"] = meta["options"][letters.index(meta["gold"])]
        other.answer = f" ({meta['gold']})"
    return other


@pytest.mark.parametrize("oracle_weight", [0.0, 1.0])
def test_forecast_terms_other_than_oracle_do_not_depend_on_the_truth(forecast_sample,
                                                                     oracle_weight):
    rng = np.random.default_rng(0)
    cfg = ForecastCfg(weights={"band": 1.0, "level": 0.5, "oracle": oracle_weight})
    other = _other_truth(forecast_sample, rng)
    info = forecast_sample.meta["scale"]
    texts = [numeric.encode(forecast_sample.meta["future"], info),
             numeric.encode(other.meta["future"], info),
             numeric.encode(rng.normal(size=8) * 30 + 50, info), "garbage"]
    a = build_reward(cfg, forecast_sample, decode).score([ids(t) for t in texts])
    b = build_reward(cfg, other, decode).score([ids(t) for t in texts])
    for term in ("spectral", "band", "level"):
        np.testing.assert_array_equal(a.terms[term], b.terms[term])
    assert not np.allclose(a.terms["oracle"][:3], b.terms["oracle"][:3])  # the truth did change
    if oracle_weight == 0:
        np.testing.assert_array_equal(a.total, b.total)
    else:
        assert not np.allclose(a.total[:3], b.total[:3])


@pytest.mark.parametrize("oracle_weight", [0.0, 1.0])
def test_tsqa_verifier_does_not_depend_on_the_gold_answer(oracle_weight):
    rng = np.random.default_rng(1)
    cfg = TSQACfg(weights={"verifier": 1.0, "oracle": oracle_weight})
    texts = [ids(f" ({c})") for c in "abcd"] + [ids("none")]
    for sample in generate(6, "test", seed=2):
        other = _other_truth(sample, rng)
        a = build_reward(cfg, sample, decode).score(texts)
        b = build_reward(cfg, other, decode).score(texts)
        np.testing.assert_array_equal(a.terms["verifier"], b.terms["verifier"])
        assert not np.array_equal(a.terms["oracle"][:3], b.terms["oracle"][:3])
        assert np.array_equal(a.total, b.total) == (oracle_weight == 0)


def test_forecast_reward_refuses_a_history_with_a_gap():
    x = np.sin(np.arange(72.0))
    x[10] = np.nan
    from sdt.errors import UserError

    with pytest.raises(UserError, match="history without gaps.*1 non-finite value"):
        build_reward(ForecastCfg(), make_sample(x[:64], x[64:], "synthetic"), decode)


def test_oracle_flag_through_a_search_config_file(tmp_path, monkeypatch):
    """``reward.oracle`` in a search file or by --set: the run's uses_oracle and its config
    hash follow it (an oracle run is never the same run as the method's)."""
    import yaml

    from sdt.config import config_hash, load_config
    from sdt.config.search_run import SearchRunConfig

    train = {"seed": 3, "experiment": {"name": "fc"},
             "dataset": {"name": "forecast", "history_length": 32, "horizon": 4,
                         "num_samples_train": 50},
             "model": {"tiny": {"hidden_size": 32, "num_layers": 1, "num_heads": 2,
                                "intermediate_size": 64}},
             "training": {"num_epochs": 1}}
    (tmp_path / "fc.yaml").write_text(yaml.safe_dump(train))
    (tmp_path / "s.yaml").write_text(yaml.safe_dump(
        {"train": "fc.yaml", "search": {"method": "dts", "num_rollouts": 5},
         "reward": {"fn": "math:fsum"}}))
    monkeypatch.chdir(tmp_path)
    plain = load_config(tmp_path / "s.yaml", [], SearchRunConfig)
    marked = load_config(tmp_path / "s.yaml", ["reward.oracle=true"], SearchRunConfig)
    assert plain.reward.kind == "user" and not uses_oracle(plain.reward)
    assert marked.reward.oracle is True and uses_oracle(marked.reward)
    assert config_hash(plain) != config_hash(marked)
    with pytest.raises(ConfigError) as err:
        load_config(tmp_path / "s.yaml", ["reward.oracle=sometimes"], SearchRunConfig)
    assert err.value.key == "reward.oracle"
