"""The search section: keys that do not apply to the method are errors naming the key."""

import pytest

from sdt.config import StrictModel, validate
from sdt.config.search import METHODS, SearchSection
from sdt.errors import ConfigError


class Root(StrictModel):
    search: SearchSection


def check(search: dict):
    return validate({"search": search}, Root, "exp.yaml").search


def test_every_method_validates_with_defaults():
    for m in METHODS:
        assert check({"method": m}).method == m


@pytest.mark.parametrize("method,key", [("greedy", "alpha"), ("greedy", "num_rollouts"),
                                        ("dts", "alpha"), ("maxent_ts", "sadt_loss"),
                                        ("mcts", "lam"), ("dts_star", "num_samples"),
                                        ("sample", "expansion_k")])
def test_key_not_for_this_method_is_named(method, key):
    with pytest.raises(ConfigError) as err:
        check({"method": method, key: 1})
    assert err.value.key == f"search.{key}"
    assert "exp.yaml" in str(err.value)


@pytest.mark.parametrize("search,key", [({"method": "dts", "lam": 0}, "search.lam"),
                                        ({"method": "mcts", "expansion_k": 0},
                                         "search.expansion_k"),
                                        ({"method": "sadt", "alpha": 1.5}, "search.alpha"),
                                        ({"method": "sadt", "sadt_loss": "kl"},
                                         "search.sadt_loss"),
                                        ({"method": "sadt", "value_head": {"hiden": 3}},
                                         "search.value_head.hiden"),
                                        ({"method": "beam"}, "search.method")])
def test_bad_values_are_named(search, key):
    with pytest.raises(ConfigError) as err:
        check(search)
    assert err.value.key == key


def test_best_of_n_ensemble_fits_the_budget():
    assert check({"method": "best_of_n", "num_rollouts": 4, "num_samples": 4}).num_samples == 4
    with pytest.raises(ConfigError) as err:
        check({"method": "best_of_n", "num_rollouts": 4, "num_samples": 5})
    assert err.value.key == "search.num_samples"
    assert "num_rollouts" in str(err.value)
