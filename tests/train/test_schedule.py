"""Learning-rate schedule formulas, exactly."""

import math

import pytest

from sdt.train.schedule import lr_factor, warmup_steps


def test_warmup_is_linear_and_never_zero():
    assert [lr_factor(s, 100, 4, "cosine") for s in range(4)] == [0.2, 0.4, 0.6, 0.8]
    assert lr_factor(4, 100, 4, "cosine") == 1.0


@pytest.mark.parametrize("kind,mid,end", [("linear", 0.5, 0.0), ("cosine", 0.5, 0.0),
                                          ("constant", 1.0, 1.0)])
def test_decay_shapes(kind, mid, end):
    assert lr_factor(10, 110, 10, kind) == 1.0
    assert math.isclose(lr_factor(60, 110, 10, kind), mid, abs_tol=1e-12)
    assert math.isclose(lr_factor(110, 110, 10, kind), end, abs_tol=1e-12)


def test_cosine_quarter_point():
    assert math.isclose(lr_factor(25, 100, 0, "cosine"), 0.5 * (1 + math.cos(math.pi / 4)))


def test_warmup_steps_rounds_fraction():
    assert warmup_steps(100, 0.03) == 3 and warmup_steps(10, 0.0) == 0


def test_unknown_schedule():
    with pytest.raises(ValueError, match="lr_schedule"):
        lr_factor(5, 10, 0, "step")
