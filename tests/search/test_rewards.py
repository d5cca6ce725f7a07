import math

import numpy as np
import pytest

from sdt.config import validate
from sdt.config.reward import ForecastReward as ForecastCfg
from sdt.config.reward import TSQAReward as TSQACfg
from sdt.config.reward import UserReward as UserCfg
from sdt.data import numeric
from sdt.data.forecast import make_sample
from sdt.data.tsqa import LETTERS, TASKS, generate
from sdt.data.tsqa_features import predict
from sdt.errors import ConfigError
from sdt.metrics import spectral_distance
from sdt.search.rewards import build_reward


# A character-level "tokenizer": token ids are code points, so texts and ids round-trip.
def decode(ids):
    return "".join(map(chr, ids))


def ids(text):
    return tuple(map(ord, text))


@pytest.fixture
def sample():
    t = np.arange(72)
    x = 50 + 10 * np.sin(2 * np.pi * t / 8) + np.random.default_rng(0).normal(size=72)
    return make_sample(x[:64], x[64:], "synthetic")


def test_forecast_reward_is_minus_gamma_times_the_spectral_distance(sample):
    cfg = ForecastCfg(gamma=2.0, spectral={"distance": "w1"})
    reward = build_reward(cfg, sample, decode)
    truth_text = " " + sample.answer  # what the trained model writes
    r = reward([ids(truth_text)])
    decoded, ok = numeric.decode(truth_text, sample.meta["scale"], 8)
    d = spectral_distance(decoded, sample.meta["history"], "w1")
    assert ok and r[0] == pytest.approx(-2.0 * d, rel=1e-12)
    scored = reward.score([ids(truth_text)])
    assert scored.valid.tolist() == [True]
    assert scored.terms["spectral"][0] == pytest.approx(d, rel=1e-12)
    np.testing.assert_allclose(scored.parsed[0], sample.meta["future"],
                               atol=sample.meta["scale"]["scale"] * 0.005 + 1e-9)


@pytest.mark.parametrize("text", ["", "garbage", " +0.10 +0.20", " +0.1 x +0.3 +0.4 +0.5 +0.6 +0.7 +0.8"])
def test_invalid_text_gets_the_penalty(sample, text):
    reward = build_reward(ForecastCfg(invalid=-7.5), sample, decode)
    assert reward([ids(text)]).tolist() == [-7.5]
    scored = reward.score([ids(text)])
    assert not scored.valid[0] and all(math.isnan(v[0]) for v in scored.terms.values())


def test_task_terms_and_weights(sample):
    info = sample.meta["scale"]
    hist = sample.meta["history"]
    values = np.array([hist.mean()] * 7 + [1e6])  # one far outside the band
    text = numeric.encode(values, info)
    decoded, _ = numeric.decode(text, info, 8)
    cfg = ForecastCfg(gamma=0.5, weights={"band": 2.0, "level": 3.0, "oracle": 1.0},
                      band={"quantiles": [0.1, 0.9]})
    scored = build_reward(cfg, sample, decode).score([ids(text)])
    t = {k: v[0] for k, v in scored.terms.items()}
    assert t["band"] == -1 / 8
    assert t["level"] == pytest.approx(-abs(decoded.mean() - hist.mean()) / info["scale"])
    assert t["oracle"] == pytest.approx(-np.mean((decoded - sample.meta["future"]) ** 2) / info["scale"] ** 2)
    assert scored.total[0] == pytest.approx(2 * t["band"] + 3 * t["level"] + t["oracle"] - 0.5 * t["spectral"])
    given = ForecastCfg(band={"low": -1e9, "high": 1e9}, level={"target": float(decoded.mean())})
    t2 = build_reward(given, sample, decode).score([ids(text)]).terms
    assert t2["band"][0] == 0.0 and t2["level"][0] == pytest.approx(0.0, abs=1e-12)


def test_reward_is_batched_over_continuations(sample):
    reward = build_reward(ForecastCfg(), sample, decode)
    a, b = ids(" " + sample.answer), ids("nope")
    out = reward([a, b, a])
    assert out.shape == (3,) and out[0] == out[2] and out[1] == -10.0
    assert reward([]).shape == (0,)


def test_short_series_and_constant_forecasts_never_raise():
    s = make_sample(np.array([1.0, 2.0, 3.0]), np.array([4.0]), "synthetic")
    for dist in ("l1_log", "w1", "kl"):
        r = build_reward(ForecastCfg(spectral={"distance": dist}), s, decode)
        assert np.isfinite(r([ids(" +0.00"), ids(" +1.00")])).all()


def test_tsqa_verifier_and_oracle():
    samples = generate(24, "test", seed=0)
    hits = 0
    for s in samples:
        reward = build_reward(TSQACfg(weights={"verifier": 1.0, "oracle": 0.5}), s, decode)
        label = TASKS[s.meta["task"]][1][predict(s.meta["task"], s.series[0])]
        expected = LETTERS[s.meta["options"].index(label)]
        texts = [f" ({c})" for c in "abc"] + [" no option"]
        scored = reward.score([ids(t) for t in texts])
        for j, c in enumerate("abc"):
            assert scored.terms["verifier"][j] == float(c == expected)
            assert scored.terms["oracle"][j] == float(c == s.meta["gold"])
            assert scored.total[j] == float(c == expected) + 0.5 * float(c == s.meta["gold"])
        assert scored.total[3] == -1.0 and not scored.valid[3]
        hits += expected == s.meta["gold"]
    assert hits >= 22  # the features decide the generator's tasks (>= 0.97 on large sets)


def test_user_reward_by_dotted_path(tmp_path, monkeypatch, sample):
    (tmp_path / "my_rewards.py").write_text(
        "def length(texts, sample, bonus=0.0):\n"
        "    return [len(t) + bonus for t in texts]\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    cfg = UserCfg(fn="my_rewards:length", params={"bonus": 0.5})
    reward = build_reward(cfg, sample, decode)
    assert reward([ids("abc"), ids("")]).tolist() == [3.5, 0.5]
    assert reward.score([ids("ab")]).terms["user"].tolist() == [2.5]


@pytest.mark.parametrize("fn,msg", [("nope_pkg_xyz:f", "cannot import"), ("math:nothere", "no 'nothere'"),
                                    ("math", "package.module:function"), ("math:pi", "a callable")])
def test_bad_user_reward_is_a_config_error(fn, msg):
    from sdt.config.search_run import RewardSectionModel
    with pytest.raises(ConfigError, match=msg) as err:
        validate({"reward": {"kind": "user", "fn": fn}}, RewardSectionModel, "s.yaml")
    assert err.value.key == "reward.fn"
