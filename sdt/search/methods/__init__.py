"""The search methods, registered by name (``search.method``). A new method is one module
with a :class:`Method` subclass and one line here."""

from __future__ import annotations

from sdt.search.methods._base import Method, SearchContext
from sdt.search.methods.best_of_n import BestOfN
from sdt.search.methods.dts import DTS
from sdt.search.methods.dts_star import DTSStar
from sdt.search.methods.greedy import Greedy
from sdt.search.methods.maxent_ts import MaxEntTS
from sdt.search.methods.mcts import MCTS
from sdt.search.methods.sadt import SADT
from sdt.search.methods.sample import Sample

METHODS: dict[str, type[Method]] = {m.name: m for m in (
    Greedy, Sample, BestOfN, MCTS, DTS, DTSStar, MaxEntTS, SADT)}

TREE_METHODS = ("mcts", "dts", "dts_star", "maxent_ts", "sadt")


def get_method(name: str) -> type[Method]:
    """The method class registered as ``name``."""
    try:
        return METHODS[name]
    except KeyError:
        raise ValueError(f"unknown search method {name!r}; known: {', '.join(METHODS)}") from None


__all__ = ["METHODS", "TREE_METHODS", "Method", "SearchContext", "get_method"]
