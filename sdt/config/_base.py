from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class StrictModel(BaseModel):
    """Base of every config section: unknown keys are errors, values are checked on assignment.
    A number given where text is expected (``--set experiment.name=3.14``, ``tags: [2026]``)
    is that text."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, protected_namespaces=(),
                              coerce_numbers_to_str=True)
