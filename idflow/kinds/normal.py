"""The canonical form of definitions: what plans compare.

Local definitions and the server's answers both go through the same function, so a definition the
server stored and returned compares equal to the one it was made from. Both follow the server's model
(``idflow.kinds.server_model``): server-owned fields are dropped, the defaults the server writes back are
filled in, and fields the server does not keep are left out (the file readers report them).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterator
from functools import cache
from typing import Any

from idflow import jsontext
from idflow.kinds.server_model import AUDIT_FIELDS, MODEL, SCHEMA_DEF, TASK_DEF, UNSET, Struct, element_type
from idflow.kinds.server_model import RETRY_LOGICS as RETRY_LOGICS
from idflow.kinds.server_model import TIMEOUT_POLICIES as TIMEOUT_POLICIES

SERVER_OWNED_FIELDS = AUDIT_FIELDS

#: Task definition fields the server keeps that a task file cannot set yet: left out of comparisons.
TASKDEF_NOT_SETTABLE = frozenset({"runtimeMetadata", "taskStatusListenerEnabled"})

# What conductor-oss writes back for a task def field that was not set (from ``idflow.kinds.server_model``).
TASKDEF_DEFAULTS: dict[str, Any] = {
    k: f.default for k, f in TASK_DEF.fields.items() if f.has_default and k not in TASKDEF_NOT_SETTABLE
}
# Fields that are absent (null) unless set.
TASKDEF_OPTIONAL_FIELDS = tuple(
    k for k, f in TASK_DEF.fields.items() if not f.has_default and k != "name" and k not in TASKDEF_NOT_SETTABLE
)
TASKDEF_FIELDS = ("name", *TASKDEF_DEFAULTS, *TASKDEF_OPTIONAL_FIELDS)

# A task def's inputSchema/outputSchema (SchemaDef): the server drops other keys and adds its own.
SCHEMA_FIELDS = tuple(SCHEMA_DEF.fields)
SCHEMA_TYPES = SCHEMA_DEF.fields["type"].choices


def snake_to_camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.capitalize() for part in rest)


def camel_to_snake(name: str) -> str:
    return re.sub(r"(?<!^)([A-Z])", r"_\1", name).lower()


# The decorator keywords that set task definition fields: snake_case of every field but the name.
TASKDEF_KEYWORDS: dict[str, str] = {camel_to_snake(f): f for f in TASKDEF_FIELDS if f != "name"}


def normalise_taskdef(definition: dict[str, Any]) -> dict[str, Any]:
    """Return the canonical form of one task definition (server JSON shape, camelCase)."""
    result = {"name": definition.get("name")}
    result.update(normalise_struct(TASK_DEF, definition, skip=TASKDEF_NOT_SETTABLE | {"name"}))
    return result


def normalise_schema(schema: Any) -> Any:
    """A SchemaDef as the server stores it: its own fields only, version 1 when unset."""
    return normalise_struct(SCHEMA_DEF, schema)


#: Where a value is in a definition: keys and list indexes.
Path = tuple[str | int, ...]
#: One field a structure does not model: where it was (the field last) and in what structure.
Ignored = tuple[Path, str]


def _is_empty(value: Any) -> bool:
    return not value and isinstance(value, str | dict | list)


def normalise_struct(
    struct: Struct,
    value: Any,
    *,
    ignored: list[Ignored] | None = None,
    path: tuple[str | int, ...] = (),
    skip: frozenset[str] = frozenset(),
) -> Any:
    """``value`` as the server keeps it, following ``idflow.kinds.server_model``: fields it does not model
    are left out (and added to ``ignored``), server-owned fields too, defaults are filled in. A null
    counts as unset, and so does an empty string, map or list in a field without a default. Values
    that are not of the model's shape are kept as they are (the readers report them)."""
    if not path and MODEL.get(struct.name) is struct:  # the same, compiled once per structure
        if ignored is not None:
            _unmodelled(struct.name, skip)(value, (), ignored)
        return _normaliser(struct.name, skip)(value)
    if not isinstance(value, dict):
        return json_copy(value)
    result: dict[str, Any] = {}
    for key, item in value.items():
        if key in struct.server_owned or key in skip:
            continue
        field = struct.fields.get(key)
        if field is None:
            if ignored is not None:
                ignored.append(((*path, key), struct.name))
            continue
        if item is None:
            continue
        if not field.has_default and field.type not in MODEL and _is_empty(item):
            continue
        result[key] = _typed(field.type, item, (*path, key), ignored)
    for key, field in struct.fields.items():
        if key not in result and key not in skip and field.default is not UNSET:
            result[key] = json_copy(field.default)
    return result


def model_values(struct: Struct, value: Any, path: Path = ()) -> Iterator[tuple[Path, str, Any]]:
    """Every field of the model set in ``value``, at any depth: ``(path, structure name, value)``."""
    if not isinstance(value, dict):
        return
    for key, item in value.items():
        field = struct.fields.get(key)
        if field is None:
            continue
        yield (*path, key), struct.name, item
        yield from _typed_values(field.type, item, (*path, key))


def _typed_values(type_: str, value: Any, path: Path) -> Iterator[tuple[Path, str, Any]]:
    if type_ in MODEL:
        yield from model_values(MODEL[type_], value, path)
        return
    container = element_type(type_)
    if container is not None:
        kind, inner = container
        if kind == "list" and isinstance(value, list):
            for i, item in enumerate(value):
                yield from _typed_values(inner, item, (*path, i))
        elif kind == "map" and isinstance(value, dict):
            for k, item in value.items():
                yield from _typed_values(inner, item, (*path, k))


#: What a value of each primitive type of the model is, in words (the JSON schemas use the same types).
_TYPE_WORDS = {
    "string": "a string",
    "integer": "a whole number",
    "boolean": "true or false",
    "object": "a mapping",
}


def _is_type(type_: str, value: Any) -> bool:
    if type_ == "string":
        return isinstance(value, str)
    if type_ == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if type_ == "boolean":
        return isinstance(value, bool)
    if type_ == "object" or type_ in MODEL:
        return isinstance(value, dict)
    container = element_type(type_)
    if container is not None:
        return isinstance(value, list if container[0] == "list" else dict)
    return True  # "any"


def type_words(type_: str) -> str:
    if type_ in MODEL:
        return "a mapping"
    container = element_type(type_)
    if container is not None:
        return "a list" if container[0] == "list" else "a mapping"
    return _TYPE_WORDS.get(type_, "any value")


def type_problems(struct: Struct, value: Any, path: Path = ()) -> Iterator[tuple[Path, str]]:
    """Every field set in ``value`` (at any depth) whose value the server would refuse or change: of
    another type than the model's (the server answers 500, or converts ``"600"`` to 600, which then
    differs from the file forever), or not one of its choices. ``(path, message)``; nulls are unset."""
    if not isinstance(value, dict):
        return
    for key, item in value.items():
        field = struct.fields.get(key)
        if field is None or key in struct.server_owned or item is None:
            continue
        where = (*path, key)
        if not any(_is_type(t, item) for t in (field.type, *field.alternatives)):
            words = " or ".join(type_words(t) for t in (field.type, *field.alternatives))
            yield where, f"must be {words}, not {_value_words(item)}"
        elif field.choices and item not in field.choices:
            yield where, f"must be one of {', '.join(field.choices)}, not {item!r}"
        else:
            yield from _typed_problems(field.type, item, where)


def _typed_problems(type_: str, value: Any, path: Path) -> Iterator[tuple[Path, str]]:
    if type_ in MODEL:
        yield from type_problems(MODEL[type_], value, path)
        return
    container = element_type(type_)
    if container is None:
        return
    kind, inner = container
    items = enumerate(value) if kind == "list" and isinstance(value, list) else ()
    if kind == "map" and isinstance(value, dict):
        items = value.items()
    for k, item in items:
        if inner == "WorkflowTask" and not isinstance(item, dict):
            continue  # a task that is not a mapping: validate_workflows says so, with the tasks' other problems
        if not _is_type(inner, item):
            yield (*path, k), f"must be {type_words(inner)}, not {_value_words(item)}"
        else:
            yield from _typed_problems(inner, item, (*path, k))


def _value_words(value: Any) -> str:
    if isinstance(value, bool):
        return f"{str(value).lower()} (true/false)"
    if isinstance(value, str):
        return f"the string {value!r}"
    if isinstance(value, int | float):
        return f"the number {value!r}"
    return {list: "a list", dict: "a mapping", type(None): "null"}.get(type(value), type(value).__name__)


def _typed(type_: str, value: Any, path: tuple[str | int, ...], ignored: list[Ignored] | None) -> Any:
    if type_ in MODEL:
        return normalise_struct(MODEL[type_], value, ignored=ignored, path=path)
    container = element_type(type_)
    if container is not None:
        kind, inner = container
        if kind == "list" and isinstance(value, list):
            return [_typed(inner, item, (*path, i), ignored) for i, item in enumerate(value)]
        if kind == "map" and isinstance(value, dict):
            return {k: _typed(inner, item, (*path, k), ignored) for k, item in value.items()}
    return json_copy(value)


def json_copy(value: Any) -> Any:
    """A copy of a JSON value (dicts and lists new, everything else shared: it is immutable): what
    ``copy.deepcopy`` gives for JSON, at a fraction of its cost (no memo, no dispatch per value)."""
    kind = type(value)
    if kind is dict or (kind not in _LEAVES and isinstance(value, dict)):
        return {k: json_copy(v) if type(v) not in _LEAVES else v for k, v in value.items()}
    if kind is list or (kind not in _LEAVES and isinstance(value, list)):
        return [json_copy(v) if type(v) not in _LEAVES else v for v in value]
    return value


_LEAVES = frozenset({str, int, float, bool, type(None)})
_Normalise = Callable[[Any], Any]


@cache
def _normaliser(name: str, skip: frozenset[str]) -> _Normalise:
    """``normalise_struct(MODEL[name], value, skip=skip)`` without ``ignored`` and ``path``, compiled once
    per structure: the field rules are looked up once here rather than for every value. Unlike it, the
    result shares the free-form values (``inputParameters``, ``variables``...: the model's ``object`` and
    ``any``) with ``value`` instead of copying them: neither a server answer nor a normal form is changed
    in place below its top level (plans freeze what they keep)."""
    struct = MODEL[name]
    dropped = struct.server_owned | skip
    empty_is_unset = frozenset(k for k, f in struct.fields.items() if not f.has_default and f.type not in MODEL)
    defaults = [(k, f.default) for k, f in struct.fields.items() if k not in skip and f.default is not UNSET]
    converters: dict[str, _Normalise] = {}  # filled on first use: structures nest themselves (a task's tasks)

    def normalise(value: Any) -> Any:
        if type(value) is not dict and not isinstance(value, dict):  # a frozen body is a dict too
            return json_copy(value)
        if not converters:
            converters.update({k: _converter(f.type) for k, f in struct.fields.items() if k not in dropped})
        result: dict[str, Any] = {}
        for key, item in value.items():
            if item is None:
                continue
            convert = converters.get(key)
            if convert is None or (key in empty_is_unset and _is_empty(item)):
                continue  # server-owned, skipped, not in the model, or empty where that means unset
            result[key] = item if type(item) in _LEAVES else convert(item)  # a leaf is its own normal form
        for key, default in defaults:
            if key not in result:
                result[key] = default if type(default) in _LEAVES else json_copy(default)
        return result

    return normalise


_Find = Callable[[Any, Path, list[Ignored]], None]


@cache
def _unmodelled(name: str, skip: frozenset[str]) -> _Find:
    """What ``normalise_struct(MODEL[name], value, ignored=found, skip=skip)`` adds to ``found``: every field the
    model does not have, at any depth, in the same order; compiled once per structure."""
    struct = MODEL[name]
    dropped = struct.server_owned | skip
    fields = struct.fields
    inner: dict[str, _Find | None] = {}  # filled on first use: structures nest themselves

    def find(value: Any, path: Path, found: list[Ignored]) -> None:
        if not isinstance(value, dict):
            return
        if not inner:
            inner.update({k: _unmodelled_in(f.type) for k, f in fields.items()})
        for key, item in value.items():
            if key in dropped:
                continue
            if key not in fields:
                found.append(((*path, key), name))
            elif item is not None and (deeper := inner[key]) is not None:
                deeper(item, (*path, key), found)

    return find


@cache
def _unmodelled_in(type_: str) -> _Find | None:
    """The finder for a value of ``type_`` (None: a type with no structure inside, nothing to find)."""
    if type_ in MODEL:
        return _unmodelled(type_, frozenset())
    container = element_type(type_)
    each = _unmodelled_in(container[1]) if container is not None else None
    if container is None or each is None:
        return None
    if container[0] == "list":

        def in_list(value: Any, path: Path, found: list[Ignored]) -> None:
            if isinstance(value, list):
                for index, item in enumerate(value):
                    each(item, (*path, index), found)

        return in_list

    def in_map(value: Any, path: Path, found: list[Ignored]) -> None:
        if isinstance(value, dict):
            for key, item in value.items():
                each(item, (*path, key), found)

    return in_map


def _shared(value: Any) -> Any:
    return value


@cache
def _converter(type_: str) -> _Normalise:
    """What ``_typed(type_, value, ...)`` does, for one type."""
    if type_ in MODEL:
        return _normaliser(type_, frozenset())
    if type_ in ("object", "any"):
        return _shared
    container = element_type(type_)
    if container is None:
        return json_copy
    kind, inner = container
    convert = _converter(inner)
    if kind == "list":
        return lambda v: [x if type(x) in _LEAVES else convert(x) for x in v] if type(v) is list else json_copy(v)
    return lambda v: (
        {k: x if type(x) in _LEAVES else convert(x) for k, x in v.items()} if type(v) is dict else json_copy(v)
    )


#: The one JSON text of a value: sorted keys, no spaces (what fingerprints, checksums and comparisons hash).
canonical_json = jsontext.canonical


def content_hash(value: Any) -> str:
    return "sha256:" + hashlib.sha256(canonical_json(value).encode("utf-8")).hexdigest()
