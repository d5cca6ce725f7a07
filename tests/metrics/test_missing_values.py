"""Missing values (SEARCH.md "Metrics"): NaN in, NaN out, counted and reported, never inf,
never dropped silently. Property tests over random series with NaN (and ±inf) at random
places, and exact CRPS values small enough to compute by hand."""

import doctest
import importlib
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sdt.metrics import (
    aggregate,
    crps,
    forecast_metrics,
    mae,
    mse,
    power,
    power_ratio,
    psd,
    spec_w1,
    spectral_distance,
)

NAN, INF = float("nan"), float("inf")
PROPS = settings(max_examples=120, deadline=None)
finite_values = st.floats(-1e3, 1e3, allow_nan=False, allow_infinity=False)


@st.composite
def with_holes(draw, n: int, holes=st.sampled_from([NAN, NAN, INF, -INF])):
    """``n`` finite values, then some of them (none to all, at random places) replaced by
    NaN or ±inf."""
    x = np.array(draw(st.lists(finite_values, min_size=n, max_size=n)), dtype=np.float64)
    if n:
        for i in draw(st.lists(st.integers(0, n - 1), max_size=n)):
            x[i] = draw(holes)
    return x


@st.composite
def ensembles(draw):
    m, horizon = draw(st.integers(1, 5)), draw(st.integers(1, 8))
    x = np.stack([draw(with_holes(horizon)) for _ in range(m)])
    y = draw(with_holes(horizon))
    return x, y


def _bad(*arrays) -> bool:
    return not all(np.isfinite(a).all() for a in arrays)


# --- CRPS, exactly ---------------------------------------------------------------------

@pytest.mark.parametrize("x,y,expect", [
    # one member: |X - y| / mean|y|: (1 + 0) / 2 steps / mean|y| 2
    ([[1.0, 2.0]], [2.0, 2.0], 0.25),
    # two members, two steps. step 1: mean|X-y| = (1+1)/2 = 1, pairs |0-2| twice of 4 -> 1,
    # 1 - 0.5 = 0.5; step 2: (2+0)/2 = 1, pairs 2·2/4 = 1 -> 0.5. (0.5+0.5)/2 / mean|y| 2.5
    ([[0.0, 2.0], [2.0, 4.0]], [1.0, 4.0], 0.2),
    # three members, one step: mean|X-y| = (1+0+2)/3 = 1, pairs (1+3+2)·2/9 = 4/3 -> 1 - 2/3
    ([[0.0], [1.0], [3.0]], [1.0], 1 / 3),
    # a negative truth scales by its absolute value: |-1 - -2| / 2
    ([[-1.0]], [-2.0], 0.5),
    # all members equal the truth: 0 whatever the spread term
    ([[3.0, -3.0], [3.0, -3.0]], [3.0, -3.0], 0.0),
])
def test_crps_by_hand(x, y, expect):
    assert crps(x, y) == pytest.approx(expect, rel=1e-12, abs=1e-15)


def test_crps_with_a_gap_is_nan_not_inf_and_not_the_finite_part():
    x, y = [[1.0, 2.0, 3.0]], [2.0, NAN, 3.0]
    assert math.isnan(crps(x, y)) and math.isnan(mse(x, y)) and math.isnan(mae(x, y))
    assert math.isnan(crps([[1.0, NAN, 3.0]], [2.0, 2.0, 3.0]))
    assert math.isnan(crps([[1.0, 2.0]], [INF, 2.0]))  # inf is no measurement either
    assert math.isnan(crps([[1.0]], [0.0]))  # undefined scale: NaN, never inf
    assert math.isnan(crps(np.zeros((2, 0)), np.zeros(0)))
    assert math.isnan(mse([[1e200]], [-1e200]))  # an overflow is NaN, not inf


# --- properties ------------------------------------------------------------------------

@PROPS
@given(ensembles())
def test_ensemble_metrics_propagate_nan_and_never_give_inf(data):
    x, y = data
    for fn in (crps, mse, mae, power_ratio):
        value = fn(x, y)
        assert not math.isinf(value), fn.__name__
        if _bad(x, y):
            assert math.isnan(value), fn.__name__
    if not _bad(x, y):
        assert math.isfinite(mse(x, y)) and math.isfinite(mae(x, y))
        if np.mean(np.abs(y)) > 0:
            assert math.isfinite(crps(x, y)) and crps(x, y) >= -1e-12


@PROPS
@given(st.integers(0, 70).flatmap(with_holes), st.sampled_from(["welch", "periodogram"]),
       st.sampled_from([None, 4, 16]))
def test_psd_of_a_series_with_a_gap_is_nan_on_the_same_grid(x, method, nperseg):
    freqs, power_ = psd(x, method, nperseg)
    ref_freqs, ref_power = psd(np.zeros(x.size) + np.arange(x.size), method, nperseg)
    np.testing.assert_array_equal(freqs, ref_freqs)  # same grid whatever the gaps
    assert power_.shape == ref_power.shape
    if _bad(x):
        assert np.isnan(power_).all()
    else:
        assert np.isfinite(power_).all()


@PROPS
@given(st.integers(0, 40).flatmap(with_holes), st.integers(0, 80).flatmap(with_holes),
       st.sampled_from(["l1_log", "w1", "kl"]))
def test_spectral_distances_propagate_nan(x, c, distance):
    d = spectral_distance(x, c, distance)
    assert not math.isinf(d)
    assert math.isnan(d) == _bad(x, c)
    assert math.isnan(power(x)) == (_bad(x) or x.size == 0)


@PROPS
@given(st.integers(1, 4).flatmap(lambda m: st.tuples(
           st.lists(with_holes(6), min_size=m, max_size=m), with_holes(32), with_holes(6))))
def test_forecast_metrics_nan_in_nan_out(data):
    members, history, future = data
    out = forecast_metrics(members, history, future)
    assert not any(math.isinf(v) for v in out.values())
    assert out["valid_rate"] == 1.0
    for key in ("crps", "mse", "mae", "power_ratio"):
        if _bad(future, *members):
            assert math.isnan(out[key]), key
    assert math.isnan(out["spec_w1"]) == _bad(history, *members)


def _rows(draw):
    keys = ["a", "b", "c/d"]
    values = st.one_of(finite_values, st.sampled_from([NAN, INF, -INF]), st.booleans(),
                       st.integers(-5, 5))
    n = draw(st.integers(0, 12))
    return [{k: draw(values) for k in keys if draw(st.booleans())} for _ in range(n)]


@PROPS
@given(st.data())
def test_aggregate_counts_missing_entries_and_never_gives_inf(data):
    rows = _rows(data.draw)
    rows.append({"name": "text is skipped"})
    out = aggregate(rows)
    assert not any(math.isinf(v) for v in out.values())
    present = sorted({k for r in rows for k, v in r.items() if not isinstance(v, str)})
    assert sorted(out) == sorted(present + [f"{k}/nan_count" for k in present])
    for key in present:
        vals = np.array([float(r[key]) for r in rows if key in r])
        good = vals[np.isfinite(vals)]
        assert out[f"{key}/nan_count"] == float(np.sum(~np.isfinite(vals)))
        if good.size:
            assert out[key] == pytest.approx(good.mean(), rel=1e-9, abs=1e-9)
        else:
            assert math.isnan(out[key])


# --- what the search run sees -----------------------------------------------------------

def test_psd_does_not_join_the_series_across_a_gap():
    t = np.arange(64.0)
    x = np.sin(2 * np.pi * t / 8)
    gap = x.copy()
    gap[30] = NAN
    assert np.isnan(psd(gap)[1]).all()
    assert math.isnan(spec_w1(np.sin(2 * np.pi * t[:8] / 8), gap))
    assert math.isnan(spec_w1(gap[26:34], x)) and math.isfinite(spec_w1(x[26:34], x))


def test_a_query_with_a_gap_in_the_truth_is_counted_not_averaged_or_inf():
    """Rows as the search run makes them (forecast_metrics per query, then aggregate)."""
    rng = np.random.default_rng(0)
    history = rng.normal(size=64)
    rows = []
    for i in range(5):
        future = rng.normal(size=8) + 5
        if i in (1, 3):
            future[i] = NAN
        rows.append(forecast_metrics([rng.normal(size=8) + 5, None], history, future))
    out = aggregate(rows)
    finite = [r["crps"] for i, r in enumerate(rows) if i not in (1, 3)]
    assert out["crps"] == pytest.approx(np.mean(finite)) and out["crps/nan_count"] == 2.0
    assert out["mae/nan_count"] == 2.0 and out["spec_w1/nan_count"] == 0.0
    assert out["valid_rate"] == 0.5 and out["valid_rate/nan_count"] == 0.0


@pytest.mark.parametrize("module", ["aggregate", "probabilistic", "spectral"])
def test_docstring_examples(module):
    result = doctest.testmod(importlib.import_module(f"sdt.metrics.{module}"),
                             optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0


def test_normalise_of_huge_finite_power_is_not_a_delta_at_zero():
    from sdt.metrics import normalise

    f = np.linspace(0, 0.5, 5)
    np.testing.assert_allclose(normalise(f, [1e308, 1e308, 0, 0, 1e308]),
                               [1 / 3, 1 / 3, 0, 0, 1 / 3])
    assert np.isnan(normalise(f, [1.0, NAN, 0, 0, 1.0])).all()
    np.testing.assert_array_equal(normalise(f, np.zeros(5)), [1, 0, 0, 0, 0])
