"""The option regex behind TSQA/HAR accuracy."""

import pytest

from sdt.data.evaluate import first_option, is_correct


@pytest.mark.parametrize("text, letter", [
    (" (b)", "b"),
    ("(a) increasing", "a"),
    (" answer: (c) or (a)", "c"),
    ("(d)", "d"),
    ("(b(c)", "c"),
    ("", None),
    (None, None),
    ("b", None),
    ("(e) (A)", None),
    (" ( b )", None),
])
def test_first_option(text, letter):
    assert first_option(text) == letter


def test_is_correct():
    assert is_correct(" (a) flat", "a")
    assert not is_correct(" (b) (a)", "a")
    assert not is_correct("", "a")
