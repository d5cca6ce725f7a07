"""Typed, validated configuration: YAML in, pydantic object out, dumped next to every run.

``load_config(path, overrides, schema)`` reads a YAML file (with ``inherit:``), applies
``--set dotted.key=value`` overrides and validates against ``schema``; every problem is a
:class:`sdt.errors.ConfigError` naming the file, the dotted key, what was expected and the
closest valid key.
"""

from sdt.config._base import StrictModel
from sdt.config.identity import canonical, config_hash
from sdt.config.load import (
    apply_overrides,
    load_config,
    load_yaml,
    parse_set,
    read_config_dict,
    validate,
)
from sdt.config.schema import TrainConfig

__all__ = [
    "StrictModel",
    "TrainConfig",
    "apply_overrides",
    "canonical",
    "config_hash",
    "load_config",
    "load_yaml",
    "parse_set",
    "read_config_dict",
    "validate",
]
