"""Helpers shared by the search tests (a module of its own: ``conftest`` is not importable
under one name from two test folders)."""

import json

import numpy as np
from pydantic import TypeAdapter

from sdt.cli import main
from sdt.config.search import SearchSection

LAM = 1.0


def count_ones(ys):
    """The toy reward: 1.5 per token 1 (pi* spread over several sequences for toy seed 1)."""
    return np.array([1.5 * sum(1 for t in y if t == 1) for y in ys], dtype=float)


def search_cfg(**kw):
    return TypeAdapter(SearchSection).validate_python(kw)


def micro_train(name: str, dataset: dict, max_patches: int, **training) -> dict:
    """A training config for a micro model (one layer, width 32) that trains in seconds."""
    return {
        "seed": 0, "experiment": {"name": name}, "dataset": dataset,
        "model": {"tiny": {"hidden_size": 32, "num_layers": 1, "num_heads": 2,
                           "intermediate_size": 64},
                  "encoder": {"dim": 32, "num_layers": 1, "num_heads": 2,
                              "max_patches": max_patches}},
        "training": {"num_epochs": 1, "batch_size": 16, **training},
        "evaluation": {"metrics": ["loss"]},
        "device": {"type": "cpu"},
        "tracking": {"wandb": {"mode": "disabled"}},
    }


def search_cli(capsys, config, store, *sets) -> dict:
    """``sdt-sweep search CONFIG --json --store STORE --set ...``: its JSON line (exit 0)."""
    args = ["search", str(config), "--json", "--store", str(store)]
    for s in sets:
        args += ["--set", s]
    rc = main(args)
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert rc == 0, out
    return out
