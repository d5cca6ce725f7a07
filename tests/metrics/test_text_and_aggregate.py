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
