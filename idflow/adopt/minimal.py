"""The shortest form of a normalised definition: every field equal to the default the server writes back
left out, at any depth, following the server's model, keys in the model's order. Normalising it gives the
definition back (the writers check that, and fall back to the full form where it does not)."""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import Any

from idflow.kinds.server_model import MODEL, Struct, element_type


def minimal(struct: Struct, value: Any) -> Any:
    if MODEL.get(struct.name) is not struct:
        raise ValueError(f"{struct.name} is not a structure of the server's model")
    return _shortener(struct.name)(value)


_Short = Callable[[Any], Any]


@cache
def _shortener(name: str) -> _Short:
    """``minimal`` for one structure, compiled once: the field rules are looked up here, not per value."""
    fields = MODEL[name].fields
    rules: dict[str, tuple[bool, Any, _Short | None]] = {}  # filled on first use: structures nest themselves

    def short(value: Any) -> Any:
        if not isinstance(value, dict):
            return value
        if not rules:
            rules.update({k: (f.has_default, f.default, _converter(f.type)) for k, f in fields.items()})
        result: dict[str, Any] = {}
        for key, (has_default, default, convert) in rules.items():  # the model's order, whatever the answer's
            if key not in value:
                continue
            item = value[key]
            if item is None or (has_default and _is_default(item, default)):
                continue
            result[key] = item if convert is None else convert(item)
        for key, item in value.items():
            if key not in fields:
                result[key] = item
        return result

    return short


@cache
def _converter(type_: str) -> _Short | None:
    """What a value of ``type_`` becomes (None: itself)."""
    if type_ in MODEL:
        return _shortener(type_)
    container = element_type(type_)
    if container is None:
        return None
    kind, inner = container
    each = _converter(inner) or _itself
    if kind == "list":  # a frozen body's lists are tuples
        return lambda v: [each(x) for x in v] if isinstance(v, list | tuple) else v
    return lambda v: {k: each(x) for k, x in v.items()} if isinstance(v, dict) else v


def _itself(value: Any) -> Any:
    return value


def _is_default(item: Any, default: Any) -> bool:
    """``item == default``, also for a frozen body's list (a tuple) against a list default."""
    return item == default or (isinstance(item, tuple) and isinstance(default, list) and list(item) == default)
