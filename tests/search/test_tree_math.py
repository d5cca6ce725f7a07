"""The soft backup and selection rules as pure functions."""

import math

import numpy as np
import pytest

from sdt.search.node import trie_stats
from sdt.search.tree import maxent_bonus, soft_backup, soft_probs, uct_scores


def test_soft_backup_is_the_soft_bellman_expectation():
    p = np.array([0.2, 0.5, 0.3])
    v = np.array([1.0, -2.0, 0.5])
    lam = 0.7
    expected = math.log(float(np.dot(p, np.exp(lam * v)))) / lam
    assert soft_backup(p, v, lam) == pytest.approx(expected, abs=1e-12)
    # unnormalised weights (the renormalised prior p̂, or counts proportional to p)
    assert soft_backup(10 * p, v, lam) == pytest.approx(expected, abs=1e-12)
    assert soft_backup([200, 500, 300], v, lam) == pytest.approx(expected, abs=1e-12)


def test_soft_backup_of_a_constant_is_the_constant_and_is_stable():
    assert soft_backup([0.1, 0.9], [3.0, 3.0], 5.0) == pytest.approx(3.0, abs=1e-12)
    assert soft_backup([0.5, 0.5], [1000.0, 1000.0], 50.0) == pytest.approx(1000.0)
    assert soft_backup([1.0, 0.0], [2.0, 99.0], 1.0) == pytest.approx(2.0)  # weight 0 drops out


def test_soft_backup_tends_to_max_and_mean():
    p, v = np.array([0.9, 0.1]), np.array([0.0, 1.0])
    assert soft_backup(p, v, 1e-6) == pytest.approx(0.1, abs=1e-5)
    assert soft_backup(p, v, 1e4) == pytest.approx(1.0, abs=1e-3)


def test_soft_probs_are_the_tilted_weights():
    w = np.array([0.5, 0.3, 0.2])
    values = np.array([1.0, 0.25, -1.0])
    lam = 2.0
    scores = w * np.exp(lam * values)
    np.testing.assert_allclose(soft_probs(w, values, lam), scores / scores.sum(), rtol=1e-12)
    # unnormalised weights and a common shift of the values change nothing; weight 0 is 0
    np.testing.assert_allclose(soft_probs(7 * w, values + 100.0, lam), scores / scores.sum(),
                               rtol=1e-9)
    assert soft_probs([1.0, 0.0], [0.0, 50.0], lam) == [1.0, 0.0]
    bonus = [0.0, math.log(2.0), 0.0]
    scores[1] *= 2
    np.testing.assert_allclose(soft_probs(w, values, lam, bonus), scores / scores.sum())


def test_uct_tries_unvisited_first_and_bonus_vanishes_at_zero():
    s = uct_scores([1.0, 0.0, 0.0], [3, 1, 0], 4, 1.0)
    assert s[2] == np.inf and s[1] == pytest.approx(math.sqrt(math.log(4)))
    assert np.all(maxent_bonus([1, 2], 3, 0.0) == 0)


def test_trie_stats():
    st = trie_stats([(1, 2), (1, 3), ()])
    assert st == {"nodes": 4.0, "max_depth": 2.0, "mean_branching": 1.5}


def test_top_k_orders_by_probability_then_id():
    from sdt.search.tree import top_k

    logp = np.log([0.1, 0.3, 0.3, 0.05, 0.25])
    assert top_k(logp, 3).tolist() == [1, 2, 4]
    assert top_k(logp, 10).tolist() == [1, 2, 4, 0, 3]
