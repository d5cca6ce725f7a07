"""sdt: ablation and sweep experiment manager for SpecDiffTree (S-ADT) research.

Heavy libraries (torch, transformers, wandb) are imported where they are used, so importing
``sdt`` and running ``sdt-sweep --help`` stay fast.
"""

__version__ = "0.1.0"


def __getattr__(name):
    # ``sdt.results`` is the pandas API over the store; imported lazily (pandas, SQLAlchemy).
    if name == "results":
        from sdt.sweep import results

        return results
    raise AttributeError(f"module 'sdt' has no attribute {name!r}")
