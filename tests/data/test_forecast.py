"""Forecasting windows: counts, no leakage, answers that decode to the future."""

import numpy as np
import pytest

from sdt.config.schema import ForecastDataset
from sdt.data import build_dataset, forecast, numeric
from sdt.errors import UserError

SPLITS = ("train", "val", "test")


def test_airline_window_counts_are_exact():
    cfg = ForecastDataset(source="airline", history_length=64, horizon=8)
    sizes = {sp: len(build_dataset(cfg, sp, seed=0)) for sp in SPLITS}
    # 144 values: train windows in [0, 101) -> 101-72+1; val futures in [101, 122) -> 122-101-8+1;
    # test futures in [122, 144) -> 144-122-8+1
    assert sizes == {"train": 30, "val": 14, "test": 15}


@pytest.mark.parametrize("source, length", [("sunspots", 309), ("co2", 2284), ("airline", 144)])
def test_real_sources_load_without_gaps(source, length):
    x = forecast.load_series(source)
    assert x.shape == (length,) and np.all(np.isfinite(x))


@pytest.mark.parametrize("source", ["sunspots", "co2"])
def test_no_future_of_val_or_test_inside_a_train_window(source):
    cfg = ForecastDataset(source=source, history_length=32, horizon=8, num_samples_train=100000,
                          num_samples_val=50, num_samples_test=50)
    split = {sp: build_dataset(cfg, sp, seed=1) for sp in SPLITS}
    train_end = max(s.meta["start"] + 40 for s in split["train"])  # exclusive
    for sp in ("val", "test"):
        assert 0 < len(split[sp]) <= 50
        assert min(s.meta["start"] + 32 for s in split[sp]) >= train_end
    assert min(s.meta["start"] + 32 for s in split["test"]) >= \
        max(s.meta["start"] + 40 for s in split["val"])
    x = forecast.load_series(source)
    for s in split["test"][:5]:
        start = s.meta["start"]
        np.testing.assert_allclose(s.meta["future"], x[start + 32:start + 40])
        np.testing.assert_allclose(s.series[0], x[start:start + 32], rtol=1e-6)


def test_subset_is_seeded_and_in_time_order():
    cfg = ForecastDataset(source="co2", num_samples_test=20)
    a = [s.meta["start"] for s in build_dataset(cfg, "test", seed=0)]
    assert a == sorted(a) and len(set(a)) == 20
    assert a == [s.meta["start"] for s in build_dataset(cfg, "test", seed=0)]
    assert a != [s.meta["start"] for s in build_dataset(cfg, "test", seed=1)]


@pytest.mark.parametrize("source", ["synthetic", "sunspots", "co2", "airline"])
def test_answers_decode_to_the_future(source):
    cfg = ForecastDataset(source=source, history_length=48, horizon=6, num_samples_test=30)
    samples = build_dataset(cfg, "test", seed=0)
    assert samples
    for s in samples:
        assert s.pre_prompt == "Forecast the next 6 values." and s.series_text == ["History"]
        assert s.meta["source"] == source and len(s.series[0]) == 48
        values, valid = numeric.decode(s.answer, s.meta["scale"], 6)
        assert valid
        np.testing.assert_allclose(values, s.meta["future"],
                                   atol=0.005 * s.meta["scale"]["scale"] * (1 + 1e-9))


def test_synthetic_splits_are_disjoint_deterministic_and_sized():
    cfg = ForecastDataset(history_length=32, horizon=4, num_samples_train=50,
                          num_samples_val=10, num_samples_test=10)
    split = {sp: build_dataset(cfg, sp, seed=5) for sp in SPLITS}
    assert [len(v) for v in split.values()] == [50, 10, 10]
    keys = [{s.series[0].tobytes() for s in v} for v in split.values()]
    assert len(keys[0] | keys[1] | keys[2]) == 70
    again = build_dataset(cfg.model_copy(update={"num_samples_train": 7}), "train", seed=5)
    assert [s.answer for s in again] == [s.answer for s in split["train"][:7]]


def test_too_long_a_window_is_a_user_error():
    cfg = ForecastDataset(source="airline", history_length=120, horizon=8)
    with pytest.raises(UserError, match="history_length=120"):
        build_dataset(cfg, "train", seed=0)


def _scaled(samples):
    """Inputs (z-scored history, 1) and targets (the future in the answer's units)."""
    x = np.array([np.r_[(s.meta["history"] - s.meta["history"].mean())
                        / s.meta["history"].std(), 1.0] for s in samples])
    y = np.array([(s.meta["future"] - s.meta["scale"]["loc"]) / s.meta["scale"]["scale"]
                  for s in samples])
    return x, y


def test_synthetic_series_are_forecastable_beyond_the_last_value():
    # The target of the forecast configs is to beat the last value: the series must hold
    # structure a model can learn. Even a ridge regression fit on the train split does it
    # with a wide margin on the test split (in history-std units, where last value is 0).
    cfg = ForecastDataset(num_samples_train=1000, num_samples_test=200)
    x, y = _scaled(build_dataset(cfg, "train", seed=0))
    w = np.linalg.solve(x.T @ x + np.eye(x.shape[1]), x.T @ y)
    x, y = _scaled(build_dataset(cfg, "test", seed=0))
    ridge, last = np.abs(x @ w - y).mean(), np.abs(y).mean()
    assert ridge < 0.6 * last, (ridge, last)
