"""Field-level differences between two normalised definitions (deepdiff does the walking)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from idflow.plan import FieldDiff, thaw


def format_path(parts: list[Any]) -> str:
    text = ""
    for part in parts:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text or "(root)"


def field_diffs(before: Mapping[str, Any], after: Mapping[str, Any]) -> tuple[FieldDiff, ...]:
    """Every changed, added or removed leaf, as (path, before, after); absent values are None."""
    from deepdiff import DeepDiff
    from deepdiff.helper import NotPresent

    tree = DeepDiff(thaw(before), thaw(after), view="tree", verbose_level=2)
    found: list[FieldDiff] = []
    for levels in tree.values():
        for level in levels:
            old = None if isinstance(level.t1, NotPresent) else level.t1
            new = None if isinstance(level.t2, NotPresent) else level.t2
            found.append(FieldDiff(format_path(level.path(output_format="list")), old, new))
    return tuple(sorted(found, key=lambda d: _sort_key(d.path)))


def _sort_key(path: str) -> list[Any]:
    import re

    return [int(p) if p.isdigit() else p for p in re.split(r"[.\[\]]+", path) if p]
