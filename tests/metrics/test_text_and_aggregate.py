import math

import numpy as np
import pytest

from sdt.metrics import aggregate, distinct_n, perplexity


def test_distinct_2():
    assert distinct_n([(1, 2, 1, 2)]) == pytest.approx(2 / 3)  # 12 21 12
    assert distinct_n([(1, 2), (1, 2)]) == 0.5
    assert distinct_n([(5, 6, 7), (7, 5)], n=1) == pytest.approx(3 / 5)
    assert math.isnan(distinct_n([(1,), ()]))


def test_perplexity_of_continuation_logprobs():
    lp = [np.log([0.5, 0.25]), np.log([0.125])]
    assert perplexity(lp) == pytest.approx(2 ** (6 / 3))
    assert perplexity(np.log([0.5, 0.5])) == pytest.approx(2.0)
    assert math.isnan(perplexity([]))


def test_aggregate_ignores_nan_and_counts_bools():
    rows = [{"reward": 1.0, "crps": float("nan"), "valid": True, "method": "dts"},
            {"reward": 2.0, "crps": 3.0, "valid": False},
            {"reward": 3.0, "crps": float("nan"), "only_nan": float("nan")}]
    out = aggregate(rows)
    assert out["reward"] == 2.0 and out["crps"] == 3.0 and out["valid"] == 0.5
    assert "method" not in out and math.isnan(out["only_nan"])
    # the missing entries of each metric are counted (a row without the key is not)
    assert out["crps/nan_count"] == 2.0 and out["only_nan/nan_count"] == 1.0
    assert out["reward/nan_count"] == 0.0 and out["valid/nan_count"] == 0.0
    assert "method/nan_count" not in out


def test_aggregate_never_averages_inf():
    out = aggregate([{"reward": 1.0}, {"reward": float("inf")}, {"reward": -float("inf")}])
    assert out == {"reward": 1.0, "reward/nan_count": 2.0}
