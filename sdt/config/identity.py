"""Run identity: a stable hash of a canonical resolved config."""

from __future__ import annotations

import hashlib
import json
import math


def _norm(value):
    if isinstance(value, dict):
        return {str(k): _norm(v) for k, v in sorted(value.items(), key=lambda kv: str(kv[0]))}
    if isinstance(value, (list, tuple)):
        return [_norm(v) for v in value]
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        if math.isfinite(value) and value == int(value) and abs(value) < 2**53:
            return int(value)  # 1.0 and 1 are the same setting
        return float(repr(value)) if math.isfinite(value) else repr(value)
    return str(value)


def canonical(config: dict) -> str:
    """Canonical JSON text of a config: sorted keys, 1.0 == 1, no whitespace."""
    return json.dumps(_norm(config), sort_keys=True, separators=(",", ":"))


def config_hash(config: dict, length: int = 12) -> str:
    """Hex digest identifying a resolved config (the seed is part of the config)."""
    return hashlib.sha256(canonical(config).encode()).hexdigest()[:length]
