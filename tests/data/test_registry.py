"""The data set registry covers every dataset variant of the config."""

import typing

import pytest

from sdt.config.schema import Dataset, TSQADataset
from sdt.data import BUILDERS, build_dataset


def test_every_config_variant_has_a_builder():
    variants = typing.get_args(typing.get_args(Dataset)[0])
    names = {v.model_fields["name"].default for v in variants}
    assert names == set(BUILDERS)


def test_unknown_split_is_rejected():
    with pytest.raises(ValueError, match="split"):
        build_dataset(TSQADataset(), "dev", seed=0)
