"""Checking what the server answered before anything else reads it.

The rest of idflow relies on the API's shapes: a list of task definitions is a list of objects, each
with a name; a version is a whole number; nested workflow tasks are objects in lists. A proxy's HTML page
answered with 200, a ``null`` entry, ``"version": "x"`` or JSON nested a thousand levels deep would
otherwise end deep inside the planner. Here they become one ``BadAnswer`` naming the first place that is
wrong. The types come from the server's model (``idflow.kinds.server_model``); fields it does not know are
not checked (a newer server may send more).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import Any

from idflow.kinds.server_model import MODEL, Struct, element_type

#: Deeper JSON than this is refused: real definitions stay far below it, and idflow's own walks over
#: definitions recurse once or twice per level.
MAX_DEPTH = 100

_TYPE_NAMES = {"string": "a string", "integer": "a whole number", "boolean": "true or false", "object": "an object"}


class BadAnswer(Exception):
    """What is wrong with an answer, as the end of a sentence: ``answered with ...``."""


def check_list(answer: Any, struct: Struct, what: str) -> list[dict[str, Any]]:
    """``answer`` as a list of ``struct`` objects (``what``: 'task definitions'), or BadAnswer."""
    if answer is None:
        return []
    if type(answer) is list and all(_named(item) and _fits(struct.name)(item, 2) for item in answer):
        return answer  # the common case, decided without building a path for every value
    _check_depth(answer)
    if not isinstance(answer, list):
        raise BadAnswer(f"{_describe(answer)} (expected a JSON list of {what})")
    for index, item in enumerate(answer):
        _check_object(item, struct, f"[{index}]", named=True)
    return answer


def check_object(answer: Any, struct: Struct, what: str) -> dict[str, Any]:
    """``answer`` as one ``struct`` object (``what``: 'a task definition'), or BadAnswer."""
    if _named(answer) and _fits(struct.name)(answer, 1):
        return answer
    _check_depth(answer)
    if not isinstance(answer, dict):
        raise BadAnswer(f"{_describe(answer)} (expected {what} as a JSON object)")
    _check_object(answer, struct, "", named=True)
    return answer


def check_json(answer: Any, shape: type, what: str) -> Any:
    """An answer that must be a JSON ``dict``/``list``/``str`` (``what`` says what was expected). Its
    depth is not limited: workflow runs carry the users' own data, which idflow only passes on."""
    if not isinstance(answer, shape):
        raise BadAnswer(f"{_describe(answer)} (expected {what})")
    return answer


def _describe(value: Any) -> str:
    if value is None:
        return "nothing (null)"
    if isinstance(value, str):
        return "text that is not the JSON asked for"
    names = {list: "a JSON list", dict: "a JSON object", bool: "a boolean"}
    return names.get(type(value), f"a JSON {type(value).__name__}")


def _check_depth(value: Any) -> None:
    """Without recursion (``_shallow``): the depth check must not itself be the thing that overflows."""
    if not _shallow(value, 1):
        raise BadAnswer(f"JSON nested more than {MAX_DEPTH} levels deep")


def _check_object(item: Any, struct: Struct, path: str, named: bool = False) -> None:
    if not isinstance(item, dict):
        raise BadAnswer(f"{path or 'the answer'} = {_short(item)} (expected an object, a {struct.name})")
    if named:
        name = item.get("name")
        if not isinstance(name, str) or not name:
            raise BadAnswer(f"{path}.name = {_short(name)} (expected a non-empty string)".lstrip("."))
    fields = struct.fields
    for key, value in item.items():  # the fields the answer has (far fewer than the model's, on most objects)
        field = fields.get(key)
        if field is not None and value is not None:
            _check_value(value, field.type, f"{path}.{key}" if path else key)


#: The primitive types of the model and how to tell a value of each (the rest: structures, containers, any).
_PRIMITIVE = {
    "string": lambda v: isinstance(v, str),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "boolean": lambda v: isinstance(v, bool),
    "object": lambda v: isinstance(v, dict),
}


def _check_value(value: Any, type_: str, path: str) -> None:
    if value is None or type_ == "any":
        return
    is_type = _PRIMITIVE.get(type_)
    if is_type is not None:
        if not is_type(value):
            raise BadAnswer(f"{path} = {_short(value)} (expected {_TYPE_NAMES[type_]})")
        return
    container = element_type(type_)
    if container is not None:
        kind, inner = container
        if kind == "list":
            if not isinstance(value, list):
                raise BadAnswer(f"{path} = {_short(value)} (expected a list)")
            if inner != "any":
                for index, item in enumerate(value):
                    _check_value(item, inner, f"{path}[{index}]")
        else:
            if not isinstance(value, dict):
                raise BadAnswer(f"{path} = {_short(value)} (expected an object)")
            if inner != "any":
                for key, item in value.items():
                    _check_value(item, inner, f"{path}.{key}")
        return
    if type_ in MODEL:
        if type_ == "WorkflowDef" and isinstance(value, str):
            return  # subWorkflowParam.workflowDefinition may be a ${...} expression
        _check_object(value, MODEL[type_], path)


# -- the fast check: whether an answer is right, without saying where it is wrong -----------------------
# One compiled function per type of the model: ``fits(value, depth) -> bool``, ``depth`` the value's own
# (the answer is 1). It accepts exactly what the checks above accept (tests/unit/test_server_boundary.py
# compares the two on every shape it refuses); when it says no, those run and name the first wrong place.

_Fits = Callable[[Any, int], bool]
_CONTAINERS = (dict, list)


def _named(item: Any) -> bool:
    if type(item) is not dict:
        return False
    name = item.get("name")
    return type(name) is str and name != ""


def _shallow(value: Any, depth: int) -> bool:
    """Whether ``value`` (at ``depth``) nests no deeper than MAX_DEPTH (any JSON; without recursion)."""
    if type(value) not in _CONTAINERS:
        return True
    stack = [(value, depth)]
    while stack:
        item, level = stack.pop()
        if level > MAX_DEPTH:
            return False
        for child in item.values() if type(item) is dict else item:
            if type(child) in _CONTAINERS:
                stack.append((child, level + 1))
    return True


_PRIMITIVE_FITS: dict[str, _Fits] = {
    "string": lambda v, _d: type(v) is str,
    "integer": lambda v, _d: type(v) is int,
    "boolean": lambda v, _d: type(v) is bool,
    "object": lambda v, d: type(v) is dict and _shallow(v, d),
    "any": _shallow,
}


@cache
def _fits(type_: str) -> _Fits:
    primitive = _PRIMITIVE_FITS.get(type_)
    if primitive is not None:
        return primitive
    container = element_type(type_)
    if container is not None:
        kind, inner = container
        shape = list if kind == "list" else dict
        if inner == "any":
            return lambda v, d: type(v) is shape and _shallow(v, d)
        return _container_fits(shape, inner)
    return _struct_fits(type_)


def _container_fits(shape: type, inner: str) -> _Fits:
    def fits(value: Any, depth: int) -> bool:
        if type(value) is not shape or depth > MAX_DEPTH:
            return False
        item_fits, inner_depth = _fits(inner), depth + 1
        for item in value if shape is list else value.values():
            if item is not None and not item_fits(item, inner_depth):
                return False
        return True

    return fits


def _struct_fits(name: str) -> _Fits:
    fields = MODEL[name].fields
    checks: dict[str, _Fits] = {}  # filled on first use: structures nest themselves (a task's tasks)
    expression_allowed = name == "WorkflowDef"  # subWorkflowParam.workflowDefinition may be a ${...}

    def fits(value: Any, depth: int) -> bool:
        if type(value) is not dict:
            return expression_allowed and type(value) is str
        if depth > MAX_DEPTH:
            return False
        if not checks:
            checks.update({key: _fits(field.type) for key, field in fields.items()})
        inner = depth + 1
        for key, item in value.items():
            if item is None:
                continue
            check = checks.get(key)
            if check is None:  # a field the model does not know: not checked, but not too deep either
                if type(item) in _CONTAINERS and not _shallow(item, inner):
                    return False
            elif not check(item, inner):
                return False
        return True

    return fits


def _short(value: Any) -> str:
    import json

    try:
        text = json.dumps(value, ensure_ascii=True)
    except (TypeError, ValueError):
        text = type(value).__name__
    return text if len(text) <= 40 else text[:37] + "..."
