"""Property tests of expansion (hypothesis): counts are the formulas, dedupe ignores order."""

from __future__ import annotations

import math

from hypothesis import given, settings
from hypothesis import strategies as st

from sdt.sweep.expand import count_points, expand
from sdt.sweep.spec import SweepSpec

# Keys of the sleep config that take distinct values without interfering with each other.
KEYS = {
    "sleep.tag": st.integers(-50, 50),
    "sleep.seconds": st.integers(0, 50),
    "experiment.name": st.text("abcdef", min_size=1, max_size=3),
    "experiment.notes": st.text("xyz", max_size=3),
    "output_dir": st.sampled_from(["r1", "r2", "r3", "r4", "r5"]),
}

PROPERTY = settings(max_examples=40, deadline=None, database=None)  # nothing written to the repo


def values_for(key):
    return st.lists(KEYS[key], min_size=1, max_size=4, unique=True)


@st.composite
def grids(draw, min_keys=1):
    keys = draw(st.lists(st.sampled_from(sorted(KEYS)), min_size=min_keys, max_size=3,
                         unique=True))
    return {k: draw(values_for(k)) for k in keys}


def make(studies, **extra) -> SweepSpec:
    return SweepSpec.model_validate({"name": "p", "experiment": "sleep", "studies": studies,
                                     **extra})


@PROPERTY
@given(grids(), st.lists(st.integers(0, 9), min_size=1, max_size=3, unique=True))
def test_grid_count_is_the_product(grid, seeds):
    plan = expand(make({"g": {"grid": grid}}, seeds=seeds))
    expected = math.prod(len(v) for v in grid.values()) * len(seeds)
    assert len(plan.runs) == expected == plan.points["g"] == plan.counts["g"]
    assert plan.duplicates == 0


@st.composite
def ofat(draw):
    grid = draw(grids())
    baseline = {k: draw(KEYS[k]) for k in grid}
    return grid, baseline


@PROPERTY
@given(ofat())
def test_ofat_count_is_one_plus_non_baseline_values(case):
    vary, baseline = case
    plan = expand(make({"o": {"vary": vary}}, baseline=baseline))
    expected = 1 + sum(sum(v != baseline[k] for v in values) for k, values in vary.items())
    assert len(plan.runs) == expected == count_points(make({"o": {"vary": vary}},
                                                           baseline=baseline))["o"]
    # every run differs from the baseline point in at most one factor
    centre = {k: baseline[k] for k in vary}
    for run in plan.runs:
        assert sum(run.overrides[k] != centre[k] for k in vary) <= 1


@PROPERTY
@given(st.lists(grids(), min_size=1, max_size=4), st.randoms(use_true_random=False))
def test_dedupe_is_stable_under_reordering_of_keys_and_studies(study_grids, rnd):
    studies = {f"s{i}": {"grid": g} for i, g in enumerate(study_grids)}
    plan = expand(make(studies))

    names = list(studies)
    rnd.shuffle(names)
    shuffled = {}
    for name in names:
        items = list(studies[name]["grid"].items())
        rnd.shuffle(items)
        shuffled[name] = {"grid": {k: list(reversed(v)) for k, v in items}}
    again = expand(make(shuffled))

    tags = {r.run_id: r.studies for r in plan.runs}
    assert tags == {r.run_id: r.studies for r in again.runs}
    assert plan.duplicates == again.duplicates
    total = sum(math.prod(len(v) for v in g.values()) for g in study_grids)
    assert len(plan.runs) + plan.duplicates == total
    # a run carries exactly the studies whose own expansion contains it
    for name, study in studies.items():
        ids = {r.run_id for r in expand(make({name: study})).runs}
        assert ids == {rid for rid, names in tags.items() if name in names}


@PROPERTY
@given(st.integers(1, 30), st.integers(0, 2**31))
def test_random_draws_n_points_reproducibly(n, seed):
    study = {"r": {"random": {"n": n, "seed": seed, "params": {
        "sleep.seconds": {"uniform": [0, 2]}, "sleep.tag": {"int": [0, 10**9]}}}}}
    a, b = expand(make(study)), expand(make(study))
    assert [r.run_id for r in a.runs] == [r.run_id for r in b.runs]
    assert len(a.runs) + a.duplicates == n
    assert all(0 <= r.config.sleep.seconds <= 2 for r in a.runs)
