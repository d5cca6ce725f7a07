"""Experiment kinds that live with the sweep engine (``sleep``: tests and benchmarks)."""
