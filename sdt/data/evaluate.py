"""Scoring multiple-choice answers (TSQA, HAR): the first option letter the model writes.

One definition for the trainer's accuracy and the search's ``accuracy`` metric and rewards.
"""

from __future__ import annotations

import re

OPTION_RE = re.compile(r"\(([a-d])\)")


def first_option(text: str | None) -> str | None:
    """The letter of the first ``(a)``..``(d)`` in ``text``; ``None`` when there is none.

    Lower case only, exactly as the prompts write the options; an empty or missing answer
    gives ``None`` (scored as wrong).

    >>> first_option(" (b) decreasing, not (a)")
    'b'
    >>> first_option("b") is None
    True
    """
    if not text:
        return None
    m = OPTION_RE.search(text)
    return m.group(1) if m else None


def is_correct(text: str | None, gold: str) -> bool:
    """Whether the first option in ``text`` is ``gold`` (no option = wrong)."""
    return first_option(text) == gold
