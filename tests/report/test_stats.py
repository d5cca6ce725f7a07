"""The report's statistics against scipy and statsmodels, and on data with a known answer."""

import math

import numpy as np
import pytest
from scipy import stats as sps

from sdt.report import stats


def test_mean_ci_is_scipys_stratified_bootstrap():
    rng = np.random.default_rng(1)
    groups = [rng.normal(i, 1, 16) for i in range(3)]
    mean, low, high = stats.mean_ci(groups, n_resamples=999, seed=7)

    def pooled(*s, axis=-1):
        return sum(x.sum(axis=axis) for x in s) / sum(x.shape[axis] for x in s)

    ref = sps.bootstrap(tuple(groups), pooled, n_resamples=999, method="BCa",
                        vectorized=True, random_state=np.random.default_rng(7))
    assert mean == pytest.approx(np.concatenate(groups).mean(), abs=1e-12)
    assert (low, high) == pytest.approx((ref.confidence_interval.low,
                                         ref.confidence_interval.high), abs=1e-12)


def test_mean_ci_odd_cases():
    assert stats.mean_ci([np.array([2.0, np.nan, 4.0])])[0] == 3.0  # NaN does not count
    assert all(math.isnan(x) for x in stats.mean_ci([np.array([np.nan])]))
    assert stats.mean_ci([np.array([1.5])]) == (1.5, 1.5, 1.5)
    assert stats.mean_ci([np.array([3.0, 3.0]), np.array([3.0])]) == (3.0, 3.0, 3.0)
    # seeds of one value each (run-level metrics): the seeds are the sample
    mean, low, high = stats.mean_ci([np.array([1.0]), np.array([2.0]), np.array([4.0])])
    assert mean == pytest.approx(7 / 3) and low < mean < high


def test_ci_covers_the_true_mean_at_about_the_nominal_rate():
    rng = np.random.default_rng(0)
    sims, hits = 300, 0
    for _ in range(sims):
        # three seeds with their own offsets (the strata), 16 skewed query values each
        groups = [rng.exponential(1.0, 16) + off for off in (-0.2, 0.0, 0.2)]
        _, low, high = stats.mean_ci(groups, n_resamples=999, seed=int(rng.integers(1 << 30)))
        hits += low <= 1.0 <= high
    coverage = hits / sims
    assert 0.90 <= coverage <= 0.985, coverage


def test_paired_wilcoxon_matches_scipy_and_the_effect_size():
    rng = np.random.default_rng(3)
    d = [rng.normal(0.4, 1, 16) for _ in range(3)]
    flat = np.concatenate(d)
    res = stats.paired_test(d)
    assert res.n == 48 and res.diff == pytest.approx(flat.mean())
    assert res.p == pytest.approx(sps.wilcoxon(flat).pvalue)
    ranks = sps.rankdata(np.abs(flat))
    r = (ranks[flat > 0].sum() - ranks[flat < 0].sum()) / ranks.sum()
    assert res.effect == pytest.approx(r)
    t = stats.paired_test(d, test="t")
    assert t.p == pytest.approx(sps.ttest_rel(flat + 1.0, np.ones_like(flat)).pvalue)
    assert t.effect == pytest.approx(flat.mean() / flat.std(ddof=1))


def test_paired_test_odd_cases():
    zero = stats.paired_test([np.zeros(8)])
    assert zero.p == 1.0 and zero.diff == 0.0
    assert math.isnan(stats.paired_test([np.array([0.3])]).p)
    with pytest.raises(ValueError):
        stats.paired_test([np.ones(4)], test="anova")


def test_holm_equals_statsmodels():
    from statsmodels.stats.multitest import multipletests

    rng = np.random.default_rng(4)
    for m in (1, 2, 7, 40):
        p = rng.uniform(0, 0.2, m) ** 2
        p[rng.integers(m)] = p[0]  # ties
        assert stats.holm(p) == pytest.approx(multipletests(p, method="holm")[1], rel=1e-12)


def test_holm_by_hand_and_nan():
    # sorted p: 0.01*3 = 0.03; max(0.03, 0.03*2) = 0.06; max(0.06, 0.04*1) = 0.06
    assert stats.holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
    out = stats.holm([0.02, float("nan"), 0.5])
    assert out[0] == pytest.approx(0.04) and math.isnan(out[1]) and out[2] == pytest.approx(0.5)


def test_clear_effect_significant_after_holm_null_effects_not():
    rng = np.random.default_rng(11)
    alpha = 0.05
    families = 0
    clear_hits = null_hits = 0
    for _ in range(20):
        clear = stats.paired_test([rng.normal(0.8, 1, 16) for _ in range(3)], n_resamples=99)
        nulls = [stats.paired_test([rng.normal(0.0, 1, 16) for _ in range(3)], n_resamples=99)
                 for _ in range(5)]
        adjusted = stats.holm([clear.p] + [n.p for n in nulls])
        families += 1
        clear_hits += adjusted[0] < alpha
        null_hits += (adjusted[1:] < alpha).any()
    assert clear_hits == families  # 0.8 sd on 48 pairs: power ~1 even after Holm
    # family-wise error of the five nulls held near alpha (binomial 20 x 0.05: <= 4 by far)
    assert null_hits <= 4, null_hits


def test_false_positive_rate_of_the_test_is_alpha():
    rng = np.random.default_rng(5)
    ps = np.array([stats.paired_test([rng.normal(0, 1, 16) for _ in range(3)],
                                     n_resamples=99).p for _ in range(300)])
    assert 0.02 <= (ps < 0.05).mean() <= 0.09


def test_crossing_reads_the_budget_off_the_curve():
    budgets = np.array([5.0, 10.0, 20.0, 50.0])
    curve = np.array([0.1, 0.2, 0.4, 0.5])
    pos = stats.crossing(budgets, curve, 0.3)
    assert pos == pytest.approx(1.5)
    assert stats.at_index(budgets, pos) == pytest.approx(math.sqrt(10 * 20))  # geometric
    assert stats.crossing(budgets, curve, 0.05) == 0.0
    assert stats.crossing(budgets, curve, 0.9) == math.inf
    assert math.isnan(stats.at_index(budgets, math.inf))
    assert stats.crossing(budgets, curve[::-1], 0.45, higher_is_better=False) == \
        pytest.approx(0.5)  # 0.5 -> 0.4: halfway


def test_stratified_indices_keep_each_seed_in_place():
    strata = np.array([0, 0, 0, 1, 1, 2])
    idx = stats.stratified_indices(strata, 50, seed=1)
    assert idx.shape == (50, 6)
    assert np.all(strata[idx] == strata)  # every draw stays within its seed


def test_mean_cis_in_one_batch_equal_one_call_each():
    rng = np.random.default_rng(2)
    samples = [[rng.normal(i, 1, 16) for _ in range(3)] for i in range(4)]
    samples.append([np.full(16, 2.0)] * 3)  # constant: its own path
    samples.append([rng.normal(0, 1, 5), rng.normal(0, 1, 7)])  # other strata sizes
    batched = np.array(stats.mean_cis(samples))
    single = np.array([stats.mean_ci(s) for s in samples])
    assert np.allclose(batched, single, rtol=1e-12, atol=0)
