"""Numbers as the report prints them, and the sentences it writes from them: one per claim,
nothing the numbers do not say."""

from __future__ import annotations

import math

from sdt.report.stats import MIN_SEEDS

TESTS = {"wilcoxon": ("Wilcoxon signed-rank", "rank-biserial r"), "t": ("paired t", "d_z")}


def num(x) -> str:
    """Four significant digits, integers above 10^4 in full; NaN as ``-``."""
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "-" if x is None or math.isnan(x) else ("inf" if x > 0 else "-inf")
    x = float(x)
    if abs(x) >= 1e4:
        return f"{x:.0f}"
    return f"{x:.4g}"


def signed(x) -> str:
    s = num(x)
    return s if s.startswith("-") or s == "-" else f"+{s}"


def pval(p) -> str:
    if p is None or not math.isfinite(p):
        return "-"
    return f"{p:.2g}"


def ci(low, high) -> str:
    return f"[{num(low)}, {num(high)}]"


def sample_size(n_seeds: int, n_queries: int) -> str:
    seeds = f"{n_seeds} seed{'s' if n_seeds != 1 else ''}"
    return f"{seeds} x {n_queries} queries" if n_queries else seeds


def comparison(rec: dict, baseline: str, alpha: float) -> str:
    """``sadt vs greedy: reward +0.21 [0.12, 0.30], p_holm = 0.003 (...), 3 seeds x 16
    queries; significant at alpha = 0.05 after Holm.``"""
    name, effect = TESTS.get(rec["test"], (rec["test"], "effect"))
    verdict = ("significant" if rec["significant"] else "not significant") + \
        f" at alpha = {alpha:g} after Holm"
    panel = f" [{rec['panel']}]" if rec["panel"] else ""
    text = (f"{rec['row']} vs {baseline}{panel}: {rec['metric']} {signed(rec['diff'])} "
            f"{ci(rec['diff_low'], rec['diff_high'])}, p_holm = {pval(rec['p_holm'])} "
            f"({name}, {effect} = {num(rec['effect'])}), "
            f"{sample_size(rec['n_seeds'], rec['n_queries'])}; {verdict}.")
    if rec["n_seeds"] < MIN_SEEDS:
        text += f" Warning: fewer than {MIN_SEEDS} seeds."
    return text


def claim(c, budget_name: str) -> str:
    group = f" [{c.group}]" if c.group else ""
    size = sample_size(c.n_seeds, c.n_queries)
    head = (f"{c.candidate}{group} against {c.reference}'s reward at {num(c.reference_budget)} "
            f"{budget_name} ({num(c.target)})")
    warn = f" Warning: fewer than {MIN_SEEDS} seeds." if c.n_seeds < MIN_SEEDS else ""
    if not c.reached:
        return f"{head}: not reached within {budget_name} {c.budgets}, {size}.{warn}"
    ratio = c.reference_nfe / c.nfe if c.nfe and math.isfinite(c.nfe) and c.nfe > 0 else math.nan
    return (f"{head}: reached at {num(c.budget)} {budget_name} {budget_ci(c)}, NFE {num(c.nfe)} "
            f"{ci(c.nfe_low, c.nfe_high)} against {num(c.reference_nfe)} "
            f"({num(ratio)}x fewer), {size}.{warn}")


def budget_ci(c) -> str:
    high = num(c.budget_high) if math.isfinite(c.budget_high) else "not reached"
    return f"[{num(c.budget_low)}, {high}]"
