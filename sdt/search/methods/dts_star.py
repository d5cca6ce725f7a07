"""``dts_star``: the ``dts`` tree; the output is the argmax path of the output rule, ending in
the leaf's best rollout."""

from __future__ import annotations

from sdt.search.methods._base import SearchContext
from sdt.search.methods.dts import DTS
from sdt.search.node import Node


class DTSStar(DTS):
    name = "dts_star"

    def output(self, ctx: SearchContext, root: Node) -> list[tuple]:
        return [self.descend(ctx, root, sample=False)]
