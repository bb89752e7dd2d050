"""Field-level differences between two normalised definitions (deepdiff does the walking)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from idflow.kinds.normal import canonical_json
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
    """Every changed, added or removed leaf, as (path, before, after); absent values are None."""
    old_root, new_root = thaw(before), thaw(after)
    if canonical_json(old_root) == canonical_json(new_root):
        return ()  # the common case, and much cheaper than a DeepDiff that finds nothing
    from deepdiff import DeepDiff
    from deepdiff.helper import NotPresent

    tree = DeepDiff(old_root, new_root, view="tree", verbose_level=2)
    found: list[FieldDiff] = []
    for levels in tree.values():
        for level in levels:
            old = None if isinstance(level.t1, NotPresent) else level.t1
            new = None if isinstance(level.t2, NotPresent) else level.t2
            found.append(FieldDiff(format_path(level.path(output_format="list"), new_root, old_root), old, new))
    return tuple(sorted(found, key=lambda d: _sort_key(d.path)))


def _sort_key(path: str) -> list[Any]:
    return [(0, int(p), "") if p.isdigit() else (1, 0, p) for p in re.split(r"[.\[\]()]+", path) if p]
