"""Forecast scoring: valid rate, raw and scale-free MAE next to the last-value baseline."""

import numpy as np
import pytest

from sdt.data.forecast import make_sample
from sdt.train.evaluate import objective, score


def test_forecast_metrics_are_exact():
    big = make_sample([0.0, 200.0], [100.0, 100.0], "synthetic")  # loc 200, scale 100
    small = make_sample([0.0, 2.0], [3.0, 4.0], "synthetic")  # loc 2, scale 1
    bad = make_sample([0.0, 2.0], [3.0, 4.0], "synthetic")
    # big: forecast 150 150 (error 50, last value's 100); small: 2.5 3.5 (0.5; last value's 1.5)
    metrics, rows = score([big, small, bad], [" -0.50 -0.50", " +0.50 +1.50", "junk"],
                          "forecast")
    assert metrics["valid_rate"] == pytest.approx(2 / 3)
    assert metrics["mae"] == pytest.approx((50 + 50 + 0.5 + 0.5) / 4)
    assert metrics["last_value_mae"] == pytest.approx((100 + 100 + 1 + 2) / 4)
    # per series in history-std units, then averaged: the big series does not dominate
    assert metrics["mae_scaled"] == pytest.approx((0.5 + 0.5) / 2)
    assert metrics["last_value_mae_scaled"] == pytest.approx((1.0 + 1.5) / 2)
    assert [r["valid"] for r in rows] == [True, True, False]
    assert np.allclose(rows[0]["forecast"], [150.0, 150.0])


def test_no_valid_forecast_scores_infinite_errors():
    metrics, _ = score([make_sample([0.0, 1.0], [1.0], "synthetic")], ["junk"], "forecast")
    assert metrics["valid_rate"] == 0.0
    assert metrics["mae_scaled"] == metrics["last_value_mae_scaled"] == float("inf")


def test_forecast_checkpoints_are_chosen_by_the_scale_free_mae():
    assert objective("forecast", ["mae", "valid_rate"]) == ("mae_scaled", "min")
    assert objective("forecast", ["valid_rate", "loss"]) == ("loss", "min")
