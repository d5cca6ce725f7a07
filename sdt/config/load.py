"""Reading, merging, overriding and validating configs, with errors that name file and key."""

from __future__ import annotations

import copy
import difflib
import typing
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from sdt.errors import ConfigError

M = TypeVar("M", bound=BaseModel)

# A config's values remember where they were set, so an error names the right file.
Sources = dict[str, str]


def load_yaml(path: str | Path) -> dict:
    """Parse one YAML file safely into a mapping (no Python tags, no empty files)."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(path, None, "an existing YAML file", hint="file not found")
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(path, None, "a readable UTF-8 YAML file", hint=str(exc)) from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(path, None, "valid YAML", hint=f"{where}{problem}") from None
    if data is None:
        raise ConfigError(path, None, "a mapping of config sections", hint="the file is empty")
    if not isinstance(data, dict):
        raise ConfigError(path, None, "a mapping of config sections", got=type(data).__name__)
    return data


def deep_merge(base: dict, override: dict) -> dict:
    """Mappings merge key by key; any other value (lists included) replaces the base's."""
    out = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def _flat_keys(data: dict, prefix: str = "") -> list[str]:
    keys = []
    for key, value in data.items():
        dotted = f"{prefix}{key}"
        keys.append(dotted)
        if isinstance(value, dict):
            keys.extend(_flat_keys(value, dotted + "."))
    return keys


def read_config_dict(path: str | Path, _seen: tuple[Path, ...] = ()) -> tuple[dict, Sources]:
    """Read a config file, resolving ``inherit:`` (relative to the file, chains allowed)."""
    path = Path(path)
    resolved = path.resolve()
    if resolved in _seen:
        chain = " -> ".join(str(p) for p in (*_seen, resolved))
        raise ConfigError(path, "inherit", "no inheritance cycle", hint=chain)
    data = load_yaml(path)
    parent = data.pop("inherit", None)
    sources: Sources = {}
    merged: dict = {}
    if parent is not None:
        parents = parent if isinstance(parent, list) else [parent]
        for p in parents:
            if not isinstance(p, str):
                raise ConfigError(path, "inherit", "a path (string) to another YAML file", got=p)
            ppath = (path.parent / p) if not Path(p).is_absolute() else Path(p)
            if not ppath.is_file():
                raise ConfigError(path, "inherit", "an existing YAML file", got=p,
                                  hint=f"looked for {ppath}")
            pdata, psources = read_config_dict(ppath, (*_seen, resolved))
            merged = deep_merge(merged, pdata)
            sources.update(psources)
    merged = deep_merge(merged, data)
    sources.update({k: str(path) for k in _flat_keys(data)})
    return merged, sources


def parse_set(item: str, source: str = "--set") -> tuple[str, Any]:
    """``"training.lr_encoder=1e-4"`` -> ``("training.lr_encoder", 0.0001)`` (YAML-typed value)."""
    if "=" not in item:
        raise ConfigError(source, item, "dotted.key=value")
    key, raw = item.split("=", 1)
    key = key.strip().lstrip("-")
    if not key or any(not part for part in key.split(".")):
        raise ConfigError(source, key or item, "a dotted key such as training.batch_size")
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError:
        value = raw
    value = _yaml_number(raw, value)
    return key, value


def _yaml_number(raw: str, value: Any) -> Any:
    # YAML 1.1 reads "1e-4" as a string; a researcher means the number.
    if isinstance(value, str):
        try:
            return float(raw) if any(c in raw.lower() for c in ".e") else int(raw)
        except ValueError:
            return value
    return value


def set_dotted(data: dict, key: str, value: Any, source: str = "--set") -> None:
    node = data
    parts = key.split(".")
    for i, part in enumerate(parts[:-1]):
        nxt = node.get(part)
        if nxt is None:
            nxt = node[part] = {}
        elif not isinstance(nxt, dict):
            raise ConfigError(source, ".".join(parts[: i + 1]),
                              "a section (mapping) to set a sub-key in", got=nxt)
        node = nxt
    node[parts[-1]] = value


def apply_overrides(data: dict, overrides: dict[str, Any] | list[str] | None,
                    sources: Sources | None = None, source: str = "--set") -> dict:
    """Return a copy of ``data`` with dotted overrides applied (a dict or ``key=value`` items)."""
    out = copy.deepcopy(data)
    if not overrides:
        return out
    items = [parse_set(o, source) for o in overrides] if isinstance(overrides, list) \
        else list(overrides.items())
    for key, value in items:
        set_dotted(out, key, value, source)
        if sources is not None:
            sources[key] = source
            for k in list(sources):
                if k.startswith(key + "."):
                    sources[k] = source
    return out


# ----------------------------------------------------------------------------- validation


def _unwrap(annotation):
    """Yield the BaseModel classes an annotation can hold (Optional, Union, Annotated, list)."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        yield from _unwrap(typing.get_args(annotation)[0])
    elif origin is not None:
        for arg in typing.get_args(annotation):
            yield from _unwrap(arg)
    elif isinstance(annotation, type) and issubclass(annotation, BaseModel):
        yield annotation


def _walk(schema: type[BaseModel], loc: tuple) -> tuple[list[str], list[type[BaseModel]]]:
    """Turn a pydantic error location into dotted key parts; return the models at the end."""
    parts: list[str] = []
    models = [schema]
    for item in loc:
        if not models:
            parts.append(str(item))
            continue
        if isinstance(item, int):
            parts.append(str(item))
            continue
        owners = [m for m in models if item in m.model_fields]
        if owners:
            parts.append(str(item))
            models = [c for m in owners for c in _unwrap(m.model_fields[item].annotation)]
            continue
        # A tagged-union member (discriminator value or class name): not part of the key.
        tagged = [m for m in models if item == m.__name__ or _tag_of(m) == item]
        if tagged:
            models = tagged
            continue
        parts.append(str(item))
        models = []
    return parts, models


def _tag_of(model: type[BaseModel]):
    for name in ("method", "name", "kind"):
        field = model.model_fields.get(name)
        if field is not None and typing.get_origin(field.annotation) is typing.Literal:
            args = typing.get_args(field.annotation)
            if len(args) == 1:
                return args[0]
    return None


def _expected(err: dict) -> str:
    kind = err["type"]
    ctx = err.get("ctx") or {}
    table = {
        "greater_than": lambda: f"a number > {ctx.get('gt')}",
        "greater_than_equal": lambda: f"a number >= {ctx.get('ge')}",
        "less_than": lambda: f"a number < {ctx.get('lt')}",
        "less_than_equal": lambda: f"a number <= {ctx.get('le')}",
        "literal_error": lambda: f"one of {ctx.get('expected')}",
        "int_parsing": lambda: "an integer",
        "int_from_float": lambda: "an integer",
        "int_type": lambda: "an integer",
        "float_parsing": lambda: "a number",
        "float_type": lambda: "a number",
        "bool_parsing": lambda: "true or false",
        "bool_type": lambda: "true or false",
        "string_type": lambda: "a string",
        "list_type": lambda: "a list",
        "dict_type": lambda: "a mapping (section)",
        "model_type": lambda: "a mapping (section)",
        "model_attributes_type": lambda: "a mapping (section)",
        "missing": lambda: "a value (this key is required)",
        "union_tag_invalid": lambda: f"one of {ctx.get('expected_tags')}",
        "union_tag_not_found": lambda: "a value (this key is required)",
    }
    if kind in table:
        return table[kind]()
    msg = err.get("msg", "a valid value")
    return msg[len("Value error, "):] if msg.startswith("Value error, ") else msg


def _source_for(key: str, sources: Sources, default: str) -> str:
    parts = key.split(".")
    for i in range(len(parts), 0, -1):
        k = ".".join(parts[:i])
        if k in sources:
            return sources[k]
    return default


def error_from_validation(exc: ValidationError, schema: type[BaseModel], file: str,
                          sources: Sources | None = None) -> ConfigError:
    """The first validation error as a ConfigError (file, dotted key, expected, suggestion)."""
    errors = exc.errors(include_url=False)
    # Prefer errors the user can act on (an unknown key) over knock-on ones.
    errors.sort(key=lambda e: e["type"] != "extra_forbidden")
    err = errors[0]
    parts, _ = _walk(schema, tuple(err["loc"]))
    if err["type"] in ("union_tag_invalid", "union_tag_not_found"):
        parts.append(str((err.get("ctx") or {}).get("discriminator", "")).strip("'"))
    key = ".".join(parts) or None
    src = _source_for(key or "", sources or {}, file)
    if err["type"] == "extra_forbidden":
        _, parents = _walk(schema, tuple(err["loc"][:-1]))
        valid = sorted({f for m in parents for f in m.model_fields})
        close = difflib.get_close_matches(parts[-1], valid, n=1, cutoff=0.6)
        hint = f"did you mean '{'.'.join(parts[:-1] + close)}'?" if close else (
            f"valid keys here: {', '.join(valid)}" if valid else None)
        return ConfigError(src, key, None, hint=f"unknown key; {hint}" if hint else "unknown key")
    got = err.get("input")
    if isinstance(got, dict) or err["type"] == "missing":
        got = None
    return ConfigError(src, key, _expected(err), got=got)


def validate(data: dict, schema: type[M], file: str = "<config>",
             sources: Sources | None = None) -> M:
    """``schema`` from ``data`` or a :class:`ConfigError`. Validators see the file and the
    sources as pydantic context (``info.context["file"]``, ``["sources"]``), so a key holding a
    path can be resolved relative to the file that wrote it (search configs' ``train``)."""
    try:
        return schema.model_validate(data, context={"file": str(file), "sources": sources or {}})
    except ValidationError as exc:
        raise error_from_validation(exc, schema, file, sources) from None


def load_config(path: str | Path, overrides: list[str] | dict | None = None,
                schema: type[M] | None = None) -> M:
    """Read ``path`` (with inherit), apply overrides, validate against ``schema``.

    >>> cfg = load_config("experiments/cpu/tiny.yaml", ["training.batch_size=4"])  # doctest: +SKIP
    """
    if schema is None:
        from sdt.config.schema import TrainConfig as schema  # noqa: N813
    data, sources = read_config_dict(path)
    data = apply_overrides(data, overrides, sources)
    return validate(data, schema, str(path), sources)
