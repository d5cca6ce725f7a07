import math

import numpy as np
import pytest

from sdt.metrics import choice_metrics, crps, forecast_metrics, spec_w1


def test_forecast_metrics_use_only_valid_members():
    rng = np.random.default_rng(0)
    hist, fut = rng.normal(size=64), rng.normal(size=8)
    a, b = rng.normal(size=8), rng.normal(size=8)
    out = forecast_metrics([a, None, b, None], hist, fut)
    assert out["valid_rate"] == 0.5
    assert out["crps"] == pytest.approx(crps(np.stack([a, b]), fut))
    assert out["spec_w1"] == pytest.approx((spec_w1(a, hist) + spec_w1(b, hist)) / 2)
    assert out["mae"] == pytest.approx(np.mean(np.abs((a + b) / 2 - fut)))
    one = forecast_metrics([a], hist, fut)
    assert one["crps"] == pytest.approx(one["mae"] / np.mean(np.abs(fut)))


def test_forecast_metrics_without_valid_members_or_truth():
    out = forecast_metrics([None, None], np.ones(10))
    assert out["valid_rate"] == 0 and all(math.isnan(out[k]) for k in ("crps", "spec_w1", "mse"))
    out = forecast_metrics([np.arange(8.0)], np.arange(64.0))
    assert out["valid_rate"] == 1 and np.isfinite(out["spec_w1"]) and math.isnan(out["crps"])


def test_choice_metrics():
    assert choice_metrics(["a", None, "b", "a"], "a") == {"accuracy": 0.5, "valid_rate": 0.75}
    assert choice_metrics([None], "a") == {"accuracy": 0.0, "valid_rate": 0.0}
