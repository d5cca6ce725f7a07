"""The forecast text format: exact round trip within the precision, robust parser."""

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sdt.data.numeric import decode, encode, scale_info


def test_scale_info_is_last_value_and_std():
    info = scale_info([1.0, 3.0, 5.0])
    assert info == {"loc": 5.0, "scale": pytest.approx(np.std([1, 3, 5]))}
    json.dumps(info)


@pytest.mark.parametrize("history", [[7.0] * 5, [3.0], [], [np.nan, 0.0]])
def test_scale_info_degenerate_histories_have_positive_scale(history):
    info = scale_info(history)
    assert info["scale"] > 0 and np.isfinite(info["loc"])


def test_encode_format_is_fixed():
    info = {"loc": 1.0, "scale": 0.5}
    assert encode([1.0, 1.06, 0.5, 1.0 - 0.001, 200.0, -200.0], info) == \
        " +0.00 +0.12 -1.00 +0.00 +99.99 -99.99"


@settings(max_examples=60, deadline=None)
@given(history=st.lists(st.floats(-1e4, 1e4), min_size=2, max_size=30),
       z=st.lists(st.floats(-50, 50), min_size=1, max_size=16))
def test_round_trip_within_precision(history, z):
    info = scale_info(history)
    values = info["loc"] + info["scale"] * np.asarray(z)
    text = encode(values, info)
    decoded, valid = decode(text, info, horizon=len(z))
    assert valid and decoded.shape == (len(z),)
    tolerance = info["scale"] * (0.005 + 1e-9) + 1e-9 * np.abs(values)
    assert np.all(np.abs(decoded - values) <= tolerance)


def test_extra_values_are_truncated_and_trailing_text_ignored():
    info = {"loc": 0.0, "scale": 2.0}
    values, valid = decode(" +1.00 -0.50 +3.00\nAnswer: junk", info, horizon=2)
    assert valid and values.tolist() == [2.0, -1.0]
    values, valid = decode("1 2.5 .5", info, horizon=3)  # signs and decimals optional
    assert valid and values.tolist() == [2.0, 5.0, 1.0]


@pytest.mark.parametrize("text", [
    "", None, "   ", "hello", " +0.10 +0.20", " +0.10 abc +0.20 +0.30", " +0.1 nan +0.3",
    " +0.1 inf +0.2", " 1e999 1 1", " +0.1,+0.2,+0.3", " ++1 2 3", " - 1 2", 42,
])
def test_garbage_and_short_outputs_are_invalid(text):
    assert decode(text, {"loc": 0.0, "scale": 1.0}, horizon=3) == (None, False)


def test_zero_horizon_is_invalid():
    assert decode(" +1.00", {"loc": 0.0, "scale": 1.0}, horizon=0) == (None, False)
