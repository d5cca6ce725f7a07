import itertools

import numpy as np
import pytest

from sdt.metrics import crps, mae, mse


def _brute_crps(x, y):
    m, horizon = x.shape
    per_step = []
    for h in range(horizon):
        a = np.mean([abs(x[j, h] - y[h]) for j in range(m)])
        b = np.mean([abs(x[j, h] - x[k, h]) for j, k in itertools.product(range(m), repeat=2)])
        per_step.append(a - 0.5 * b)
    return np.mean(per_step) / np.mean(np.abs(y))


@pytest.mark.parametrize("m,horizon", [(1, 5), (2, 3), (7, 8), (16, 1)])
def test_crps_matches_the_ensemble_formula(m, horizon):
    rng = np.random.default_rng(m * 31 + horizon)
    x, y = rng.normal(size=(m, horizon)), rng.normal(size=horizon)
    assert crps(x, y) == pytest.approx(_brute_crps(x, y), rel=1e-12)


def test_crps_of_one_member_is_scaled_mae():
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=12), rng.normal(size=12) + 3
    assert crps(x, y) == pytest.approx(np.mean(np.abs(x - y)) / np.mean(np.abs(y)), rel=1e-12)
    assert crps([x], y) == pytest.approx(mae(x, y) / np.mean(np.abs(y)), rel=1e-12)


def test_crps_edge_cases():
    assert crps([[1.0, 1.0]], [1.0, 1.0]) == 0.0
    # a zero truth: a perfect forecast scores 0, any other is undefined (NaN, never inf)
    assert crps([[0.0]], [0.0]) == 0.0 and np.isnan(crps([[1.0]], [0.0]))
    assert np.isnan(crps(np.zeros((0, 3)), np.ones(3)))
    with pytest.raises(ValueError, match="3 steps but the truth has 2"):
        crps(np.zeros((2, 3)), np.ones(2))


def test_mse_mae_of_the_median():
    x = np.array([[0.0, 10.0], [1.0, 20.0], [5.0, 0.0]])
    y = np.array([1.0, 12.0])
    assert mae(x, y) == pytest.approx((0 + 2) / 2)  # median (1, 10)
    assert mse(x, y) == pytest.approx((0 + 4) / 2)
