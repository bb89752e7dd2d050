"""The shortest form of a normalised definition: every field equal to the default the server writes back
left out, at any depth, following the server's model, keys in the model's order. Normalising it gives the
definition back (the writers check that, and fall back to the full form where it does not)."""

from __future__ import annotations

from typing import Any

from idflow.kinds.server_model import MODEL, Struct, element_type


def minimal(struct: Struct, value: Any) -> Any:
    if not isinstance(value, dict):
        return value
    result: dict[str, Any] = {}
    ordered = [k for k in struct.fields if k in value] + [k for k in value if k not in struct.fields]
    for key in ordered:  # the model's order: the same file whatever order the server answered in
        item = value[key]
        field = struct.fields.get(key)
        if field is None:
            result[key] = item
            continue
        if item is None or (field.has_default and _is_default(item, field.default)):
            continue
        result[key] = _typed(field.type, item)
    return result


def _is_default(item: Any, default: Any) -> bool:
    """``item == default``, also for a frozen body's list (a tuple) against a list default."""
    return item == default or (isinstance(item, tuple) and isinstance(default, list) and list(item) == default)


def _typed(type_: str, value: Any) -> Any:
    if type_ in MODEL:
        return minimal(MODEL[type_], value)
    container = element_type(type_)
    if container is not None:
        kind, inner = container
        if kind == "list" and isinstance(value, list | tuple):  # a frozen body's lists are tuples
            return [_typed(inner, item) for item in value]
        if kind == "map" and isinstance(value, dict):
            return {k: _typed(inner, item) for k, item in value.items()}
    return value
