"""Field-level differences between two normalised definitions (deepdiff does the walking)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from idflow.kinds.normal import canonical_json
from idflow.plan.frozen import canonical, is_frozen
from idflow.plan.model import FieldDiff, thaw


def format_path(parts: list[Any], *roots: Any) -> str:
    """``tasks[1](fork_ref).forkTasks[0][0](g).name``: a list element that is a workflow task is named by
    its taskReferenceName (looked up in ``roots``), so nested workflow diffs read without counting."""
    text = ""
    nodes = list(roots)
    for part in parts:
        nodes = [_child(node, part) for node in nodes]
        if isinstance(part, int):
            text += f"[{part}]"
            ref = next(
                (n["taskReferenceName"] for n in nodes if isinstance(n, dict) and "taskReferenceName" in n), None
            )
            if ref:
                text += f"({ref})"
        else:
            text += f".{part}" if text else str(part)
    return text or "(root)"


def _child(node: Any, part: Any) -> Any:
    try:
        return node[part]
    except (KeyError, IndexError, TypeError):
        return None


def field_diffs(before: Mapping[str, Any], after: Mapping[str, Any]) -> tuple[FieldDiff, ...]:
    """Every changed, added or removed leaf, as (path, before, after); absent values are None.

    Definitions are mostly flat, so the top level is compared key by key (a scalar that differs, a key
    added or removed is a diff of its own), and only the nested values that actually differ go to
    DeepDiff: the same paths and values as one DeepDiff of the whole, at a fraction of the cost. Equal
    means equal as canonical JSON, so ``1``, ``1.0`` and ``True`` stay different (as for DeepDiff). Unlike
    one DeepDiff of two definitions that share few keys, the top level is never reported as one
    ``(root)`` change: each key that differs is named."""
    if before is after or (before == after and _json(before) == _json(after)):
        return ()  # the common case (in sync), decided by two C-speed dumps instead of one per field
    found: list[FieldDiff] = []
    nested: list[str] = []
    for key in _keys(before, after):
        old, new = before.get(key, _ABSENT), after.get(key, _ABSENT)
        if old is _ABSENT or new is _ABSENT:
            found.append(FieldDiff(key, None if old is _ABSENT else thaw(old), None if new is _ABSENT else thaw(new)))
        elif _containers(old, new):
            if old != new or ((old or new) and _json(old) != _json(new)):  # two empties are the same JSON
                nested.append(key)
        elif type(old) is not type(new) or old != new:
            found.append(FieldDiff(key, thaw(old), thaw(new)))
    if nested:
        found.extend(_deep(before, after, nested))
    return tuple(sorted(found, key=lambda d: _sort_key(d.path)))


_ABSENT: Any = object()


def _json(value: Any) -> str:
    """Canonical JSON: frozen and plain bodies are JSON-ready as they are (any other mapping is thawed)."""
    if is_frozen(value):
        return canonical(value)
    return canonical_json(value if type(value) in (dict, list) else thaw(value))


def _keys(before: Mapping[str, Any], after: Mapping[str, Any]) -> list[str]:
    return [*before, *(k for k in after if k not in before)]


def _containers(old: Any, new: Any) -> bool:
    return isinstance(old, Mapping | tuple | list) and isinstance(new, Mapping | tuple | list)


def _deep(before: Mapping[str, Any], after: Mapping[str, Any], keys: list[str]) -> list[FieldDiff]:
    from deepdiff import DeepDiff
    from deepdiff.helper import NotPresent

    old_root = {k: thaw(before[k]) for k in keys}
    new_root = {k: thaw(after[k]) for k in keys}
    tree = DeepDiff(old_root, new_root, view="tree", verbose_level=2)
    found: list[FieldDiff] = []
    for levels in tree.values():
        for level in levels:
            old = None if isinstance(level.t1, NotPresent) else level.t1
            new = None if isinstance(level.t2, NotPresent) else level.t2
            found.append(FieldDiff(format_path(level.path(output_format="list"), new_root, old_root), old, new))
    return found


def _sort_key(path: str) -> list[Any]:
    return [(0, int(p), "") if p.isdigit() else (1, 0, p) for p in re.split(r"[.\[\]()]+", path) if p]
